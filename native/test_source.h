// The built-in synthetic source: a moving picture with a frame counter and a wall clock, made
// natively so that it costs about one memcpy a frame. It stands in for a camera on machines with
// none (CI, servers) and gives tests a picture whose content they can check.
#pragma once

#include <opencv2/core.hpp>

#include <cstdint>
#include <string>

namespace cvchat {

struct TestSourceOptions {
  int width = 640;
  int height = 480;
  std::string label = "cvchat";
  // Colour of the identification bar across the top (BGR): tests tell two sides apart by it.
  cv::Scalar color = cv::Scalar(0, 140, 255);
  // Draw the capture time as a code a viewer can read back (DrawTimecode); off by default, since its
  // sharp squares change what lossy codecs make of the picture.
  bool timecode = false;
};

class TestSource {
 public:
  explicit TestSource(const TestSourceOptions& options);
  cv::Mat Next();
  int64_t frameIndex() const { return index_; }
  int width() const { return options_.width; }
  int height() const { return options_.height; }

 private:
  static void DrawTimecode(cv::Mat& frame, long long millis);
  TestSourceOptions options_;
  cv::Mat background_;  // wider than a frame; each frame is a shifted window of it
  int64_t index_ = 0;
};

}  // namespace cvchat
