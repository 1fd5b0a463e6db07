// RingBuffer: consumes a BPF ring buffer without blocking the event loop. libbpf's epoll fd for
// the ring is watched by a uv_poll handle on the loop; when it turns readable, ring_buffer__consume
// runs on the loop thread, copies each record into a Buffer and hands the whole batch to one JS
// callback call: callback(records: Buffer[]).
// Only one consumer may read a given ring buffer (the consumer position is shared kernel state).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <uv.h>

#include <cerrno>
#include <vector>

#include "common.h"

namespace latch {

namespace {

// State that must outlive the JS object until libuv has closed the poll handle.
struct PollState {
  uv_poll_t poll;
  struct ring_buffer* rb = nullptr;
  std::vector<std::vector<uint8_t>> batch;
  class RingBuffer* owner = nullptr;
};

int OnSample(void* ctx, void* data, size_t size) {
  auto* st = static_cast<PollState*>(ctx);
  auto* p = static_cast<uint8_t*>(data);
  st->batch.emplace_back(p, p + size);
  return 0;
}

class RingBuffer : public Napi::ObjectWrap<RingBuffer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "RingBuffer",
                       {
                           InstanceMethod<&RingBuffer::Consume>("consume"),
                           InstanceMethod<&RingBuffer::Ref>("ref"),
                           InstanceMethod<&RingBuffer::Unref>("unref"),
                           InstanceMethod<&RingBuffer::Close>("close"),
                       });
  }

  // new RingBuffer(mapFd: number, callback: (records: Buffer[]) => void)
  explicit RingBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RingBuffer>(info), env_(info.Env()) {
    Napi::Env env = info.Env();
    int map_fd = ArgInt(info, 0, "mapFd");
    if (info.Length() < 2 || !info[1].IsFunction())
      ThrowBpf(env, "LATCH_ERR_BPF_BAD_ARGUMENT", "argument 1 (callback) must be a function", 0);
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());

    st_ = new PollState();
    st_->owner = this;
    LogCapture capture;
    st_->rb = ring_buffer__new(map_fd, OnSample, st_, nullptr);
    if (!st_->rb) {
      int err = errno;
      delete st_;
      st_ = nullptr;
      ThrowBpf(env, "LATCH_ERR_BPF_RINGBUF_FAILED", "ring_buffer__new", err);
    }
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    int rc = uv_poll_init(loop, &st_->poll, ring_buffer__epoll_fd(st_->rb));
    if (rc == 0) rc = uv_poll_start(&st_->poll, UV_READABLE, OnReadable);
    if (rc != 0) {
      ring_buffer__free(st_->rb);
      delete st_;
      st_ = nullptr;
      ThrowBpf(env, "LATCH_ERR_BPF_RINGBUF_FAILED", std::string("uv_poll: ") + uv_strerror(rc), 0);
    }
    st_->poll.data = st_;
  }

  ~RingBuffer() override { Shutdown(); }

 private:
  static void OnReadable(uv_poll_t* handle, int status, int /*events*/) {
    auto* st = static_cast<PollState*>(handle->data);
    if (status < 0 || !st->owner) return;
    st->owner->Deliver();
  }

  // Drains the ring and calls back once with every record. Returns the number of records.
  size_t Deliver() {
    if (!st_) return 0;
    ring_buffer__consume(st_->rb);
    if (st_->batch.empty()) return 0;
    std::vector<std::vector<uint8_t>> batch;
    batch.swap(st_->batch);
    Napi::HandleScope scope(env_);
    Napi::Array records = Napi::Array::New(env_, batch.size());
    for (size_t i = 0; i < batch.size(); i++)
      records.Set(i, Napi::Buffer<uint8_t>::Copy(env_, batch[i].data(), batch[i].size()));
    try {
      callback_.MakeCallback(Value(), {records});
    } catch (const Napi::Error& e) {
      // a throwing JS callback on a libuv callback becomes an uncaught exception, as in core
      napi_fatal_exception(env_, e.Value());
    }
    return batch.size();
  }

  void Shutdown() {
    if (!st_) return;
    PollState* st = st_;
    st_ = nullptr;
    st->owner = nullptr;
    uv_poll_stop(&st->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&st->poll), [](uv_handle_t* h) {
      auto* s = static_cast<PollState*>(h->data);
      ring_buffer__free(s->rb);
      delete s;
    });
  }

  // consume() -> number: drain now (also used by tests after a synchronous trigger)
  Napi::Value Consume(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(Deliver()));
  }
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (st_) uv_ref(reinterpret_cast<uv_handle_t*>(&st_->poll));
    return info.Env().Undefined();
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (st_) uv_unref(reinterpret_cast<uv_handle_t*>(&st_->poll));
    return info.Env().Undefined();
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  Napi::Env env_;
  Napi::FunctionReference callback_;
  PollState* st_ = nullptr;
};

}  // namespace

void InitRingBuffer(Napi::Env env, Napi::Object exports) { exports.Set("RingBuffer", RingBuffer::Define(env)); }

}  // namespace latch
