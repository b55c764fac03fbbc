// VideoWriter: records frames to a video file, off the main thread. Tests use it to make real
// video files to capture from.
#pragma once

#include <napi.h>

#include <opencv2/videoio.hpp>

#include <memory>
#include <mutex>

namespace cvchat {

struct WriterState {
  std::mutex mutex;  // writes are serialised; release waits for a write in progress
  cv::VideoWriter writer;
  cv::Size size;
  bool closed = false;
};

class VideoWriter : public Napi::ObjectWrap<VideoWriter> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit VideoWriter(const Napi::CallbackInfo& info);

 private:
  static Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);

  std::shared_ptr<WriterState> state_;
};

}  // namespace cvchat
