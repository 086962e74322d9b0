// Graphs: a context for op tensors, forward and backward construction, and
// compute on a libuv worker thread so the JS main thread stays responsive.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <map>

#include "addon.h"

// REASONRL_PROFILE=1 times every node (computed one at a time, so totals are
// slower than a normal run) and prints the time per op and backend at exit, then,
// for engines on a GPU device, every op that fell back to the CPU with its time.
namespace profile {
using Clock = std::chrono::steady_clock;
struct Row {
  double ms = 0;
  int count = 0;
};
static std::map<std::string, Row> totals;
static std::map<std::string, Row> fallbacks;  // op -> time on the CPU while a device was in use
static Clock::time_point last;
static bool device_in_use = false;

static bool Enabled() {
  static const bool on = std::getenv("REASONRL_PROFILE") != nullptr;
  return on;
}

static void PrintRows(const std::map<std::string, Row>& rows_by_key, double all) {
  std::vector<std::pair<double, std::string>> rows;
  for (auto& [k, v] : rows_by_key) rows.push_back({v.ms, k});
  std::sort(rows.rbegin(), rows.rend());
  for (auto& [v, k] : rows) {
    std::fprintf(stderr, "  %10.1f ms  %5.1f%%  x%-6d %s\n", v, 100 * v / all, rows_by_key.at(k).count, k.c_str());
  }
}

static void Print() {
  double all = 0;
  for (auto& [k, v] : totals) all += v.ms;
  std::fprintf(stderr, "reasonrl profile: %.1f ms in nodes\n", all);
  PrintRows(totals, all);
  if (!device_in_use) return;
  double cpu = 0;
  for (auto& [k, v] : fallbacks) cpu += v.ms;
  std::fprintf(stderr, "reasonrl profile: %zu op kinds fell back to the CPU next to the device (%.1f ms)%s\n",
               fallbacks.size(), cpu, fallbacks.empty() ? "" : ":");
  PrintRows(fallbacks, all);
}

static bool OnDevice(ggml_backend_t be) {
  ggml_backend_dev_t dev = be ? ggml_backend_get_device(be) : nullptr;
  if (!dev) return false;
  const auto type = ggml_backend_dev_type(dev);
  return type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU;
}

static bool Callback(ggml_tensor* t, bool ask, void* user_data) {
  auto* sched = static_cast<ggml_backend_sched_t>(user_data);
  if (ask) return true;
  auto now = Clock::now();
  const double ms = std::chrono::duration<double, std::milli>(now - last).count();
  ggml_backend_t be = ggml_backend_sched_get_tensor_backend(sched, t);
  Row& row = totals[std::string(ggml_op_desc(t)) + " @" + (be ? ggml_backend_name(be) : "?")];
  row.ms += ms;
  row.count++;
  // A node on the CPU in a scheduler whose first backend is a GPU is a fallback.
  if (OnDevice(ggml_backend_sched_get_backend(sched, 0)) && !OnDevice(be)) {
    Row& f = fallbacks[ggml_op_desc(t)];
    f.ms += ms;
    f.count++;
  }
  last = now;
  return true;
}

static void Attach(ggml_backend_sched_t sched) {
  static bool registered = false;
  if (!registered) std::atexit(Print), registered = true;
  if (OnDevice(ggml_backend_sched_get_backend(sched, 0))) device_in_use = true;
  ggml_backend_sched_set_eval_callback(sched, Callback, sched);
  last = Clock::now();
}
}  // namespace profile

// The first op of `graph` that writes into a persistent tensor in the device's memory
// but that the device cannot run, or null. ggml's scheduler aborts the process on those
// (it cannot move such an op to the CPU), so they become an error here instead.
static ggml_tensor* UnplaceableOp(const Backends& b, ggml_cgraph* graph) {
  if (!b.device) return nullptr;
  for (int i = 0; i < ggml_graph_n_nodes(graph); i++) {
    ggml_tensor* node = ggml_graph_node(graph, i);
    ggml_backend_buffer_t buf = node->view_src ? node->view_src->buffer : node->buffer;
    if (buf && !ggml_backend_buffer_is_host(buf) && !ggml_backend_supports_op(b.device, node)) return node;
  }
  return nullptr;
}

// Makes sure no scheduler still points at `g` as the graph it is laid out for.
static void Forget(Graph* g) {
  for (Scheduler* s : {&g->backends->with_blas, &g->backends->cpu_only}) {
    if (s->allocated_for == g) s->allocated_for = nullptr;
  }
}

Graph::~Graph() {
  if (backends) Forget(this);
  if (ctx) ggml_free(ctx);
}

Graph* GraphArg(const Napi::Value& value) {
  if (!value.IsExternal()) ThrowError(value.Env(), "reasonrl native: expected a graph handle");
  return value.As<Napi::External<Graph>>().Data();
}

