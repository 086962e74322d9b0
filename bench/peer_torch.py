"""The PyTorch side of `reasonrl bench engine --peer torch` (driven by bench/peer-torch.ts).

The same training step as ours, in PyTorch: a Llama/Qwen2-style decoder
(RMSNorm, rotary attention with grouped KV heads, SwiGLU MLP, optional q/k/v
biases and tied embeddings) at the shapes it is given, random N(0, 0.02)
weights, a mean next-token NLL over B x T tokens, backward, gradient-norm
clipping and AdamW. Full fine-tuning, or LoRA adapters (f32) on a frozen base
stored in f32 or bf16 (bf16: the step runs under autocast, as TRL with bf16=True).

Protocol, one JSON object per line:
  stdin  line 1: the settings (see PeerSettings in bench/peer-torch.ts)
  stdout line 1: {"ready": true, "torch": ..., "blas": ..., "device": ..., "params": ..., "trainable": ...}
                 (params: the base model's, adapters not counted; trainable: what AdamW updates)
  stdin  "step" -> stdout {"step_s": s, "loss": l, "peak_bytes": n}
  stdin  "quit" (or end of input) -> exit 0
Errors: one line {"error": "..."} on stdout, exit 1.
"""

import json
import math
import sys
import time


def loaded_blas():
    """The BLAS libraries mapped into this process (the real files behind Debian's alternatives)."""
    names = set()
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                base = path.rsplit("/", 1)[-1]
                if "blas" in base or "mkl" in base:
                    names.add(path)
    except OSError:
        pass
    return sorted(names)


def blas_description(torch):
    """What BLAS torch multiplies matrices with, and whether it is the slow reference one."""
    config = torch.__config__.show()
    info = next((ln.split("=", 1)[1].strip() for ln in config.split(",") if "BLAS_INFO" in ln), "unknown")
    libs = loaded_blas()
    reference = any("/blas/libblas" in p for p in libs)
    if "mkl" in info.lower() or any("mkl" in p for p in libs):
        kind = "MKL"
    elif any("openblas" in p for p in libs):
        kind = "OpenBLAS"
    elif reference:
        kind = "reference BLAS (netlib, unoptimised: install libopenblas0 for a fair ratio)"
    else:
        kind = info
    return {"blas": kind, "blas_info": info, "blas_libraries": libs, "reference_blas": reference}


