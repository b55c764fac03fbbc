#include "recorder.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/mathematics.h>
#include <libavutil/rational.h>
}

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <unordered_set>

#include "codec.h"
#include "common.h"
#include "frame.h"
#include "jpeg.h"

namespace cvchat {

namespace {

int tagValue;

// Limits for arguments the TypeScript layer has already checked (lib/base/limits.ts).
const int kMaxDimension = 16384;
const double kMaxFps = 1000;  // the AVI muxer replaces a rate above 1000 by 600
const double kMaxTimeMs = 1e11;
// FFmpeg's AVI muxer refuses to fill a gap of more than this many slots in one go.
const int64_t kMaxAviGap = 60000;

std::string AvError(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, text, sizeof(text));
  return text;
}

// FFmpeg's muxers log through their AVFormatContext, which, unlike a codec context, has no log
// level offset, and a global av_log_set_level would be undone by OpenCV's FFmpeg backend (it sets
// its own level whenever it opens a file). So the recorder installs one log callback that drops
// what comes from its own contexts and passes everything else to FFmpeg's default printer, as if
// the callback were not there. Every failure is reported through the promise instead.
// CVCHAT_FFMPEG_LOG=1 leaves FFmpeg's logging alone.
std::mutex quietMutex;
std::unordered_set<const void*> quietContexts;

void FilteredLog(void* context, int level, const char* format, va_list args) {
  if (level > av_log_get_level()) return;  // what the default printer would drop anyway (most calls)
  {
    std::lock_guard<std::mutex> lock(quietMutex);
    if (quietContexts.count(context) != 0) return;
  }
  av_log_default_callback(context, level, format, args);
}

void Quiet(const void* context, bool quiet) {
  static const bool enabled = [] {
    if (std::getenv("CVCHAT_FFMPEG_LOG")) return false;
    av_log_set_callback(FilteredLog);
    return true;
  }();
  if (!enabled || context == nullptr) return;
  std::lock_guard<std::mutex> lock(quietMutex);
  if (quiet) {
    quietContexts.insert(context);
  } else {
    quietContexts.erase(context);
  }
}

std::string LowerExtension(const std::string& path) {
  size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

std::string SizeText(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

// Closes the file; returns what closing it said. The context stays quiet until it is freed (closing
// logs its statistics).
int CloseFile(RecorderState& s) {
  AVIOContext* pb = s.format->pb;
  if (pb == nullptr) return 0;
  int ret = avio_closep(&s.format->pb);
  Quiet(pb, false);
  return ret;
}

// Frees what Open made; the file, if created, is left as it is.
void FreeMuxer(RecorderState& s) {
  if (s.format != nullptr) {
    CloseFile(s);
    AVFormatContext* format = s.format;
    avformat_free_context(format);
    Quiet(format, false);
    s.format = nullptr;
  }
  av_packet_free(&s.packet);
}

// Creates the file and writes the container's header.
void OpenMuxer(RecorderState& s) {
  const char* muxer = s.container == Container::kMatroska ? "matroska" : "avi";
  int ret = avformat_alloc_output_context2(&s.format, nullptr, muxer, s.path.c_str());
  if (ret < 0 || s.format == nullptr) throw CodedError{"CVCHAT_RECORD_OPEN_FAILED", "FFmpeg has no " + std::string(muxer) + " muxer: " + AvError(ret)};
  Quiet(s.format, true);
  s.packet = av_packet_alloc();
  AVStream* stream = avformat_new_stream(s.format, nullptr);
  if (s.packet == nullptr || stream == nullptr) throw std::bad_alloc();
  AVCodecParameters* par = stream->codecpar;
  par->codec_type = AVMEDIA_TYPE_VIDEO;
  par->codec_id = AV_CODEC_ID_MJPEG;
  par->width = s.size.width;
  par->height = s.size.height;
  par->format = AV_PIX_FMT_YUVJ420P;
  par->color_range = AVCOL_RANGE_JPEG;
  AVRational rate = av_d2q(s.fps, 1000000);
  // The nominal rate, which players and OpenCV report as the file's fps.
  stream->avg_frame_rate = rate;
  if (s.container == Container::kMatroska) {
    stream->time_base = AVRational{1, 1000};  // Matroska's own: each frame keeps its millisecond
  } else {
    stream->time_base = av_inv_q(rate);  // AVI's only clock: one slot per frame at the given rate
  }

  // "file:" keeps a name with a colon, or one that looks like a URL, a plain file name.
  AVDictionary* ioOptions = nullptr;
  av_dict_set(&ioOptions, "protocol_whitelist", "file", 0);
  ret = avio_open2(&s.format->pb, ("file:" + s.path).c_str(), AVIO_FLAG_WRITE, nullptr, &ioOptions);
  av_dict_free(&ioOptions);
  if (ret < 0) {
    throw CodedError{"CVCHAT_RECORD_OPEN_FAILED", "Could not create the recording '" + s.path + "': " + AvError(ret)};
  }
  Quiet(s.format->pb, true);
  ret = avformat_write_header(s.format, nullptr);
  if (ret < 0) {
    throw CodedError{"CVCHAT_RECORD_OPEN_FAILED", "Could not start the recording '" + s.path + "': " + AvError(ret)};
  }
  avio_flush(s.format->pb);
  if (s.format->pb->error < 0) {
    throw CodedError{"CVCHAT_RECORD_OPEN_FAILED", "Could not write the recording '" + s.path + "': " + AvError(s.format->pb->error)};
  }
  s.bytes = avio_tell(s.format->pb);
}

// Muxes one packet at `timestamp` (the stream's time base); an empty `data` writes an empty slot
// (AVI only). Then ends the packet's cluster (Matroska) and hands everything to the operating system.
void Mux(RecorderState& s, const uint8_t* data, size_t size, int64_t timestamp) {
  AVPacket* packet = s.packet;
  packet->data = const_cast<uint8_t*>(data);  // borrowed: av_write_frame neither keeps nor frees it
  packet->size = static_cast<int>(size);
  packet->stream_index = 0;
  packet->pts = packet->dts = timestamp;
  packet->flags = AV_PKT_FLAG_KEY;
  int ret = av_write_frame(s.format, packet);
  av_packet_unref(packet);
  // A null packet makes the Matroska muxer close its cluster now: otherwise the cluster's frames
  // wait in memory until it is full, and a killed process would lose them.
  if (ret >= 0) ret = av_write_frame(s.format, nullptr);
  if (ret >= 0) {
    avio_flush(s.format->pb);
    ret = s.format->pb->error;
  }
  if (ret < 0) throw CodedError{"CVCHAT_RECORD_WRITE_FAILED", "Could not write to the recording '" + s.path + "': " + AvError(ret)};
  s.lastTimestamp = timestamp;
}

void WritePacket(RecorderState& s, const uint8_t* data, size_t size, double timeMs) {
  std::lock_guard<std::mutex> lock(s.mutex);  // never contended: one write at a time, none after close
  if (s.finished) throw CodedError{"CVCHAT_RECORD_CLOSED", "The recording '" + s.path + "' is closed"};
  AVRational tb = s.format->streams[0]->time_base;
  int64_t timestamp = std::llround(timeMs * tb.den / (1000.0 * tb.num));
  if (timestamp <= s.lastTimestamp) timestamp = s.lastTimestamp + 1;
  if (s.container == Container::kAvi) {
    // The muxer fills skipped slots itself, but only after the first frame and up to kMaxAviGap at
    // a time. An empty first slot keeps a late first frame at its time; longer gaps are bridged by
    // empty slots of our own.
    if (s.lastTimestamp < 0 && timestamp > 0) Mux(s, nullptr, 0, 0);
    while (timestamp - s.lastTimestamp > kMaxAviGap) Mux(s, nullptr, 0, s.lastTimestamp + kMaxAviGap);
  }
  Mux(s, data, size, timestamp);
  s.frames++;
  s.bytes = avio_tell(s.format->pb);
}

// Writes the trailer (the index, the duration) and closes the file; once.
void Finish(RecorderState& s) {
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.finished) return;
  s.finished = true;
  int ret = av_write_trailer(s.format);
  if (ret >= 0) s.bytes = avio_size(s.format->pb);  // the AVI muxer ends back in its header
  int closed = CloseFile(s);
  FreeMuxer(s);
  if (ret >= 0) ret = closed;
  if (ret < 0) throw CodedError{"CVCHAT_RECORD_WRITE_FAILED", "Could not finish the recording '" + s.path + "': " + AvError(ret)};
}

// close() settles every caller's promise when the trailer is written. It runs only once no write
// is in progress: right away, or when the write in progress settles.
class CloseWorker : public Napi::AsyncWorker {
 public:
  CloseWorker(Napi::Env env, std::shared_ptr<RecorderState> state)
      : Napi::AsyncWorker(env, "cvchat.recorder.close"), state_(std::move(state)) {}

 protected:
  void Execute() override {
    try {
      Finish(*state_);
    } catch (const CodedError& e) {
      code_ = e.code;
      SetError(e.message);
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("unknown native exception (not a std::exception)");
    }
  }

  void OnOK() override {
    for (auto& waiter : Settle()) waiter.Resolve(Env().Undefined());
  }

  void OnError(const Napi::Error& error) override {
    for (auto& waiter : Settle()) waiter.Reject(MakeCoded(Env(), code_, error.Message()).Value());
  }

 private:
  std::vector<Napi::Promise::Deferred> Settle() {
    state_->closing = false;
    state_->closeDone = true;
    return std::move(state_->closeWaiters);
  }

  std::shared_ptr<RecorderState> state_;
  std::string code_ = "CVCHAT_NATIVE_ERROR";
};

void StartClose(Napi::Env env, const std::shared_ptr<RecorderState>& state) {
  state->closing = true;
  (new CloseWorker(env, state))->Queue();
}

}  // namespace

RecorderState::~RecorderState() {
  // A recorder dropped without close() (garbage collected, or freed as the process exits) still
  // ends its file. No worker holds the state any more, so this is the only user of the muxer.
  if (format != nullptr && !finished) {
    try {
      Finish(*this);
    } catch (...) {
    }
  }
  if (format != nullptr) FreeMuxer(*this);  // an open that failed halfway
}

void Recorder::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "Recorder",
                                    {
                                        StaticMethod<&Recorder::Open>("open"),
                                        InstanceMethod<&Recorder::WriteJpeg>("writeJpeg"),
                                        InstanceMethod<&Recorder::WriteFrame>("writeFrame"),
                                        InstanceMethod<&Recorder::Close>("close"),
                                        InstanceAccessor<&Recorder::Frames>("frames"),
                                        InstanceAccessor<&Recorder::Bytes>("bytes"),
                                    });
  Data(env).recorder = Napi::Persistent(ctor);
  exports.Set("Recorder", ctor);
}

