// Frame: an opaque handle to a cv::Mat. Pixels stay native; JS sees width, height and channels, and
// copies pixels out or in only when it asks (tests, interop). The pixel memory is reported to V8 so
// that GC pressure reflects it, and release() frees it at once instead of waiting for GC.
#pragma once

#include <napi.h>

#include <opencv2/core.hpp>

namespace cvchat {

class Frame : public Napi::ObjectWrap<Frame> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // Wraps `mat` (sharing its data, no copy) in a new JS Frame.
  static Napi::Object New(Napi::Env env, const cv::Mat& mat);
  // The Mat behind argument `i`, which must be a live Frame; throws a coded error otherwise.
  static cv::Mat MatArg(const Napi::CallbackInfo& info, size_t i, const char* name);
  // The Frame object behind argument `i` (for keeping it alive during async work).
  static Frame* Unwrapped(const Napi::CallbackInfo& info, size_t i, const char* name);

  explicit Frame(const Napi::CallbackInfo& info);
  ~Frame() override;

  const cv::Mat& mat() const { return mat_; }

 private:
  static Napi::Value FromBuffer(const Napi::CallbackInfo& info);
  Napi::Value Width(const Napi::CallbackInfo& info);
  Napi::Value Height(const Napi::CallbackInfo& info);
  Napi::Value Channels(const Napi::CallbackInfo& info);
  Napi::Value Released(const Napi::CallbackInfo& info);
  Napi::Value ToBuffer(const Napi::CallbackInfo& info);
  Napi::Value Share(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);

  void Assign(Napi::Env env, const cv::Mat& mat);
  void Drop(Napi::Env env);

  cv::Mat mat_;
  int64_t reportedBytes_ = 0;
};

}  // namespace cvchat
