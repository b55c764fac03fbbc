// Socket options Node has no call for. TCP_NOTSENT_LOWAT bounds the bytes the kernel keeps for a
// TCP socket that it has not sent yet: the socket polls writable only below that bound, so a
// sender's queue of frames stays in the application, where a newer frame can replace an old one,
// instead of in the kernel's send buffer, where nothing can. The caller finds the fd and checks
// the arguments (lib/net/socket-options.ts); these calls only talk to the kernel.
#pragma once

#include <napi.h>

namespace cvchat {

// setUnsentLimit(fd, bytes): true once set; false where the platform has no such option.
// unsentLimit(fd): the limit read back (0 = the system's default), or null where there is none.
// Both throw CVCHAT_SOCKET_OPTION with the system's reason when the kernel refuses (a bad fd).
void InitSocket(Napi::Env env, Napi::Object exports);

}  // namespace cvchat
