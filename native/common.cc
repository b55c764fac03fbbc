#include "common.h"

#include <opencv2/core.hpp>

namespace cvchat {

Napi::Error MakeCoded(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

void ThrowCoded(Napi::Env env, const std::string& code, const std::string& message) {
  throw MakeCoded(env, code, message);
}

Napi::Promise Rejected(Napi::Env env, const std::string& code, const std::string& message) {
  auto deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(MakeCoded(env, code, message).Value());
  return deferred.Promise();
}

namespace {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, const char* name, std::function<void()> work,
                ToJs toJs, std::function<void()> settled)
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        toJs_(std::move(toJs)),
        settled_(std::move(settled)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Keep(const Napi::Object& value) {
    kept_.push_back(Napi::Persistent(value));
  }

 protected:
  void Execute() override {
    try {
      work_();
    } catch (const CodedError& e) {
      code_ = e.code;
      SetError(e.message);
    } catch (const cv::Exception& e) {
      code_ = "CVCHAT_OPENCV_ERROR";
      SetError(std::string("OpenCV: ") + e.what());
    } catch (const std::exception& e) {
      code_ = "CVCHAT_NATIVE_ERROR";
      SetError(e.what());
    } catch (...) {
      // Anything else (a library's own exception type, a thrown int) would leave the worker thread
      // through node-addon-api, which catches only std::exception, and std::terminate the process.
      code_ = "CVCHAT_NATIVE_ERROR";
      SetError("unknown native exception (not a std::exception)");
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (settled_) settled_();
    try {
      std::vector<Napi::Object> kept;
      for (auto& ref : kept_) kept.push_back(ref.Value());
      deferred_.Resolve(toJs_(env, kept));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error& error) override {
    if (settled_) settled_();
    Napi::Object value = error.Value();
    value.Set("code", Napi::String::New(Env(), code_));
    deferred_.Reject(value);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<void()> work_;
  ToJs toJs_;
  std::function<void()> settled_;
  std::vector<Napi::ObjectReference> kept_;
  std::string code_ = "CVCHAT_NATIVE_ERROR";
};

}  // namespace

Napi::Promise RunAsync(Napi::Env env, const char* name, std::function<void()> work, ToJs toJs,
                       const std::vector<Napi::Object>& keepAlive, std::function<void()> settled) {
  auto* worker = new PromiseWorker(env, name, std::move(work), std::move(toJs), std::move(settled));
  for (const auto& value : keepAlive) worker->Keep(value);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

void RequireArgs(const Napi::CallbackInfo& info, size_t count, const char* signature) {
  if (info.Length() < count) {
    ThrowCoded(info.Env(), "CVCHAT_INVALID_ARGUMENT", std::string("Expected ") + signature);
  }
}

int32_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) {
    ThrowCoded(info.Env(), "CVCHAT_INVALID_ARGUMENT", std::string("Expected a number for ") + name);
  }
  return info[i].As<Napi::Number>().Int32Value();
}

double NumberArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) {
    ThrowCoded(info.Env(), "CVCHAT_INVALID_ARGUMENT", std::string("Expected a number for ") + name);
  }
  return info[i].As<Napi::Number>().DoubleValue();
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsString()) {
    ThrowCoded(info.Env(), "CVCHAT_INVALID_ARGUMENT", std::string("Expected a string for ") + name);
  }
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsBuffer()) {
    ThrowCoded(info.Env(), "CVCHAT_INVALID_ARGUMENT", std::string("Expected a Buffer for ") + name);
  }
  return info[i].As<Napi::Buffer<uint8_t>>();
}

}  // namespace cvchat
