// What the build and the machine offer: the backends compiled in (ggml's backend
// registry, filled at link time by the static libraries) and their GPU devices.
#include "addon.h"

namespace {

bool IsGpu(ggml_backend_dev_t dev) {
  const auto type = ggml_backend_dev_type(dev);
  return type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU;
}

// compiledBackends() -> string[]: the registry's backends, e.g. ["CPU", "BLAS", "Vulkan"].
Napi::Value CompiledBackends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  for (size_t i = 0; i < ggml_backend_reg_count(); i++) {
    out.Set(static_cast<uint32_t>(i), ggml_backend_reg_name(ggml_backend_reg_get(i)));
  }
  return out;
}

// gpuDevices() -> [{ index, backend, name, description, memoryFree, memoryTotal, integrated }]:
// every GPU of the registry (index is its registry index, for createBackends).
Napi::Value GpuDevices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    if (!IsGpu(dev)) continue;
    size_t free = 0, total = 0;
    ggml_backend_dev_memory(dev, &free, &total);
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", static_cast<double>(i));
    o.Set("backend", ggml_backend_reg_name(ggml_backend_dev_backend_reg(dev)));
    o.Set("name", ggml_backend_dev_name(dev));
    o.Set("description", ggml_backend_dev_description(dev));
    o.Set("memoryFree", static_cast<double>(free));
    o.Set("memoryTotal", static_cast<double>(total));
    o.Set("integrated", ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_IGPU);
    out.Set(n++, o);
  }
  return out;
}

}  // namespace

ggml_backend_dev_t GpuDeviceArg(Napi::Env env, int index) {
  if (index < 0 || static_cast<size_t>(index) >= ggml_backend_dev_count() || !IsGpu(ggml_backend_dev_get(index))) {
    ThrowError(env, "reasonrl native: no GPU device at registry index " + std::to_string(index));
  }
  return ggml_backend_dev_get(index);
}

void InitDevices(Napi::Env env, Napi::Object exports) {
  exports.Set("compiledBackends", Napi::Function::New(env, Guarded<CompiledBackends>));
  exports.Set("gpuDevices", Napi::Function::New(env, Guarded<GpuDevices>));
}
