// The addon's entry: it only registers what the other files export.
#include <napi.h>

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>

#include <cstdlib>

#include "capture.h"
#include "codec.h"
#include "common.h"
#include "frame.h"
#include "recorder.h"
#include "socket.h"
#include "test_hooks.h"
#include "video_codec.h"
#include "window.h"
#include "writer.h"

namespace cvchat {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<AddonData>(new AddonData());
  // OpenCV's own warnings (e.g. each camera index it probes) would drown our errors, which say
  // what failed and how to fix it. CVCHAT_OPENCV_LOG=1 brings them back for debugging.
  if (!std::getenv("CVCHAT_OPENCV_LOG")) cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
  Frame::Init(env, exports);
  Capture::Init(env, exports);
  VideoWriter::Init(env, exports);
  Recorder::Init(env, exports);
  InitCodec(env, exports);
  InitVideoCodec(env, exports);
  InitWindow(env, exports);
  InitSocket(env, exports);
  exports.Set("opencvVersion", Napi::String::New(env, CV_VERSION));
  // For the tests only (native/test_hooks.h): a worker that throws what no public call does.
  InitTestHooks(env, exports);
  return exports;
}

}  // namespace cvchat

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return cvchat::Init(env, exports); }

NODE_API_MODULE(cvchat, InitAddon)
