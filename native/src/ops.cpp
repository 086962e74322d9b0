// Graph ops: one generic entry point, op(graph, name, srcs, ints, floats),
// dispatching to ggml. TypeScript has already checked every shape and dtype
// (src/engine/ops.ts), so each case only translates arguments.
#include <functional>
#include <unordered_map>

#include "addon.h"

namespace {

struct OpArgs {
  ggml_context* ctx;
  std::vector<ggml_tensor*> src;
  std::vector<int64_t> i;
  std::vector<float> f;
};

using OpFn = std::function<ggml_tensor*(const OpArgs&)>;

const std::unordered_map<std::string, OpFn>& OpTable() {
  static const std::unordered_map<std::string, OpFn> table = {
      // elementwise, with broadcasting of the second operand
      {"add", [](const OpArgs& a) { return ggml_add(a.ctx, a.src[0], a.src[1]); }},
      {"sub", [](const OpArgs& a) { return ggml_sub(a.ctx, a.src[0], a.src[1]); }},
      {"mul", [](const OpArgs& a) { return ggml_mul(a.ctx, a.src[0], a.src[1]); }},
      {"div", [](const OpArgs& a) { return ggml_div(a.ctx, a.src[0], a.src[1]); }},
      {"scale", [](const OpArgs& a) { return ggml_scale_bias(a.ctx, a.src[0], a.f[0], a.f[1]); }},
      {"neg", [](const OpArgs& a) { return ggml_neg(a.ctx, a.src[0]); }},
      {"sqr", [](const OpArgs& a) { return ggml_sqr(a.ctx, a.src[0]); }},
      {"sqrt", [](const OpArgs& a) { return ggml_sqrt(a.ctx, a.src[0]); }},
      {"exp", [](const OpArgs& a) { return ggml_exp(a.ctx, a.src[0]); }},
      {"log", [](const OpArgs& a) { return ggml_log(a.ctx, a.src[0]); }},
      {"silu", [](const OpArgs& a) { return ggml_silu(a.ctx, a.src[0]); }},
      {"step", [](const OpArgs& a) { return ggml_step(a.ctx, a.src[0]); }},
      {"swiglu", [](const OpArgs& a) { return ggml_swiglu_split(a.ctx, a.src[0], a.src[1]); }},
      // reductions
      {"sum", [](const OpArgs& a) { return ggml_sum(a.ctx, a.src[0]); }},
      {"sumRows", [](const OpArgs& a) { return ggml_sum_rows(a.ctx, a.src[0]); }},
      {"argmax", [](const OpArgs& a) { return ggml_argmax(a.ctx, a.src[0]); }},
      {"repeat", [](const OpArgs& a) { return ggml_repeat(a.ctx, a.src[0], a.src[1]); }},
      {"repeat4d",
       [](const OpArgs& a) { return ggml_repeat_4d(a.ctx, a.src[0], a.i[0], a.i[1], a.i[2], a.i[3]); }},
      // matrix products: mulMat(a[.., n, k], b[.., m, k]) -> [.., m, n]
      {"mulMat", [](const OpArgs& a) { return ggml_mul_mat(a.ctx, a.src[0], a.src[1]); }},
      // shapes
      {"reshape",
       [](const OpArgs& a) { return ggml_reshape_4d(a.ctx, a.src[0], a.i[0], a.i[1], a.i[2], a.i[3]); }},
      {"permute",
       [](const OpArgs& a) {
         return ggml_permute(a.ctx, a.src[0], static_cast<int>(a.i[0]), static_cast<int>(a.i[1]),
                             static_cast<int>(a.i[2]), static_cast<int>(a.i[3]));
       }},
      {"transpose", [](const OpArgs& a) { return ggml_transpose(a.ctx, a.src[0]); }},
      {"cont", [](const OpArgs& a) { return ggml_cont(a.ctx, a.src[0]); }},
      {"view",  // ints: ne0..ne3, nb1..nb3 (bytes), offset (bytes)
       [](const OpArgs& a) {
         return ggml_view_4d(a.ctx, a.src[0], a.i[0], a.i[1], a.i[2], a.i[3], static_cast<size_t>(a.i[4]),
                             static_cast<size_t>(a.i[5]), static_cast<size_t>(a.i[6]),
                             static_cast<size_t>(a.i[7]));
       }},
      {"cast", [](const OpArgs& a) { return ggml_cast(a.ctx, a.src[0], static_cast<ggml_type>(a.i[0])); }},
      // neural-network layers
      {"getRows", [](const OpArgs& a) { return ggml_get_rows(a.ctx, a.src[0], a.src[1]); }},
      {"rmsNorm", [](const OpArgs& a) { return ggml_rms_norm(a.ctx, a.src[0], a.f[0]); }},
      {"rope",  // ints: nDims, mode, nCtxOrig; floats: theta, freqScale
       [](const OpArgs& a) {
         return ggml_rope_ext(a.ctx, a.src[0], a.src[1], nullptr, static_cast<int>(a.i[0]),
                              static_cast<int>(a.i[1]), static_cast<int>(a.i[2]), a.f[0], a.f[1], 0.0f, 1.0f,
                              0.0f, 0.0f);
       }},
      {"diagMaskInf",
       [](const OpArgs& a) { return ggml_diag_mask_inf(a.ctx, a.src[0], static_cast<int>(a.i[0])); }},
      {"softmax",  // optional mask as src[1]; floats: scale
       [](const OpArgs& a) {
         return ggml_soft_max_ext(a.ctx, a.src[0], a.src.size() > 1 ? a.src[1] : nullptr, a.f[0], 0.0f);
       }},
      // in-place writes
      {"setRows", [](const OpArgs& a) { return ggml_set_rows(a.ctx, a.src[0], a.src[1], a.src[2]); }},
      // optimizer
      {"adamw",
       [](const OpArgs& a) { return ggml_opt_step_adamw(a.ctx, a.src[0], a.src[1], a.src[2], a.src[3], a.src[4]); }},
  };
  return table;
}

// op(graph, name, srcs[], ints[], floats[]) -> [handle, type, ne0, ne1, ne2, ne3, layout]
// where layout is 0 contiguous, 1 strided with adjacent row elements, 2 row
// elements not adjacent (transposed or permuted; matrix products refuse those).
Napi::Value Op(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Graph* g = GraphArg(info[0]);
  if (!g->ctx) ThrowError(env, "reasonrl native: graph was freed");
  const std::string name = info[1].As<Napi::String>().Utf8Value();
  auto it = OpTable().find(name);
  if (it == OpTable().end()) ThrowError(env, "reasonrl native: unknown op " + name);
  OpArgs args{g->ctx, {}, {}, {}};
  Napi::Array srcs = info[2].As<Napi::Array>();
  for (uint32_t i = 0; i < srcs.Length(); i++) args.src.push_back(TensorArg(srcs.Get(i)));
  Napi::Array ints = info[3].As<Napi::Array>();
  for (uint32_t i = 0; i < ints.Length(); i++) args.i.push_back(ints.Get(i).As<Napi::Number>().Int64Value());
  Napi::Array floats = info[4].As<Napi::Array>();
  for (uint32_t i = 0; i < floats.Length(); i++) args.f.push_back(floats.Get(i).As<Napi::Number>().FloatValue());
  ggml_tensor* t = it->second(args);
  Napi::Array out = Napi::Array::New(env, 7);
  out.Set(0u, WrapNode(env, t));
  out.Set(1u, static_cast<double>(t->type));
  for (uint32_t d = 0; d < 4; d++) out.Set(2 + d, static_cast<double>(t->ne[d]));
  // Contiguity is judged strictly, size-1 dims included: ggml_is_contiguous()
  // skips those, but several kernels assert on their strides.
  const bool strict = t->nb[0] == ggml_type_size(t->type) && t->nb[1] == t->nb[0] * t->ne[0] &&
                      t->nb[2] == t->nb[1] * t->ne[1] && t->nb[3] == t->nb[2] * t->ne[2];
  out.Set(6u, t->nb[0] != ggml_type_size(t->type) ? 2 : strict ? 0 : 1);
  return out;
}

}  // namespace

void InitOps(Napi::Env env, Napi::Object exports) { exports.Set("op", Napi::Function::New(env, Guarded<Op>)); }
