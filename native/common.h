// Shared pieces of the addon: coded errors and a promise-returning worker, so that every async
// call follows the same baton shape (copy inputs in, touch only C++ state off the main thread,
// build JS values back on the main thread).
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cvchat {

// Per-environment data: the constructors native code needs to make JS objects of its classes.
struct AddonData {
  Napi::FunctionReference frame;
  Napi::FunctionReference capture;
  Napi::FunctionReference writer;
  Napi::FunctionReference recorder;
};

inline AddonData& Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

// An error that carries a stable code for JS callers to branch on.
struct CodedError {
  std::string code;
  std::string message;
};

// Throws a JS Error with `code` set; use only on the main thread.
[[noreturn]] void ThrowCoded(Napi::Env env, const std::string& code, const std::string& message);
Napi::Error MakeCoded(Napi::Env env, const std::string& code, const std::string& message);
// A promise already rejected with a coded error: the shape of a busy or closed handle's answer.
Napi::Promise Rejected(Napi::Env env, const std::string& code, const std::string& message);

// Builds the promise's value on the main thread; `kept` holds the keepAlive objects, valid again
// (a napi_value captured at call time is not valid in a later callback).
using ToJs = std::function<Napi::Value(Napi::Env env, const std::vector<Napi::Object>& kept)>;

// Runs `work` on the libuv pool and settles a promise with `toJs(...)` afterwards. `work` may throw
// CodedError, cv::Exception or std::exception; each becomes a rejected promise with a code, and
// anything else a rejection with CVCHAT_NATIVE_ERROR, never the end of the process.
// Objects in `keepAlive` (input Buffers, the handle itself) stay referenced until the work is done.
// `settled`, when given, runs on the main thread just before the promise settles either way.
Napi::Promise RunAsync(Napi::Env env, const char* name, std::function<void()> work, ToJs toJs,
                       const std::vector<Napi::Object>& keepAlive = {}, std::function<void()> settled = nullptr);

// Argument checks. The TypeScript layer validates options with friendly messages; these exist only
// so that a direct call with wrong types throws instead of crashing.
void RequireArgs(const Napi::CallbackInfo& info, size_t count, const char* signature);
int32_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* name);
double NumberArg(const Napi::CallbackInfo& info, size_t i, const char* name);
std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* name);
Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t i, const char* name);

}  // namespace cvchat
