#include "capture.h"

#include "common.h"
#include "frame.h"

namespace cvchat {

namespace {

int tagValue;

CaptureSpec ParseSpec(Napi::Env env, const Napi::Object& o) {
  CaptureSpec spec;
  auto str = [&](const char* key) { return o.Get(key).IsString() ? o.Get(key).As<Napi::String>().Utf8Value() : ""; };
  auto num = [&](const char* key, double fallback) {
    return o.Get(key).IsNumber() ? o.Get(key).As<Napi::Number>().DoubleValue() : fallback;
  };
  spec.kind = str("kind");
  spec.index = static_cast<int>(num("index", 0));
  spec.location = str("location");
  spec.width = static_cast<int>(num("width", 0));
  spec.height = static_cast<int>(num("height", 0));
  spec.fps = num("fps", 0);
  spec.loop = o.Get("loop").ToBoolean().Value();
  if (spec.kind == "test") {
    spec.test.width = spec.width > 0 ? spec.width : 640;
    spec.test.height = spec.height > 0 ? spec.height : 480;
    if (o.Get("label").IsString()) spec.test.label = str("label");
    spec.test.timecode = o.Get("timecode").ToBoolean().Value();
    Napi::Value color = o.Get("color");
    if (color.IsArray() && color.As<Napi::Array>().Length() == 3) {
      Napi::Array c = color.As<Napi::Array>();
      spec.test.color = cv::Scalar(c.Get(0u).ToNumber().DoubleValue(), c.Get(1u).ToNumber().DoubleValue(),
                                   c.Get(2u).ToNumber().DoubleValue());
    }
    if (spec.test.width > 16384 || spec.test.height > 16384) {
      ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", "The test source is limited to 16384x16384");
    }
  } else if (spec.kind == "memory") {
    Napi::Value frames = o.Get("frames");
    if (!frames.IsArray() || frames.As<Napi::Array>().Length() == 0) {
      ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", "A memory capture needs a non-empty array of frames");
    }
    Napi::Array list = frames.As<Napi::Array>();
    Napi::Object ctor = Data(env).frame.Value();
    for (uint32_t i = 0; i < list.Length(); ++i) {
      Napi::Value item = list.Get(i);
      if (!item.IsObject() || !item.As<Napi::Object>().InstanceOf(ctor.As<Napi::Function>())) {
        ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", "A memory capture's frames must be Frames");
      }
      const cv::Mat& mat = Frame::Unwrap(item.As<Napi::Object>())->mat();
      if (mat.empty()) ThrowCoded(env, "CVCHAT_FRAME_RELEASED", "A memory capture's frame was already released");
      spec.memory.push_back(mat);  // shares the pixels
    }
  } else if (spec.kind != "camera" && spec.kind != "file" && spec.kind != "url" && spec.kind != "gstreamer") {
    ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", "Unknown capture kind '" + spec.kind + "'");
  }
  return spec;
}

std::string Describe(const CaptureSpec& spec) {
  if (spec.kind == "camera") return "camera " + std::to_string(spec.index);
  return spec.kind + " '" + spec.location + "'";
}

void OpenDevice(CaptureState& s) {
  const CaptureSpec& spec = s.spec;
  if (spec.kind == "memory") {
    s.width = spec.memory[0].cols;
    s.height = spec.memory[0].rows;
    s.fps = spec.fps > 0 ? spec.fps : 30;
    s.backend = "memory";
    return;
  }
  if (spec.kind == "test") {
    s.test = std::make_unique<TestSource>(spec.test);
    s.width = spec.test.width;
    s.height = spec.test.height;
    s.fps = spec.fps > 0 ? spec.fps : 30;
    s.backend = "test";
    return;
  }
  bool opened = false;
  if (spec.kind == "camera") {
    opened = s.capture.open(spec.index, cv::CAP_ANY);
  } else if (spec.kind == "gstreamer") {
    opened = s.capture.open(spec.location, cv::CAP_GSTREAMER);
  } else {
    opened = s.capture.open(spec.location, cv::CAP_ANY);
  }
  if (!opened || !s.capture.isOpened()) {
    std::string hint;
    if (spec.kind == "camera") {
      hint = ": no camera at that index, or it is in use by another program (check /dev/video*), "
             "or use --source test";
    } else if (spec.kind == "file") {
      hint = ": the file is missing, unreadable or in a format OpenCV cannot read";
    } else if (spec.kind == "gstreamer") {
      hint = ": the pipeline did not start (it must end in appsink; try it with gst-launch-1.0)";
    } else {
      hint = ": the stream could not be reached or is not a video";
    }
    throw CodedError{"CVCHAT_CAPTURE_OPEN_FAILED", "Could not open " + Describe(spec) + hint};
  }
  // Requested settings are wishes: a device picks the nearest mode it has, so read them back.
  if (spec.kind == "camera") {
    if (spec.width > 0) s.capture.set(cv::CAP_PROP_FRAME_WIDTH, spec.width);
    if (spec.height > 0) s.capture.set(cv::CAP_PROP_FRAME_HEIGHT, spec.height);
    if (spec.fps > 0) s.capture.set(cv::CAP_PROP_FPS, spec.fps);
  }
  s.width = static_cast<int>(s.capture.get(cv::CAP_PROP_FRAME_WIDTH));
  s.height = static_cast<int>(s.capture.get(cv::CAP_PROP_FRAME_HEIGHT));
  s.fps = s.capture.get(cv::CAP_PROP_FPS);
  s.frameCount = spec.kind == "file" ? s.capture.get(cv::CAP_PROP_FRAME_COUNT) : -1;
  s.backend = s.capture.getBackendName();
}

}  // namespace

void Capture::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "Capture",
                                    {
                                        StaticMethod<&Capture::Open>("open"),
                                        InstanceMethod<&Capture::Read>("read"),
                                        InstanceMethod<&Capture::Release>("release"),
                                        InstanceAccessor<&Capture::Info>("info"),
                                    });
  Data(env).capture = Napi::Persistent(ctor);
  exports.Set("Capture", ctor);
}

