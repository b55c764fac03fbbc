#include "codec.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdlib>
#include <memory>
#include <vector>

#include "common.h"
#include "frame.h"
#include "jpeg.h"

namespace cvchat {

namespace {

uint32_t Be16(const uint8_t* p) { return (p[0] << 8) | p[1]; }
uint32_t Be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }
uint32_t Le16(const uint8_t* p) { return p[0] | (p[1] << 8); }
uint32_t Le24(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16); }

ImageHeader ProbeJpeg(const uint8_t* d, size_t n) {
  ImageHeader h;
  size_t i = 2;
  while (i + 4 <= n) {
    if (d[i] != 0xFF) return h;  // lost sync: not a JPEG we can vouch for
    uint8_t marker = d[i + 1];
    if (marker == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // markers without a length
      i += 2;
      continue;
    }
    if (marker == 0xD9 || marker == 0xDA) return h;  // end of image or scan before any frame header
    uint32_t length = Be16(d + i + 2);
    if (length < 2) return h;
    bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (i + 9 > n) return h;
      h.format = "jpeg";
      h.height = Be16(d + i + 5);
      h.width = Be16(d + i + 7);
      return h;
    }
    i += 2 + length;
  }
  return h;
}

ImageHeader ProbePng(const uint8_t* d, size_t n) {
  ImageHeader h;
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (n < 24 || std::memcmp(d, kSignature, 8) != 0 || std::memcmp(d + 12, "IHDR", 4) != 0) return h;
  h.format = "png";
  h.width = Be32(d + 16);
  h.height = Be32(d + 20);
  return h;
}

ImageHeader ProbeWebp(const uint8_t* d, size_t n) {
  ImageHeader h;
  if (n < 30 || std::memcmp(d, "RIFF", 4) != 0 || std::memcmp(d + 8, "WEBP", 4) != 0) return h;
  const uint8_t* chunk = d + 12;
  if (std::memcmp(chunk, "VP8 ", 4) == 0) {
    // Frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height.
    const uint8_t* p = chunk + 8;
    if (p[3] != 0x9D || p[4] != 0x01 || p[5] != 0x2A) return h;
    h.width = Le16(p + 6) & 0x3FFF;
    h.height = Le16(p + 8) & 0x3FFF;
  } else if (std::memcmp(chunk, "VP8L", 4) == 0) {
    const uint8_t* p = chunk + 8;
    if (p[0] != 0x2F) return h;
    uint32_t bits = p[1] | (p[2] << 8) | (p[3] << 16) | (uint32_t(p[4]) << 24);
    h.width = (bits & 0x3FFF) + 1;
    h.height = ((bits >> 14) & 0x3FFF) + 1;
  } else if (std::memcmp(chunk, "VP8X", 4) == 0) {
    const uint8_t* p = chunk + 8;
    h.width = int64_t(Le24(p + 4)) + 1;
    h.height = int64_t(Le24(p + 7)) + 1;
  } else {
    return h;
  }
  h.format = "webp";
  return h;
}

// Encoded bytes, from libjpeg directly (a malloc'd block) or from imencode (a vector).
struct Encoded {
  JpegBytes jpeg;
  std::unique_ptr<std::vector<uint8_t>> vector = std::make_unique<std::vector<uint8_t>>();
};

// The Buffer takes the bytes over without a copy; its finalizer frees them.
Napi::Buffer<uint8_t> HandOver(Napi::Env env, Encoded* encoded) {
  if (encoded->jpeg.data != nullptr) {
    int64_t capacity = static_cast<int64_t>(encoded->jpeg.capacity);
    size_t size = encoded->jpeg.size;
    Napi::MemoryManagement::AdjustExternalMemory(env, capacity);
    return Napi::Buffer<uint8_t>::New(env, encoded->jpeg.Release(), size, [capacity](Napi::Env env, uint8_t* data) {
      Napi::MemoryManagement::AdjustExternalMemory(env, -capacity);
      std::free(data);
    });
  }
  std::vector<uint8_t>* raw = encoded->vector.release();
  int64_t capacity = static_cast<int64_t>(raw->capacity());
  Napi::MemoryManagement::AdjustExternalMemory(env, capacity);
  return Napi::Buffer<uint8_t>::New(env, raw->data(), raw->size(), [capacity](Napi::Env env, uint8_t*, std::vector<uint8_t>* v) {
    Napi::MemoryManagement::AdjustExternalMemory(env, -capacity);
    delete v;
  }, raw);
}

// The size a caller asked for in arguments i and i + 1, or an empty size when they are absent.
// TypeScript has checked both (1 to MAX_DIMENSION).
cv::Size SizeArgs(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i + 1 || info[i].IsUndefined()) return cv::Size();
  return cv::Size(IntArg(info, i, "width"), IntArg(info, i + 1, "height"));
}