// newGraph(engine, capacity) -> graph handle. `capacity` bounds both the op
// tensors of the context and the nodes of the graph; TypeScript enforces it.
static Napi::Value NewGraph(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* g = new Graph();
  g->backends = LiveBackendsArg(info[0]);
  const size_t capacity = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  ggml_init_params params = {ggml_tensor_overhead() * capacity + ggml_graph_overhead_custom(capacity, true),
                             nullptr, /*no_alloc=*/true};
  g->ctx = ggml_init(params);
  if (!g->ctx) {
    delete g;
    ThrowError(env, "reasonrl native: ggml_init failed for a graph context");
  }
  g->cgraph = ggml_new_graph_custom(g->ctx, capacity, /*grads=*/true);
  return Napi::External<Graph>::New(env, g, [](Napi::Env, Graph* p) { delete p; });
}

// freeGraph(graph): releases the context early (the finalizer is then a no-op).
static Napi::Value FreeGraph(const Napi::CallbackInfo& info) {
  Graph* g = GraphArg(info[0]);
  Forget(g);
  if (g->ctx) ggml_free(g->ctx);
  g->ctx = nullptr;
  g->cgraph = nullptr;
  g->outputs.clear();
  return info.Env().Undefined();
}

// buildForward(graph, outputs[], loss|null, effects[]): marks outputs (kept and
// copied back after compute) and the scalar loss, and expands the graph from
// them and from `effects`, nodes computed for their in-place writes.
static Napi::Value BuildForward(const Napi::CallbackInfo& info) {
  Graph* g = GraphArg(info[0]);
  Napi::Array outs = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < outs.Length(); i++) {
    ggml_tensor* t = TensorArg(outs.Get(i));
    ggml_set_output(t);
    g->outputs.push_back(t);
    ggml_build_forward_expand(g->cgraph, t);
  }
  if (!info[2].IsNull()) {
    ggml_tensor* loss = TensorArg(info[2]);
    ggml_set_loss(loss);
    ggml_build_forward_expand(g->cgraph, loss);
  }
  Napi::Array effects = info[3].As<Napi::Array>();
  for (uint32_t i = 0; i < effects.Length(); i++) ggml_build_forward_expand(g->cgraph, TensorArg(effects.Get(i)));
  return info.Env().Undefined();
}

// buildBackward(graph, params[], accumulators[], lossSeed): adds the backward
// pass. Each parameter's gradient is added in place into its persistent
// accumulator (so gradients survive later graphs and sum over micro-batches);
// `lossSeed` is a persistent scalar holding 1, the gradient of the loss.
static Napi::Value BuildBackward(const Napi::CallbackInfo& info) {
  Graph* g = GraphArg(info[0]);
  Napi::Array params = info[1].As<Napi::Array>();
  Napi::Array accs = info[2].As<Napi::Array>();
  ggml_tensor* seed = TensorArg(info[3]);
  ggml_cgraph* gf = g->cgraph;
  const int n_nodes = ggml_graph_n_nodes(gf);
  std::vector<ggml_tensor*> grad_accs(n_nodes, nullptr);
  for (int i = 0; i < n_nodes; i++) {
    ggml_tensor* node = ggml_graph_node(gf, i);
    // Work around a ggml allocator bug: SOFT_MAX_BACK may be given its input's
    // memory and then read overwritten values. Keeping softmax outputs alive fixes it.
    if (node->op == GGML_OP_SOFT_MAX) ggml_set_output(node);
    if (node->flags & GGML_TENSOR_FLAG_LOSS) grad_accs[i] = seed;
    for (uint32_t j = 0; j < params.Length(); j++) {
      if (TensorArg(params.Get(j)) == node) grad_accs[i] = TensorArg(accs.Get(j));
    }
  }
  // See native/patches/0001: 2-D out_prod is fast only on the BLAS backend.
  ggml_reasonrl_out_prod_2d = g->backends->blas != nullptr;
  ggml_build_backward_expand(g->ctx, gf, grad_accs.data());
  return info.Env().Undefined();
}

// useBlas(graph, bool): whether the graph runs on the BLAS + CPU scheduler.
static Napi::Value UseBlas(const Napi::CallbackInfo& info) {
  GraphArg(info[0])->use_blas = info[1].As<Napi::Boolean>().Value();
  return info.Env().Undefined();
}

static Napi::Value NodeCount(const Napi::CallbackInfo& info) {
  Graph* g = GraphArg(info[0]);
  return Napi::Number::New(info.Env(), ggml_graph_n_nodes(g->cgraph));
}

