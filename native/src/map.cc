// BpfMap: one map file descriptor (owned: dup'ed from a number or opened from a pinned path) with
// its geometry cached, so every buffer handed to the kernel is checked against the map's sizes.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "common.h"

namespace latch {

namespace {

bool IsPerCpu(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

class BpfMap : public Napi::ObjectWrap<BpfMap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "BpfMap",
                       {
                           InstanceMethod<&BpfMap::Info>("info"),
                           InstanceMethod<&BpfMap::Lookup>("lookup"),
                           InstanceMethod<&BpfMap::Update>("update"),
                           InstanceMethod<&BpfMap::Delete>("delete"),
                           InstanceMethod<&BpfMap::UpdateBatch>("updateBatch"),
                           InstanceMethod<&BpfMap::DeleteMany>("deleteMany"),
                           InstanceMethod<&BpfMap::Dump>("dump"),
                           InstanceMethod<&BpfMap::Fd>("fd"),
                           InstanceMethod<&BpfMap::Close>("close"),
                       });
  }

  // new BpfMap(fdOrPinnedPath: number | string)
  explicit BpfMap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfMap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() > 0 && info[0].IsString()) {
      std::string path = info[0].As<Napi::String>().Utf8Value();
      fd_ = bpf_obj_get(path.c_str());
      if (fd_ < 0) {
        int err = errno;
        ThrowBpf(env, err == ENOENT ? "LATCH_ERR_BPF_NOT_PINNED" : MapErrorCode(err), "bpf_obj_get(" + path + ")",
                 err);
      }
    } else {
      int fd = ArgInt(info, 0, "fd");
      fd_ = fcntl_dup(fd);
      if (fd_ < 0) ThrowBpf(env, "LATCH_ERR_BPF_BAD_ARGUMENT", "dup(map fd)", errno);
    }
    struct bpf_map_info minfo = {};
    uint32_t len = sizeof minfo;
    if (bpf_obj_get_info_by_fd(fd_, &minfo, &len)) {
      int err = errno;
      close(fd_);
      fd_ = -1;
      ThrowBpf(env, "LATCH_ERR_BPF_BAD_ARGUMENT", "bpf_obj_get_info_by_fd(map): not a BPF map", err);
    }
    info_ = minfo;
    value_buf_size_ = minfo.value_size;
    if (IsPerCpu(minfo.type)) {
      int cpus = libbpf_num_possible_cpus();
      if (cpus <= 0) ThrowBpf(env, "LATCH_ERR_BPF_MAP_OP_FAILED", "libbpf_num_possible_cpus", cpus);
      value_buf_size_ = ((minfo.value_size + 7) / 8) * 8 * cpus;
    }
  }

  ~BpfMap() override {
    if (fd_ >= 0) close(fd_);
  }

 private:
  static int fcntl_dup(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 3); }

  int Live(Napi::Env env) {
    if (fd_ < 0) ThrowBpf(env, "LATCH_ERR_BPF_BAD_ARGUMENT", "BpfMap used after close()", 0);
    return fd_;
  }

  void CheckLen(Napi::Env env, const Napi::Buffer<uint8_t>& b, size_t want, const char* what) {
    if (b.Length() != want)
      ThrowBpf(env, "LATCH_ERR_BPF_BAD_ARGUMENT",
               std::string(what) + " is " + std::to_string(b.Length()) + " bytes, the map " +
                   info_.name + " needs " + std::to_string(want),
               0);
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Live(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", info_.id);
    o.Set("name", info_.name);
    o.Set("type", info_.type);
    o.Set("keySize", info_.key_size);
    o.Set("valueSize", info_.value_size);
    o.Set("valueBufSize", static_cast<double>(value_buf_size_));
    o.Set("maxEntries", info_.max_entries);
    o.Set("flags", info_.map_flags);
    o.Set("perCpu", IsPerCpu(info_.type));
    return o;
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), Live(info.Env())); }

  // lookup(key, valueOut) -> boolean
  Napi::Value Lookup(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int fd = Live(env);
    auto key = ArgBuffer(info, 0, "key");
    auto value = ArgBuffer(info, 1, "value");
    CheckLen(env, key, info_.key_size, "key");
    CheckLen(env, value, value_buf_size_, "value buffer");
    if (bpf_map_lookup_elem(fd, key.Data(), value.Data()) == 0) return Napi::Boolean::New(env, true);
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    ThrowBpf(env, MapErrorCode(errno), std::string("bpf_map_lookup_elem(") + info_.name + ")", errno);
  }

  // update(key, value, flags)
  Napi::Value Update(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int fd = Live(env);
    auto key = ArgBuffer(info, 0, "key");
    auto value = ArgBuffer(info, 1, "value");
    uint32_t flags = info.Length() > 2 ? ArgU32(info, 2, "flags") : static_cast<uint32_t>(BPF_ANY);
    CheckLen(env, key, info_.key_size, "key");
    CheckLen(env, value, value_buf_size_, "value");
    if (bpf_map_update_elem(fd, key.Data(), value.Data(), flags))
      ThrowBpf(env, MapErrorCode(errno), std::string("bpf_map_update_elem(") + info_.name + ")", errno);
    return env.Undefined();
  }

  // delete(key) -> boolean (false: there was no such key)
  Napi::Value Delete(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int fd = Live(env);
    auto key = ArgBuffer(info, 0, "key");
    CheckLen(env, key, info_.key_size, "key");
    if (bpf_map_delete_elem(fd, key.Data()) == 0) return Napi::Boolean::New(env, true);
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    ThrowBpf(env, MapErrorCode(errno), std::string("bpf_map_delete_elem(") + info_.name + ")", errno);
  }

  // updateBatch(keys, values, count, flags) -> count: one BPF_MAP_UPDATE_BATCH syscall.
  Napi::Value UpdateBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int fd = Live(env);
    auto keys = ArgBuffer(info, 0, "keys");
    auto values = ArgBuffer(info, 1, "values");
    uint32_t count = ArgU32(info, 2, "count");
    uint32_t flags = info.Length() > 3 ? ArgU32(info, 3, "flags") : static_cast<uint32_t>(BPF_ANY);
    CheckLen(env, keys, static_cast<size_t>(count) * info_.key_size, "keys");
    CheckLen(env, values, static_cast<size_t>(count) * value_buf_size_, "values");
    if (count == 0) return Napi::Number::New(env, 0);
    LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = flags);
    uint32_t done = count;
    if (bpf_map_update_batch(fd, keys.Data(), values.Data(), &done, &opts)) {
      int err = errno;
      try {
        ThrowBpf(env, MapErrorCode(err), std::string("bpf_map_update_batch(") + info_.name + ")", err);
      } catch (Napi::Error& e) {
        e.Set("done", Napi::Number::New(env, done));
        throw;
      }
    }
    return Napi::Number::New(env, done);
  }

  // deleteMany(keys, count) -> number of keys that existed and were deleted (missing keys are fine).
  Napi::Value DeleteMany(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int fd = Live(env);
    auto keys = ArgBuffer(info, 0, "keys");
    uint32_t count = ArgU32(info, 1, "count");
    CheckLen(env, keys, static_cast<size_t>(count) * info_.key_size, "keys");
    uint32_t deleted = 0;
    for (uint32_t i = 0; i < count; i++) {
      if (bpf_map_delete_elem(fd, keys.Data() + static_cast<size_t>(i) * info_.key_size) == 0)
        deleted++;
      else if (errno != ENOENT)
        ThrowBpf(env, MapErrorCode(errno), std::string("bpf_map_delete_elem(") + info_.name + ")", errno);
    }
    return Napi::Number::New(env, deleted);
  }

  // dump() -> { keys: Buffer, values: Buffer, count }: every entry, walked with get_next_key.
  Napi::Value Dump(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int fd = Live(env);
    const size_t ks = info_.key_size;
    std::vector<uint8_t> keys, values, cur(ks), next(ks), value(value_buf_size_);
    uint32_t count = 0;
    const void* prev = nullptr;
    // A map can change while it is walked; never walk more than twice its capacity.
    const uint64_t limit = 2ull * info_.max_entries + 16;
    for (uint64_t steps = 0; steps < limit; steps++) {
      if (bpf_map_get_next_key(fd, prev, next.data())) {
        if (errno == ENOENT) break;
        ThrowBpf(env, MapErrorCode(errno), std::string("bpf_map_get_next_key(") + info_.name + ")", errno);
      }
      cur.swap(next);
      prev = cur.data();
      if (bpf_map_lookup_elem(fd, cur.data(), value.data())) {
        if (errno == ENOENT) continue;  // deleted meanwhile
        ThrowBpf(env, MapErrorCode(errno), std::string("bpf_map_lookup_elem(") + info_.name + ")", errno);
      }
      keys.insert(keys.end(), cur.begin(), cur.end());
      values.insert(values.end(), value.begin(), value.end());
      count++;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("keys", Napi::Buffer<uint8_t>::Copy(env, keys.data(), keys.size()));
    o.Set("values", Napi::Buffer<uint8_t>::Copy(env, values.data(), values.size()));
    o.Set("count", count);
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    return info.Env().Undefined();
  }

  int fd_ = -1;
  struct bpf_map_info info_ = {};
  size_t value_buf_size_ = 0;
};

}  // namespace

void InitMap(Napi::Env env, Napi::Object exports) { exports.Set("BpfMap", BpfMap::Define(env)); }

}  // namespace latch
