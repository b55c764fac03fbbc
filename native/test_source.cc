#include "test_source.h"

#include <opencv2/imgproc.hpp>

#include <chrono>
#include <ctime>

namespace cvchat {

TestSource::TestSource(const TestSourceOptions& options) : options_(options) {
  const int w = options_.width, h = options_.height;
  // A smooth colour field plus mild fixed noise: closer to camera content than flat bars, so the
  // encoded size is realistic. The width is doubled so a pan can wrap without a seam.
  background_.create(h, w * 2, CV_8UC3);
  for (int y = 0; y < h; ++y) {
    auto* row = background_.ptr<cv::Vec3b>(y);
    for (int x = 0; x < w * 2; ++x) {
      double phase = 2.0 * CV_PI * x / w;
      row[x] = cv::Vec3b(static_cast<uchar>(128 + 90 * std::sin(phase)),
                         static_cast<uchar>(128 + 90 * std::sin(phase + 2.1 + y * 3.0 / h)),
                         static_cast<uchar>(128 + 90 * std::cos(phase * 0.5 + y * 2.0 / h)));
    }
  }
  cv::Mat noise(background_.size(), CV_8UC3);
  cv::RNG rng(12345);
  rng.fill(noise, cv::RNG::NORMAL, 0, 6);
  cv::add(background_, noise, background_, cv::noArray(), CV_8UC3);
}

// The capture's wall-clock time in a form a viewer can read back from pixels, whatever carried the
// picture (a media server's WebRTC keeps no cvchat metadata): its low 32 bits of milliseconds as 32
// black or white squares, most significant first, between two white guard squares, along the
// bottom right corner. A square's side is a 48th of the height (at least 4 px): its centre survives
// lossy coding. web/janus-viewer.js reads it.
void TestSource::DrawTimecode(cv::Mat& frame, long long millis) {
  const int side = std::max(4, frame.rows / 48);
  const int count = 34;
  const int x0 = frame.cols - (count + 1) * side;
  const int y0 = frame.rows - 2 * side;
  if (x0 < 0 || y0 < 0) return;
  const auto bits = static_cast<uint32_t>(millis & 0xffffffffLL);
  cv::rectangle(frame, cv::Rect(x0 - side / 2, y0 - side / 2, (count + 1) * side, 2 * side), cv::Scalar(0, 0, 0), cv::FILLED);
  for (int i = 0; i < count; ++i) {
    bool white = i == 0 || i == count - 1 || ((bits >> (31 - (i - 1))) & 1u) != 0;
    if (white) cv::rectangle(frame, cv::Rect(x0 + i * side, y0, side, side), cv::Scalar(255, 255, 255), cv::FILLED);
  }
}

cv::Mat TestSource::Next() {
  const int w = options_.width, h = options_.height;
  const int shift = static_cast<int>((index_ * 4) % w);
  cv::Mat frame;
  background_(cv::Rect(shift, 0, w, h)).copyTo(frame);

  const int bar = std::max(4, h / 10);
  cv::rectangle(frame, cv::Rect(0, 0, w, bar), options_.color, cv::FILLED);

  // A box that bounces across the picture shows motion at a glance.
  const int box = std::max(8, h / 6);
  const int span = std::max(1, w - box);
  int bx = static_cast<int>(index_ * 6 % (2 * span));
  if (bx > span) bx = 2 * span - bx;
  cv::rectangle(frame, cv::Rect(bx, h / 2 - box / 2, box, box), cv::Scalar(255, 255, 255), cv::FILLED);

  const double scale = std::max(0.4, h / 720.0);
  const int thickness = std::max(1, static_cast<int>(scale * 2));
  auto now = std::chrono::system_clock::now();
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  int millis = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm local{};
  localtime_r(&seconds, &local);
  char clock[32];
  std::snprintf(clock, sizeof clock, "%02d:%02d:%02d.%03d", local.tm_hour, local.tm_min, local.tm_sec, millis);

  const std::string counter = options_.label + "  frame " + std::to_string(index_);
  const int textY = h - static_cast<int>(20 * scale);
  cv::putText(frame, counter, cv::Point(10, textY - static_cast<int>(40 * scale)), cv::FONT_HERSHEY_SIMPLEX,
              scale, cv::Scalar(0, 0, 0), thickness + 2, cv::LINE_AA);
  cv::putText(frame, counter, cv::Point(10, textY - static_cast<int>(40 * scale)), cv::FONT_HERSHEY_SIMPLEX,
              scale, cv::Scalar(255, 255, 255), thickness, cv::LINE_AA);
  cv::putText(frame, clock, cv::Point(10, textY), cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(0, 0, 0),
              thickness + 2, cv::LINE_AA);
  cv::putText(frame, clock, cv::Point(10, textY), cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(255, 255, 255),
              thickness, cv::LINE_AA);
  if (options_.timecode) DrawTimecode(frame, std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  ++index_;
  return frame;
}

}  // namespace cvchat
