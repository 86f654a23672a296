#!/usr/bin/python3
"""Golden fixtures for hub architectures: an independent PyTorch (float64) forward pass of

  qwen3   Qwen3's decoder (Hugging Face's modeling_qwen3, llama.cpp's qwen3 graph): q/k/v
          projections without bias, RMSNorm of each query and key head with its own gains
          (attn_q_norm / attn_k_norm) before rotary embedding, NEOX rotary pairs (i, i + d/2),
          heads wider than n_embd / n_head, tied output;
  llama3  Llama 3.1/3.2 (modeling_llama with rope_type "llama3"): adjacent rotary pairs
          (2i, 2i + 1) as GGUF's llama layout has them, each pair's angle divided by its
          `rope_freqs.weight` factor (1 for high frequencies, `factor` for low ones, smoothed
          between: the rule of Llama 3.1's config), GQA 4:1, untied output;

both with RMSNorm, grouped-query causal attention and SwiGLU. It writes a GGUF model file (F32
weights from a fixed seed, the keys llama.cpp reads) holding two extra tensors the loader
ignores: `golden.tokens` (i32) and `golden.logits` (f32, [T][V]). tests/unit/test_arch.c runs
the engine on the tokens (prefill and decode) and compares the logits.

    /usr/bin/python3 tests/golden/arch_reference.py qwen3 tests/golden/qwen3_tiny.gguf
    /usr/bin/python3 tests/golden/arch_reference.py llama3 tests/golden/llama3_tiny.gguf
"""
import math
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_reference import write_gguf  # noqa: E402

CFGS = {
    'qwen3': dict(arch='qwen3', V=50, C=32, L=2, H=4, HKV=2, HD=16, F=48, ctx=64, base=1000000.0,
                  eps=1e-6, T=20, qk_norm=True, neox=True, tied=True, scaling=None),
    # original context 64 with head size 8 at base 1e4 puts pair 0 above the high-frequency
    # wavelength, pair 1 between, pairs 2.. below: all three branches of the rule
    'llama3': dict(arch='llama', V=50, C=32, L=2, H=4, HKV=1, HD=8, F=48, ctx=128, base=10000.0,
                   eps=1e-5, T=24, qk_norm=False, neox=False, tied=False,
                   scaling=dict(factor=32.0, low=1.0, high=4.0, orig=64)),
}
STRING, U32, F32KV = 8, 4, 6


def rmsnorm(x, g, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * g


def llama3_factors(d, base, sc):
    """Llama 3.1's rope scaling as per-pair divisors of the angle."""
    out = []
    for i in range(d // 2):
        wavelen = 2 * math.pi * base ** (2 * i / d)
        if wavelen < sc['orig'] / sc['high']:
            out.append(1.0)
        elif wavelen > sc['orig'] / sc['low']:
            out.append(sc['factor'])
        else:
            smooth = (sc['orig'] / wavelen - sc['low']) / (sc['high'] - sc['low'])
            out.append(1 / ((1 - smooth) / sc['factor'] + smooth))
    return torch.tensor(out, dtype=torch.float32).double()


def rope(x, pos, base, neox, factors):
    """x: [T, heads, d]; pair i rotates by pos * base^(-2i/d) / factors[i]; the pairs are
    (i, i + d/2) in NEOX style, (2i, 2i + 1) otherwise."""
    d = x.shape[-1]
    half = d // 2
    inv = base ** (-torch.arange(0, half, dtype=torch.float64) * 2.0 / d)
    if factors is not None:
        inv = inv / factors
    ang = pos[:, None].double() * inv[None, :]
    cos, sin = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    if neox:
        a, b = x[..., :half], x[..., half:]
        return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)


def forward(w, tokens, c):
    T, H, HKV, HD = len(tokens), c['H'], c['HKV'], c['HD']
    x = w['token_embd.weight'][tokens]
    pos = torch.arange(T)
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    for l in range(c['L']):
        p = 'blk.%d.' % l
        h = rmsnorm(x, w[p + 'attn_norm.weight'], c['eps'])
        q = (h @ w[p + 'attn_q.weight'].T).view(T, H, HD)
        k = (h @ w[p + 'attn_k.weight'].T).view(T, HKV, HD)
        v = (h @ w[p + 'attn_v.weight'].T).view(T, HKV, HD)
        if c['qk_norm']:
            q = rmsnorm(q, w[p + 'attn_q_norm.weight'], c['eps'])
            k = rmsnorm(k, w[p + 'attn_k_norm.weight'], c['eps'])
        ff = w.get('rope_freqs.weight')
        q = rope(q, pos, c['base'], c['neox'], ff)
        k = rope(k, pos, c['base'], c['neox'], ff)
        group = H // HKV
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)
        att = torch.einsum('thd,shd->hts', q, k) / HD ** 0.5
        att = att.masked_fill(mask, float('-inf')).softmax(-1)
        o = torch.einsum('hts,shd->thd', att, v).reshape(T, H * HD)
        x = x + o @ w[p + 'attn_output.weight'].T
        h = rmsnorm(x, w[p + 'ffn_norm.weight'], c['eps'])
        g = h @ w[p + 'ffn_gate.weight'].T
        u = h @ w[p + 'ffn_up.weight'].T
        x = x + (torch.nn.functional.silu(g) * u) @ w[p + 'ffn_down.weight'].T
    x = rmsnorm(x, w['output_norm.weight'], c['eps'])
    return x @ w['token_embd.weight' if c['tied'] else 'output.weight'].T


