#include "video_codec.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/rational.h>
}
#include <vpx/vp8cx.h>
#include <vpx/vp8dx.h>
#include <vpx/vpx_decoder.h>
#include <vpx/vpx_encoder.h>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common.h"
#include "frame.h"

namespace cvchat {

namespace {

// Settings chosen by measurement at 1280x720, 30 fps, 2 Mbit/s, on a 2-core machine
// (scripts/bench/codec-candidates.ts prints the table; the README quotes it).
//
// x264: `superfast` encodes a frame in 5.9 ms against veryfast's 8.2 at the same PSNR and SSIM for
// its bytes; ultrafast (3.8 ms) lost 0.5 dB and 0.02 SSIM. `high` profile (CABAC, 8x8 transforms)
// beat baseline by 0.004 SSIM at the same rate, and browsers' WebCodecs decode it. Two sliced
// threads: 5.9 ms a frame against 6.9 ms on one, for 8% more CPU time; sliced threads add no frame
// of delay (frame threads would hold one back per thread).
const char* const kX264Preset = "superfast";
const char* const kX264Profile = "high";
const char* const kX264Tune = "zerolatency";
const int kX264Threads = 2;
// libvpx VP8: realtime deadline. cpu-used 4 to 8 gave identical frames, 12 was 7% faster at the
// same quality, 16 lost 5.8 dB. One thread: two gave a p95 of 39 ms a frame against 12 ms (spikes
// every few frames) and 0.3 dB less at the same rate.
const int kVp8CpuUsed = 12;
const int kVp8Threads = 1;

// The rate control's buffer: a frame may overshoot its share (bitrate / fps) by at most this much
// of a second of the link, which is also the most a single frame can add to the delay. At 2 Mbit/s
// and 720p, a tenth of a second kept the largest frame after a cut (the benchmark's scene loops) to
// 23 KB, 92 ms on the link, against 35 KB and 140 ms with a quarter of a second, for 0.2-0.4 dB
// less PSNR; a keyframe is 21 KB instead of 26.
const double kBufferSeconds = 0.1;

// Limits for arguments the TypeScript layer has already checked, kept so a direct call with wild
// numbers is refused instead of overflowing an int inside a codec.
const int kMaxDimension = 16384;
const double kMinBitrate = 10e3;
const double kMaxBitrate = 500e6;
const double kMaxFps = 240;

// FFmpeg logs every damaged packet to stderr; fuzzed or lost data must not flood it. Raising each
// context's log level offset silences only our contexts (a global av_log_set_level would be undone
// by OpenCV's FFmpeg backend, which sets its own level when it opens a file). The offset lifts every
// level above AV_LOG_TRACE, the most verbose a program can ask for, and stays below 256: av_log
// keeps the level in the low byte and reads the bits above as a colour, so 1000 would wrap around.
// CVCHAT_FFMPEG_LOG=1 brings the messages back for debugging.
int LogOffset() {
  static const int offset = std::getenv("CVCHAT_FFMPEG_LOG") ? 0 : 128;
  return offset;
}

std::string AvError(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, text, sizeof(text));
  return text;
}

// A number or string field of an optional tuning object (benchmarks compare settings with it).
int TuningInt(const Napi::Object* tuning, const char* key, int fallback) {
  if (tuning == nullptr || !tuning->Get(key).IsNumber()) return fallback;
  return tuning->Get(key).As<Napi::Number>().Int32Value();
}

double TuningNumber(const Napi::Object* tuning, const char* key, double fallback) {
  if (tuning == nullptr || !tuning->Get(key).IsNumber()) return fallback;
  return tuning->Get(key).As<Napi::Number>().DoubleValue();
}

std::string TuningString(const Napi::Object* tuning, const char* key, const char* fallback) {
  if (tuning == nullptr || !tuning->Get(key).IsString()) return fallback;
  return tuning->Get(key).As<Napi::String>().Utf8Value();
}

struct EncoderSettings {
  cv::Size size;
  double fps = 30;
  int threads = 1;
  std::string preset, profile, tune;  // x264
  double bufferSeconds = kBufferSeconds;
  int cpuUsed = kVp8CpuUsed;    // VP8
};

struct EncodedPicture {
  std::vector<uint8_t> bytes;
  bool keyframe = false;
};

// One encoder library behind one interface. `i420` is contiguous: the Y plane, then U, then V.
class EncoderCore {
 public:
  virtual ~EncoderCore() = default;
  virtual void Encode(const cv::Mat& i420, double bitrate, bool keyframe, EncodedPicture* out) = 0;
};

// H.264 through libavcodec's libx264 wrapper, which reconfigures x264 when bit_rate, rc_max_rate
// or rc_buffer_size change between frames (measured: sizes follow within a frame or two).
class X264Core : public EncoderCore {
 public:
  X264Core(const EncoderSettings& s, double bitrate) {
    const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
    if (codec == nullptr) throw CodedError{"CVCHAT_VIDEO_CODEC_UNAVAILABLE", "This FFmpeg has no libx264 encoder"};
    ctx_ = avcodec_alloc_context3(codec);
    frame_ = av_frame_alloc();
    packet_ = av_packet_alloc();
    if (ctx_ == nullptr || frame_ == nullptr || packet_ == nullptr) throw std::bad_alloc();
    ctx_->log_level_offset = LogOffset();
    ctx_->width = s.size.width;
    ctx_->height = s.size.height;
    ctx_->pix_fmt = AV_PIX_FMT_YUV420P;
    ctx_->framerate = av_d2q(s.fps, 100000);
    ctx_->time_base = av_inv_q(ctx_->framerate);
    // OpenCV's BGR<->I420 is BT.601 in limited range; saying so lets a browser convert it back right.
    ctx_->colorspace = AVCOL_SPC_SMPTE170M;
    ctx_->color_primaries = AVCOL_PRI_SMPTE170M;
    ctx_->color_trc = AVCOL_TRC_SMPTE170M;
    ctx_->color_range = AVCOL_RANGE_MPEG;
    ctx_->max_b_frames = 0;
    // No periodic keyframes: a keyframe costs several P-frames' bytes, so they come only when the
    // receiver needs one (a new viewer, a lost frame). x264's "infinite" is 1 << 30.
    ctx_->gop_size = 1 << 30;
    ctx_->thread_count = s.threads;
    // The wrapper turns x264's sliced threads off unless told slice threading: frame threads would
    // hold frames back, one per thread.
    ctx_->thread_type = FF_THREAD_SLICE;
    // No AV_CODEC_FLAG_GLOBAL_HEADER: SPS and PPS then come in-band, Annex B, before every IDR, so any
    // keyframe starts a stream on its own.
    bufferSeconds_ = s.bufferSeconds;
    SetRate(bitrate);
    av_opt_set(ctx_->priv_data, "preset", s.preset.c_str(), 0);
    av_opt_set(ctx_->priv_data, "tune", s.tune.c_str(), 0);  // zerolatency: no lookahead, no B-frames, no delay
    av_opt_set(ctx_->priv_data, "profile", s.profile.c_str(), 0);
    av_opt_set_int(ctx_->priv_data, "forced-idr", 1, 0);  // a forced keyframe is an IDR, not just an I
    av_opt_set(ctx_->priv_data, "x264-params", "scenecut=0", 0);  // and no keyframes of x264's choosing
    int ret = avcodec_open2(ctx_, codec, nullptr);
    if (ret < 0) throw CodedError{"CVCHAT_VIDEO_ENCODER_OPEN_FAILED", "libx264 did not open: " + AvError(ret)};
  }

