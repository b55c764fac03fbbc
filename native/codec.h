// Encode frames to JPEG, PNG or WebP and decode them back, off the main thread. Encoded bytes are
// handed to JS without a copy. Before decoding, the image header is read and an image that declares
// more pixels than the caller allows is refused, so a tiny malicious file cannot make us allocate
// gigabytes (a decompression bomb).
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace cvchat {

struct ImageHeader {
  std::string format;  // jpeg | png | webp, empty when not recognised
  int64_t width = 0;
  int64_t height = 0;
};

// Reads the dimensions an image declares; never reads past `size`.
ImageHeader ProbeImage(const uint8_t* data, size_t size);

void InitCodec(Napi::Env env, Napi::Object exports);

}  // namespace cvchat
