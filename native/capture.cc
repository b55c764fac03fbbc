#include "capture.h"

#include <opencv2/imgcodecs.hpp>

#include <cstring>
#include <initializer_list>

#include "codec.h"
#include "common.h"
#include "frame.h"
#include "jpeg.h"

namespace cvchat {

namespace {

int tagValue;

// Packets in a row that are neither a JPEG to pass on nor a picture to decode before read() gives
// up: a stream of damage should fail with a reason, not spin.
constexpr int kMaxBadPackets = 30;
// A packet decoded here is refused above 8K UHD (lib/base/limits.ts DEFAULT_MAX_PIXELS): a URL's
// packets come from the network, and a small one must not make us allocate gigabytes.
constexpr double kMaxPacketPixels = 7680.0 * 4320.0;

// What one read gives JS: pixels, or a packet holding the source's JPEG.
struct CaptureRead {
  cv::Mat pixels;
  cv::Mat jpeg;  // 1xN CV_8UC1, this read's own copy
  int width = 0, height = 0;  // the JPEG's, from its header
};

bool FourccIs(double value, std::initializer_list<const char*> tags) {
  uint32_t code = static_cast<uint32_t>(static_cast<int64_t>(value));
  char tag[4] = {static_cast<char>(code & 0xFF), static_cast<char>((code >> 8) & 0xFF),
                 static_cast<char>((code >> 16) & 0xFF), static_cast<char>((code >> 24) & 0xFF)};
  for (const char* known : tags) {
    if (std::memcmp(tag, known, 4) == 0) return true;
  }
  return false;
}

// FFmpeg's CAP_PROP_FOURCC is the container's codec tag when it has one (MJPG in AVI; jpeg, AVRn and
// dmb1 in QuickTime), else the first four letters of the codec's name ("mjpe" for an mpjpeg HTTP
// stream or Matroska). MJPEG-B (mjpb) and MJPEG-A (mjpa) are left out: their frames are not plain
// JPEG files.
bool IsFfmpegMjpeg(double fourcc) { return FourccIs(fourcc, {"MJPG", "mjpg", "mjpe", "jpeg", "AVRn", "dmb1"}); }

// V4L2 reports the pixel format it settled on.
bool IsV4l2Jpeg(double fourcc) { return FourccIs(fourcc, {"MJPG", "JPEG"}); }

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
  spec.jpeg = o.Get("jpeg").ToBoolean().Value();
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

// Asks the device for its packets as they are, when they are JPEGs. Stays in pixel mode otherwise
// (another codec, another backend). GStreamer needs no asking: a pipeline ending in image/jpeg
// gives JPEG packets anyway, found at the first read.
void EnterRawMode(CaptureState& s) {
  const CaptureSpec& spec = s.spec;
  double fourcc = s.capture.get(cv::CAP_PROP_FOURCC);
  if ((spec.kind == "file" || spec.kind == "url") && s.backend == "FFMPEG" && IsFfmpegMjpeg(fourcc)) {
    // FFmpeg's raw mode: read() gives each demuxed packet, undecoded. Set before the first read,
    // as OpenCV requires; size, rate and seeking work as before (the tests check them).
    s.raw = s.capture.set(cv::CAP_PROP_FORMAT, -1);
  } else if (spec.kind == "camera" && s.backend == "V4L2" && IsV4l2Jpeg(fourcc)) {
    // UNTESTED: there was no camera where this was written. Without RGB conversion, OpenCV's V4L2
    // backend gives the driver's buffer as it is: for MJPG, one row holding the JPEG. ReadDevice
    // turns conversion back on if the first read says otherwise.
    s.raw = s.capture.set(cv::CAP_PROP_CONVERT_RGB, 0);
  }
  s.jpeg = s.raw;
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
    // UNTESTED (no camera here): MJPG first, since a camera offers its large sizes only in MJPG.
    // A camera without it refuses, and the next read-back says so.
    if (spec.jpeg) s.capture.set(cv::CAP_PROP_FOURCC, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'));
    if (spec.width > 0) s.capture.set(cv::CAP_PROP_FRAME_WIDTH, spec.width);
    if (spec.height > 0) s.capture.set(cv::CAP_PROP_FRAME_HEIGHT, spec.height);
    if (spec.fps > 0) s.capture.set(cv::CAP_PROP_FPS, spec.fps);
  }
  s.width = static_cast<int>(s.capture.get(cv::CAP_PROP_FRAME_WIDTH));
  s.height = static_cast<int>(s.capture.get(cv::CAP_PROP_FRAME_HEIGHT));
  s.fps = s.capture.get(cv::CAP_PROP_FPS);
  s.frameCount = spec.kind == "file" ? s.capture.get(cv::CAP_PROP_FRAME_COUNT) : -1;
  s.backend = s.capture.getBackendName();
  if (spec.jpeg) EnterRawMode(s);
}

// The next frame or packet; at the end of a looping file, the first one again.
bool ReadNext(CaptureState& s, cv::Mat* mat) {
  if (s.capture.read(*mat)) return true;
  if (!s.spec.loop || s.spec.kind != "file") return false;
  s.capture.set(cv::CAP_PROP_POS_FRAMES, 0);
  return s.capture.read(*mat);
}

// One row of bytes rather than a picture: every read in raw mode; otherwise (a GStreamer pipeline
// ending in image/jpeg) a row that starts as a JPEG does.
bool IsPacket(const CaptureState& s, const cv::Mat& mat) {
  if (mat.rows != 1 || mat.type() != CV_8UC1 || !mat.isContinuous()) return false;
  return s.raw || (mat.cols >= 2 && mat.data[0] == 0xFF && mat.data[1] == 0xD8);
}

// A packet that is not passed on as a JPEG, as BGR pixels; empty when it is none. Only what
// ProbeImage recognises (JPEG, PNG, WebP) and declares within kMaxPacketPixels is decoded:
// imdecode of other formats would allocate whatever their header declares.
cv::Mat DecodePacket(const cv::Mat& packet, const ImageHeader& header) {
  if (header.format.empty() || header.width <= 0 || header.height <= 0 ||
      static_cast<double>(header.width) * static_cast<double>(header.height) > kMaxPacketPixels) {
    return cv::Mat();
  }
  cv::Mat picture;
  try {
    if (header.format == "jpeg" && DecodeJpeg(packet.data, packet.total(), 3, kMaxPacketPixels, &picture) == JpegPath::kDone) {
      return picture;
    }
    return cv::imdecode(packet, cv::IMREAD_COLOR);
  } catch (const CodedError&) {  // corrupt: libjpeg said why, but a damaged packet is only skipped
    return cv::Mat();
  } catch (const cv::Exception&) {
    return cv::Mat();
  }
}

void NoteSize(CaptureState& s, int width, int height) {
  if (s.sized) return;
  s.sized = true;
  s.width = width;
  s.height = height;
}

// The next frame of a device: pixels, a JPEG packet (when the spec asks for JPEG), or nothing at
// the end. Packets that are neither a JPEG nor decodable are skipped, kMaxBadPackets at most.
void ReadDevice(CaptureState& s, CaptureRead* out) {
  for (int bad = 0; bad < kMaxBadPackets; ++bad) {
    cv::Mat mat;
    if (!ReadNext(s, &mat) || mat.empty()) return;
    bool packet = IsPacket(s, mat);
    ImageHeader header = packet ? ProbeImage(mat.data, mat.total()) : ImageHeader();
    if (s.raw && s.spec.kind == "camera" && !s.sized && header.format != "jpeg") {
      // UNTESTED (no camera here): the camera's first read in raw mode is not a JPEG, so it did not
      // give MJPG after all. This frame is in the device's own format; convert the next ones.
      s.raw = false;
      s.jpeg = false;
      s.capture.set(cv::CAP_PROP_CONVERT_RGB, 1);
      continue;
    }
    if (!packet) {
      out->pixels = mat;
      return;
    }
    // A pipeline that gave one JPEG packet has image/jpeg caps: a damaged packet later, which does
    // not start as a JPEG, is still a packet, not a one-row grey picture.
    s.raw = true;
    // Passed on only when its headers read whole: a viewer would otherwise be sent a JPEG no
    // decoder takes (an HTTP part or a file packet cut before its scan), and drop the connection.
    if (s.spec.jpeg && header.format == "jpeg" && header.width > 0 && header.height > 0 &&
        JpegHeaderReads(mat.data, mat.total())) {
      // Our own copy: a backend may reuse the memory it read into. One copy of ~100 kB, then the
      // Buffer takes it as it is.
      out->jpeg = mat.clone();
      out->width = static_cast<int>(header.width);
      out->height = static_cast<int>(header.height);
      s.jpeg = true;
      NoteSize(s, out->width, out->height);
      return;
    }
    cv::Mat picture = DecodePacket(mat, header);
    if (!picture.empty()) {
      out->pixels = picture;
      NoteSize(s, picture.cols, picture.rows);
      return;
    }
  }
  throw CodedError{"CVCHAT_CAPTURE_BAD_FRAME", std::to_string(kMaxBadPackets) + " packets in a row from " +
                                                   Describe(s.spec) + " were neither a JPEG nor a picture that could be decoded"};
}

// { jpeg, width, height }: the Buffer keeps the packet's Mat alive, so its bytes are not copied again.
Napi::Object SourceJpeg(Napi::Env env, const CaptureRead& read) {
  auto* kept = new cv::Mat(read.jpeg);
  int64_t size = static_cast<int64_t>(kept->total());
  Napi::MemoryManagement::AdjustExternalMemory(env, size);
  Napi::Buffer<uint8_t> bytes = Napi::Buffer<uint8_t>::New(
      env, kept->data, kept->total(),
      [size](Napi::Env env, uint8_t*, cv::Mat* mat) {
        Napi::MemoryManagement::AdjustExternalMemory(env, -size);
        delete mat;
      },
      kept);
  Napi::Object o = Napi::Object::New(env);
  o.Set("jpeg", bytes);
  o.Set("width", read.width);
  o.Set("height", read.height);
  return o;
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
  auto result = std::make_shared<CaptureRead>();
  return RunAsync(
      env, "cvchat.capture.read",
      [state, result] {
        std::lock_guard<std::mutex> lock(state->mutex);
        if (state->closed) throw CodedError{"CVCHAT_CAPTURE_CLOSED", "The capture was released during read()"};
        if (state->test) {
          result->pixels = state->test->Next();
          return;
        }
        if (!state->spec.memory.empty()) {
          // A shallow copy: the frame shares the stored pixels, so readers must not draw on it.
          result->pixels = state->spec.memory[state->memoryIndex++ % state->spec.memory.size()];
          return;
        }
        ReadDevice(*state, result.get());
      },
      [result](Napi::Env env, const auto&) -> Napi::Value {
        if (!result->jpeg.empty()) return SourceJpeg(env, *result);
        // Nothing read means the source has ended (end of file, device gone).
        if (result->pixels.empty()) return env.Null();
        return Frame::New(env, result->pixels);
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
  o.Set("width", state_->width.load());
  o.Set("height", state_->height.load());
  o.Set("fps", state_->fps);
  o.Set("frameCount", state_->frameCount);
  o.Set("backend", state_->backend);
  o.Set("closed", state_->closed.load());
  o.Set("jpeg", state_->jpeg.load());
  return o;
}

}  // namespace cvchat
