#include "jpeg.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE and size_t declared first
#include <cstring>
#include <string>

#include <jerror.h>
#include <jpeglib.h>

#include "common.h"

// libjpeg reports errors through a callback that must not return; the usual answer is setjmp and
// longjmp. Between a setjmp below and the longjmp only libjpeg's C frames and our callbacks run, so
// no C++ destructor is skipped. Everything that owns memory lives in the caller.

namespace cvchat {

namespace {

struct ErrorTrap {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void TrapError(j_common_ptr c) {
  ErrorTrap* trap = reinterpret_cast<ErrorTrap*>(c->err);
  c->err->format_message(c, trap->message);
  std::longjmp(trap->jump, 1);
}

// Warnings (level -1) and traces are counted, never printed: a viewer fed odd camera JPEGs would
// otherwise fill the terminal with "Corrupt JPEG data" lines.
void CountWarning(j_common_ptr c, int level) {
  if (level < 0) c->err->num_warnings++;
}

void InstallTrap(ErrorTrap* trap) {
  jpeg_std_error(&trap->pub);
  trap->pub.error_exit = TrapError;
  trap->pub.emit_message = CountWarning;
  trap->message[0] = '\0';
}

#ifdef JCS_EXTENSIONS

// Destination that writes into one malloc'd block, doubling it when full. The first guess is
// generous so that a usual frame needs no regrowth; the block is shrunk to fit at the end.
struct GrowingSink {
  jpeg_destination_mgr pub;
  JpegBytes* bytes;
};

void SinkStart(j_compress_ptr c) {
  GrowingSink* sink = reinterpret_cast<GrowingSink*>(c->dest);
  sink->pub.next_output_byte = sink->bytes->data;
  sink->pub.free_in_buffer = sink->bytes->capacity;
}

boolean SinkGrow(j_compress_ptr c) {
  GrowingSink* sink = reinterpret_cast<GrowingSink*>(c->dest);
  JpegBytes* bytes = sink->bytes;
  size_t used = bytes->capacity;  // libjpeg calls this only when the block is full
  size_t bigger = bytes->capacity * 2;
  void* grown = std::realloc(bytes->data, bigger);
  if (grown == nullptr) {
    c->err->msg_code = JERR_OUT_OF_MEMORY;
    c->err->error_exit(reinterpret_cast<j_common_ptr>(c));
  }
  bytes->data = static_cast<uint8_t*>(grown);
  bytes->capacity = bigger;
  sink->pub.next_output_byte = bytes->data + used;
  sink->pub.free_in_buffer = bigger - used;
  return TRUE;
}

void SinkFinish(j_compress_ptr c) {
  GrowingSink* sink = reinterpret_cast<GrowingSink*>(c->dest);
  sink->bytes->size = sink->bytes->capacity - sink->pub.free_in_buffer;
}

// libjpeg-turbo converts these colour spaces to BGR and gray itself; CMYK and YCCK need OpenCV.
bool ConvertsToBgr(J_COLOR_SPACE space) {
  return space == JCS_YCbCr || space == JCS_GRAYSCALE || space == JCS_RGB;
}

// imdecode turns an image by its Exif orientation; only OpenCV does that, so such files go there.
bool HasExif(j_decompress_ptr c) {
  for (jpeg_saved_marker_ptr m = c->marker_list; m != nullptr; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && std::memcmp(m->data, "Exif\0\0", 6) == 0) return true;
  }
  return false;
}

constexpr JDIMENSION kRowsPerCall = 16;  // one 4:2:0 MCU row; libjpeg fills as many as it can

enum class Decoded { kOk, kUseOpenCV, kFailed, kTooLarge };

// On kFailed and kTooLarge, trap->message says why.
// Picks the smallest of 1/8, 1/4 and 1/2 whose output still covers `atLeast` on both sides, else
// the full size; libjpeg works out the output size itself (rounding up), so the comparison is with
// what it will really produce. Only these three: libjpeg-turbo has SIMD inverse DCTs for them (and
// for 8/8), while 3/8 to 7/8 run in plain C. Measured here on a 720p frame: 1/8 0.7 ms, 1/4 1.0,
// 3/8 1.4, 1/2 1.4, 5/8 2.4, 3/4 3.2, 7/8 4.4, full 3.0; so 5/8 to 7/8 would be slower than a full
// decode, and 3/8 saves nothing on 1/2.
void ChooseScale(j_decompress_ptr c, cv::Size atLeast) {
  if (atLeast.empty()) return;
  for (unsigned int denom : {8u, 4u, 2u}) {
    c->scale_num = 1;
    c->scale_denom = denom;
    jpeg_calc_output_dimensions(c);
    if (c->output_width >= static_cast<JDIMENSION>(atLeast.width) && c->output_height >= static_cast<JDIMENSION>(atLeast.height)) return;
  }
  c->scale_num = 1;
  c->scale_denom = 1;
}

Decoded DecodeWithTrap(const uint8_t* data, size_t size, int channels, double maxPixels, cv::Size atLeast, cv::Mat* out,
                       ErrorTrap* trap) {
  jpeg_decompress_struct c;
  std::memset(&c, 0, sizeof c);
  c.err = &trap->pub;
  if (setjmp(trap->jump)) {
    jpeg_destroy_decompress(&c);
    out->release();
    return Decoded::kFailed;
  }
  jpeg_create_decompress(&c);
  jpeg_mem_src(&c, data, static_cast<unsigned long>(size));
  jpeg_save_markers(&c, JPEG_APP0 + 1, 6);
  jpeg_read_header(&c, TRUE);
  if (!ConvertsToBgr(c.jpeg_color_space) || HasExif(&c)) {
    jpeg_destroy_decompress(&c);
    return Decoded::kUseOpenCV;
  }
  // The caller checked the header it probed; this is libjpeg's own view of the same frame header.
  if (static_cast<double>(c.image_width) * c.image_height > maxPixels) {
    std::snprintf(trap->message, sizeof trap->message, "%ux%u", c.image_width, c.image_height);
    jpeg_destroy_decompress(&c);
    return Decoded::kTooLarge;
  }
  c.out_color_space = channels == 3 ? JCS_EXT_BGR : JCS_GRAYSCALE;
  ChooseScale(&c, atLeast);
  jpeg_start_decompress(&c);
  try {
    out->create(static_cast<int>(c.output_height), static_cast<int>(c.output_width), channels == 3 ? CV_8UC3 : CV_8UC1);
  } catch (...) {
    jpeg_destroy_decompress(&c);
    throw;
  }
  JSAMPROW rows[kRowsPerCall];
  while (c.output_scanline < c.output_height) {
    JDIMENSION count = std::min(kRowsPerCall, c.output_height - c.output_scanline);
    for (JDIMENSION i = 0; i < count; ++i) rows[i] = out->ptr(static_cast<int>(c.output_scanline + i));
    if (jpeg_read_scanlines(&c, rows, count) == 0) {  // a memory source never suspends; be sure anyway
      c.err->msg_code = JERR_INPUT_EMPTY;
      c.err->error_exit(reinterpret_cast<j_common_ptr>(&c));
    }
  }
  jpeg_finish_decompress(&c);
  jpeg_destroy_decompress(&c);
  return Decoded::kOk;
}

bool EncodeWithTrap(const cv::Mat& mat, int quality, JpegBytes* out, ErrorTrap* trap) {
  jpeg_compress_struct c;
  std::memset(&c, 0, sizeof c);
  c.err = &trap->pub;
  GrowingSink sink;
  sink.pub.init_destination = SinkStart;
  sink.pub.empty_output_buffer = SinkGrow;
  sink.pub.term_destination = SinkFinish;
  sink.bytes = out;
  if (setjmp(trap->jump)) {
    jpeg_destroy_compress(&c);
    return false;
  }
  jpeg_create_compress(&c);
  c.dest = &sink.pub;
  c.image_width = static_cast<JDIMENSION>(mat.cols);
  c.image_height = static_cast<JDIMENSION>(mat.rows);
  c.input_components = mat.channels();
  c.in_color_space = mat.channels() == 3 ? JCS_EXT_BGR : JCS_GRAYSCALE;
  // OpenCV's settings exactly: defaults, then the quality scaled onto baseline tables.
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, std::clamp(quality, 0, 100), TRUE);
  jpeg_start_compress(&c, TRUE);
  JSAMPROW rows[kRowsPerCall];
  while (c.next_scanline < c.image_height) {
    JDIMENSION count = std::min(kRowsPerCall, c.image_height - c.next_scanline);
    for (JDIMENSION i = 0; i < count; ++i) rows[i] = const_cast<uint8_t*>(mat.ptr(static_cast<int>(c.next_scanline + i)));
    jpeg_write_scanlines(&c, rows, count);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  return true;
}

#endif  // JCS_EXTENSIONS

}  // namespace

JpegPath EncodeJpeg(const cv::Mat& mat, int quality, JpegBytes* out) {
#ifdef JCS_EXTENSIONS
  if (mat.empty() || mat.dims != 2 || mat.depth() != CV_8U || (mat.channels() != 3 && mat.channels() != 1)) {
    return JpegPath::kUseOpenCV;
  }
  // About a bit per pixel: a 720p frame of camera-like content at quality 80 is 110-140 kB.
  out->capacity = std::max<size_t>(16384, static_cast<size_t>(mat.cols) * mat.rows * mat.channels() / 12);
  out->data = static_cast<uint8_t*>(std::malloc(out->capacity));
  if (out->data == nullptr) throw CodedError{"CVCHAT_ENCODE_FAILED", "Out of memory for the encoded frame"};
  ErrorTrap trap;
  InstallTrap(&trap);
  if (!EncodeWithTrap(mat, quality, out, &trap)) {
    throw CodedError{"CVCHAT_ENCODE_FAILED", std::string("libjpeg could not encode the frame: ") + trap.message};
  }
  if (out->size < out->capacity / 2) {  // shrinking in place is cheap, and the memory count stays true
    if (void* fitted = std::realloc(out->data, std::max<size_t>(out->size, 1))) {
      out->data = static_cast<uint8_t*>(fitted);
      out->capacity = std::max<size_t>(out->size, 1);
    }
  }
  return JpegPath::kDone;
#else
  return JpegPath::kUseOpenCV;
#endif
}

JpegPath DecodeJpeg(const uint8_t* data, size_t size, int channels, double maxPixels, cv::Mat* out, cv::Size atLeast) {
#ifdef JCS_EXTENSIONS
  if (channels != 3 && channels != 1) return JpegPath::kUseOpenCV;
  ErrorTrap trap;
  InstallTrap(&trap);
  switch (DecodeWithTrap(data, size, channels, maxPixels, atLeast, out, &trap)) {
    case Decoded::kOk:
      return JpegPath::kDone;
    case Decoded::kUseOpenCV:
      return JpegPath::kUseOpenCV;
    case Decoded::kTooLarge:
      throw CodedError{"CVCHAT_IMAGE_TOO_LARGE", std::string("The jpeg frame declares ") + trap.message +
                                                     " pixels, above the limit of " +
                                                     std::to_string(static_cast<int64_t>(maxPixels))};
    case Decoded::kFailed:
      break;
  }
  throw CodedError{"CVCHAT_DECODE_FAILED", std::string("The jpeg data is corrupt or truncated (") + trap.message + ")"};
#else
  return JpegPath::kUseOpenCV;
#endif
}

namespace {

// jpeg_read_header under the trap, in a frame of its own (no C++ object lives across the setjmp).
bool ReadHeaderWithTrap(const uint8_t* data, size_t size, ErrorTrap* trap) {
  jpeg_decompress_struct d;
  d.err = &trap->pub;
  if (setjmp(trap->jump)) {
    jpeg_destroy_decompress(&d);
    return false;
  }
  jpeg_create_decompress(&d);
  jpeg_mem_src(&d, data, static_cast<unsigned long>(size));
  bool read = jpeg_read_header(&d, TRUE) == JPEG_HEADER_OK;
  jpeg_destroy_decompress(&d);
  return read;
}

}  // namespace

bool JpegHeaderReads(const uint8_t* data, size_t size) {
  if (size == 0) return false;
  ErrorTrap trap;
  InstallTrap(&trap);
  return ReadHeaderWithTrap(data, size, &trap);
}

}  // namespace cvchat
