// VideoEncoder and VideoDecoder: H.264 and VP8 for live video, one frame in and one frame out, on
// the libuv pool. H.264 is encoded by libx264 (through libavcodec) and decoded by libavcodec; VP8
// is encoded and decoded by libvpx directly: FFmpeg 5.1's libvpx wrapper reads the bitrate only
// when it opens (the rate must follow the link frame by frame), and its own VP8 decoder passes a
// frame cut short as whole. Both decoders are set to report damage instead of hiding it.
//
// Each handle allows one call in flight; close() frees the codec at once, or when that call ends.
// A decoder never hands out a picture the decoder flagged, concealed, or built on a reference it
// lacks: after any error it refuses everything up to the next keyframe.
#pragma once

#include <napi.h>

#include <memory>

namespace cvchat {

struct EncoderState;
struct DecoderState;

class VideoEncoder : public Napi::ObjectWrap<VideoEncoder> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // new VideoEncoder(codec, width, height, fps[, tuning])
  explicit VideoEncoder(const Napi::CallbackInfo& info);

 private:
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Codec(const Napi::CallbackInfo& info);
  Napi::Value Width(const Napi::CallbackInfo& info);
  Napi::Value Height(const Napi::CallbackInfo& info);

  std::shared_ptr<EncoderState> state_;
};

class VideoDecoder : public Napi::ObjectWrap<VideoDecoder> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // new VideoDecoder(codec)
  explicit VideoDecoder(const Napi::CallbackInfo& info);

 private:
  Napi::Value Decode(const Napi::CallbackInfo& info);
  Napi::Value Reset(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Codec(const Napi::CallbackInfo& info);

  std::shared_ptr<DecoderState> state_;
};

// Registers VideoEncoder, VideoDecoder and videoCodecs().
void InitVideoCodec(Napi::Env env, Napi::Object exports);

}  // namespace cvchat