// encode(frame, format, quality[, width, height]) -> Promise<Buffer>: with a size, the frame is
// scaled to it first (area averaging, on the worker thread too).
Napi::Value Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireArgs(info, 3, "encode(frame, format, quality[, width, height])");
  Frame* frame = Frame::Unwrapped(info, 0, "frame");
  cv::Mat mat = frame->mat();  // shares pixels; safe even if the JS frame is released meanwhile
  std::string format = StringArg(info, 1, "format");
  int quality = IntArg(info, 2, "quality");
  cv::Size size = SizeArgs(info, 3);
  std::string ext;
  std::vector<int> params;
  if (format == "jpeg") {
    ext = ".jpg";
    params = {cv::IMWRITE_JPEG_QUALITY, quality};
  } else if (format == "png") {
    ext = ".png";
    params = {cv::IMWRITE_PNG_COMPRESSION, quality};
  } else if (format == "webp") {
    ext = ".webp";
    params = {cv::IMWRITE_WEBP_QUALITY, quality};
  } else {
    ThrowCoded(env, "CVCHAT_INVALID_ARGUMENT", "Unknown image format '" + format + "' (jpeg, png or webp)");
  }
  auto out = std::make_shared<Encoded>();
  return RunAsync(
      env, "cvchat.encode",
      [mat, ext, params, quality, size, out] {
        cv::Mat source = mat;
        if (!size.empty() && size != mat.size()) cv::resize(mat, source, size, 0, 0, cv::INTER_AREA);
        if (ext == ".jpg" && EncodeJpeg(source, quality, &out->jpeg) == JpegPath::kDone) return;
        if (!cv::imencode(ext, source, *out->vector, params)) {
          throw CodedError{"CVCHAT_ENCODE_FAILED", "OpenCV could not encode the frame as " + ext};
        }
      },
      [out](Napi::Env env, const auto&) -> Napi::Value { return HandOver(env, out.get()); });
}

// decode(buffer, maxPixels, channels[, width, height]) -> Promise<Frame>: with a size, the
// picture is scaled to it. Enlarging is bilinear (a smaller picture shown at the stream's size).
// A JPEG shown smaller is decoded at the smallest DCT scale that still covers the size (jpeg.h),
// and area-averaged the rest of the way, as encode() shrinks.
Napi::Value Decode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireArgs(info, 3, "decode(buffer, maxPixels, channels[, width, height])");
  Napi::Buffer<uint8_t> buffer = BufferArg(info, 0, "buffer");
  double maxPixels = NumberArg(info, 1, "maxPixels");
  int channels = IntArg(info, 2, "channels");
  cv::Size scaleTo = SizeArgs(info, 3);
  int flags = channels == 1 ? cv::IMREAD_GRAYSCALE : channels == 4 ? cv::IMREAD_UNCHANGED : cv::IMREAD_COLOR;
  // Borrow the bytes: the Buffer is kept alive by the worker until decoding is done.
  const uint8_t* data = buffer.Data();
  size_t size = buffer.Length();
  auto out = std::make_shared<cv::Mat>();
  return RunAsync(
      env, "cvchat.decode",
      [data, size, maxPixels, channels, flags, scaleTo, out] {
        ImageHeader header = ProbeImage(data, size);
        if (header.format.empty()) {
          throw CodedError{"CVCHAT_UNSUPPORTED_IMAGE", "The data is not a JPEG, PNG or WebP image"};
        }
        double pixels = static_cast<double>(header.width) * static_cast<double>(header.height);
        if (header.width <= 0 || header.height <= 0) {
          throw CodedError{"CVCHAT_DECODE_FAILED", "The " + header.format + " header declares an empty image"};
        }
        if (pixels > maxPixels) {
          throw CodedError{"CVCHAT_IMAGE_TOO_LARGE",
                           "The " + header.format + " header declares " + std::to_string(header.width) + "x" +
                               std::to_string(header.height) + " pixels, above the limit of " +
                               std::to_string(static_cast<int64_t>(maxPixels))};
        }
        if (header.format != "jpeg" || DecodeJpeg(data, size, channels, maxPixels, out.get(), scaleTo) != JpegPath::kDone) {
          cv::Mat encoded(1, static_cast<int>(size), CV_8UC1, const_cast<uint8_t*>(data));
          *out = cv::imdecode(encoded, flags);
          if (out->empty()) {
            throw CodedError{"CVCHAT_DECODE_FAILED", "The " + header.format + " data is corrupt or truncated"};
          }
        }
        if (!scaleTo.empty() && scaleTo != out->size()) {
          bool shrinking = scaleTo.width <= out->cols && scaleTo.height <= out->rows;
          cv::Mat scaled;
          cv::resize(*out, scaled, scaleTo, 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
          *out = scaled;
        }
      },
      [out](Napi::Env env, const auto&) -> Napi::Value { return Frame::New(env, *out); }, {buffer});
}

// probeImage(buffer) -> { format, width, height } | null
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireArgs(info, 1, "probeImage(buffer)");
  Napi::Buffer<uint8_t> buffer = BufferArg(info, 0, "buffer");
  ImageHeader header = ProbeImage(buffer.Data(), buffer.Length());
  if (header.format.empty()) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("format", header.format);
  o.Set("width", static_cast<double>(header.width));
  o.Set("height", static_cast<double>(header.height));
  return o;
}

}  // namespace

ImageHeader ProbeImage(const uint8_t* data, size_t size) {
  if (size >= 4 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return ProbeJpeg(data, size);
  if (size >= 8 && data[0] == 0x89 && data[1] == 'P') return ProbePng(data, size);
  if (size >= 12 && data[0] == 'R' && data[1] == 'I') return ProbeWebp(data, size);
  return {};
}

void InitCodec(Napi::Env env, Napi::Object exports) {
  exports.Set("encode", Napi::Function::New<Encode>(env, "encode"));
  exports.Set("decode", Napi::Function::New<Decode>(env, "decode"));
  exports.Set("probeImage", Napi::Function::New<Probe>(env, "probeImage"));
}

}  // namespace cvchat
