// Recorder: writes what a side shows to a video file (--record FILE) through libavformat. JPEG
// frames go in as they are, one packet each (MJPEG), so recording a received stream costs no
// decoding or encoding; frames that exist only as pixels are encoded with EncodeJpeg first. Every
// call works on the libuv pool, one write at a time: a write while another runs is refused (the
// caller skips that frame and counts it), so recording never makes the live path wait.
//
// Each frame carries its own time. Matroska keeps it to the millisecond; AVI has only a fixed
// frame rate, so a frame takes the next free slot of 1/fps and FFmpeg's AVI muxer fills skipped
// slots with empty chunks, which players and OpenCV read as "nothing new" (README: Recording).
// After each frame the file is flushed to the operating system, so a killed process leaves every
// frame whose write had finished (see README for what each container makes of a missing trailer).
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

struct AVFormatContext;
struct AVPacket;

namespace cvchat {

enum class Container { kMatroska, kAvi };

// The muxer and its bookkeeping, shared with the work in flight. `busy`, `closed`, `closing`,
// `closeDone` and the close waiters change only on the main thread. The muxer is touched by one
// worker at a time by design (a write only while busy, the trailer only once no write runs); the
// mutex makes that a rule rather than a hope.
struct RecorderState {
  ~RecorderState();

  std::mutex mutex;
  std::string path;
  Container container = Container::kMatroska;
  cv::Size size;
  double fps = 30;
  AVFormatContext* format = nullptr;
  AVPacket* packet = nullptr;
  int64_t lastTimestamp = -1;  // in the stream's time base
  bool finished = false;       // trailer written (or never to be), file closed

  std::atomic<bool> busy{false};
  bool closed = false;
  bool closing = false;    // a close worker is queued or running
  bool closeDone = false;  // the close worker has settled its promises
  std::vector<Napi::Promise::Deferred> closeWaiters;

  std::atomic<int64_t> frames{0};
  std::atomic<int64_t> bytes{0};
};

class Recorder : public Napi::ObjectWrap<Recorder> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit Recorder(const Napi::CallbackInfo& info);

 private:
  static Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value WriteJpeg(const Napi::CallbackInfo& info);
  Napi::Value WriteFrame(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Frames(const Napi::CallbackInfo& info);
  Napi::Value Bytes(const Napi::CallbackInfo& info);

  std::shared_ptr<RecorderState> state_;
};

}  // namespace cvchat