Recorder::Recorder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Recorder>(info) {
  if (info.Length() != 1 || !info[0].IsExternal() || info[0].As<Napi::External<int>>().Data() != &tagValue) {
    ThrowCoded(info.Env(), "CVCHAT_INVALID_ARGUMENT", "Recorders are made by Recorder.open(), not by new Recorder()");
  }
  state_ = std::make_shared<RecorderState>();
}

// open(path, width, height, fps) -> Promise<Recorder>: the extension picks the container.
Napi::Value Recorder::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireArgs(info, 4, "open(path, width, height, fps)");
  std::string path = StringArg(info, 0, "path");
  cv::Size size(IntArg(info, 1, "width"), IntArg(info, 2, "height"));
  double fps = NumberArg(info, 3, "fps");
  if (size.width < 1 || size.height < 1 || size.width > kMaxDimension || size.height > kMaxDimension) {
    ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", "A recording's width and height must be from 1 to " + std::to_string(kMaxDimension));
  }
  if (!(fps > 0 && fps <= kMaxFps)) {
    ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", "A recording's fps must be above 0 and at most " + std::to_string(int(kMaxFps)));
  }
  std::string ext = LowerExtension(path);
  Container container;
  if (ext == ".mkv") {
    container = Container::kMatroska;
  } else if (ext == ".avi") {
    container = Container::kAvi;
  } else {
    // MP4 and MOV keep their index (moov) at the end, so a recording cut short would not open;
    // their fragmented form needs each frame's duration before the next frame exists.
    std::string why = ext == ".mp4" || ext == ".mov"
                          ? "'" + ext + "' files keep their index at the end, so one cut short by a crash would not play"
                          : ext.empty() ? std::string("the name has none") : "'" + ext + "' is not one cvchat records";
    return Rejected(env, "CVCHAT_RECORD_FORMAT",
                    "Cannot record to '" + path + "': the extension picks the container, and " + why +
                        ". Use .mkv (Matroska: each frame's own time) or .avi (AVI: frames on a fixed-rate grid)");
  }
  Napi::Object object = Data(env).recorder.New({Napi::External<int>::New(env, &tagValue)});
  auto state = Recorder::Unwrap(object)->state_;
  state->path = path;
  state->container = container;
  state->size = size;
  state->fps = fps;
  return RunAsync(
      env, "cvchat.recorder.open",
      [state] {
        try {
          OpenMuxer(*state);
        } catch (...) {
          FreeMuxer(*state);
          state->finished = true;
          throw;
        }
      },
      [](Napi::Env, const auto& kept) -> Napi::Value { return kept[0]; }, {object});
}

