// progTestRun: BPF_PROG_TEST_RUN on a tc program with a crafted packet (Ethernet frame).
// The kernel builds an skb from the frame; ctx fields simulate where it came from: ifindex (the
// device the program runs on; 0/1 = loopback, anything larger must exist in this netns),
// ingressIfindex (skb->skb_iif, not checked by the kernel) and mark.
#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <cerrno>
#include <vector>

#include "common.h"

namespace latch {

namespace {

uint32_t OptU32(Napi::Object o, const char* key, uint32_t dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsNumber() || v.As<Napi::Number>().DoubleValue() < 0)
    ThrowBpf(o.Env(), "LATCH_ERR_BPF_BAD_ARGUMENT", std::string("option ") + key + " must be an unsigned integer", 0);
  return v.As<Napi::Number>().Uint32Value();
}

// progTestRun(progFd, { data: Buffer, repeat?, ifindex?, ingressIfindex?, mark? })
//   -> { retval, data: Buffer, durationNs }
Napi::Value ProgTestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int prog_fd = ArgInt(info, 0, "progFd");
  if (info.Length() < 2 || !info[1].IsObject())
    ThrowBpf(env, "LATCH_ERR_BPF_BAD_ARGUMENT", "argument 1 (options) must be an object", 0);
  Napi::Object o = info[1].As<Napi::Object>();
  if (!o.Get("data").IsBuffer())
    ThrowBpf(env, "LATCH_ERR_BPF_BAD_ARGUMENT", "options.data must be a Buffer (an Ethernet frame)", 0);
  auto data = o.Get("data").As<Napi::Buffer<uint8_t>>();

  struct __sk_buff ctx = {};
  ctx.ifindex = OptU32(o, "ifindex", 0);
  ctx.ingress_ifindex = OptU32(o, "ingressIfindex", 0);
  ctx.mark = OptU32(o, "mark", 0);
  std::vector<uint8_t> out(data.Length() + 512);

  LIBBPF_OPTS(bpf_test_run_opts, opts);
  opts.data_in = data.Data();
  opts.data_size_in = static_cast<uint32_t>(data.Length());
  opts.data_out = out.data();
  opts.data_size_out = static_cast<uint32_t>(out.size());
  opts.ctx_in = &ctx;
  opts.ctx_size_in = sizeof ctx;
  opts.repeat = static_cast<int>(OptU32(o, "repeat", 1));
  if (bpf_prog_test_run_opts(prog_fd, &opts)) {
    int err = errno;
    ThrowBpf(env, err == EPERM || err == EACCES ? "LATCH_ERR_BPF_PERMISSION" : "LATCH_ERR_BPF_TEST_RUN_FAILED",
             "bpf_prog_test_run_opts", err);
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("retval", static_cast<double>(static_cast<int32_t>(opts.retval)));
  r.Set("data", Napi::Buffer<uint8_t>::Copy(env, out.data(), opts.data_size_out));
  r.Set("durationNs", opts.duration);
  return r;
}

}  // namespace

void InitTestRun(Napi::Env env, Napi::Object exports) {
  exports.Set("progTestRun", Napi::Function::New<ProgTestRun>(env, "progTestRun"));
}

}  // namespace latch
