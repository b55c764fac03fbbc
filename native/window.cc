#include "window.h"

#include <opencv2/highgui.hpp>
#include <opencv2/imgproc.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "common.h"
#include "frame.h"

namespace cvchat {

namespace {

bool displayChecked = false;

bool CanConnectUnix(const std::string& path, bool abstract) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t offset = abstract ? 1 : 0;  // abstract names start with a NUL byte
  if (path.size() + offset >= sizeof addr.sun_path) {
    close(fd);
    return false;
  }
  std::memcpy(addr.sun_path + offset, path.data(), path.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + offset + path.size());
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0;
  close(fd);
  return ok;
}

Napi::Value Imshow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireArgs(info, 2, "imshow(name, frame)");
  std::string name = StringArg(info, 0, "name");
  cv::Mat mat = Frame::MatArg(info, 1, "frame");
  if (!displayChecked) {
    std::string problem = DisplayProblem();
    if (!problem.empty()) ThrowCoded(env, "CVCHAT_NO_DISPLAY", problem);
    displayChecked = true;
  }
  // Without the toolbar and status bar Qt adds by default: a chat window is for the picture.
  cv::namedWindow(name, cv::WINDOW_AUTOSIZE | cv::WINDOW_GUI_NORMAL);
  cv::imshow(name, mat);
  return env.Undefined();
}

Napi::Value MoveWindow(const Napi::CallbackInfo& info) {
  RequireArgs(info, 3, "moveWindow(name, x, y)");
  std::string name = StringArg(info, 0, "name");
  int x = IntArg(info, 1, "x"), y = IntArg(info, 2, "y");
  if (displayChecked) cv::moveWindow(name, x, y);
  return info.Env().Undefined();
}

Napi::Value WaitKey(const Napi::CallbackInfo& info) {
  int delay = info.Length() > 0 ? IntArg(info, 0, "delay") : 1;
  // waitKey(0) would block the event loop forever; the JS side never asks for it.
  if (delay <= 0) delay = 1;
  if (!displayChecked) return Napi::Number::New(info.Env(), -1);
  return Napi::Number::New(info.Env(), cv::waitKey(delay));
}

Napi::Value WindowVisible(const Napi::CallbackInfo& info) {
  RequireArgs(info, 1, "windowVisible(name)");
  std::string name = StringArg(info, 0, "name");
  if (!displayChecked) return Napi::Boolean::New(info.Env(), false);
  double visible = cv::getWindowProperty(name, cv::WND_PROP_VISIBLE);
  return Napi::Boolean::New(info.Env(), visible > 0);
}

Napi::Value DestroyWindow(const Napi::CallbackInfo& info) {
  RequireArgs(info, 1, "destroyWindow(name)");
  std::string name = StringArg(info, 0, "name");
  if (displayChecked) {
    cv::destroyWindow(name);
    cv::waitKey(1);  // let the toolkit process the close before the next call
  }
  return info.Env().Undefined();
}

Napi::Value DestroyAllWindows(const Napi::CallbackInfo& info) {
  if (displayChecked) {
    cv::destroyAllWindows();
    cv::waitKey(1);
  }
  return info.Env().Undefined();
}

cv::Scalar ColorArg(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsArray()) return cv::Scalar(255, 255, 255);
  Napi::Array c = info[i].As<Napi::Array>();
  return cv::Scalar(c.Get(0u).ToNumber().DoubleValue(), c.Get(1u).ToNumber().DoubleValue(),
                    c.Get(2u).ToNumber().DoubleValue());
}

// putText(frame, text, x, y, scale, [b,g,r], thickness): drawn in place, with a dark outline so it
// reads on any picture.
Napi::Value PutText(const Napi::CallbackInfo& info) {
  RequireArgs(info, 7, "putText(frame, text, x, y, scale, color, thickness)");
  cv::Mat mat = Frame::MatArg(info, 0, "frame");
  std::string text = StringArg(info, 1, "text");
  cv::Point at(IntArg(info, 2, "x"), IntArg(info, 3, "y"));
  double scale = NumberArg(info, 4, "scale");
  int thickness = std::max(1, IntArg(info, 6, "thickness"));
  cv::putText(mat, text, at, cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(0, 0, 0), thickness + 2, cv::LINE_AA);
  cv::putText(mat, text, at, cv::FONT_HERSHEY_SIMPLEX, scale, ColorArg(info, 5), thickness, cv::LINE_AA);
  return info.Env().Undefined();
}

// rectangle(frame, x, y, width, height, [b,g,r], thickness); thickness < 0 fills.
Napi::Value Rectangle(const Napi::CallbackInfo& info) {
  RequireArgs(info, 7, "rectangle(frame, x, y, width, height, color, thickness)");
  cv::Mat mat = Frame::MatArg(info, 0, "frame");
  cv::Rect box(IntArg(info, 1, "x"), IntArg(info, 2, "y"), IntArg(info, 3, "width"), IntArg(info, 4, "height"));
  int thickness = IntArg(info, 6, "thickness");
  cv::rectangle(mat, box, ColorArg(info, 5), thickness < 0 ? cv::FILLED : thickness);
  return info.Env().Undefined();
}