  ~X264Core() override {
    av_packet_free(&packet_);
    av_frame_free(&frame_);
    avcodec_free_context(&ctx_);
  }

  void Encode(const cv::Mat& i420, double bitrate, bool keyframe, EncodedPicture* out) override {
    SetRate(bitrate);
    int w = ctx_->width, h = ctx_->height;
    frame_->format = AV_PIX_FMT_YUV420P;
    frame_->width = w;
    frame_->height = h;
    // The planes are borrowed; libavcodec copies a frame it does not hold a reference to.
    uint8_t* y = const_cast<uint8_t*>(i420.ptr<uint8_t>());
    frame_->data[0] = y;
    frame_->data[1] = y + w * h;
    frame_->data[2] = y + w * h + (w / 2) * (h / 2);
    frame_->linesize[0] = w;
    frame_->linesize[1] = frame_->linesize[2] = w / 2;
    frame_->pts = pts_++;
    frame_->pict_type = keyframe ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
    int ret = avcodec_send_frame(ctx_, frame_);
    if (ret < 0) throw CodedError{"CVCHAT_VIDEO_ENCODE_FAILED", "libx264 refused the frame: " + AvError(ret)};
    ret = avcodec_receive_packet(ctx_, packet_);
    if (ret == AVERROR(EAGAIN)) {
      throw CodedError{"CVCHAT_VIDEO_ENCODE_FAILED", "libx264 held the frame back (the encoder is not low-delay)"};
    }
    if (ret < 0) throw CodedError{"CVCHAT_VIDEO_ENCODE_FAILED", "libx264 failed: " + AvError(ret)};
    out->bytes.assign(packet_->data, packet_->data + packet_->size);
    out->keyframe = (packet_->flags & AV_PKT_FLAG_KEY) != 0;
    av_packet_unref(packet_);
  }

 private:
  void SetRate(double bitrate) {
    // A VBV at the target rate with a short buffer: x264's ABR then cannot save up for a spike.
    ctx_->bit_rate = static_cast<int64_t>(bitrate);
    ctx_->rc_max_rate = static_cast<int64_t>(bitrate);
    ctx_->rc_buffer_size = static_cast<int>(bitrate * bufferSeconds_);
  }

  AVCodecContext* ctx_ = nullptr;
  AVFrame* frame_ = nullptr;
  AVPacket* packet_ = nullptr;
  int64_t pts_ = 0;
  double bufferSeconds_ = kBufferSeconds;
};

// VP8 through libvpx's own API: FFmpeg 5.1's libvpx wrapper sets the rate only when it opens (a
// change of bit_rate between frames was measured to change nothing), while
// vpx_codec_enc_config_set changes it from the next frame on, without a keyframe.
class Vp8Core : public EncoderCore {
 public:
  Vp8Core(const EncoderSettings& s, double bitrate) {
    vpx_codec_iface_t* iface = vpx_codec_vp8_cx();
    if (vpx_codec_enc_config_default(iface, &cfg_, 0) != VPX_CODEC_OK) {
      throw CodedError{"CVCHAT_VIDEO_ENCODER_OPEN_FAILED", "libvpx has no default VP8 configuration"};
    }
    cfg_.g_w = s.size.width;
    cfg_.g_h = s.size.height;
    // One tick per frame: the rate control reads the frame rate from the timestamps.
    AVRational fps = av_d2q(s.fps, 100000);
    cfg_.g_timebase.num = fps.den;
    cfg_.g_timebase.den = fps.num;
    cfg_.g_threads = s.threads;
    cfg_.g_pass = VPX_RC_ONE_PASS;
    cfg_.g_lag_in_frames = 0;      // one frame in, one frame out
    cfg_.g_error_resilient = 0;    // TCP loses nothing; resilience would cost bytes
    cfg_.kf_mode = VPX_KF_DISABLED;  // keyframes only on request, as for H.264
    cfg_.rc_end_usage = VPX_CBR;
    cfg_.rc_dropframe_thresh = 0;  // never skip a frame: every call must give a picture
    cfg_.rc_min_quantizer = 2;
    cfg_.rc_max_quantizer = 63;
    cfg_.rc_undershoot_pct = 100;
    cfg_.rc_overshoot_pct = 15;
    cfg_.rc_buf_sz = static_cast<unsigned>(s.bufferSeconds * 1000);
    cfg_.rc_buf_initial_sz = cfg_.rc_buf_sz / 2;
    cfg_.rc_buf_optimal_sz = cfg_.rc_buf_sz * 3 / 5;
    cfg_.rc_target_bitrate = Kbps(bitrate);
    if (vpx_codec_enc_init(&codec_, iface, &cfg_, 0) != VPX_CODEC_OK) {
      throw CodedError{"CVCHAT_VIDEO_ENCODER_OPEN_FAILED", std::string("libvpx did not open: ") + vpx_codec_error(&codec_)};
    }
    open_ = true;
    vpx_codec_control(&codec_, VP8E_SET_CPUUSED, s.cpuUsed);
    vpx_codec_control(&codec_, VP8E_SET_NOISE_SENSITIVITY, 0u);
    vpx_codec_control(&codec_, VP8E_SET_TOKEN_PARTITIONS,
                      static_cast<int>(s.threads > 1 ? VP8_TWO_TOKENPARTITION : VP8_ONE_TOKENPARTITION));
    // A keyframe may fill the buffer but no more (percent of one frame's share of the rate).
    vpx_codec_control(&codec_, VP8E_SET_MAX_INTRA_BITRATE_PCT,
                      static_cast<unsigned>(s.bufferSeconds * s.fps * 100));
  }

