#include "socket.h"

#include <cerrno>
#include <cstring>
#include <string>

// Windows has no netinet/ headers, and no TCP_NOTSENT_LOWAT: there the calls report "unsupported".
#ifndef _WIN32
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#endif

#include "common.h"

namespace cvchat {

namespace {

#ifdef TCP_NOTSENT_LOWAT
[[noreturn]] void ThrowOptionError(Napi::Env env, const char* call, int fd, int error) {
  ThrowCoded(env, "CVCHAT_SOCKET_OPTION",
             std::string(call) + "(TCP_NOTSENT_LOWAT) on fd " + std::to_string(fd) + " failed: " + std::strerror(error));
}
#endif

Napi::Value SetUnsentLimit(const Napi::CallbackInfo& info) {
  RequireArgs(info, 2, "setUnsentLimit(fd, bytes)");
  int fd = IntArg(info, 0, "fd");
  int bytes = IntArg(info, 1, "bytes");
#ifdef TCP_NOTSENT_LOWAT
  if (setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &bytes, sizeof bytes) != 0) {
    ThrowOptionError(info.Env(), "setsockopt", fd, errno);
  }
  return Napi::Boolean::New(info.Env(), true);
#else
  (void)fd;
  (void)bytes;
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Value UnsentLimit(const Napi::CallbackInfo& info) {
  RequireArgs(info, 1, "unsentLimit(fd)");
  int fd = IntArg(info, 0, "fd");
#ifdef TCP_NOTSENT_LOWAT
  // The kernel keeps the limit unsigned (Linux: u32, where 0 means "use the sysctl").
  unsigned int bytes = 0;
  socklen_t length = sizeof bytes;
  if (getsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &bytes, &length) != 0) {
    ThrowOptionError(info.Env(), "getsockopt", fd, errno);
  }
  return Napi::Number::New(info.Env(), bytes);
#else
  (void)fd;
  return info.Env().Null();
#endif
}

}  // namespace

void InitSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("setUnsentLimit", Napi::Function::New<SetUnsentLimit>(env, "setUnsentLimit"));
  exports.Set("unsentLimit", Napi::Function::New<UnsentLimit>(env, "unsentLimit"));
}

}  // namespace cvchat
