// Module entry: an engine's backends (CPU, optional BLAS, optional GPU device), thread
// count, dispose, logging, helpers.
#include "addon.h"

#ifdef REASONRL_BLAS
#include "ggml-blas.h"
#endif

#include <cstdio>
#include <cstdlib>

void Backends::Dispose() {
  disposed = true;
  for (auto& weak : persistents) {
    if (auto p = weak.lock()) p->Release();
  }
  persistents.clear();
  for (Scheduler* s : {&with_blas, &cpu_only}) {
    if (s->sched) ggml_backend_sched_free(s->sched);
    s->sched = nullptr;
    s->allocated_for = nullptr;
  }
  for (ggml_backend_t* b : {&device, &blas, &cpu}) {
    if (*b) ggml_backend_free(*b);
    *b = nullptr;
  }
  persistent_buft = nullptr;
}

Backends::~Backends() { Dispose(); }

std::mutex& ComputeMutex() {
  static std::mutex m;
  return m;
}

void ThrowError(Napi::Env env, const std::string& message) {
  throw Napi::Error::New(env, message);
}

ggml_tensor* TensorArg(const Napi::Value& value) {
  if (!value.IsExternal()) ThrowError(value.Env(), "reasonrl native: expected a tensor handle");
  return value.As<Napi::External<ggml_tensor>>().Data();
}

Napi::Value WrapNode(Napi::Env env, ggml_tensor* t) {
  return Napi::External<ggml_tensor>::New(env, t);
}

std::shared_ptr<Backends> BackendsArg(const Napi::Value& value) {
  if (!value.IsExternal()) ThrowError(value.Env(), "reasonrl native: expected an engine handle");
  return *value.As<Napi::External<std::shared_ptr<Backends>>>().Data();
}

std::shared_ptr<Backends> LiveBackendsArg(const Napi::Value& value) {
  auto b = BackendsArg(value);
  if (b->disposed) ThrowError(value.Env(), "reasonrl native: the engine was disposed");
  return b;
}

// ggml logs warnings and errors through this callback; we forward them to
// stderr only when REASONRL_GGML_LOG is set, so normal runs stay quiet.
static void LogCallback(ggml_log_level level, const char* text, void*) {
  static const bool verbose = std::getenv("REASONRL_GGML_LOG") != nullptr;
  if (verbose || level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

// A scheduler over `list` (CPU last); backends earlier in the list are preferred.
static ggml_backend_sched_t NewScheduler(Napi::Env env, std::vector<ggml_backend_t> list, size_t max_nodes) {
  ggml_backend_sched_t s =
      ggml_backend_sched_new(list.data(), nullptr, static_cast<int>(list.size()), max_nodes, false, false);
  if (!s) ThrowError(env, "reasonrl native: could not create the backend scheduler");
  return s;
}

// createBackends(nThreads, maxNodes, useBlas, gpuIndex) -> engine handle. gpuIndex is an
// index into ggml's device registry (a GPU from listDevices()), or -1 for the CPU alone.
static Napi::Value CreateBackends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto b = std::make_shared<Backends>();
  b->n_threads = info[0].As<Napi::Number>().Int32Value();
  b->max_nodes = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  const bool want_blas = info[2].As<Napi::Boolean>().Value();
  const int gpu = info[3].As<Napi::Number>().Int32Value();
  b->cpu = ggml_backend_cpu_init();
  if (!b->cpu) ThrowError(env, "reasonrl native: could not initialise the ggml CPU backend");
  ggml_backend_cpu_set_n_threads(b->cpu, b->n_threads);
  b->persistent_buft = ggml_backend_get_default_buffer_type(b->cpu);
  if (gpu >= 0) {
    ggml_backend_dev_t dev = GpuDeviceArg(env, gpu);
    b->device = ggml_backend_dev_init(dev, nullptr);
    if (!b->device) ThrowError(env, std::string("reasonrl native: could not initialise device ") + ggml_backend_dev_name(dev));
    b->persistent_buft = ggml_backend_get_default_buffer_type(b->device);
  }
#ifdef REASONRL_BLAS
  // Next to a device, matrix products run there: BLAS would only take the CPU's fallbacks.
  if (want_blas && !b->device) {
    b->blas = ggml_backend_blas_init();
    if (b->blas) ggml_backend_blas_set_n_threads(b->blas, b->n_threads);
  }
#else
  (void)want_blas;
#endif
  // The device (when there is one) takes every op it supports; BLAS takes the matrix
  // products (mul_mat and the out_prod of their backward); the CPU backend the rest.
  std::vector<ggml_backend_t> list;
  if (b->device) list.push_back(b->device);
  list.push_back(b->cpu);
  b->cpu_only.sched = NewScheduler(env, list, b->max_nodes);
  if (b->blas) b->with_blas.sched = NewScheduler(env, {b->blas, b->cpu}, b->max_nodes);
  return Napi::External<std::shared_ptr<Backends>>::New(
      env, new std::shared_ptr<Backends>(b),
      [](Napi::Env, std::shared_ptr<Backends>* p) { delete p; });
}

// dispose(engine): waits for a running graph, then frees every tensor and the backends.
static Napi::Value Dispose(const Napi::CallbackInfo& info) {
  auto b = BackendsArg(info[0]);
  std::lock_guard<std::mutex> lock(ComputeMutex());
  b->Dispose();
  return info.Env().Undefined();
}

static Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  auto b = LiveBackendsArg(info[0]);
  b->n_threads = info[1].As<Napi::Number>().Int32Value();
  ggml_backend_cpu_set_n_threads(b->cpu, b->n_threads);
#ifdef REASONRL_BLAS
  if (b->blas) ggml_backend_blas_set_n_threads(b->blas, b->n_threads);
#endif
  return info.Env().Undefined();
}

static Napi::Value BackendInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto b = BackendsArg(info[0]);
  Napi::Object o = Napi::Object::New(env);
  o.Set("threads", b->n_threads);
  o.Set("blas", b->blas != nullptr);
  o.Set("maxNodes", static_cast<double>(b->max_nodes));
  Napi::Array names = Napi::Array::New(env);
  uint32_t i = 0;
  if (b->device) names.Set(i++, ggml_backend_name(b->device));
  if (b->blas) names.Set(i++, ggml_backend_name(b->blas));
  if (b->cpu) names.Set(i++, ggml_backend_name(b->cpu));
  o.Set("backends", names);
  return o;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  ggml_log_set(LogCallback, nullptr);
  exports.Set("createBackends", Napi::Function::New(env, Guarded<CreateBackends>));
  exports.Set("setThreads", Napi::Function::New(env, Guarded<SetThreads>));
  exports.Set("backendInfo", Napi::Function::New(env, Guarded<BackendInfo>));
  exports.Set("dispose", Napi::Function::New(env, Guarded<Dispose>));
#ifdef REASONRL_BLAS
  exports.Set("hasBlas", Napi::Boolean::New(env, true));
#else
  exports.Set("hasBlas", Napi::Boolean::New(env, false));
#endif
  InitDevices(env, exports);
  InitTensors(env, exports);
  InitGraph(env, exports);
  InitOps(env, exports);
  return exports;
}

NODE_API_MODULE(reasonrl, Init)
