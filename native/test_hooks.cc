#include "test_hooks.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "common.h"

namespace cvchat {

namespace {

// _throwInWorker(kind): a promise whose work, on the libuv pool, throws a std::runtime_error
// ('standard') or an int ('nonstandard', as a library throwing its own non-std type would), so
// that the tests see each one rejected with a code instead of the process ending.
Napi::Value ThrowInWorker(const Napi::CallbackInfo& info) {
  RequireArgs(info, 1, "_throwInWorker(kind)");
  const std::string kind = StringArg(info, 0, "kind");
  if (kind != "standard" && kind != "nonstandard") {
    ThrowCoded(info.Env(), "CVCHAT_INVALID_ARGUMENT", "Expected 'standard' or 'nonstandard' for kind");
  }
  const bool standard = kind == "standard";
  return RunAsync(
      info.Env(), "cvchat:throwInWorker",
      [standard]() {
        if (standard) throw std::runtime_error("a std::exception thrown by the test hook");
        throw 42;
      },
      [](Napi::Env env, const std::vector<Napi::Object>&) -> Napi::Value { return env.Undefined(); });
}

}  // namespace

void InitTestHooks(Napi::Env env, Napi::Object exports) {
  exports.Set("_throwInWorker", Napi::Function::New(env, ThrowInWorker, "_throwInWorker"));
}

}  // namespace cvchat