// overlay(target, picture, x, y, width, height): scales `picture` into a box of `target`, clipped to
// it (the chat window's inset of one's own camera).
Napi::Value Overlay(const Napi::CallbackInfo& info) {
  RequireArgs(info, 6, "overlay(target, picture, x, y, width, height)");
  cv::Mat target = Frame::MatArg(info, 0, "target");
  cv::Mat picture = Frame::MatArg(info, 1, "picture");
  cv::Rect box(IntArg(info, 2, "x"), IntArg(info, 3, "y"), IntArg(info, 4, "width"), IntArg(info, 5, "height"));
  box &= cv::Rect(0, 0, target.cols, target.rows);
  if (box.area() == 0 || target.type() != picture.type()) return info.Env().Undefined();
  cv::Mat roi = target(box);
  cv::resize(picture, roi, box.size(), 0, 0, cv::INTER_AREA);
  return info.Env().Undefined();
}

// resize(frame, width, height) -> Frame: a new frame (used to fit pictures of another size).
Napi::Value Resize(const Napi::CallbackInfo& info) {
  RequireArgs(info, 3, "resize(frame, width, height)");
  cv::Mat mat = Frame::MatArg(info, 0, "frame");
  int width = IntArg(info, 1, "width"), height = IntArg(info, 2, "height");
  if (width <= 0 || height <= 0 || width > 16384 || height > 16384) {
    ThrowCoded(info.Env(), "CVCHAT_INVALID_ARGUMENT", "resize needs a width and height from 1 to 16384");
  }
  cv::Mat out;
  cv::resize(mat, out, cv::Size(width, height), 0, 0, cv::INTER_AREA);
  return Frame::New(info.Env(), out);
}

Napi::Value GetDisplayProblem(const Napi::CallbackInfo& info) {
  std::string problem = DisplayProblem();
  return problem.empty() ? info.Env().Null() : Napi::String::New(info.Env(), problem);
}

}  // namespace

std::string DisplayProblem() {
  const char* platform = std::getenv("QT_QPA_PLATFORM");
  if (platform && *platform && std::strncmp(platform, "xcb", 3) != 0 && std::strncmp(platform, "wayland", 7) != 0) {
    return "";  // offscreen, minimal, vnc...: Qt needs no X server
  }
  const char* wayland = std::getenv("WAYLAND_DISPLAY");
  if (wayland && *wayland && !(platform && std::strncmp(platform, "xcb", 3) == 0)) return "";
  const char* display = std::getenv("DISPLAY");
  const std::string fix =
      "Run it in a desktop session or under Xvfb (xvfb-run -a npm start ...), set QT_QPA_PLATFORM=offscreen, "
      "or pass --no-window";
  if (!display || !*display) return "No display to open a window on: DISPLAY is not set. " + fix;
  std::string value(display);
  size_t colon = value.rfind(':');
  if (colon == std::string::npos) return "DISPLAY='" + value + "' is not of the form [host]:number. " + fix;
  std::string host = value.substr(0, colon);
  std::string number = value.substr(colon + 1);
  number = number.substr(0, number.find('.'));
  if (number.empty() || number.find_first_not_of("0123456789") != std::string::npos) {
    return "DISPLAY='" + value + "' is not of the form [host]:number. " + fix;
  }
  if (!host.empty() && host != "unix") return "";  // a remote or forwarded display: let Qt try it
  std::string socketPath = "/tmp/.X11-unix/X" + number;
  if (CanConnectUnix(socketPath, false) || CanConnectUnix(socketPath, true)) return "";
  return "No X server answers on DISPLAY=" + value + " (nothing listens at " + socketPath + "). " + fix;
}

void InitWindow(Napi::Env env, Napi::Object exports) {
  exports.Set("imshow", Napi::Function::New<Imshow>(env, "imshow"));
  exports.Set("moveWindow", Napi::Function::New<MoveWindow>(env, "moveWindow"));
  exports.Set("waitKey", Napi::Function::New<WaitKey>(env, "waitKey"));
  exports.Set("windowVisible", Napi::Function::New<WindowVisible>(env, "windowVisible"));
  exports.Set("destroyWindow", Napi::Function::New<DestroyWindow>(env, "destroyWindow"));
  exports.Set("destroyAllWindows", Napi::Function::New<DestroyAllWindows>(env, "destroyAllWindows"));
  exports.Set("putText", Napi::Function::New<PutText>(env, "putText"));
  exports.Set("rectangle", Napi::Function::New<Rectangle>(env, "rectangle"));
  exports.Set("overlay", Napi::Function::New<Overlay>(env, "overlay"));
  exports.Set("resize", Napi::Function::New<Resize>(env, "resize"));
  exports.Set("displayProblem", Napi::Function::New<GetDisplayProblem>(env, "displayProblem"));
}

}  // namespace cvchat
