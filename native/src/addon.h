// Shared declarations of the reasonrl Node-API addon over ggml.
//
// The addon is deliberately thin: TypeScript (src/engine) checks every shape,
// dtype and lifetime before it calls in here, because a failed GGML_ASSERT
// aborts the whole process. What remains here is glue: backends, persistent
// tensors, graph contexts, asynchronous compute.
#pragma once

#include <napi.h>

#include <memory>
#include <exception>
#include <mutex>
#include <string>
#include <vector>

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"

// One scheduler and the graph its buffers are laid out for (computed last), or null.
struct Scheduler {
  ggml_backend_sched_t sched = nullptr;
  const struct Graph* allocated_for = nullptr;
};

struct Persistent;

// The backends of one engine and the schedulers that split graphs between them.
// With a GPU device, persistent tensors live in its memory and the scheduler runs
// each op there, falling back to the CPU for ops the device lacks.
struct Backends {
  ggml_backend_t device = nullptr;  // the GPU backend, or null for a CPU engine
  ggml_backend_t cpu = nullptr;
  ggml_backend_t blas = nullptr;  // null when built without BLAS (never used next to a device)
  ggml_backend_buffer_type_t persistent_buft = nullptr;  // where persistent tensors are allocated
  Scheduler with_blas;            // [device,] BLAS, CPU (when BLAS is present)
  Scheduler cpu_only;             // [device,] CPU: graphs of small products skip the BLAS backend's overhead
  size_t max_nodes = 0;
  int n_threads = 1;
  bool disposed = false;
  std::vector<std::weak_ptr<Persistent>> persistents;  // freed by Dispose()
  // Frees every persistent tensor (but those a JS view still reads) and the backends.
  void Dispose();
  ~Backends();
};

// A tensor that outlives graphs: a parameter, an input or a constant. It owns a
// one-tensor ggml context and the backend buffer holding its data. Shared
// ownership lets a zero-copy JS view keep the memory alive after free().
struct Persistent {
  ggml_context* ctx = nullptr;
  ggml_backend_buffer_t buffer = nullptr;
  ggml_tensor* tensor = nullptr;
  int views = 0;  // live zero-copy JS views of its (host) memory
  void Release();
  ~Persistent();
};
using PersistentRef = std::shared_ptr<Persistent>;

// A graph under construction or built: its own context holds every op tensor.
struct Graph {
  std::shared_ptr<Backends> backends;
  bool use_blas = true;  // set by TypeScript from the sizes of the graph's products
  ggml_context* ctx = nullptr;
  ggml_cgraph* cgraph = nullptr;
  std::vector<ggml_tensor*> outputs;
  ~Graph();
};

// Held while a graph computes (one at a time per process: ggml's CPU threadpool is
// shared); Dispose() takes it too, so it waits for a running graph.
std::mutex& ComputeMutex();

// Throws a JS Error carrying `message` (used for the few checks kept native-side).
[[noreturn]] void ThrowError(Napi::Env env, const std::string& message);

// Wraps an addon function so that a C++ exception from ggml (the Vulkan backend throws
// on driver errors) becomes a JS Error instead of terminating the process.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    ThrowError(info.Env(), std::string("reasonrl native: ggml failed: ") + e.what());
  }
}

// Handle unwrapping helpers.
ggml_tensor* TensorArg(const Napi::Value& value);
Graph* GraphArg(const Napi::Value& value);
std::shared_ptr<Backends> BackendsArg(const Napi::Value& value);
std::shared_ptr<Backends> LiveBackendsArg(const Napi::Value& value);  // throws once disposed
ggml_backend_dev_t GpuDeviceArg(Napi::Env env, int index);  // a GPU of ggml's device registry
Napi::Value WrapNode(Napi::Env env, ggml_tensor* t);

// Registration of each part of the API.
void InitDevices(Napi::Env env, Napi::Object exports);
void InitTensors(Napi::Env env, Napi::Object exports);
void InitGraph(Napi::Env env, Napi::Object exports);
void InitOps(Napi::Env env, Napi::Object exports);
