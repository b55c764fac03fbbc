#include "writer.h"

#include "common.h"
#include "frame.h"

namespace cvchat {

namespace {
int tagValue;
}

void VideoWriter::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "VideoWriter",
                                    {
                                        StaticMethod<&VideoWriter::Open>("open"),
                                        InstanceMethod<&VideoWriter::Write>("write"),
                                        InstanceMethod<&VideoWriter::Release>("release"),
                                    });
  Data(env).writer = Napi::Persistent(ctor);
  exports.Set("VideoWriter", ctor);
}

VideoWriter::VideoWriter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VideoWriter>(info) {
  if (info.Length() != 1 || !info[0].IsExternal() || info[0].As<Napi::External<int>>().Data() != &tagValue) {
    ThrowCoded(info.Env(), "CVCHAT_INVALID_ARGUMENT", "Writers are made by VideoWriter.open(), not by new VideoWriter()");
  }
  state_ = std::make_shared<WriterState>();
}

// open(path, fourcc, fps, width, height[, pipeline]) -> Promise<VideoWriter>
// pipeline: `path` is a GStreamer pipeline starting with appsrc (OpenCV's GStreamer backend, no fourcc).
Napi::Value VideoWriter::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireArgs(info, 5, "open(path, fourcc, fps, width, height[, pipeline])");
  std::string path = StringArg(info, 0, "path");
  std::string fourcc = StringArg(info, 1, "fourcc");
  double fps = NumberArg(info, 2, "fps");
  cv::Size size(IntArg(info, 3, "width"), IntArg(info, 4, "height"));
  bool pipeline = info.Length() > 5 && info[5].ToBoolean().Value();
  if (!pipeline && fourcc.size() != 4) ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", "fourcc must be 4 characters, e.g. MJPG");
  Napi::Object object = Data(env).writer.New({Napi::External<int>::New(env, &tagValue)});
  auto state = VideoWriter::Unwrap(object)->state_;
  state->size = size;
  return RunAsync(
      env, "cvchat.writer.open",
      [state, path, fourcc, fps, size, pipeline] {
        std::lock_guard<std::mutex> lock(state->mutex);
        if (pipeline) {
          if (!state->writer.open(path, cv::CAP_GSTREAMER, 0, fps, size, true)) {
            throw CodedError{"CVCHAT_WRITER_OPEN_FAILED", "GStreamer could not start the pipeline '" + path +
                                                              "' (a missing element? see GST_DEBUG=2)"};
          }
          return;
        }
        int code = cv::VideoWriter::fourcc(fourcc[0], fourcc[1], fourcc[2], fourcc[3]);
        if (!state->writer.open(path, cv::CAP_ANY, code, fps, size, true)) {
          throw CodedError{"CVCHAT_WRITER_OPEN_FAILED",
                           "Could not open '" + path + "' for writing with codec " + fourcc +
                               " (check the folder exists and the codec suits the file extension)"};
        }
      },
      [](Napi::Env, const auto& kept) -> Napi::Value { return kept[0]; }, {object});
}

Napi::Value VideoWriter::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  cv::Mat mat = Frame::MatArg(info, 0, "frame");
  auto state = state_;
  if (mat.size() != state->size || mat.type() != CV_8UC3) {
    ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT",
               "write: the writer was opened for " + std::to_string(state->size.width) + "x" +
                   std::to_string(state->size.height) + " BGR frames");
  }
  return RunAsync(
      env, "cvchat.writer.write",
      [state, mat] {
        std::lock_guard<std::mutex> lock(state->mutex);
        if (state->closed) throw CodedError{"CVCHAT_WRITER_CLOSED", "write() on a released writer"};
        state->writer.write(mat);
      },
      [](Napi::Env env, const auto&) -> Napi::Value { return env.Undefined(); }, {Value()});
}

Napi::Value VideoWriter::Release(const Napi::CallbackInfo& info) {
  auto state = state_;
  return RunAsync(
      info.Env(), "cvchat.writer.release",
      [state] {
        std::lock_guard<std::mutex> lock(state->mutex);
        state->closed = true;
        state->writer.release();
      },
      [](Napi::Env env, const auto&) -> Napi::Value { return env.Undefined(); }, {Value()});
}

}  // namespace cvchat
