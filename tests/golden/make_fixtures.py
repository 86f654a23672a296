#!/usr/bin/python3
"""Golden fixtures for the C trainer: an independent PyTorch reference of our transformer
(RMSNorm, RoPE NORMAL/NEOX, grouped-query causal attention, SwiGLU, optional QKV bias, tied or
untied output), run in float64. For each config it writes the weights, one batch, the logits,
the weighted cross-entropy loss, every parameter gradient, and the losses of 10 AdamW steps
(warmup + cosine schedule, global-norm clipping, decay on 2-D weights only).

Run with /usr/bin/python3 (torch 1.13) from the repository root:
    /usr/bin/python3 tests/golden/make_fixtures.py
File format (little endian): b"DISRFIX1", u32 count, then per entry: u32 name length, name,
u32 kind (0 = f32, 1 = i32), u32 count, data.
"""
import math
import os
import struct

import torch

OUT = os.path.dirname(os.path.abspath(__file__))

CONFIGS = {
    # llama-style: untied output, NORMAL rope, no bias, plain multi-head attention
    "train_llama": dict(V=37, C=32, L=2, H=4, HKV=4, F=48, ctx=16, rope_style=0,
                        rope_base=10000.0, bias=False, tied=False, B=2, T=8, mask="ones"),
    # qwen2-style: tied output, NEOX rope, QKV bias, GQA (2 kv heads for 4 query heads)
    "train_qwen2": dict(V=37, C=32, L=2, H=4, HKV=2, F=40, ctx=16, rope_style=2,
                        rope_base=1000000.0, bias=True, tied=True, B=2, T=8, mask="mixed"),
    # the zoo agents' style (tied, NORMAL rope) at a long window: attention and its backward
    # over more positions than any thread chunk or tile
    "train_long": dict(V=37, C=32, L=2, H=4, HKV=4, F=48, ctx=160, rope_style=0,
                       rope_base=10000.0, bias=False, tied=True, B=2, T=130, mask="ones"),
}
EPS = 1e-5
OPT = dict(lr=1e-2, min_lr_frac=0.1, warmup=2, steps=10, wd=0.1, b1=0.9, b2=0.95, eps=1e-8,
           clip=1.0)


def param_names(cfg):
    """The canonical order of model_weights_point / model_weights_foreach (GGUF names)."""
    C, F, V, KV = cfg["C"], cfg["F"], cfg["V"], cfg["HKV"] * (cfg["C"] // cfg["H"])
    names = [("token_embd.weight", (V, C))]
    for l in range(cfg["L"]):
        p = "blk.%d." % l
        names.append((p + "attn_norm.weight", (C,)))
        names.append((p + "attn_q.weight", (C, C)))
        if cfg["bias"]:
            names.append((p + "attn_q.bias", (C,)))
        names.append((p + "attn_k.weight", (KV, C)))
        if cfg["bias"]:
            names.append((p + "attn_k.bias", (KV,)))
        names.append((p + "attn_v.weight", (KV, C)))
        if cfg["bias"]:
            names.append((p + "attn_v.bias", (KV,)))
        names.append((p + "attn_output.weight", (C, C)))
        names.append((p + "ffn_norm.weight", (C,)))
        names.append((p + "ffn_gate.weight", (F, C)))
        names.append((p + "ffn_up.weight", (F, C)))
        names.append((p + "ffn_down.weight", (C, F)))
    names.append(("output_norm.weight", (C,)))
    if not cfg["tied"]:
        names.append(("output.weight", (V, C)))
    return names


def rmsnorm(x, w):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + EPS) * w


def rope(x, base, style):
    """x: [B, T, heads, hd]; rotates pair i by pos * base^(-2i/hd)."""
    B, T, nh, hd = x.shape
    half = hd // 2
    i = torch.arange(half, dtype=torch.float64)
    pos = torch.arange(T, dtype=torch.float64)
    theta = pos[:, None] * base ** (-2.0 * i / hd)  # [T, half]
    theta = theta.to(x.dtype)
    c = torch.cos(theta)[None, :, None, :]
    s = torch.sin(theta)[None, :, None, :]
    if style == 2:  # NEOX: halves
        a, b = x[..., :half], x[..., half:]
        return torch.cat([a * c - b * s, a * s + b * c], dim=-1)
    a, b = x[..., 0::2], x[..., 1::2]  # NORMAL: adjacent pairs
    out = torch.stack([a * c - b * s, a * s + b * c], dim=-1)
    return out.reshape(B, T, nh, hd)


