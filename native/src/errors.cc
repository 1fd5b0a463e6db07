#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "common.h"

namespace latch {

namespace {
thread_local int capture_depth = 0;
thread_local std::string captured;
constexpr size_t kMaxLog = 64 * 1024;

int PrintFn(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (capture_depth == 0 || level == LIBBPF_DEBUG) return 0;
  char line[1024];
  int n = vsnprintf(line, sizeof line, fmt, args);
  if (n > 0 && captured.size() < kMaxLog) captured.append(line, std::min<size_t>(n, sizeof line - 1));
  return 0;
}
}  // namespace

void InstallLibbpfPrint() { libbpf_set_print(PrintFn); }

LogCapture::LogCapture() {
  if (capture_depth++ == 0) captured.clear();
}
LogCapture::~LogCapture() { --capture_depth; }
std::string LogCapture::Take() {
  std::string out;
  out.swap(captured);
  return out;
}

void ThrowBpf(Napi::Env env, const char* code, const std::string& what, int err) {
  if (err < 0) err = -err;
  std::string message = what;
  if (err != 0) {
    message += ": ";
    message += strerror(err);
  }
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, what));
  std::string log = LogCapture::Take();
  if (!log.empty()) e.Set("log", Napi::String::New(env, log));
  throw e;
}

const char* MapErrorCode(int err) {
  if (err < 0) err = -err;
  switch (err) {
    case E2BIG:
    case ENOSPC:
    case ENOMEM:
      return "LATCH_ERR_BPF_MAP_FULL";
    case EPERM:
    case EACCES:
      return "LATCH_ERR_BPF_PERMISSION";
    default:
      return "LATCH_ERR_BPF_MAP_OP_FAILED";
  }
}

static void BadArg(const Napi::CallbackInfo& info, size_t i, const char* name, const char* want) {
  ThrowBpf(info.Env(), "LATCH_ERR_BPF_BAD_ARGUMENT",
           std::string("argument ") + std::to_string(i) + " (" + name + ") must be " + want, 0);
}

int32_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber()) BadArg(info, i, name, "an integer");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (v != static_cast<double>(static_cast<int32_t>(v))) BadArg(info, i, name, "a 32-bit integer");
  return static_cast<int32_t>(v);
}

uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber()) BadArg(info, i, name, "an unsigned integer");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (v < 0 || v > 4294967295.0 || v != static_cast<double>(static_cast<uint32_t>(v)))
    BadArg(info, i, name, "an unsigned 32-bit integer");
  return static_cast<uint32_t>(v);
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsString()) BadArg(info, i, name, "a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsBuffer()) BadArg(info, i, name, "a Buffer");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

}  // namespace latch
