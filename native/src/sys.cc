// Small system calls the datapath adapter needs: pinned objects and fds, program info,
// interface names, and the clocks that auth expiries are written in (see latch_abi.h "Clock").
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "common.h"

namespace latch {

namespace {

// objGet(path) -> fd
Napi::Value ObjGet(const Napi::CallbackInfo& info) {
  std::string path = ArgString(info, 0, "path");
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) {
    int err = errno;
    const char* code = err == ENOENT ? "LATCH_ERR_BPF_NOT_PINNED"
                       : (err == EPERM || err == EACCES) ? "LATCH_ERR_BPF_PERMISSION"
                                                         : "LATCH_ERR_BPF_MAP_OP_FAILED";
    ThrowBpf(info.Env(), code, "bpf_obj_get(" + path + ")", err);
  }
  return Napi::Number::New(info.Env(), fd);
}

// objPin(fd, path)
Napi::Value ObjPin(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  std::string path = ArgString(info, 1, "path");
  if (bpf_obj_pin(fd, path.c_str()))
    ThrowBpf(info.Env(), "LATCH_ERR_BPF_PIN_FAILED", "bpf_obj_pin(" + path + ")", errno);
  return info.Env().Undefined();
}

// closeFd(fd)
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  if (fd < 3) ThrowBpf(info.Env(), "LATCH_ERR_BPF_BAD_ARGUMENT", "refusing to close fd < 3", 0);
  close(fd);
  return info.Env().Undefined();
}

// progInfo(fd) -> { id, tag, name, type }
Napi::Value ProgInfo(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  struct bpf_prog_info pinfo = {};
  uint32_t len = sizeof pinfo;
  if (bpf_obj_get_info_by_fd(fd, &pinfo, &len))
    ThrowBpf(info.Env(), "LATCH_ERR_BPF_BAD_ARGUMENT", "bpf_obj_get_info_by_fd(program)", errno);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("id", pinfo.id);
  o.Set("tag", Hex(pinfo.tag, sizeof pinfo.tag));
  o.Set("name", pinfo.name);
  o.Set("type", pinfo.type);
  return o;
}

// progFdById(id) -> fd
Napi::Value ProgFdById(const Napi::CallbackInfo& info) {
  uint32_t id = ArgU32(info, 0, "id");
  int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) ThrowBpf(info.Env(), errno == ENOENT ? "LATCH_ERR_BPF_NOT_PINNED" : "LATCH_ERR_BPF_PERMISSION",
                       "bpf_prog_get_fd_by_id(" + std::to_string(id) + ")", errno);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value ClockNs(const Napi::CallbackInfo& info, clockid_t clk) {
  struct timespec ts;
  clock_gettime(clk, &ts);
  uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
  return Napi::BigInt::New(info.Env(), ns);
}
Napi::Value BootTimeNs(const Napi::CallbackInfo& info) { return ClockNs(info, CLOCK_BOOTTIME); }
Napi::Value RealTimeNs(const Napi::CallbackInfo& info) { return ClockNs(info, CLOCK_REALTIME); }

// ifNameToIndex(name) -> ifindex, 0 when there is no such interface
Napi::Value IfNameToIndex(const Napi::CallbackInfo& info) {
  std::string name = ArgString(info, 0, "name");
  return Napi::Number::New(info.Env(), if_nametoindex(name.c_str()));
}

// ifIndexToName(ifindex) -> name | null
Napi::Value IfIndexToName(const Napi::CallbackInfo& info) {
  uint32_t ifindex = ArgU32(info, 0, "ifindex");
  char buf[IF_NAMESIZE];
  if (!if_indextoname(ifindex, buf)) return info.Env().Null();
  return Napi::String::New(info.Env(), buf);
}

Napi::Value NumPossibleCpus(const Napi::CallbackInfo& info) {
  int n = libbpf_num_possible_cpus();
  if (n <= 0) ThrowBpf(info.Env(), "LATCH_ERR_BPF_MAP_OP_FAILED", "libbpf_num_possible_cpus", n);
  return Napi::Number::New(info.Env(), n);
}

}  // namespace

void InitSys(Napi::Env env, Napi::Object exports) {
  exports.Set("objGet", Napi::Function::New<ObjGet>(env, "objGet"));
  exports.Set("objPin", Napi::Function::New<ObjPin>(env, "objPin"));
  exports.Set("closeFd", Napi::Function::New<CloseFd>(env, "closeFd"));
  exports.Set("progInfo", Napi::Function::New<ProgInfo>(env, "progInfo"));
  exports.Set("progFdById", Napi::Function::New<ProgFdById>(env, "progFdById"));
  exports.Set("bootTimeNs", Napi::Function::New<BootTimeNs>(env, "bootTimeNs"));
  exports.Set("realTimeNs", Napi::Function::New<RealTimeNs>(env, "realTimeNs"));
  exports.Set("ifNameToIndex", Napi::Function::New<IfNameToIndex>(env, "ifNameToIndex"));
  exports.Set("ifIndexToName", Napi::Function::New<IfIndexToName>(env, "ifIndexToName"));
  exports.Set("numPossibleCpus", Napi::Function::New<NumPossibleCpus>(env, "numPossibleCpus"));
}

}  // namespace latch