def forward(cfg, P, inputs):
    B, T = inputs.shape
    C, H, HKV = cfg["C"], cfg["H"], cfg["HKV"]
    hd = C // H
    x = P["token_embd.weight"][inputs]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(cfg["L"]):
        p = "blk.%d." % l
        h = rmsnorm(x, P[p + "attn_norm.weight"])
        q = h @ P[p + "attn_q.weight"].T
        k = h @ P[p + "attn_k.weight"].T
        v = h @ P[p + "attn_v.weight"].T
        if cfg["bias"]:
            q = q + P[p + "attn_q.bias"]
            k = k + P[p + "attn_k.bias"]
            v = v + P[p + "attn_v.bias"]
        q = rope(q.view(B, T, H, hd), cfg["rope_base"], cfg["rope_style"])
        k = rope(k.view(B, T, HKV, hd), cfg["rope_base"], cfg["rope_style"])
        v = v.view(B, T, HKV, hd)
        rep = H // HKV
        k = k.repeat_interleave(rep, dim=2)  # query head h reads kv head h // rep
        v = v.repeat_interleave(rep, dim=2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, T, hd]
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ P[p + "attn_output.weight"].T
        h = rmsnorm(x, P[p + "ffn_norm.weight"])
        g = h @ P[p + "ffn_gate.weight"].T
        u = h @ P[p + "ffn_up.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ P[p + "ffn_down.weight"].T
    x = rmsnorm(x, P["output_norm.weight"])
    W = P["token_embd.weight"] if cfg["tied"] else P["output.weight"]
    return x @ W.T


def weighted_ce(logits, targets, weights):
    V = logits.shape[-1]
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1),
                                           reduction="none")
    w = weights.reshape(-1)
    count = max(1, int((w != 0).sum()))
    return (w * ce).sum() / count


def lr_at(step):
    lr, warm, steps = OPT["lr"], OPT["warmup"], OPT["steps"]
    if warm > 0 and step < warm:
        return lr * (step + 1) / warm
    if steps <= warm:
        return lr
    prog = (step - warm) / max(1, steps - warm)
    lo = lr * OPT["min_lr_frac"]
    return lo + 0.5 * (lr - lo) * (1 + math.cos(math.pi * prog))


def make(name, cfg):
    g = torch.Generator().manual_seed(1234 + len(name))
    names = param_names(cfg)
    P32 = {}
    for n, shape in names:
        if "norm" in n:
            t = 1.0 + 0.1 * torch.randn(shape, generator=g)
        elif n.endswith(".bias"):
            t = 0.1 * torch.randn(shape, generator=g)
        else:
            t = 0.2 * torch.randn(shape, generator=g)
        P32[n] = t.float()
    B, T, V = cfg["B"], cfg["T"], cfg["V"]
    inputs = torch.randint(0, V, (B, T), generator=g)
    targets = torch.randint(0, V, (B, T), generator=g)
    if cfg["mask"] == "ones":
        weights = torch.ones(B, T)
    else:  # fine-tuning mask (0 on the prompt) plus fractional and negative (policy) weights
        weights = torch.tensor([[0, 0, 0, 1, 1, 1, 0.5, 1], [0, 1, 1, -0.5, 0, 2, 1, 1]]).float()

    P = {n: t.double().clone().requires_grad_(True) for n, t in P32.items()}
    logits = forward(cfg, P, inputs)
    loss = weighted_ce(logits, targets, weights.double())
    loss.backward()

    entries = [("config", 1, [V, cfg["C"], cfg["L"], cfg["H"], cfg["HKV"], cfg["F"], cfg["ctx"],
                              cfg["rope_style"], int(cfg["bias"]), int(cfg["tied"]), B, T,
                              OPT["steps"], OPT["warmup"]]),
               ("config_f", 0, [EPS, cfg["rope_base"], OPT["lr"], OPT["min_lr_frac"], OPT["wd"],
                                OPT["b1"], OPT["b2"], OPT["eps"], OPT["clip"]]),
               ("inputs", 1, inputs.flatten().tolist()),
               ("targets", 1, targets.flatten().tolist()),
               ("weights", 0, weights.flatten().tolist()),
               ("logits", 0, logits.detach().flatten().tolist()),
               ("loss", 0, [loss.item()])]
    for n, _ in names:
        entries.append((n, 0, P32[n].flatten().tolist()))
        entries.append(("grad." + n, 0, P[n].grad.flatten().tolist()))

    # Ten AdamW steps on the same batch (loss recorded before each update, as llm.c does).
    params = [P[n] for n, _ in names]
    for p in params:
        p.grad = None
    decay = [P[n] for n, s in names if len(s) == 2]
    no_decay = [P[n] for n, s in names if len(s) == 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": OPT["wd"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=OPT["lr"], betas=(OPT["b1"], OPT["b2"]), eps=OPT["eps"])
    losses, norms = [], []
    for step in range(OPT["steps"]):
        opt.zero_grad()
        loss = weighted_ce(forward(cfg, P, inputs), targets, weights.double())
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, OPT["clip"])))
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        opt.step()
        losses.append(loss.item())
    entries.append(("adamw_losses", 0, losses))
    entries.append(("adamw_grad_norms", 0, norms))

    path = os.path.join(OUT, name + ".bin")
    with open(path, "wb") as f:
        f.write(b"DISRFIX1")
        f.write(struct.pack("<I", len(entries)))
        for n, kind, data in entries:
            nb = n.encode()
            f.write(struct.pack("<I", len(nb)) + nb + struct.pack("<II", kind, len(data)))
            f.write(struct.pack("<%d%s" % (len(data), "f" if kind == 0 else "i"), *data))
    print("%s: %d bytes, loss %.6f, losses %s" % (path, os.path.getsize(path), entries[6][2][0],
                                                  " ".join("%.4f" % x for x in losses)))


if __name__ == "__main__":
    torch.set_num_threads(1)
    import sys
    for name, cfg in CONFIGS.items():
        if len(sys.argv) < 2 or name in sys.argv[1:]:
            make(name, cfg)
