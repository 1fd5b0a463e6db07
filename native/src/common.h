// Shared helpers of the latch libbpf addon. Every error thrown to JavaScript is an Error with
// `code` (a LATCH_ERR_BPF_* code of daemon/base/errors.ts), `errno` (positive, 0 if none), `syscall`
// (what failed) and, when libbpf said something, `log` (its messages, e.g. the verifier log).
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace latch {

// Throws a JS error carrying code/errno/syscall (and the captured libbpf log, if any).
[[noreturn]] void ThrowBpf(Napi::Env env, const char* code, const std::string& what, int err);

// Picks a code for a failed map operation from errno (full map, permission, anything else).
const char* MapErrorCode(int err);

// libbpf's messages go to a per-thread buffer while a LogCapture is alive.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  static std::string Take();
};

void InstallLibbpfPrint();

// Lowercase hex of n bytes (program tags).
inline std::string Hex(const uint8_t* p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; i++) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

// Argument helpers that throw LATCH_ERR_BPF_BAD_ARGUMENT.
int32_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name);
uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* name);
std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name);
Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo& info, size_t i, const char* name);

void InitObject(Napi::Env env, Napi::Object exports);
void InitMap(Napi::Env env, Napi::Object exports);
void InitTc(Napi::Env env, Napi::Object exports);
void InitRingBuffer(Napi::Env env, Napi::Object exports);
void InitTestRun(Napi::Env env, Napi::Object exports);
void InitAbi(Napi::Env env, Napi::Object exports);
void InitSys(Napi::Env env, Napi::Object exports);
void InitSockopt(Napi::Env env, Napi::Object exports);
void InitNotify(Napi::Env env, Napi::Object exports);

}  // namespace latch