  ~Vp8Core() override {
    if (open_) vpx_codec_destroy(&codec_);
  }

  void Encode(const cv::Mat& i420, double bitrate, bool keyframe, EncodedPicture* out) override {
    unsigned kbps = Kbps(bitrate);
    if (kbps != cfg_.rc_target_bitrate) {
      cfg_.rc_target_bitrate = kbps;
      if (vpx_codec_enc_config_set(&codec_, &cfg_) != VPX_CODEC_OK) {
        throw CodedError{"CVCHAT_VIDEO_ENCODE_FAILED", std::string("libvpx refused the bitrate: ") + vpx_codec_error(&codec_)};
      }
    }
    vpx_image_t image;
    if (vpx_img_wrap(&image, VPX_IMG_FMT_I420, cfg_.g_w, cfg_.g_h, 1, const_cast<uint8_t*>(i420.ptr<uint8_t>())) == nullptr) {
      throw CodedError{"CVCHAT_VIDEO_ENCODE_FAILED", "libvpx could not wrap the picture"};
    }
    vpx_enc_frame_flags_t flags = keyframe ? VPX_EFLAG_FORCE_KF : 0;
    if (vpx_codec_encode(&codec_, &image, pts_++, 1, flags, VPX_DL_REALTIME) != VPX_CODEC_OK) {
      throw CodedError{"CVCHAT_VIDEO_ENCODE_FAILED", std::string("libvpx failed: ") + vpx_codec_error(&codec_)};
    }
    out->bytes.clear();
    out->keyframe = false;
    vpx_codec_iter_t iter = nullptr;
    while (const vpx_codec_cx_pkt_t* packet = vpx_codec_get_cx_data(&codec_, &iter)) {
      if (packet->kind != VPX_CODEC_CX_FRAME_PKT) continue;
      const uint8_t* bytes = static_cast<const uint8_t*>(packet->data.frame.buf);
      out->bytes.insert(out->bytes.end(), bytes, bytes + packet->data.frame.sz);
      out->keyframe = out->keyframe || (packet->data.frame.flags & VPX_FRAME_IS_KEY) != 0;
    }
    if (out->bytes.empty()) throw CodedError{"CVCHAT_VIDEO_ENCODE_FAILED", "libvpx gave no frame for the picture"};
  }

 private:
  static unsigned Kbps(double bitrate) { return static_cast<unsigned>(std::max(1.0, std::round(bitrate / 1000))); }

  vpx_codec_enc_cfg_t cfg_;
  vpx_codec_ctx_t codec_;
  bool open_ = false;
  int64_t pts_ = 0;
};

bool HasX264() { return avcodec_find_encoder_by_name("libx264") != nullptr; }
bool HasVp8Encoder() { return vpx_codec_vp8_cx() != nullptr; }
bool HasH264Decoder() { return avcodec_find_decoder(AV_CODEC_ID_H264) != nullptr; }
bool HasVp8Decoder() { return vpx_codec_vp8_dx() != nullptr; }

// What a packet says about itself before any decoding: enough to refuse it early.
struct PacketHeader {
  bool valid = false;     // well-formed enough to hand to the decoder
  bool keyframe = false;  // starts a stream on its own
  int64_t width = 0, height = 0;  // 0 when the packet does not declare a size
  std::string problem;
};

uint32_t Le16(const uint8_t* p) { return p[0] | (p[1] << 8); }

// VP8 (RFC 6386 section 9.1): a 3-byte frame tag, and for keyframes a start code and the size.
PacketHeader ProbeVp8(const uint8_t* d, size_t n) {
  PacketHeader h;
  if (n < 3) {
    h.problem = "shorter than a VP8 frame tag";
    return h;
  }
  uint32_t tag = d[0] | (d[1] << 8) | (uint32_t(d[2]) << 16);
  h.keyframe = (tag & 1) == 0;
  uint32_t version = (tag >> 1) & 7;
  size_t firstPartition = tag >> 5;
  size_t header = 3;
  if (version > 3) {
    h.problem = "not VP8 (unknown version " + std::to_string(version) + ")";
    return h;
  }
  if (h.keyframe) {
    header = 10;
    if (n < header || d[3] != 0x9D || d[4] != 0x01 || d[5] != 0x2A) {
      h.problem = "a VP8 keyframe without its start code";
      return h;
    }
    h.width = Le16(d + 6) & 0x3FFF;
    h.height = Le16(d + 8) & 0x3FFF;
    if (h.width == 0 || h.height == 0) {
      h.problem = "a VP8 keyframe of zero size";
      return h;
    }
  }
  if (firstPartition > n - header) {
    h.problem = "truncated (the first VP8 partition runs past the end)";
    return h;
  }
  h.valid = true;
  return h;
}

// Reads the bits of an H.264 RBSP; a read past the end fails the reader instead of going there.
class BitReader {
 public:
  explicit BitReader(const std::vector<uint8_t>& bytes) : bytes_(bytes) {}
  bool ok() const { return ok_; }
  uint32_t Bit() {
    if (pos_ >= bytes_.size() * 8) {
      ok_ = false;
      return 0;
    }
    uint32_t bit = (bytes_[pos_ >> 3] >> (7 - (pos_ & 7))) & 1;
    ++pos_;
    return bit;
  }
  uint32_t Bits(int count) {
    uint32_t value = 0;
    while (count-- > 0) value = (value << 1) | Bit();
    return value;
  }
  // Exp-Golomb, unsigned and signed (H.264 section 9.1).
  uint32_t Ue() {
    int zeros = 0;
    while (Bit() == 0) {
      if (!ok_ || ++zeros > 31) {
        ok_ = false;
        return 0;
      }
    }
    return ((1u << zeros) - 1) + Bits(zeros);
  }
  int64_t Se() {
    uint32_t k = Ue();
    return (k & 1) ? int64_t(k / 2) + 1 : -int64_t(k / 2);
  }

