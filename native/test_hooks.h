// Hooks for the tests only, reaching paths no public call can. Not part of the API: lib/ never
// calls them, and their names start with an underscore.
#pragma once

#include <napi.h>

namespace cvchat {

void InitTestHooks(Napi::Env env, Napi::Object exports);

}  // namespace cvchat
