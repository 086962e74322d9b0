// Persistent tensors: parameters, inputs and constants that live across graphs.
// Each has its own context and backend buffer so it can be freed on its own. They
// live in the engine's device memory (host memory for a CPU engine); host reads and
// writes copy through ggml_backend_tensor_get/set, converting f16, bf16 and q8_0.
#include <algorithm>
#include <cstring>

#include "addon.h"

void Persistent::Release() {
  if (views > 0) return;  // a JS view still reads this host memory; its finalizer frees it
  if (buffer) ggml_backend_buffer_free(buffer);
  if (ctx) ggml_free(ctx);
  buffer = nullptr;
  ctx = nullptr;
  tensor = nullptr;
}

Persistent::~Persistent() {
  views = 0;
  Release();
}

static PersistentRef OwnerArg(const Napi::Value& value) {
  if (!value.IsExternal()) ThrowError(value.Env(), "reasonrl native: expected a tensor owner handle");
  return *value.As<Napi::External<PersistentRef>>().Data();
}

// createTensor(engine, type, [ne0..ne3], name, isParam) -> [owner, handle]
static Napi::Value CreateTensor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto b = LiveBackendsArg(info[0]);
  const auto type = static_cast<ggml_type>(info[1].As<Napi::Number>().Int32Value());
  Napi::Array ne = info[2].As<Napi::Array>();
  const std::string name = info[3].As<Napi::String>().Utf8Value();
  const bool is_param = info[4].As<Napi::Boolean>().Value();

  auto p = std::make_shared<Persistent>();
  ggml_init_params params = {ggml_tensor_overhead() * 2, nullptr, /*no_alloc=*/true};
  p->ctx = ggml_init(params);
  if (!p->ctx) ThrowError(env, "reasonrl native: ggml_init failed for tensor " + name);
  int64_t dims[4];
  for (uint32_t i = 0; i < 4; i++) dims[i] = ne.Get(i).As<Napi::Number>().Int64Value();
  p->tensor = ggml_new_tensor_4d(p->ctx, type, dims[0], dims[1], dims[2], dims[3]);
  ggml_set_name(p->tensor, name.c_str());
  if (is_param) ggml_set_param(p->tensor);
  p->buffer = ggml_backend_alloc_ctx_tensors_from_buft(p->ctx, b->persistent_buft);
  if (!p->buffer) {
    ThrowError(env, "reasonrl native: out of memory allocating " + std::to_string(ggml_nbytes(p->tensor)) +
                        " bytes for tensor " + name + " on " + ggml_backend_buft_name(b->persistent_buft));
  }
  // On a device, ops reading a persistent tensor are placed where it lives (the
  // scheduler's rule for weights); the CPU engine keeps ggml's default placement.
  if (b->device) ggml_backend_buffer_set_usage(p->buffer, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
  ggml_backend_buffer_clear(p->buffer, 0);
  // Remember it for dispose(), dropping entries of tensors already gone now and then.
  if (b->persistents.size() >= 64 && (b->persistents.size() & (b->persistents.size() - 1)) == 0) {
    auto& list = b->persistents;
    list.erase(std::remove_if(list.begin(), list.end(), [](const auto& w) { return w.expired(); }), list.end());
  }
  b->persistents.push_back(p);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::External<PersistentRef>::New(env, new PersistentRef(p),
                                                 [](Napi::Env, PersistentRef* r) { delete r; }));
  out.Set(1u, WrapNode(env, p->tensor));
  return out;
}

// freeTensor(owner): drops this handle's reference; views keep the memory alive.
static Napi::Value FreeTensor(const Napi::CallbackInfo& info) {
  auto* ref = info[0].As<Napi::External<PersistentRef>>().Data();
  ref->reset();
  return info.Env().Undefined();
}

// writeBytes(handle, Uint8Array, byteOffset)
static Napi::Value WriteBytes(const Napi::CallbackInfo& info) {
  ggml_tensor* t = TensorArg(info[0]);
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  const size_t offset = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
  ggml_backend_tensor_set(t, bytes.Data(), offset, bytes.ByteLength());
  return info.Env().Undefined();
}

// readBytes(handle) -> ArrayBuffer (a copy)
static Napi::Value ReadBytes(const Napi::CallbackInfo& info) {
  ggml_tensor* t = TensorArg(info[0]);
  Napi::ArrayBuffer out = Napi::ArrayBuffer::New(info.Env(), ggml_nbytes(t));
  ggml_backend_tensor_get(t, out.Data(), 0, ggml_nbytes(t));
  return out;
}