 private:
  const std::vector<uint8_t>& bytes_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// The picture size an SPS declares (H.264 section 7.3.2.1.1), from its RBSP after the NAL header.
bool ParseSps(const std::vector<uint8_t>& rbsp, int64_t* width, int64_t* height) {
  BitReader r(rbsp);
  uint32_t profile = r.Bits(8);
  r.Bits(16);  // constraint flags, level
  r.Ue();      // seq_parameter_set_id
  uint32_t chroma = 1;
  static const uint32_t kHighProfiles[] = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135};
  if (std::find(std::begin(kHighProfiles), std::end(kHighProfiles), profile) != std::end(kHighProfiles)) {
    chroma = r.Ue();
    if (chroma > 3) return false;
    if (chroma == 3) r.Bit();  // separate_colour_plane_flag
    r.Ue();                    // bit depths
    r.Ue();
    r.Bit();  // qpprime_y_zero_transform_bypass_flag
    if (r.Bit()) {  // seq_scaling_matrix_present_flag
      for (int i = 0; i < (chroma != 3 ? 8 : 12) && r.ok(); ++i) {
        if (!r.Bit()) continue;
        int64_t last = 8, next = 8;
        for (int j = 0; j < (i < 6 ? 16 : 64) && r.ok(); ++j) {
          if (next != 0) next = ((last + r.Se()) % 256 + 256) % 256;
          if (next != 0) last = next;
        }
      }
    }
  }
  r.Ue();  // log2_max_frame_num_minus4
  uint32_t pocType = r.Ue();
  if (pocType == 0) {
    r.Ue();
  } else if (pocType == 1) {
    r.Bit();
    r.Se();
    r.Se();
    uint32_t cycle = r.Ue();
    if (cycle > 255) return false;
    for (uint32_t i = 0; i < cycle && r.ok(); ++i) r.Se();
  }
  r.Ue();  // max_num_ref_frames
  r.Bit();  // gaps_in_frame_num_value_allowed_flag
  int64_t mbWidth = int64_t(r.Ue()) + 1;
  int64_t mapHeight = int64_t(r.Ue()) + 1;
  int64_t frameMbsOnly = r.Bit();
  if (!frameMbsOnly) r.Bit();  // mb_adaptive_frame_field_flag
  r.Bit();                     // direct_8x8_inference_flag
  int64_t w = mbWidth * 16, h = mapHeight * 16 * (2 - frameMbsOnly);
  if (r.Bit()) {  // frame_cropping_flag
    int64_t unitX = (chroma == 1 || chroma == 2) ? 2 : 1;
    int64_t unitY = (chroma == 1 ? 2 : 1) * (2 - frameMbsOnly);
    int64_t left = r.Ue(), right = r.Ue(), top = r.Ue(), bottom = r.Ue();
    int64_t cropW = (left + right) * unitX, cropH = (top + bottom) * unitY;
    if (cropW < w && cropH < h) {  // otherwise keep the coded size: an upper bound is all we need
      w -= cropW;
      h -= cropH;
    }
  }
  if (!r.ok()) return false;
  *width = w;
  *height = h;
  return true;
}

// H.264 Annex B: NAL units after 00 00 01 start codes. An IDR slice makes a keyframe; an SPS
// declares the size. Only the SPS is unescaped, and only its first bytes (the size comes early).
PacketHeader ProbeH264(const uint8_t* d, size_t n) {
  PacketHeader h;
  bool anyNal = false, anySlice = false;
  size_t i = 0;
  while (i + 3 <= n) {
    if (!(d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1)) {
      ++i;
      continue;
    }
    size_t start = i + 3;
    size_t end = start;
    while (end + 3 <= n && !(d[end] == 0 && d[end + 1] == 0 && (d[end + 2] == 1 || (d[end + 2] == 0 && end + 3 < n && d[end + 3] == 1)))) ++end;
    if (end + 3 > n) end = n;
    i = end;
    if (start >= end) continue;
    uint8_t header = d[start];
    if (header & 0x80) {
      h.problem = "not H.264 (a NAL unit's forbidden bit is set)";
      return h;
    }
    anyNal = true;
    int type = header & 0x1F;
    if (type == 1 || type == 5) anySlice = true;
    if (type == 5) h.keyframe = true;
    if (type == 7) {
      std::vector<uint8_t> rbsp;
      size_t zeros = 0;
      for (size_t k = start + 1; k < end && rbsp.size() < 1024; ++k) {
        if (zeros >= 2 && d[k] == 3) {  // emulation prevention byte
          zeros = 0;
          continue;
        }
        zeros = d[k] == 0 ? zeros + 1 : 0;
        rbsp.push_back(d[k]);
      }
      if (!ParseSps(rbsp, &h.width, &h.height)) {
        h.problem = "a damaged H.264 sequence parameter set";
        return h;
      }
    }
  }
  if (!anyNal) {
    h.problem = "not H.264 Annex B (no start code)";
    return h;
  }
  if (!anySlice) {
    h.problem = "H.264 without a picture (no slice)";
    return h;
  }
  h.valid = true;
  return h;
}

// Frame (BGR, gray or BGRA, any size) -> contiguous I420 at `size`, scaled by area averaging.
void ToI420(const cv::Mat& source, cv::Size size, cv::Mat* i420) {
  cv::Mat picture = source;
  if (picture.size() != size) cv::resize(source, picture, size, 0, 0, cv::INTER_AREA);
  if (picture.channels() == 1) {
    cv::Mat bgr;
    cv::cvtColor(picture, bgr, cv::COLOR_GRAY2BGR);
    picture = bgr;
  }
  cv::cvtColor(picture, *i420, picture.channels() == 4 ? cv::COLOR_BGRA2YUV_I420 : cv::COLOR_BGR2YUV_I420);
}

// A decoded 8-bit 4:2:0 picture -> BGR. The planes are copied into one contiguous I420 block
// (respecting each plane's stride) for cvtColor; an odd width or height is padded by repeating the
// last column or row, converted, and cropped back.
cv::Mat ToBgr(int w, int h, const uint8_t* const planes[3], const int strides[3], cv::Mat* i420) {
  int evenW = w + (w & 1), evenH = h + (h & 1);
  int chromaW = evenW / 2, chromaH = evenH / 2;
  if (w <= 0 || h <= 0 || strides[0] < w || strides[1] < chromaW || strides[2] < chromaW) {
    throw CodedError{"CVCHAT_VIDEO_DECODE_FAILED", "the decoder gave planes narrower than the picture"};
  }
  i420->create(evenH * 3 / 2, evenW, CV_8UC1);
  uint8_t* out = i420->ptr<uint8_t>();
  for (int y = 0; y < evenH; ++y) {
    uint8_t* row = out + static_cast<size_t>(y) * evenW;
    std::memcpy(row, planes[0] + static_cast<ptrdiff_t>(std::min(y, h - 1)) * strides[0], w);
    if (evenW > w) row[w] = row[w - 1];
  }
  for (int plane = 1; plane <= 2; ++plane) {
    uint8_t* base = out + static_cast<size_t>(evenW) * evenH + static_cast<size_t>(plane - 1) * chromaW * chromaH;
    for (int y = 0; y < chromaH; ++y) {
      std::memcpy(base + static_cast<size_t>(y) * chromaW, planes[plane] + static_cast<ptrdiff_t>(y) * strides[plane], chromaW);
    }
  }
  cv::Mat bgr;
  cv::cvtColor(*i420, bgr, cv::COLOR_YUV2BGR_I420);
  if (evenW != w || evenH != h) bgr = bgr(cv::Rect(0, 0, w, h)).clone();
  return bgr;
}

std::string SizeText(int64_t w, int64_t h) { return std::to_string(w) + "x" + std::to_string(h); }

// One decoder library behind one interface. Decode() returns "" and sets `picture` (left empty
// when the decoder gave none), or returns why the data was refused. Flush() forgets the stream.
class DecoderCore {
 public:
  virtual ~DecoderCore() = default;
  virtual std::string Decode(const uint8_t* data, size_t size, double maxPixels, cv::Mat* picture, cv::Mat* i420) = 0;
  virtual void Flush() = 0;
};

// H.264 through libavcodec's decoder, on one thread: with slice threads FFmpeg 5.1 turns error
// resilience off (so a picture missing slices is neither concealed nor flagged) and drops the
// errors the slice workers return (measured: a frame cut at 75-90% of its bytes came out "ok").
class AvDecoderCore : public DecoderCore {
 public:
  AvDecoderCore() {
    const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_H264);
    if (codec == nullptr) throw CodedError{"CVCHAT_VIDEO_CODEC_UNAVAILABLE", "This FFmpeg has no H.264 decoder"};
    ctx_ = avcodec_alloc_context3(codec);
    packet_ = av_packet_alloc();
    frame_ = av_frame_alloc();
    if (ctx_ == nullptr || packet_ == nullptr || frame_ == nullptr) throw std::bad_alloc();
    ctx_->log_level_offset = LogOffset();
    // Low delay: no frame threading (each thread would hold a frame back).
    ctx_->flags |= AV_CODEC_FLAG_LOW_DELAY;
    ctx_->flags &= ~AV_CODEC_FLAG_OUTPUT_CORRUPT;
    ctx_->flags2 &= ~AV_CODEC_FLAG2_SHOW_ALL;
    ctx_->thread_count = 1;
    // Report damage rather than hide it. Concealment stays on only because that is where FFmpeg
    // marks a concealed picture (FF_DECODE_ERROR_CONCEALMENT_ACTIVE), and such a picture is refused.
    ctx_->err_recognition = AV_EF_EXPLODE | AV_EF_BITSTREAM | AV_EF_BUFFER | AV_EF_CRCCHECK;
    int ret = avcodec_open2(ctx_, codec, nullptr);
    if (ret < 0) throw CodedError{"CVCHAT_VIDEO_DECODER_OPEN_FAILED", "The H.264 decoder did not open: " + AvError(ret)};
  }

