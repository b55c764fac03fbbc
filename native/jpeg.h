// JPEG straight through libjpeg-turbo, the library OpenCV itself calls. OpenCV 4.6 asks libjpeg for
// RGB and swaps every row to BGR in scalar code, one scanline per call; that costs more than the
// decoding itself (about 4.9 ms against 2.0 ms for a 720p frame here). libjpeg-turbo can read and
// write BGR directly with SIMD. The settings are OpenCV's (jpeg_set_defaults, the quality clamped
// to baseline tables, ISLOW DCT, fancy upsampling), so the bytes and pixels are the same as
// imencode's and imdecode's; tests compare them with Python's cv2.
// Anything this path does not cover exactly (other depths, CMYK, Exif orientation) returns
// kUseOpenCV and the caller goes through imencode/imdecode instead.
#pragma once

#include <opencv2/core.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace cvchat {

enum class JpegPath { kDone, kUseOpenCV };

// A malloc'd block of encoded bytes; the JS Buffer that takes it frees it.
struct JpegBytes {
  uint8_t* data = nullptr;
  size_t size = 0;
  size_t capacity = 0;
  JpegBytes() = default;
  JpegBytes(const JpegBytes&) = delete;
  JpegBytes& operator=(const JpegBytes&) = delete;
  ~JpegBytes() { std::free(data); }
  uint8_t* Release() {
    uint8_t* p = data;
    data = nullptr;
    return p;
  }
};

// Without libjpeg-turbo's BGR extensions (JCS_EXTENSIONS) both calls return kUseOpenCV.
// Encodes 8-bit BGR or gray (anything else goes to OpenCV). Throws CodedError.
JpegPath EncodeJpeg(const cv::Mat& mat, int quality, JpegBytes* out);

// Decodes to BGR (channels 3) or gray (channels 1) into a new Mat. Throws CodedError with
// libjpeg's own message when the data is corrupt, or when it declares more than maxPixels.
// Warnings (a truncated tail, extra bytes) are not printed, and a picture is still returned, as
// imdecode returns one.
// `atLeast`, when given and smaller than the image, lets libjpeg-turbo decode at a reduced DCT
// scale (1/8, 1/4 or 1/2 of each side, the ones it has SIMD for): the smallest whose picture still
// covers `atLeast` on both sides. The caller scales the rest of the way. A 720p frame shown at a quarter of its size then
// costs an 8x8 -> 2x2 inverse DCT per block instead of a full decode and a resize of 0.9 MP.
// maxPixels is checked against the declared size all the same.
JpegPath DecodeJpeg(const uint8_t* data, size_t size, int channels, double maxPixels, cv::Mat* out,
                    cv::Size atLeast = cv::Size());

// True when libjpeg reads the JPEG's headers up to its first scan: its tables and frame are whole.
// Microseconds, without decoding; a scan cut short later still decodes (with grey at the end).
bool JpegHeaderReads(const uint8_t* data, size_t size);

}  // namespace cvchat
