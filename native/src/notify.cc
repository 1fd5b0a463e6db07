// unixDatagramSend(path, message): one datagram on an AF_UNIX SOCK_DGRAM socket, which Node has no
// API for. latchd uses it for the systemd notification protocol (sd_notify(3): READY=1,
// WATCHDOG=1, RELOADING=1, STATUS=… to $NOTIFY_SOCKET). A path starting with "@" is an abstract
// socket (the "@" becomes the leading NUL byte), as systemd documents for $NOTIFY_SOCKET.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "common.h"

namespace latch {

namespace {

Napi::Value UnixDatagramSend(const Napi::CallbackInfo& info) {
  std::string path = ArgString(info, 0, "path");
  std::string message = ArgString(info, 1, "message");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() < 2 || path.size() >= sizeof(addr.sun_path) || (path[0] != '/' && path[0] != '@'))
    ThrowBpf(info.Env(), "LATCH_ERR_BPF_BAD_ARGUMENT", "socket path must be absolute or @abstract, below 108 bytes", 0);
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) ThrowBpf(info.Env(), "LATCH_ERR_SYSTEMD_NOTIFY", "socket(AF_UNIX, SOCK_DGRAM)", errno);
  ssize_t n = sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
  int err = errno;
  close(fd);
  if (n < 0) ThrowBpf(info.Env(), "LATCH_ERR_SYSTEMD_NOTIFY", "sendto(" + path + ")", err);
  return info.Env().Undefined();
}

}  // namespace

void InitNotify(Napi::Env env, Napi::Object exports) {
  exports.Set("unixDatagramSend", Napi::Function::New<UnixDatagramSend>(env, "unixDatagramSend"));
}

}  // namespace latch