  ~AvDecoderCore() override {
    av_frame_free(&frame_);
    av_packet_free(&packet_);
    avcodec_free_context(&ctx_);
  }

  std::string Decode(const uint8_t* data, size_t size, double maxPixels, cv::Mat* picture, cv::Mat* i420) override {
    // A backstop for the caller's check of the SPS: FFmpeg refuses larger pictures before allocating.
    ctx_->max_pixels = static_cast<int64_t>(std::min(maxPixels, 9e18));
    // Borrowed: libavcodec copies a packet it holds no reference to, into a buffer with the zeroed
    // padding its bit readers may run into.
    packet_->data = const_cast<uint8_t*>(data);
    packet_->size = static_cast<int>(size);
    int ret = avcodec_send_packet(ctx_, packet_);
    av_packet_unref(packet_);
    if (ret < 0) return "the decoder refused the data: " + AvError(ret);
    for (;;) {
      ret = avcodec_receive_frame(ctx_, frame_);
      if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return "";
      if (ret < 0) return "damaged data: " + AvError(ret);
      std::string problem = Convert(maxPixels, picture, i420);
      av_frame_unref(frame_);
      if (!problem.empty()) return problem;
    }
  }

  void Flush() override { avcodec_flush_buffers(ctx_); }

 private:
  // One packet is one picture; should a crafted one hold more, the last is kept.
  std::string Convert(double maxPixels, cv::Mat* picture, cv::Mat* i420) {
    const AVFrame* f = frame_;
    if (f->decode_error_flags != 0 || (f->flags & AV_FRAME_FLAG_CORRUPT) != 0) {
      return "the decoder flagged the picture as damaged or concealed";
    }
    if (f->format != AV_PIX_FMT_YUV420P && f->format != AV_PIX_FMT_YUVJ420P) return "a picture format other than 8-bit 4:2:0";
    if (static_cast<double>(f->width) * f->height > maxPixels) return "a picture of " + SizeText(f->width, f->height) + " pixels";
    const uint8_t* planes[3] = {f->data[0], f->data[1], f->data[2]};
    const int strides[3] = {f->linesize[0], f->linesize[1], f->linesize[2]};
    *picture = ToBgr(f->width, f->height, planes, strides, i420);
    return "";
  }

