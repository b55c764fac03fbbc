// Windows and drawing, on the main thread only (GUI toolkits require it). Before the first window,
// the display is probed: Qt aborts the whole process when it cannot reach one, so without a
// display we throw a coded error instead and the caller can carry on headless.
#pragma once

#include <napi.h>

#include <string>

namespace cvchat {

// Empty when a window can be shown; otherwise what is missing and how to fix it.
std::string DisplayProblem();

void InitWindow(Napi::Env env, Napi::Object exports);

}  // namespace cvchat
