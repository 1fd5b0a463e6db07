// tc clsact attach/detach/query through libbpf's bpf_tc_* (netlink under the hood).
// A program is identified on a hook by (handle, priority); attaching with replace=true swaps the
// program atomically, so re-attaching on a daemon restart or upgrade never opens a gap.
#include <bpf/libbpf.h>

#include <cerrno>
#include <string>

#include "common.h"

namespace latch {

namespace {

struct bpf_tc_hook Hook(const Napi::CallbackInfo& info) {
  int ifindex = ArgInt(info, 0, "ifindex");
  std::string point = ArgString(info, 1, "direction");
  if (ifindex <= 0) ThrowBpf(info.Env(), "LATCH_ERR_BPF_BAD_ARGUMENT", "ifindex must be > 0", 0);
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex);
  if (point == "ingress")
    hook.attach_point = BPF_TC_INGRESS;
  else if (point == "egress")
    hook.attach_point = BPF_TC_EGRESS;
  else
    ThrowBpf(info.Env(), "LATCH_ERR_BPF_BAD_ARGUMENT", "direction must be 'ingress' or 'egress'", 0);
  return hook;
}

const char* AttachCode(int err) {
  if (err < 0) err = -err;
  if (err == ENODEV) return "LATCH_ERR_BPF_INTERFACE_UNKNOWN";
  if (err == EPERM || err == EACCES) return "LATCH_ERR_BPF_PERMISSION";
  return "LATCH_ERR_BPF_ATTACH_FAILED";
}

// tcHookCreate(ifindex, direction) -> boolean (false: the clsact qdisc already existed)
Napi::Value TcHookCreate(const Napi::CallbackInfo& info) {
  struct bpf_tc_hook hook = Hook(info);
  LogCapture capture;
  int err = bpf_tc_hook_create(&hook);
  if (err == -EEXIST) return Napi::Boolean::New(info.Env(), false);
  if (err) ThrowBpf(info.Env(), AttachCode(err), "bpf_tc_hook_create(ifindex " + std::to_string(hook.ifindex) + ")", err);
  return Napi::Boolean::New(info.Env(), true);
}

// tcAttach(ifindex, direction, progFd, handle, priority, replace) -> progId
Napi::Value TcAttach(const Napi::CallbackInfo& info) {
  struct bpf_tc_hook hook = Hook(info);
  int prog_fd = ArgInt(info, 2, "progFd");
  uint32_t handle = ArgU32(info, 3, "handle");
  uint32_t priority = ArgU32(info, 4, "priority");
  bool replace = info.Length() > 5 && info[5].ToBoolean().Value();
  if (handle == 0 || priority == 0 || priority > 0xffff)
    ThrowBpf(info.Env(), "LATCH_ERR_BPF_BAD_ARGUMENT", "handle must be > 0 and priority 1..65535", 0);
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .flags = replace ? static_cast<uint32_t>(BPF_TC_F_REPLACE) : 0u,
              .handle = handle, .priority = priority);
  LogCapture capture;
  int err = bpf_tc_attach(&hook, &opts);
  if (err) ThrowBpf(info.Env(), AttachCode(err), "bpf_tc_attach(ifindex " + std::to_string(hook.ifindex) + ")", err);
  return Napi::Number::New(info.Env(), opts.prog_id);
}

// tcDetach(ifindex, direction, handle, priority) -> boolean (false: nothing was attached there)
Napi::Value TcDetach(const Napi::CallbackInfo& info) {
  struct bpf_tc_hook hook = Hook(info);
  uint32_t handle = ArgU32(info, 2, "handle");
  uint32_t priority = ArgU32(info, 3, "priority");
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = priority);
  LogCapture capture;
  int err = bpf_tc_detach(&hook, &opts);
  if (err == -ENOENT || err == -EINVAL) {
    // EINVAL: no clsact qdisc on the device at all, i.e. nothing attached
    return Napi::Boolean::New(info.Env(), false);
  }
  if (err) ThrowBpf(info.Env(), AttachCode(err), "bpf_tc_detach(ifindex " + std::to_string(hook.ifindex) + ")", err);
  return Napi::Boolean::New(info.Env(), true);
}

// tcQuery(ifindex, direction, handle, priority) -> progId, 0 when nothing is attached there
Napi::Value TcQuery(const Napi::CallbackInfo& info) {
  struct bpf_tc_hook hook = Hook(info);
  uint32_t handle = ArgU32(info, 2, "handle");
  uint32_t priority = ArgU32(info, 3, "priority");
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = priority);
  LogCapture capture;
  int err = bpf_tc_query(&hook, &opts);
  if (err == -ENOENT || err == -EINVAL) return Napi::Number::New(info.Env(), 0);
  if (err) ThrowBpf(info.Env(), AttachCode(err), "bpf_tc_query(ifindex " + std::to_string(hook.ifindex) + ")", err);
  return Napi::Number::New(info.Env(), opts.prog_id);
}

}  // namespace

void InitTc(Napi::Env env, Napi::Object exports) {
  exports.Set("tcHookCreate", Napi::Function::New<TcHookCreate>(env, "tcHookCreate"));
  exports.Set("tcAttach", Napi::Function::New<TcAttach>(env, "tcAttach"));
  exports.Set("tcDetach", Napi::Function::New<TcDetach>(env, "tcDetach"));
  exports.Set("tcQuery", Napi::Function::New<TcQuery>(env, "tcQuery"));
}

}  // namespace latch