  AVCodecContext* ctx_ = nullptr;
  AVPacket* packet_ = nullptr;
  AVFrame* frame_ = nullptr;
};

// VP8 through libvpx's decoder. FFmpeg 5.1's VP8 decoder was measured to decode a frame cut inside
// its last partition (75-90% of the bytes) as whole, with no flag: errors in macroblock rows are
// not passed on. libvpx notices a read past the end of any partition and says so
// (VP8D_GET_FRAME_CORRUPTED), down to a frame missing 1% of its bytes.
class VpxDecoderCore : public DecoderCore {
 public:
  VpxDecoderCore() { Open(); }
  ~VpxDecoderCore() override { Close(); }

  std::string Decode(const uint8_t* data, size_t size, double maxPixels, cv::Mat* picture, cv::Mat* i420) override {
    if (vpx_codec_decode(&codec_, data, static_cast<unsigned>(size), nullptr, 0) != VPX_CODEC_OK) {
      const char* detail = vpx_codec_error_detail(&codec_);
      return std::string("damaged data: ") + vpx_codec_error(&codec_) + (detail ? std::string(" (") + detail + ")" : "");
    }
    int corrupted = 1;
    bool flagged = vpx_codec_control(&codec_, VP8D_GET_FRAME_CORRUPTED, &corrupted) != VPX_CODEC_OK || corrupted != 0;
    vpx_codec_iter_t iter = nullptr;
    while (const vpx_image_t* image = vpx_codec_get_frame(&codec_, &iter)) {
      if (flagged) continue;  // drained, never shown
      if (image->fmt != VPX_IMG_FMT_I420) return "a picture format other than 8-bit 4:2:0";
      if (static_cast<double>(image->d_w) * image->d_h > maxPixels) return "a picture of " + SizeText(image->d_w, image->d_h) + " pixels";
      const uint8_t* planes[3] = {image->planes[0], image->planes[1], image->planes[2]};
      const int strides[3] = {image->stride[0], image->stride[1], image->stride[2]};
      *picture = ToBgr(static_cast<int>(image->d_w), static_cast<int>(image->d_h), planes, strides, i420);
    }
    if (flagged) return "the decoder flagged the picture as damaged";
    return "";
  }

  // libvpx has no flush: a new decoder forgets the reference frames.
  void Flush() override {
    Close();
    Open();
  }

 private:
  void Open() {
    vpx_codec_dec_cfg_t config = {};
    config.threads = 1;
    if (vpx_codec_dec_init(&codec_, vpx_codec_vp8_dx(), &config, 0) != VPX_CODEC_OK) {
      throw CodedError{"CVCHAT_VIDEO_DECODER_OPEN_FAILED", "The VP8 decoder did not open"};
    }
    open_ = true;
  }
  void Close() {
    if (open_) vpx_codec_destroy(&codec_);
    open_ = false;
  }

  vpx_codec_ctx_t codec_;
  bool open_ = false;
};

std::string CodecArg(const Napi::CallbackInfo& info, size_t i) {
  std::string codec = StringArg(info, i, "codec");
  if (codec != "h264" && codec != "vp8") {
    ThrowCoded(info.Env(), "CVCHAT_INVALID_ARGUMENT", "Unknown video codec '" + codec + "' (h264 or vp8)");
  }
  return codec;
}

const Napi::Object* TuningArg(const Napi::CallbackInfo& info, size_t i, Napi::Object* holder) {
  if (info.Length() <= i || info[i].IsUndefined()) return nullptr;
  if (!info[i].IsObject()) ThrowCoded(info.Env(), "CVCHAT_INVALID_ARGUMENT", "Expected an object for tuning");
  *holder = info[i].As<Napi::Object>();
  return holder;
}

// videoCodecs() -> the codecs that can be both encoded and decoded here, preferred first.
Napi::Value VideoCodecs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array codecs = Napi::Array::New(env);
  uint32_t n = 0;
  if (HasX264() && HasH264Decoder()) codecs.Set(n++, "h264");
  if (HasVp8Encoder() && HasVp8Decoder()) codecs.Set(n++, "vp8");
  return codecs;
}

}  // namespace

// The encoder's state, shared with the work in flight. `busy` and `closed` change only on the
// main thread; the core is touched by the worker only while busy, and freed only when not.
struct EncoderState {
  std::string codec;
  EncoderSettings settings;
  std::unique_ptr<EncoderCore> core;
  std::atomic<bool> busy{false};
  bool closed = false;
  int64_t frames = 0;
  cv::Mat i420;  // reused between frames
};

struct DecoderState {
  std::string codec;
  std::unique_ptr<DecoderCore> core;
  std::atomic<bool> busy{false};
  bool closed = false;
  bool resetPending = false;
  // Set when the stream starts and after any error: until a keyframe decodes, nothing is shown,
  // since every other frame refers to pictures this decoder does not have (or has damaged).
  bool needKeyframe = true;
  int64_t width = 0, height = 0;  // the stream's size, from its last keyframe
  cv::Mat i420;
};

void VideoEncoder::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "VideoEncoder",
                                    {
                                        InstanceMethod<&VideoEncoder::Encode>("encode"),
                                        InstanceMethod<&VideoEncoder::Close>("close"),
                                        InstanceAccessor<&VideoEncoder::Codec>("codec"),
                                        InstanceAccessor<&VideoEncoder::Width>("width"),
                                        InstanceAccessor<&VideoEncoder::Height>("height"),
                                    });
  exports.Set("VideoEncoder", ctor);
}

