// BpfObject: opens an eBPF object file and loads it into the kernel. Maps declared with
// LIBBPF_PIN_BY_NAME are pinned under the pin root, and a map already pinned there is REUSED
// (libbpf checks type, key/value size, max_entries and flags; a mismatch fails the load).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common.h"

namespace latch {

namespace {

// The verifier gives up with EAGAIN when a signal is pending for the loading thread, and libbpf
// retries that only a few times. A sampling profiler (node --cpu-prof: V8 sends SIGPROF to the JS
// thread every interval) interrupts a long verification every time, so SIGPROF is blocked on this
// thread for the load; a sample that fell due meanwhile is delivered when the mask is restored.
class BlockSigprof {
 public:
  BlockSigprof() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPROF);
    blocked_ = pthread_sigmask(SIG_BLOCK, &set, &old_) == 0;
  }
  ~BlockSigprof() {
    if (blocked_) pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  BlockSigprof(const BlockSigprof&) = delete;
  BlockSigprof& operator=(const BlockSigprof&) = delete;

 private:
  sigset_t old_;
  bool blocked_ = false;
};

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "BpfObject",
                       {
                           InstanceMethod<&BpfObject::Programs>("programs"),
                           InstanceMethod<&BpfObject::Maps>("maps"),
                           InstanceMethod<&BpfObject::PinProgram>("pinProgram"),
                           InstanceMethod<&BpfObject::Close>("close"),
                       });
  }

  // new BpfObject(path: string, pinRoot: string | null)
  explicit BpfObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfObject>(info) {
    Napi::Env env = info.Env();
    std::string path = ArgString(info, 0, "path");
    std::string pin_root;
    bool has_pin_root = info.Length() > 1 && info[1].IsString();
    if (has_pin_root) pin_root = info[1].As<Napi::String>().Utf8Value();

    LogCapture capture;
    LIBBPF_OPTS(bpf_object_open_opts, opts);
    if (has_pin_root) opts.pin_root_path = pin_root.c_str();
    struct bpf_object* obj = bpf_object__open_file(path.c_str(), &opts);
    int err = libbpf_get_error(obj);
    if (err) {
      ThrowBpf(env, -err == ENOENT ? "LATCH_ERR_BPF_OBJECT_MISSING" : "LATCH_ERR_BPF_OBJECT_INVALID",
               "bpf_object__open_file(" + path + ")", err);
    }
    {
      BlockSigprof quiet;
      err = bpf_object__load(obj);
    }
    if (err) {
      std::string log = LogCapture::Take();
      bpf_object__close(obj);
      const char* code = "LATCH_ERR_BPF_LOAD_FAILED";
      if (log.find("reuse pinned map") != std::string::npos || log.find("can't reuse") != std::string::npos)
        code = "LATCH_ERR_BPF_PIN_INCOMPATIBLE";
      else if (log.find("not on BPF FS") != std::string::npos)
        code = "LATCH_ERR_BPF_NO_BPFFS";
      else if (-err == EPERM || -err == EACCES)
        code = "LATCH_ERR_BPF_PERMISSION";
      // put the log back for ThrowBpf to attach
      Napi::Error e = Napi::Error::New(env, "bpf_object__load(" + path + "): " + strerror(-err));
      e.Set("code", Napi::String::New(env, code));
      e.Set("errno", Napi::Number::New(env, -err));
      e.Set("syscall", Napi::String::New(env, "bpf_object__load"));
      if (!log.empty()) e.Set("log", Napi::String::New(env, log));
      throw e;
    }
    obj_ = obj;
  }

  ~BpfObject() override {
    if (obj_) bpf_object__close(obj_);
  }

 private:
  struct bpf_object* Live(Napi::Env env) {
    if (!obj_) ThrowBpf(env, "LATCH_ERR_BPF_BAD_ARGUMENT", "BpfObject used after close()", 0);
    return obj_;
  }

  Napi::Value Programs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct bpf_object* obj = Live(env);
    Napi::Array out = Napi::Array::New(env);
    struct bpf_program* prog;
    uint32_t i = 0;
    bpf_object__for_each_program(prog, obj) {
      int fd = bpf_program__fd(prog);
      struct bpf_prog_info pinfo = {};
      uint32_t len = sizeof pinfo;
      if (bpf_obj_get_info_by_fd(fd, &pinfo, &len))
        ThrowBpf(env, "LATCH_ERR_BPF_LOAD_FAILED", "bpf_obj_get_info_by_fd(program)", errno);
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", bpf_program__name(prog));
      o.Set("fd", fd);
      o.Set("id", pinfo.id);
      o.Set("tag", Hex(pinfo.tag, sizeof pinfo.tag));
      o.Set("type", pinfo.type);
      out.Set(i++, o);
    }
    return out;
  }

  Napi::Value Maps(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct bpf_object* obj = Live(env);
    Napi::Array out = Napi::Array::New(env);
    struct bpf_map* map;
    uint32_t i = 0;
    bpf_object__for_each_map(map, obj) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", bpf_map__name(map));
      o.Set("fd", bpf_map__fd(map));
      o.Set("type", static_cast<uint32_t>(bpf_map__type(map)));
      o.Set("keySize", bpf_map__key_size(map));
      o.Set("valueSize", bpf_map__value_size(map));
      o.Set("maxEntries", bpf_map__max_entries(map));
      const char* pin = bpf_map__pin_path(map);
      o.Set("pinPath", pin ? Napi::Value(Napi::String::New(env, pin)) : env.Null());
      o.Set("internal", bpf_map__is_internal(map));
      out.Set(i++, o);
    }
    return out;
  }

  // pinProgram(name, path)
  Napi::Value PinProgram(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct bpf_object* obj = Live(env);
    std::string name = ArgString(info, 0, "name");
    std::string path = ArgString(info, 1, "path");
    struct bpf_program* prog = bpf_object__find_program_by_name(obj, name.c_str());
    if (!prog) ThrowBpf(env, "LATCH_ERR_BPF_BAD_ARGUMENT", "no program named " + name + " in the object", 0);
    LogCapture capture;
    int err = bpf_program__pin(prog, path.c_str());
    if (err) ThrowBpf(env, "LATCH_ERR_BPF_PIN_FAILED", "bpf_program__pin(" + path + ")", err);
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (obj_) bpf_object__close(obj_);
    obj_ = nullptr;
    return info.Env().Undefined();
  }

  struct bpf_object* obj_ = nullptr;
};

}  // namespace

void InitObject(Napi::Env env, Napi::Object exports) { exports.Set("BpfObject", BpfObject::Define(env)); }

}  // namespace latch
