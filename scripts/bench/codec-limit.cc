// The codec limit: OpenCV's own JPEG encode and decode (cv::imencode, cv::imdecode) of the scene's
// frames, one thread each, called from C++ the way an addon calls them. A Python loop over the same
// calls adds about 2.5 ms a 720p decode of its own (allocating each picture as a numpy array), so
// that would make the limit look lower than it is. run.ts compiles this with g++ and pkg-config.
// Usage: codec-limit SCENE W H QUALITY [FRAMES]; times about FRAMES frames (default 120) each way
// and prints JSON.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::fprintf(stderr, "usage: codec-limit SCENE W H QUALITY [FRAMES]\n");
    return 2;
  }
  const int width = std::atoi(argv[2]), height = std::atoi(argv[3]), quality = std::atoi(argv[4]);
  std::ifstream in(argv[1], std::ios::binary);
  std::vector<unsigned char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t frameBytes = size_t(width) * height * 3;
  std::vector<cv::Mat> frames;
  for (size_t at = 0; at + frameBytes <= raw.size(); at += frameBytes) frames.emplace_back(height, width, CV_8UC3, raw.data() + at);
  if (frames.empty()) {
    std::fprintf(stderr, "codec-limit: no %dx%d frames in %s\n", width, height, argv[1]);
    return 1;
  }
  cv::setNumThreads(1);
  const std::vector<int> params = {cv::IMWRITE_JPEG_QUALITY, quality};
  std::vector<std::vector<unsigned char>> encoded(frames.size());
  for (size_t i = 0; i < frames.size(); ++i) cv::imencode(".jpg", frames[i], encoded[i], params);  // warm-up
  const int timed = argc == 6 ? std::atoi(argv[5]) : 120;
  const int passes = std::max<int>(1, timed / int(frames.size()));
  using Clock = std::chrono::steady_clock;
  auto msPerFrame = [&](Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count() / (passes * frames.size());
  };
  auto start = Clock::now();
  for (int p = 0; p < passes; ++p)
    for (size_t i = 0; i < frames.size(); ++i) cv::imencode(".jpg", frames[i], encoded[i], params);
  const double encodeMs = msPerFrame(start);
  start = Clock::now();
  for (int p = 0; p < passes; ++p)
    for (const auto& bytes : encoded) cv::Mat picture = cv::imdecode(bytes, cv::IMREAD_COLOR);
  const double decodeMs = msPerFrame(start);
  double bytes = 0;
  for (const auto& e : encoded) bytes += double(e.size());
  std::printf("{\"encodeMs\": %.4f, \"decodeMs\": %.4f, \"bytesPerFrame\": %.1f, \"limitFps\": %.2f}\n", encodeMs, decodeMs,
              bytes / encoded.size(), 1000.0 / std::max(encodeMs, decodeMs));
  return 0;
}
