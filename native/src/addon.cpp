// Module entry: backends (CPU, optional BLAS), thread count, logging, helpers.
#include "addon.h"

#ifdef REASONRL_BLAS
#include "ggml-blas.h"
#endif

#include <cstdio>
#include <cstdlib>

Backends::~Backends() {
  if (with_blas.sched) ggml_backend_sched_free(with_blas.sched);
  if (cpu_only.sched) ggml_backend_sched_free(cpu_only.sched);
  if (blas) ggml_backend_free(blas);
  if (cpu) ggml_backend_free(cpu);
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

// ggml logs warnings and errors through this callback; we forward them to
// stderr only when REASONRL_GGML_LOG is set, so normal runs stay quiet.
static void LogCallback(ggml_log_level level, const char* text, void*) {
  static const bool verbose = std::getenv("REASONRL_GGML_LOG") != nullptr;
  if (verbose || level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

// createBackends(nThreads, maxNodes, useBlas) -> engine handle
static Napi::Value CreateBackends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto b = std::make_shared<Backends>();
  b->n_threads = info[0].As<Napi::Number>().Int32Value();
  b->max_nodes = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  const bool want_blas = info[2].As<Napi::Boolean>().Value();
  b->cpu = ggml_backend_cpu_init();
  if (!b->cpu) ThrowError(env, "reasonrl native: could not initialise the ggml CPU backend");
  ggml_backend_cpu_set_n_threads(b->cpu, b->n_threads);
#ifdef REASONRL_BLAS
  if (want_blas) {
    b->blas = ggml_backend_blas_init();
    if (b->blas) ggml_backend_blas_set_n_threads(b->blas, b->n_threads);
  }
#else
  (void)want_blas;
#endif
  // Backends earlier in the list are preferred: BLAS takes the matrix products
  // (mul_mat and the out_prod of their backward), the CPU backend the rest.
  b->cpu_only.sched = ggml_backend_sched_new(&b->cpu, nullptr, 1, b->max_nodes, false, false);
  if (!b->cpu_only.sched) ThrowError(env, "reasonrl native: could not create the backend scheduler");
  if (b->blas) {
    ggml_backend_t list[2] = {b->blas, b->cpu};
    b->with_blas.sched = ggml_backend_sched_new(list, nullptr, 2, b->max_nodes, false, false);
    if (!b->with_blas.sched) ThrowError(env, "reasonrl native: could not create the backend scheduler");
  }
  return Napi::External<std::shared_ptr<Backends>>::New(
      env, new std::shared_ptr<Backends>(b),
      [](Napi::Env, std::shared_ptr<Backends>* p) { delete p; });
}

static Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  auto b = BackendsArg(info[0]);
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
  if (b->blas) names.Set(i++, ggml_backend_name(b->blas));
  names.Set(i++, ggml_backend_name(b->cpu));
  o.Set("backends", names);
  return o;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  ggml_log_set(LogCallback, nullptr);
  exports.Set("createBackends", Napi::Function::New(env, CreateBackends));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("backendInfo", Napi::Function::New(env, BackendInfo));
#ifdef REASONRL_BLAS
  exports.Set("hasBlas", Napi::Boolean::New(env, true));
#else
  exports.Set("hasBlas", Napi::Boolean::New(env, false));
#endif
  InitTensors(env, exports);
  InitGraph(env, exports);
  InitOps(env, exports);
  return exports;
}

NODE_API_MODULE(reasonrl, Init)
