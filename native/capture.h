// Capture: a video source (camera, file, URL, GStreamer pipeline or the built-in test source).
// Opening and reading run on the libuv pool, since a camera or URL can block for seconds. One read
// is in flight at a time, and release() waits for it, so a frame is never read from a freed device.
//
// A read gives pixels, or, when the spec asks for `jpeg` and the source delivers JPEG (a camera in
// MJPG mode, an MJPEG file or HTTP stream, a GStreamer pipeline ending in image/jpeg), the source's
// own JPEG bytes, never decoded: { jpeg: Buffer, width, height }. OpenCV hands such bytes over as
// one row of CV_8UC1 (a "packet"): FFmpeg in its raw mode (CAP_PROP_FORMAT -1), V4L2 without RGB
// conversion, and GStreamer whenever the appsink's caps are image/jpeg. Without `jpeg`, packets are
// decoded here, so every source still gives pixels.
#pragma once

#include <napi.h>

#include <opencv2/videoio.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "test_source.h"

namespace cvchat {

struct CaptureSpec {
  std::string kind;  // camera | file | url | gstreamer | test | memory
  int index = 0;
  std::string location;
  int width = 0, height = 0;  // 0: leave as the source has it
  double fps = 0;
  bool loop = false;
  bool jpeg = false;  // prefer the source's own JPEG bytes when it delivers JPEG
  TestSourceOptions test;
  std::vector<cv::Mat> memory;  // memory: frames played in a loop, shared, never copied
};

struct CaptureState {
  std::mutex mutex;  // held for the whole of an open, a read or a release
  CaptureSpec spec;
  cv::VideoCapture capture;
  std::unique_ptr<TestSource> test;
  size_t memoryIndex = 0;
  std::atomic<bool> closed{false};
  std::atomic<bool> reading{false};
  // Raw mode: OpenCV was asked for packets (FFmpeg's CAP_PROP_FORMAT -1, V4L2 without RGB
  // conversion), so every read is one. A GStreamer pipeline gives packets without being asked.
  bool raw = false;
  // Reads give JPEG bytes (info.jpeg). For GStreamer it becomes true at the first JPEG read.
  std::atomic<bool> jpeg{false};
  // The size was taken from the first packet's header: a GStreamer pipeline's caps may not say it.
  bool sized = false;
  // Actual values, read back from the device after opening (and from the first packet).
  std::atomic<int> width{0}, height{0};
  double fps = 0;
  double frameCount = -1;
  std::string backend;
};

class Capture : public Napi::ObjectWrap<Capture> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit Capture(const Napi::CallbackInfo& info);

 private:
  static Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);

  std::shared_ptr<CaptureState> state_;
};

}  // namespace cvchat