namespace {

// The checks every write makes on the main thread; an answer when the write cannot start.
Napi::Value Refusal(Napi::Env env, RecorderState& s, const char* call) {
  if (s.closed) return Rejected(env, "CVCHAT_RECORD_CLOSED", std::string(call) + "() on a closed recorder");
  if (s.busy) {
    return Rejected(env, "CVCHAT_RECORD_BUSY", std::string(call) + "() while another write of this recorder is in progress");
  }
  return Napi::Value();
}

double TimeArg(const Napi::CallbackInfo& info, size_t i) {
  double timeMs = NumberArg(info, i, "timeMs");
  if (!(timeMs >= 0 && timeMs <= kMaxTimeMs)) {
    ThrowCoded(info.Env(), "CVCHAT_INVALID_ARGUMENT", "timeMs must be from 0 to 1e11 (milliseconds since the recording's start)");
  }
  return timeMs;
}

// When a write settles: the next may start, and a close() that came meanwhile runs now.
std::function<void()> AfterWrite(Napi::Env env, std::shared_ptr<RecorderState> state) {
  return [env, state] {
    state->busy = false;
    if (state->closed && !state->closing && !state->closeWaiters.empty()) StartClose(env, state);
  };
}

}  // namespace

// writeJpeg(jpeg, timeMs) -> Promise<void>: the bytes go into the file unchanged, borrowed (the
// Buffer is kept alive until the write is done).
Napi::Value Recorder::WriteJpeg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireArgs(info, 2, "writeJpeg(jpeg, timeMs)");
  Napi::Buffer<uint8_t> buffer = BufferArg(info, 0, "jpeg");
  double timeMs = TimeArg(info, 1);
  auto state = state_;
  Napi::Value refused = Refusal(env, *state, "writeJpeg");
  if (!refused.IsEmpty()) return refused;
  // A wrong picture would not fail here but in every player, so the header is read first (a few
  // bytes: the frame header comes before the scan).
  if (buffer.Length() > static_cast<size_t>(std::numeric_limits<int>::max() / 2)) {
    return Rejected(env, "CVCHAT_INVALID_ARGUMENT", "writeJpeg: a JPEG of more than 1 GB");  // a packet's size is an int
  }
  ImageHeader header = ProbeImage(buffer.Data(), buffer.Length());
  if (header.format != "jpeg") return Rejected(env, "CVCHAT_INVALID_ARGUMENT", "writeJpeg: the data is not a JPEG");
  if (header.width != state->size.width || header.height != state->size.height) {
    return Rejected(env, "CVCHAT_INVALID_ARGUMENT",
                    "writeJpeg: the JPEG is " + SizeText(int(header.width), int(header.height)) + ", the recording " +
                        SizeText(state->size.width, state->size.height));
  }
  const uint8_t* data = buffer.Data();
  size_t size = buffer.Length();
  state->busy = true;
  return RunAsync(
      env, "cvchat.recorder.writeJpeg", [state, data, size, timeMs] { WritePacket(*state, data, size, timeMs); },
      [](Napi::Env env, const auto&) -> Napi::Value { return env.Undefined(); }, {Value(), buffer}, AfterWrite(env, state));
}

