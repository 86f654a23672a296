#!/usr/bin/python3
"""Golden fixture for the `qwen3` architecture: an independent PyTorch (float64) forward pass of
Qwen3's decoder, as published in Hugging Face's modeling_qwen3 and llama.cpp's qwen3 graph:
RMSNorm, q/k/v projections without bias, RMSNorm of each query and key head with its own gains
(attn_q_norm / attn_k_norm) before rotary embedding, NEOX rotary pairs (i, i + d/2), grouped-query
causal attention with heads wider than n_embd / n_head, SwiGLU, tied output.

It writes a GGUF model file (F32 weights, drawn from a fixed seed, with the keys llama.cpp reads
for qwen3) holding two extra tensors the loader ignores: `golden.tokens` (i32) and
`golden.logits` (f32, [T][V]). tests/unit/test_arch.c runs the engine on the tokens (prefill and
decode) and compares the logits.

    /usr/bin/python3 tests/golden/qwen3_reference.py tests/golden/qwen3_tiny.gguf
"""
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_reference import write_gguf  # noqa: E402

CFG = dict(V=50, C=32, L=2, H=4, HKV=2, HD=16, F=48, ctx=64, base=1000000.0, eps=1e-6, T=20)
STRING, U32, F32KV = 8, 4, 6


def rmsnorm(x, g, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * g


def rope_neox(x, pos, base):
    """x: [T, heads, d]; pairs (i, i + d/2) rotate by pos * base^(-2i/d)."""
    d = x.shape[-1]
    half = d // 2
    inv = base ** (-torch.arange(0, half, dtype=torch.float64) * 2.0 / d)
    ang = pos[:, None].double() * inv[None, :]
    cos, sin = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)


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
        q = rope_neox(rmsnorm(q, w[p + 'attn_q_norm.weight'], c['eps']), pos, c['base'])
        k = rope_neox(rmsnorm(k, w[p + 'attn_k_norm.weight'], c['eps']), pos, c['base'])
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
    return x @ w['token_embd.weight'].T


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
        gain(p + 'attn_q_norm.weight', HD)
        gain(p + 'attn_k_norm.weight', HD)
        mat(p + 'attn_output.weight', C, Q)
        gain(p + 'ffn_norm.weight', C)
        mat(p + 'ffn_gate.weight', F, C)
        mat(p + 'ffn_up.weight', F, C)
        mat(p + 'ffn_down.weight', C, F)
    gain('output_norm.weight', C)
    # float32 is what the file holds: the reference computes on exactly those values
    return {k: v.float().double() for k, v in w.items()}


def main(argv):
    if len(argv) != 1:
        sys.stderr.write(__doc__)
        return 2
    c = CFG
    gen = torch.Generator().manual_seed(3)
    w = weights(c, gen)
    tokens = torch.randint(0, c['V'], (c['T'],), generator=gen)
    logits = forward(w, tokens, c)
    a = 'qwen3.'
    kvs = [('general.architecture', STRING, 'qwen3'), ('general.name', STRING, 'qwen3-golden'),
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
    write_gguf(argv[0], kvs, tensors)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