// new VideoEncoder(codec, width, height, fps[, tuning]): checks its arguments; `tuning` ({ threads,
// preset, profile, cpuUsed }) exists for the benchmark that chose the defaults.
VideoEncoder::VideoEncoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VideoEncoder>(info) {
  Napi::Env env = info.Env();
  RequireArgs(info, 4, "new VideoEncoder(codec, width, height, fps)");
  state_ = std::make_shared<EncoderState>();
  state_->codec = CodecArg(info, 0);
  EncoderSettings& s = state_->settings;
  s.size = cv::Size(IntArg(info, 1, "width"), IntArg(info, 2, "height"));
  s.fps = NumberArg(info, 3, "fps");
  if (s.size.width <= 0 || s.size.height <= 0 || s.size.width > kMaxDimension || s.size.height > kMaxDimension ||
      s.size.width % 2 != 0 || s.size.height % 2 != 0) {
    ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT",
               "A video encoder's width and height must be even, from 2 to " + std::to_string(kMaxDimension) + " (4:2:0 needs even sizes), not " +
                   std::to_string(s.size.width) + "x" + std::to_string(s.size.height));
  }
  if (!(s.fps > 0 && s.fps <= kMaxFps)) {
    ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", "A video encoder's fps must be above 0 and at most " + std::to_string(int(kMaxFps)));
  }
  Napi::Object holder;
  const Napi::Object* tuning = TuningArg(info, 4, &holder);
  bool h264 = state_->codec == "h264";
  s.threads = std::clamp(TuningInt(tuning, "threads", h264 ? kX264Threads : kVp8Threads), 1, 16);
  s.preset = TuningString(tuning, "preset", kX264Preset);
  s.profile = TuningString(tuning, "profile", kX264Profile);
  s.tune = TuningString(tuning, "tune", kX264Tune);
  s.bufferSeconds = std::clamp(TuningNumber(tuning, "bufferSeconds", kBufferSeconds), 0.02, 2.0);
  s.cpuUsed = std::clamp(TuningInt(tuning, "cpuUsed", kVp8CpuUsed), -16, 16);
  if (h264 ? !HasX264() : !HasVp8Encoder()) {
    ThrowCoded(env, "CVCHAT_VIDEO_CODEC_UNAVAILABLE", "No " + state_->codec + " encoder here (see videoCodecs())");
  }
  // The codec itself opens on the first encode(), on the worker: opening takes milliseconds, and
  // the first frame's bitrate is then the one its rate control starts from.
}

// encode(frame, bitrateBps, keyframe) -> Promise<{ data: Buffer, keyframe: boolean }>
Napi::Value VideoEncoder::Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireArgs(info, 3, "encode(frame, bitrateBps, keyframe)");
  cv::Mat mat = Frame::MatArg(info, 0, "frame");  // shares pixels; safe if the JS frame is released meanwhile
  double bitrate = NumberArg(info, 1, "bitrateBps");
  if (!info[2].IsBoolean()) ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", "Expected a boolean for keyframe");
  bool keyframe = info[2].As<Napi::Boolean>().Value();
  if (!(bitrate >= kMinBitrate && bitrate <= kMaxBitrate)) {
    ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", "bitrateBps must be from 10000 to 500000000");
  }
  if (mat.depth() != CV_8U || (mat.channels() != 1 && mat.channels() != 3 && mat.channels() != 4)) {
    ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", "encode: the frame must be 8-bit with 1, 3 or 4 channels");
  }
  auto state = state_;
  if (state->closed) return Rejected(env, "CVCHAT_VIDEO_CLOSED", "encode() on a closed video encoder");
  if (state->busy) return Rejected(env, "CVCHAT_VIDEO_BUSY", "encode() while another encode() of this encoder is pending");
  state->busy = true;
  bool first = state->frames++ == 0;
  auto out = std::make_shared<EncodedPicture>();
  return RunAsync(
      env, "cvchat.videoEncoder.encode",
      [state, mat, bitrate, keyframe, first, out] {
        if (!state->core) {
          if (state->codec == "h264") {
            state->core = std::make_unique<X264Core>(state->settings, bitrate);
          } else {
            state->core = std::make_unique<Vp8Core>(state->settings, bitrate);
          }
        }
        ToI420(mat, state->settings.size, &state->i420);
        state->core->Encode(state->i420, bitrate, keyframe || first, out.get());
      },
      [out](Napi::Env env, const auto&) -> Napi::Value {
        Napi::Object result = Napi::Object::New(env);
        result.Set("data", Napi::Buffer<uint8_t>::Copy(env, out->bytes.data(), out->bytes.size()));
        result.Set("keyframe", out->keyframe);
        return result;
      },
      {Value()},
      [state] {
        state->busy = false;
        if (state->closed) state->core.reset();  // close() came while this frame was encoding
      });
}

// close(): frees the codec now, or as soon as the encode in flight ends.
Napi::Value VideoEncoder::Close(const Napi::CallbackInfo& info) {
  state_->closed = true;
  if (!state_->busy) state_->core.reset();
  return info.Env().Undefined();
}

Napi::Value VideoEncoder::Codec(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), state_->codec); }
Napi::Value VideoEncoder::Width(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), state_->settings.size.width);
}
Napi::Value VideoEncoder::Height(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), state_->settings.size.height);
}

void VideoDecoder::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "VideoDecoder",
                                    {
                                        InstanceMethod<&VideoDecoder::Decode>("decode"),
                                        InstanceMethod<&VideoDecoder::Reset>("reset"),
                                        InstanceMethod<&VideoDecoder::Close>("close"),
                                        InstanceAccessor<&VideoDecoder::Codec>("codec"),
                                    });
  exports.Set("VideoDecoder", ctor);
}

// new VideoDecoder(codec): H.264 by libavcodec, VP8 by libvpx (see AvDecoderCore, VpxDecoderCore).
VideoDecoder::VideoDecoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VideoDecoder>(info) {
  Napi::Env env = info.Env();
  RequireArgs(info, 1, "new VideoDecoder(codec)");
  state_ = std::make_shared<DecoderState>();
  state_->codec = CodecArg(info, 0);
  try {
    if (state_->codec == "h264") {
      state_->core = std::make_unique<AvDecoderCore>();
    } else {
      state_->core = std::make_unique<VpxDecoderCore>();
    }
  } catch (const CodedError& e) {
    ThrowCoded(env, e.code, e.message);
  }
}