// writeFrame(frame, timeMs, quality) -> Promise<void>: scaled to the recording's size if it
// differs (bilinear), encoded as JPEG and written, all on the pool.
Napi::Value Recorder::WriteFrame(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireArgs(info, 3, "writeFrame(frame, timeMs, quality)");
  cv::Mat mat = Frame::MatArg(info, 0, "frame");  // shares pixels; safe if the JS frame is released meanwhile
  double timeMs = TimeArg(info, 1);
  int quality = IntArg(info, 2, "quality");
  if (quality < 1 || quality > 100) ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", "quality must be from 1 to 100");
  if (mat.depth() != CV_8U || (mat.channels() != 1 && mat.channels() != 3 && mat.channels() != 4)) {
    ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", "writeFrame: the frame must be 8-bit with 1, 3 or 4 channels");
  }
  auto state = state_;
  Napi::Value refused = Refusal(env, *state, "writeFrame");
  if (!refused.IsEmpty()) return refused;
  state->busy = true;
  return RunAsync(
      env, "cvchat.recorder.writeFrame",
      [state, mat, timeMs, quality] {
        cv::Mat picture = mat;
        if (picture.size() != state->size) cv::resize(mat, picture, state->size, 0, 0, cv::INTER_LINEAR);
        // Colour 4:2:0 whatever came in: the stream says yuvj420p, and every frame must be alike.
        if (picture.channels() != 3) {
          cv::Mat bgr;
          cv::cvtColor(picture, bgr, picture.channels() == 1 ? cv::COLOR_GRAY2BGR : cv::COLOR_BGRA2BGR);
          picture = bgr;
        }
        JpegBytes jpeg;
        if (EncodeJpeg(picture, quality, &jpeg) == JpegPath::kDone) {
          WritePacket(*state, jpeg.data, jpeg.size, timeMs);
          return;
        }
        std::vector<uint8_t> bytes;
        if (!cv::imencode(".jpg", picture, bytes, {cv::IMWRITE_JPEG_QUALITY, quality})) {
          throw CodedError{"CVCHAT_ENCODE_FAILED", "OpenCV could not encode the frame as JPEG"};
        }
        WritePacket(*state, bytes.data(), bytes.size(), timeMs);
      },
      [](Napi::Env env, const auto&) -> Napi::Value { return env.Undefined(); }, {Value()}, AfterWrite(env, state));
}

// close() -> Promise<void>: after the write in progress, if any, writes the trailer and closes the
// file. Every call, before or after, gets a promise that settles when the file is closed.
Napi::Value Recorder::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto state = state_;
  state->closed = true;
  auto waiter = Napi::Promise::Deferred::New(env);
  if (state->closeDone) {
    waiter.Resolve(env.Undefined());
    return waiter.Promise();
  }
  state->closeWaiters.push_back(waiter);
  if (!state->busy && !state->closing) StartClose(env, state);
  return waiter.Promise();
}

Napi::Value Recorder::Frames(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(state_->frames.load()));
}

Napi::Value Recorder::Bytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(state_->bytes.load()));
}

}  // namespace cvchat