// The scheduler's buffers are shared by every graph of an engine, so the
// addresses a graph's tensors got at its last compute may now belong to
// another graph. Clearing them makes the allocator place them afresh (a
// tensor with data looks pre-allocated to it, and pins its op to the CPU
// backend). Views are re-derived from their sources.
static void ForgetAllocation(ggml_context* ctx) {
  for (ggml_tensor* t = ggml_get_first_tensor(ctx); t; t = ggml_get_next_tensor(ctx, t)) {
    t->data = nullptr;
    t->buffer = nullptr;
  }
}

// Runs one graph on the scheduler off the main thread, then copies every
// output to host memory before the next graph can reuse the compute buffers.
class ComputeWorker : public Napi::AsyncWorker {
 public:
  ComputeWorker(Napi::Env env, Graph* graph, Napi::Object keep)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), graph_(graph) {
    keep_ = Napi::Persistent(keep);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    auto& b = *graph_->backends;
    std::lock_guard<std::mutex> lock(ComputeMutex());
    if (b.disposed) {
      SetError("the engine was disposed before this graph could compute");
      return;
    }
    // Graphs without large products skip the BLAS backend: decoding one token ran at
    // 72-83 tokens/s through the BLAS+CPU scheduler, 99-108 through the CPU one.
    Scheduler& s = graph_->use_blas && b.with_blas.sched ? b.with_blas : b.cpu_only;
    // A graph computed again right after itself keeps its allocation (a decoding loop):
    // 0.09-0.19 ms instead of 0.37 ms per compute of an 800-node graph.
    if (s.allocated_for != graph_) {
      s.allocated_for = nullptr;
      ggml_backend_sched_reset(s.sched);
      ForgetAllocation(graph_->ctx);
      if (ggml_tensor* op = UnplaceableOp(b, graph_->cgraph)) {
        SetError(std::string("device ") + ggml_backend_name(b.device) + " cannot run " + ggml_op_desc(op) +
                 " (" + ggml_type_name(op->type) + ") writing into tensor '" +
                 (op->view_src ? op->view_src->name : op->name) + "' in its memory; use the cpu device");
        return;
      }
      if (!ggml_backend_sched_alloc_graph(s.sched, graph_->cgraph)) {
        SetError("ggml could not allocate the graph's compute buffers (out of memory?)");
        return;
      }
      s.allocated_for = graph_;
    }
    if (profile::Enabled()) profile::Attach(s.sched);
    const ggml_status status = ggml_backend_sched_graph_compute(s.sched, graph_->cgraph);
    if (status != GGML_STATUS_SUCCESS) {
      SetError(std::string("ggml graph compute failed: ") + ggml_status_to_string(status));
      return;
    }
    results_.resize(graph_->outputs.size());
    for (size_t i = 0; i < graph_->outputs.size(); i++) {
      ggml_tensor* t = graph_->outputs[i];
      results_[i].resize(ggml_nbytes(t));
      ggml_backend_tensor_get(t, results_[i].data(), 0, ggml_nbytes(t));
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Array out = Napi::Array::New(env, results_.size());
    for (size_t i = 0; i < results_.size(); i++) {
      // Hand the bytes to JS without another copy: the ArrayBuffer owns the vector.
      auto* bytes = new std::vector<uint8_t>(std::move(results_[i]));
      Napi::ArrayBuffer ab =
          bytes->empty() ? Napi::ArrayBuffer::New(env, 0)
                         : Napi::ArrayBuffer::New(env, bytes->data(), bytes->size(),
                                                  [](Napi::Env, void*, std::vector<uint8_t>* v) { delete v; }, bytes);
      if (bytes->empty()) delete bytes;
      out.Set(static_cast<uint32_t>(i), ab);
    }
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Graph* graph_;
  Napi::ObjectReference keep_;  // keeps the graph handle (and its context) alive
  std::vector<std::vector<uint8_t>> results_;
};

// compute(graph, keepAlive) -> Promise<ArrayBuffer[]> holding the outputs in order.
static Napi::Value Compute(const Napi::CallbackInfo& info) {
  Graph* g = GraphArg(info[0]);
  auto* worker = new ComputeWorker(info.Env(), g, info[1].As<Napi::Object>());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

void InitGraph(Napi::Env env, Napi::Object exports) {
  exports.Set("newGraph", Napi::Function::New(env, Guarded<NewGraph>));
  exports.Set("freeGraph", Napi::Function::New(env, Guarded<FreeGraph>));
  exports.Set("buildForward", Napi::Function::New(env, Guarded<BuildForward>));
  exports.Set("buildBackward", Napi::Function::New(env, Guarded<BuildBackward>));
  exports.Set("nodeCount", Napi::Function::New(env, Guarded<NodeCount>));
  exports.Set("useBlas", Napi::Function::New(env, Guarded<UseBlas>));
  exports.Set("compute", Napi::Function::New(env, Guarded<Compute>));
}
