#include "frame.h"

#include "common.h"

#include <cstring>

namespace cvchat {

namespace {
// The constructor is private to native code: JS makes frames through Frame.fromBuffer, capture
// and decode. This tag tells a native construction from a JS `new Frame()`.
int constructTag;
}  // namespace

void Frame::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(
      env, "Frame",
      {
          StaticMethod<&Frame::FromBuffer>("fromBuffer"),
          InstanceAccessor<&Frame::Width>("width"),
          InstanceAccessor<&Frame::Height>("height"),
          InstanceAccessor<&Frame::Channels>("channels"),
          InstanceAccessor<&Frame::Released>("released"),
          InstanceMethod<&Frame::ToBuffer>("toBuffer"),
          InstanceMethod<&Frame::Share>("share"),
          InstanceMethod<&Frame::Release>("release"),
      });
  Data(env).frame = Napi::Persistent(ctor);
  exports.Set("Frame", ctor);
}

Napi::Object Frame::New(Napi::Env env, const cv::Mat& mat) {
  Napi::Object object = Data(env).frame.New({Napi::External<int>::New(env, &constructTag)});
  Frame::Unwrap(object)->Assign(env, mat);
  return object;
}

Frame* Frame::Unwrapped(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsObject() || !info[i].As<Napi::Object>().InstanceOf(Data(env).frame.Value())) {
    ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", std::string("Expected a Frame for ") + name);
  }
  Frame* frame = Frame::Unwrap(info[i].As<Napi::Object>());
  if (frame->mat_.empty()) {
    ThrowCoded(env, "CVCHAT_FRAME_RELEASED", std::string("The frame passed as ") + name + " was already released");
  }
  return frame;
}

cv::Mat Frame::MatArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return Unwrapped(info, i, name)->mat_;
}

Frame::Frame(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Frame>(info) {
  if (info.Length() != 1 || !info[0].IsExternal() || info[0].As<Napi::External<int>>().Data() != &constructTag) {
    ThrowCoded(info.Env(), "CVCHAT_INVALID_ARGUMENT",
               "Frames are made by capture.read(), decode() or Frame.fromBuffer(), not by new Frame()");
  }
}

Frame::~Frame() {
  // GC finalization: the env is still valid here for reporting memory.
  if (reportedBytes_ != 0) Napi::MemoryManagement::AdjustExternalMemory(Env(), -reportedBytes_);
}

void Frame::Assign(Napi::Env env, const cv::Mat& mat) {
  Drop(env);
  mat_ = mat;
  reportedBytes_ = static_cast<int64_t>(mat_.total() * mat_.elemSize());
  if (reportedBytes_ != 0) Napi::MemoryManagement::AdjustExternalMemory(env, reportedBytes_);
}

void Frame::Drop(Napi::Env env) {
  mat_.release();
  if (reportedBytes_ != 0) Napi::MemoryManagement::AdjustExternalMemory(env, -reportedBytes_);
  reportedBytes_ = 0;
}

Napi::Value Frame::FromBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireArgs(info, 4, "fromBuffer(buffer, width, height, channels)");
  Napi::Buffer<uint8_t> buffer = BufferArg(info, 0, "buffer");
  int width = IntArg(info, 1, "width");
  int height = IntArg(info, 2, "height");
  int channels = IntArg(info, 3, "channels");
  if (width <= 0 || height <= 0 || (channels != 1 && channels != 3 && channels != 4)) {
    ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", "fromBuffer needs positive width and height and 1, 3 or 4 channels");
  }
  size_t expected = static_cast<size_t>(width) * static_cast<size_t>(height) * static_cast<size_t>(channels);
  if (buffer.Length() != expected) {
    ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT",
               "fromBuffer: buffer holds " + std::to_string(buffer.Length()) + " bytes but " +
                   std::to_string(width) + "x" + std::to_string(height) + "x" + std::to_string(channels) +
                   " needs " + std::to_string(expected));
  }
  // Copy: the frame must not depend on the lifetime of a JS Buffer.
  cv::Mat borrowed(height, width, CV_8UC(channels), buffer.Data());
  return New(env, borrowed.clone());
}

Napi::Value Frame::Width(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), mat_.cols); }
Napi::Value Frame::Height(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), mat_.rows); }
Napi::Value Frame::Channels(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), mat_.empty() ? 0 : mat_.channels());
}
Napi::Value Frame::Released(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), mat_.empty()); }

Napi::Value Frame::ToBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (mat_.empty()) ThrowCoded(env, "CVCHAT_FRAME_RELEASED", "toBuffer: the frame was already released");
  size_t rowBytes = mat_.cols * mat_.elemSize();
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, rowBytes * mat_.rows);
  for (int y = 0; y < mat_.rows; ++y) std::memcpy(out.Data() + y * rowBytes, mat_.ptr(y), rowBytes);
  return out;
}

Napi::Value Frame::Share(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (mat_.empty()) ThrowCoded(env, "CVCHAT_FRAME_RELEASED", "share: the frame was already released");
  // cv::Mat counts references to its pixels: the new handle keeps them alive on its own.
  return New(env, mat_);
}

Napi::Value Frame::Release(const Napi::CallbackInfo& info) {
  // Async work that still uses these pixels holds its own reference to the Mat, so this is safe
  // even while an encode of this frame is running.
  Drop(info.Env());
  return info.Env().Undefined();
}

}  // namespace cvchat