// writeF32(handle, Float32Array): converts to the tensor's storage type (f32, f16, bf16,
// or q8_0, quantized here: TypeScript checked that rows hold whole blocks of 32).
static Napi::Value WriteF32(const Napi::CallbackInfo& info) {
  ggml_tensor* t = TensorArg(info[0]);
  Napi::Float32Array src = info[1].As<Napi::Float32Array>();
  const int64_t n = static_cast<int64_t>(src.ElementLength());
  if (t->type == GGML_TYPE_F32) {
    ggml_backend_tensor_set(t, src.Data(), 0, n * sizeof(float));
    return info.Env().Undefined();
  }
  if (ggml_is_quantized(t->type)) {
    std::vector<uint8_t> q(ggml_nbytes(t));
    ggml_quantize_chunk(t->type, src.Data(), q.data(), 0, n / t->ne[0], t->ne[0], nullptr);
    ggml_backend_tensor_set(t, q.data(), 0, q.size());
    return info.Env().Undefined();
  }
  std::vector<uint16_t> tmp(n);
  if (t->type == GGML_TYPE_F16) {
    ggml_fp32_to_fp16_row(src.Data(), reinterpret_cast<ggml_fp16_t*>(tmp.data()), n);
  } else {
    ggml_fp32_to_bf16_row(src.Data(), reinterpret_cast<ggml_bf16_t*>(tmp.data()), n);
  }
  ggml_backend_tensor_set(t, tmp.data(), 0, n * sizeof(uint16_t));
  return info.Env().Undefined();
}

// readF32(handle) -> Float32Array converted from the tensor's storage type.
static Napi::Value ReadF32(const Napi::CallbackInfo& info) {
  ggml_tensor* t = TensorArg(info[0]);
  const int64_t n = ggml_nelements(t);
  Napi::Float32Array out = Napi::Float32Array::New(info.Env(), n);
  if (t->type == GGML_TYPE_F32) {
    ggml_backend_tensor_get(t, out.Data(), 0, n * sizeof(float));
    return out;
  }
  std::vector<uint8_t> tmp(ggml_nbytes(t));
  ggml_backend_tensor_get(t, tmp.data(), 0, tmp.size());
  if (t->type == GGML_TYPE_F16) {
    ggml_fp16_to_fp32_row(reinterpret_cast<ggml_fp16_t*>(tmp.data()), out.Data(), n);
  } else if (t->type == GGML_TYPE_BF16) {
    ggml_bf16_to_fp32_row(reinterpret_cast<ggml_bf16_t*>(tmp.data()), out.Data(), n);
  } else {
    ggml_get_type_traits(t->type)->to_float(tmp.data(), out.Data(), n);
  }
  return out;
}

// fillZero(handle)
static Napi::Value FillZero(const Napi::CallbackInfo& info) {
  ggml_tensor* t = TensorArg(info[0]);
  ggml_backend_tensor_memset(t, 0, 0, ggml_nbytes(t));
  return info.Env().Undefined();
}

// Moves a persistent tensor from device memory to host memory, keeping its values.
// It then crosses to the device at each compute, as a graph input does.
static void MoveToHost(Napi::Env env, Backends& b, Persistent& p) {
  std::vector<uint8_t> data(ggml_nbytes(p.tensor));
  ggml_backend_tensor_get(p.tensor, data.data(), 0, data.size());
  ggml_backend_buffer_t old = p.buffer;
  p.tensor->buffer = nullptr;
  p.tensor->data = nullptr;
  p.buffer = ggml_backend_alloc_ctx_tensors_from_buft(p.ctx, ggml_backend_cpu_buffer_type());
  if (!p.buffer) {
    p.buffer = old;  // leave it where it was
    ggml_backend_tensor_alloc(old, p.tensor, ggml_backend_buffer_get_base(old));
    ThrowError(env, "reasonrl native: out of host memory moving tensor " + std::string(p.tensor->name));
  }
  ggml_backend_buffer_free(old);
  ggml_backend_tensor_set(p.tensor, data.data(), 0, data.size());
  // Graphs laid out with the tensor on the device must be split again.
  b.with_blas.allocated_for = nullptr;
  b.cpu_only.allocated_for = nullptr;
}

// view(engine, owner) -> ArrayBuffer over the tensor's host memory. A tensor in device
// memory is first moved to host memory (once): callers that write through views (the KV
// cache's index inputs and mask) keep working, and their tensors become graph inputs.
static Napi::Value View(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto b = LiveBackendsArg(info[0]);
  PersistentRef p = OwnerArg(info[1]);
  if (!p || !p->tensor) ThrowError(env, "reasonrl native: view of a freed tensor");
  if (!ggml_backend_buffer_is_host(p->buffer)) MoveToHost(env, *b, *p);
  auto* keep = new PersistentRef(p);
  p->views++;
  return Napi::ArrayBuffer::New(env, p->tensor->data, ggml_nbytes(p->tensor),
                                [](Napi::Env, void*, PersistentRef* r) {
                                  (*r)->views--;
                                  delete r;
                                },
                                keep);
}

void InitTensors(Napi::Env env, Napi::Object exports) {
  exports.Set("createTensor", Napi::Function::New(env, Guarded<CreateTensor>));
  exports.Set("freeTensor", Napi::Function::New(env, Guarded<FreeTensor>));
  exports.Set("writeBytes", Napi::Function::New(env, Guarded<WriteBytes>));
  exports.Set("readBytes", Napi::Function::New(env, Guarded<ReadBytes>));
  exports.Set("writeF32", Napi::Function::New(env, Guarded<WriteF32>));
  exports.Set("readF32", Napi::Function::New(env, Guarded<ReadF32>));
  exports.Set("fillZero", Napi::Function::New(env, Guarded<FillZero>));
  exports.Set("view", Napi::Function::New(env, Guarded<View>));
}
