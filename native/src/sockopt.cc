// Socket options Node has no API for. bindToDevice(fd, ifname): SO_BINDTODEVICE on a socket
// latchd owns (the pair-auth listener), so the kernel delivers to it only what arrived through
// that interface and answers any other SYN with a reset. No capability for a first bind (Linux >= 5.7).
#include <net/if.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common.h"

namespace latch {

namespace {

Napi::Value BindToDevice(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  std::string name = ArgString(info, 1, "ifname");
  if (name.empty() || name.size() >= IFNAMSIZ)
    ThrowBpf(info.Env(), "LATCH_ERR_BPF_BAD_ARGUMENT", "interface name must be 1-15 characters", 0);
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name.c_str(), static_cast<socklen_t>(name.size() + 1)))
    ThrowBpf(info.Env(), "LATCH_ERR_DAEMON_LISTEN_FAILED", "setsockopt(SO_BINDTODEVICE, " + name + ")", errno);
  return info.Env().Undefined();
}

}  // namespace

void InitSockopt(Napi::Env env, Napi::Object exports) {
  exports.Set("bindToDevice", Napi::Function::New<BindToDevice>(env, "bindToDevice"));
}

}  // namespace latch