Capture::Capture(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Capture>(info) {
  if (info.Length() != 1 || !info[0].IsExternal() || info[0].As<Napi::External<int>>().Data() != &tagValue) {
    ThrowCoded(info.Env(), "CVCHAT_INVALID_ARGUMENT", "Captures are made by Capture.open(spec), not by new Capture()");
  }
  state_ = std::make_shared<CaptureState>();
}

Napi::Value Capture::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", "Expected open(spec)");
  Napi::Object object = Data(env).capture.New({Napi::External<int>::New(env, &tagValue)});
  std::shared_ptr<CaptureState> state = Capture::Unwrap(object)->state_;
  state->spec = ParseSpec(env, info[0].As<Napi::Object>());
  return RunAsync(
      env, "cvchat.capture.open",
      [state] {
        std::lock_guard<std::mutex> lock(state->mutex);
        OpenDevice(*state);
      },
      [](Napi::Env, const auto& kept) -> Napi::Value { return kept[0]; }, {object});
}

Napi::Value Capture::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_->closed) ThrowCoded(env, "CVCHAT_CAPTURE_CLOSED", "read() on a released capture");
  if (state_->reading.exchange(true)) {
    ThrowCoded(env, "CVCHAT_CAPTURE_BUSY", "read() while another read() of this capture is pending");
  }
  auto state = state_;
  auto frame = std::make_shared<cv::Mat>();
  return RunAsync(
      env, "cvchat.capture.read",
      [state, frame] {
        std::lock_guard<std::mutex> lock(state->mutex);
        if (state->closed) throw CodedError{"CVCHAT_CAPTURE_CLOSED", "The capture was released during read()"};
        if (state->test) {
          *frame = state->test->Next();
          return;
        }
        if (!state->spec.memory.empty()) {
          // A shallow copy: the frame shares the stored pixels, so readers must not draw on it.
          *frame = state->spec.memory[state->memoryIndex++ % state->spec.memory.size()];
          return;
        }
        if (!state->capture.read(*frame) && state->spec.loop && state->spec.kind == "file") {
          state->capture.set(cv::CAP_PROP_POS_FRAMES, 0);
          state->capture.read(*frame);
        }
      },
      [frame](Napi::Env env, const auto&) -> Napi::Value {
        // An empty frame means the source has ended (end of file, device gone).
        if (frame->empty()) return env.Null();
        return Frame::New(env, *frame);
      },
      {Value()},
      // Cleared on the main thread as the promise settles, so "one read in flight" holds exactly.
      [state] { state->reading = false; });
}

Napi::Value Capture::Release(const Napi::CallbackInfo& info) {
  auto state = state_;
  return RunAsync(
      info.Env(), "cvchat.capture.release",
      [state] {
        // Taking the mutex waits for a read in progress to finish.
        std::lock_guard<std::mutex> lock(state->mutex);
        state->closed = true;
        state->capture.release();
        state->test.reset();
        state->spec.memory.clear();
      },
      [](Napi::Env env, const auto&) -> Napi::Value { return env.Undefined(); }, {Value()});
}

Napi::Value Capture::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("width", state_->width);
  o.Set("height", state_->height);
  o.Set("fps", state_->fps);
  o.Set("frameCount", state_->frameCount);
  o.Set("backend", state_->backend);
  o.Set("closed", state_->closed.load());
  return o;
}

}  // namespace cvchat