def weights(c, gen):
    V, C, F, Q, KV, HD = c['V'], c['C'], c['F'], c['H'] * c['HD'], c['HKV'] * c['HD'], c['HD']
    w = {}

    def mat(name, rows, cols, std=0.15):
        w[name] = torch.randn(rows, cols, generator=gen, dtype=torch.float64) * std

    def gain(name, n):
        w[name] = 1.0 + 0.2 * torch.randn(n, generator=gen, dtype=torch.float64)

    mat('token_embd.weight', V, C, 0.5)
    for l in range(c['L']):
        p = 'blk.%d.' % l
        gain(p + 'attn_norm.weight', C)
        mat(p + 'attn_q.weight', Q, C)
        mat(p + 'attn_k.weight', KV, C)
        mat(p + 'attn_v.weight', KV, C)
        if c['qk_norm']:
            gain(p + 'attn_q_norm.weight', HD)
            gain(p + 'attn_k_norm.weight', HD)
        mat(p + 'attn_output.weight', C, Q)
        gain(p + 'ffn_norm.weight', C)
        mat(p + 'ffn_gate.weight', F, C)
        mat(p + 'ffn_up.weight', F, C)
        mat(p + 'ffn_down.weight', C, F)
    gain('output_norm.weight', C)
    if not c['tied']:
        mat('output.weight', V, C, 0.5)
    if c['scaling']:
        w['rope_freqs.weight'] = llama3_factors(HD, c['base'], c['scaling'])
    # float32 is what the file holds: the reference computes on exactly those values
    return {k: v.float().double() for k, v in w.items()}


def main(argv):
    if len(argv) != 2 or argv[0] not in CFGS:
        sys.stderr.write(__doc__)
        return 2
    c = CFGS[argv[0]]
    gen = torch.Generator().manual_seed(3)
    w = weights(c, gen)
    tokens = torch.randint(0, c['V'], (c['T'],), generator=gen)
    logits = forward(w, tokens, c)
    a = c['arch'] + '.'
    kvs = [('general.architecture', STRING, c['arch']), ('general.name', STRING, argv[0] + '-golden'),
           (a + 'context_length', U32, c['ctx']), (a + 'embedding_length', U32, c['C']),
           (a + 'block_count', U32, c['L']), (a + 'feed_forward_length', U32, c['F']),
           (a + 'attention.head_count', U32, c['H']), (a + 'attention.head_count_kv', U32, c['HKV']),
           (a + 'attention.key_length', U32, c['HD']), (a + 'attention.value_length', U32, c['HD']),
           (a + 'rope.dimension_count', U32, c['HD']), (a + 'rope.freq_base', F32KV, c['base']),
           (a + 'attention.layer_norm_rms_epsilon', F32KV, c['eps'])]
    tensors = []
    for name, t in w.items():  # insertion order = llama.cpp's
        ne = list(reversed(t.shape))
        tensors.append((name, 0, ne, t.float().numpy().astype('<f4').tobytes()))
    tensors.append(('golden.tokens', 26, [c['T']],
                    struct.pack('<%di' % c['T'], *[int(x) for x in tokens])))
    tensors.append(('golden.logits', 0, [c['V'], c['T']],
                    logits.float().numpy().astype('<f4').tobytes()))
    write_gguf(argv[1], kvs, tensors)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
