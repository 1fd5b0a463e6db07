// latch_bpf: N-API addon over the system libbpf (see common.h for the error convention).
#include "common.h"

namespace {

Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  using namespace latch;
  InstallLibbpfPrint();
  InitObject(env, exports);
  InitMap(env, exports);
  InitTc(env, exports);
  InitRingBuffer(env, exports);
  InitTestRun(env, exports);
  InitAbi(env, exports);
  InitSys(env, exports);
  InitSockopt(env, exports);
  InitNotify(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(latch_bpf, InitAddon)