namespace {

struct DecodeRequest {
  const uint8_t* data = nullptr;
  size_t size = 0;
  double maxPixels = 0;
  cv::Size scaleTo;
};

struct DecodeResult {
  std::string status = "error";
  std::string reason;
  bool keyframe = false;
  int64_t width = 0, height = 0;
  cv::Mat picture;
};

// The decode itself, on the worker. Any failure leaves the decoder waiting for a keyframe.
void DecodePacket(DecoderState& s, const DecodeRequest& request, DecodeResult* result) {
  bool fed = false;  // whether the decoder has seen this packet, and so may hold part of it
  auto fail = [&](const std::string& reason) {
    result->status = "error";
    result->reason = reason;
    result->picture.release();
    s.needKeyframe = true;
    if (fed) s.core->Flush();
  };
  result->width = s.width;
  result->height = s.height;
  if (request.size == 0) return fail("an empty packet");
  if (request.size > static_cast<size_t>(std::numeric_limits<int>::max() / 2)) return fail("a packet too large to decode");
  PacketHeader header = s.codec == "h264" ? ProbeH264(request.data, request.size) : ProbeVp8(request.data, request.size);
  result->keyframe = header.keyframe;
  if (!header.valid) return fail(header.problem);
  if (header.width > 0) {
    result->width = header.width;
    result->height = header.height;
    if (static_cast<double>(header.width) * static_cast<double>(header.height) > request.maxPixels) {
      return fail("the stream declares " + SizeText(header.width, header.height) + " pixels, above the limit of " +
                  std::to_string(static_cast<int64_t>(request.maxPixels)));
    }
  }
  if (s.needKeyframe && !header.keyframe) return fail("a frame that needs an earlier one (waiting for a keyframe)");
  if (s.needKeyframe && s.codec == "h264" && header.width == 0) return fail("an H.264 keyframe without its SPS");
  fed = true;
  std::string problem = s.core->Decode(request.data, request.size, request.maxPixels, &result->picture, &s.i420);
  if (!problem.empty()) return fail(problem);
  if (result->picture.empty()) {
    result->status = "none";
    return;
  }
  result->width = result->picture.cols;
  result->height = result->picture.rows;
  if (header.keyframe) {
    s.needKeyframe = false;
    s.width = result->width;
    s.height = result->height;
  }
  if (!request.scaleTo.empty() && request.scaleTo != result->picture.size()) {
    cv::Mat scaled;
    cv::resize(result->picture, scaled, request.scaleTo, 0, 0, cv::INTER_LINEAR);
    result->picture = scaled;
  }
  result->status = "ok";
}

}  // namespace

// decode(data, maxPixels[, width, height]) -> Promise<{ frame, status, keyframe, width, height, reason? }>
Napi::Value VideoDecoder::Decode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireArgs(info, 2, "decode(data, maxPixels[, width, height])");
  Napi::Buffer<uint8_t> buffer = BufferArg(info, 0, "data");
  DecodeRequest request;
  request.data = buffer.Data();
  request.size = buffer.Length();
  request.maxPixels = NumberArg(info, 1, "maxPixels");
  if (!(request.maxPixels > 0)) ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", "maxPixels must be above 0");
  if (info.Length() > 3 && !info[2].IsUndefined()) {
    request.scaleTo = cv::Size(IntArg(info, 2, "width"), IntArg(info, 3, "height"));
    if (request.scaleTo.width <= 0 || request.scaleTo.height <= 0 || request.scaleTo.width > kMaxDimension ||
        request.scaleTo.height > kMaxDimension) {
      ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", "decode: width and height must be from 1 to " + std::to_string(kMaxDimension));
    }
  }
  auto state = state_;
  if (state->closed) return Rejected(env, "CVCHAT_VIDEO_CLOSED", "decode() on a closed video decoder");
  if (state->busy) return Rejected(env, "CVCHAT_VIDEO_BUSY", "decode() while another decode() of this decoder is pending");
  state->busy = true;
  auto result = std::make_shared<DecodeResult>();
  return RunAsync(
      env, "cvchat.videoDecoder.decode", [state, request, result] { DecodePacket(*state, request, result.get()); },
      [result](Napi::Env env, const auto&) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("frame", result->status == "ok" ? Frame::New(env, result->picture) : env.Null());
        o.Set("status", result->status);
        o.Set("keyframe", result->keyframe);
        o.Set("width", static_cast<double>(result->width));
        o.Set("height", static_cast<double>(result->height));
        if (!result->reason.empty()) o.Set("reason", result->reason);
        return o;
      },
      {Value(), buffer},
      [state] {
        state->busy = false;
        if (state->closed) {
          state->core.reset();  // close() came while this frame was decoding
        } else if (state->resetPending) {
          state->resetPending = false;
          state->core->Flush();
          state->needKeyframe = true;
        }
      });
}

// reset(): a new stream starts; nothing is shown until its first keyframe.
Napi::Value VideoDecoder::Reset(const Napi::CallbackInfo& info) {
  if (state_->closed) ThrowCoded(info.Env(), "CVCHAT_VIDEO_CLOSED", "reset() on a closed video decoder");
  if (state_->busy) {
    state_->resetPending = true;
  } else {
    state_->core->Flush();
    state_->needKeyframe = true;
  }
  return info.Env().Undefined();
}

Napi::Value VideoDecoder::Close(const Napi::CallbackInfo& info) {
  state_->closed = true;
  if (!state_->busy) state_->core.reset();
  return info.Env().Undefined();
}

Napi::Value VideoDecoder::Codec(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), state_->codec); }

void InitVideoCodec(Napi::Env env, Napi::Object exports) {
  VideoEncoder::Init(env, exports);
  VideoDecoder::Init(env, exports);
  exports.Set("videoCodecs", Napi::Function::New<VideoCodecs>(env, "videoCodecs"));
}

}  // namespace cvchat