def build_model(torch, s):
    nn = torch.nn
    F = torch.nn.functional
    m = s["model"]
    V, C, L = m["vocabSize"], m["hidden"], m["layers"]
    H, Hkv, FF = m["heads"], m["kvHeads"], m["ffn"]
    D = m.get("headDim") or C // H
    eps, theta = m.get("rmsEps", 1e-6), m.get("ropeTheta", 10000.0)
    lora = s.get("lora")
    if m.get("qkNorm"):
        raise ValueError("the torch peer has no per-head q/k norms (Qwen3)")

    class RMSNorm(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(n))

        def forward(self, x):  # x [..., n]
            x32 = x.float()
            y = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)
            return (y * self.weight).to(x.dtype)

    class Linear(nn.Module):
        """y = x W^T (+ b) (+ scale * x A^T B^T when it carries a LoRA adapter)."""

        def __init__(self, n_in, n_out, bias=False, adapter=False):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(n_out, n_in) * 0.02)
            self.bias = nn.Parameter(torch.zeros(n_out)) if bias else None
            self.adapter = adapter and lora is not None
            if self.adapter:
                r = lora["rank"]
                bound = 1 / math.sqrt(n_in)
                self.lora_a = nn.Parameter(torch.empty(r, n_in).uniform_(-bound, bound))  # [r, in]
                self.lora_b = nn.Parameter(torch.zeros(n_out, r))  # [out, r]
                self.scale = lora["alpha"] / r

        def forward(self, x):
            y = F.linear(x, self.weight, self.bias)
            if self.adapter:
                y = y + self.scale * F.linear(F.linear(x, self.lora_a), self.lora_b)
            return y

    targets = set(lora["targets"]) if lora else set()

    def rope(x, pos):  # x [B, h, T, D], pos [T]; NeoX layout (halves rotate), as Qwen and our engine
        inv = 1.0 / (theta ** (torch.arange(0, D, 2, device=x.device, dtype=torch.float32) / D))
        ang = pos.float()[:, None] * inv[None, :]  # [T, D/2]
        cos, sin = torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)  # [T, D]
        x1, x2 = x[..., : D // 2], x[..., D // 2 :]
        return (x * cos + torch.cat([-x2, x1], -1) * sin).to(x.dtype)

    sdpa = getattr(F, "scaled_dot_product_attention", None)  # PyTorch >= 2.0

    def attend(q, k, v):  # [B, H, T, D] each -> [B, H, T, D], causal
        if sdpa is not None:
            return sdpa(q, k, v, is_causal=True)
        T = q.shape[2]
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(D)  # [B, H, T, T]
        mask = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
        return scores.masked_fill(mask, float("-inf")).softmax(-1).to(v.dtype) @ v

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            bias = m.get("attentionBias", False)
            self.attn_norm = RMSNorm(C)
            self.wq = Linear(C, H * D, bias, "q" in targets)
            self.wk = Linear(C, Hkv * D, bias, "k" in targets)
            self.wv = Linear(C, Hkv * D, bias, "v" in targets)
            self.wo = Linear(H * D, C, m.get("outputBias", False), "o" in targets)
            self.mlp_norm = RMSNorm(C)
            self.w_gate = Linear(C, FF, False, "gate" in targets)
            self.w_up = Linear(C, FF, False, "up" in targets)
            self.w_down = Linear(FF, C, False, "down" in targets)

        def forward(self, x, pos):  # x [B, T, C]
            B, T, _ = x.shape
            h = self.attn_norm(x)
            q = rope(self.wq(h).view(B, T, H, D).transpose(1, 2), pos)  # [B, H, T, D]
            k = rope(self.wk(h).view(B, T, Hkv, D).transpose(1, 2), pos)  # [B, Hkv, T, D]
            v = self.wv(h).view(B, T, Hkv, D).transpose(1, 2)  # [B, Hkv, T, D]
            k = k.repeat_interleave(H // Hkv, dim=1)  # [B, H, T, D]
            v = v.repeat_interleave(H // Hkv, dim=1)
            y = attend(q, k, v)  # [B, H, T, D]
            x = x + self.wo(y.transpose(1, 2).reshape(B, T, H * D))
            h = self.mlp_norm(x)
            return x + self.w_down(F.silu(self.w_gate(h)) * self.w_up(h))  # [B, T, C]

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Parameter(torch.randn(V, C) * 0.02)  # [V, C]
            self.layers = nn.ModuleList(Block() for _ in range(L))
            self.final_norm = RMSNorm(C)
            self.lm_head = None if m.get("tieEmbeddings") else nn.Parameter(torch.randn(V, C) * 0.02)

        def forward(self, ids, pos):  # ids [B, T] -> logits [B, T, V]
            x = self.embed[ids]
            for layer in self.layers:
                x = layer(x, pos)
            return F.linear(self.final_norm(x), self.embed if self.lm_head is None else self.lm_head)

    return Model()


def main():
    settings = json.loads(sys.stdin.readline())
    try:
        import torch
    except ImportError as e:
        print(json.dumps({"error": f"PyTorch is not importable: {e}"}), flush=True)
        return 1
    torch.manual_seed(settings.get("seed", 1))
    torch.set_num_threads(settings["threads"])
    device = torch.device(settings.get("device", "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"this PyTorch {torch.__version__} sees no CUDA device")
    dtype = settings.get("dtype", "f32")
    lora = settings.get("lora")
    if hasattr(torch, "set_default_device"):
        torch.set_default_device(device)  # weights are made where they live (a 1.5B model never sits on the host)
    model = build_model(torch, settings)
    if lora:
        for name, p in model.named_parameters():
            p.requires_grad = "lora_" in name
            if dtype == "bf16" and "lora_" not in name:
                p.data = p.data.to(torch.bfloat16)
    elif dtype == "bf16":
        model = model.to(torch.bfloat16)
    model = model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    o = settings["optimizer"]
    opt = torch.optim.AdamW(
        trainable, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"], weight_decay=o["weightDecay"]
    )
    B, T, V = settings["batch"], settings["seq"], settings["model"]["vocabSize"]
    n = B * T
    ids = (torch.arange(n, dtype=torch.int64) * 7919 % V).view(B, T).to(device)
    targets = ((torch.arange(n, dtype=torch.int64) + 1) * 7919 % V).to(device)
    pos = torch.arange(T, device=device)
    cuda = device.type == "cuda"
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bf16")
    print(
        json.dumps(
            {
                "ready": True,
                "torch": torch.__version__,
                "device": torch.cuda.get_device_name(device) if cuda else "cpu",
                "threads": torch.get_num_threads(),
                "params": sum(p.numel() for name, p in model.named_parameters() if "lora_" not in name),
                "trainable": sum(p.numel() for p in trainable),
                "attention": "scaled_dot_product_attention"
                if hasattr(torch.nn.functional, "scaled_dot_product_attention")
                else "matmul + softmax (PyTorch < 2.0)",
                **blas_description(torch),
            }
        ),
        flush=True,
    )
    for line in sys.stdin:
        if line.strip() != "step":
            break
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast:
            logits = model(ids, pos).view(n, V)  # [B*T, V]
            loss = torch.nn.functional.cross_entropy(logits.float(), targets)
        loss.backward()
        if o.get("maxGradNorm"):
            torch.nn.utils.clip_grad_norm_(trainable, o["maxGradNorm"])
        opt.step()
        if cuda:
            torch.cuda.synchronize()
        step_s = time.perf_counter() - t0
        peak = torch.cuda.max_memory_allocated(device) if cuda else 0
        print(json.dumps({"step_s": step_s, "loss": loss.item(), "peak_bytes": peak}), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # one line for the driver, not a traceback on stdout
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
        sys.exit(1)
