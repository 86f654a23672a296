#!/usr/bin/env python3
"""Independent reference for ggml's super-block types (Q2_K .. Q6_K) and BF16 (numpy, float32).

Written from the published block layouts (ggml-common.h: block_q2_K ... block_q6_K, 256 values
per super-block) and the order of float operations of ggml's reference dequantizers, not from
our C code. It makes random blocks (random bytes; the fp16 super-block scales drawn finite, with
zeros, negatives and subnormals among them), dequantizes them, and writes one GGUF file holding,
per type, the blocks as a tensor of that type (`<type>.blocks`) and the expected floats
(`<type>.want`, F32). For BF16 it also writes floats (`bf16.from`) and their round-to-nearest-
even conversion (`bf16.round`). tests/unit/test_kquant.c requires bit-identical results.

  kquant_reference.py write OUT.gguf [--blocks N] [--seed S]

The committed fixture: tests/golden/kquant_blocks.gguf = write with the defaults.
"""
import struct
import sys

import numpy as np

from gguf_reference import write_gguf

QK_K = 256
F32 = np.float32
TYPES = {'q2_k': 10, 'q3_k': 11, 'q4_k': 12, 'q5_k': 13, 'q6_k': 14}
SIZES = {'q2_k': 84, 'q3_k': 110, 'q4_k': 144, 'q5_k': 176, 'q6_k': 210}


def half(raw):
    return F32(np.frombuffer(raw, dtype='<f2')[0])


def scale_min_k4(sc12, j):
    """Sub-block j's 6-bit scale and min in a Q4_K/Q5_K 12-byte scale field: j < 4 in the low 6
    bits of bytes j and j+4; otherwise the low/high nibble of byte j+4 plus the top two bits of
    bytes j-4 (scale) and j (min)."""
    if j < 4:
        return sc12[j] & 63, sc12[j + 4] & 63
    return (sc12[j + 4] & 0xF) | ((sc12[j - 4] >> 6) << 4), (sc12[j + 4] >> 4) | ((sc12[j] >> 6) << 4)


def deq_q2_k(b):
    # scales[16] | qs[64] | d | dmin. Value e: 2 bits at position 2*((e % 128) // 32) of byte
    # qs[32 * (e // 128) + e % 32]; scale nibble / min nibble of scales[e // 16].
    scales, qs = b[0:16], b[16:80]
    d, dmin = half(b[80:82]), half(b[82:84])
    y = np.empty(QK_K, dtype=F32)
    for e in range(QK_K):
        sc = scales[e // 16]
        dl = d * F32(sc & 0xF)
        ml = dmin * F32(sc >> 4)
        q = (qs[32 * (e // 128) + e % 32] >> (2 * ((e % 128) // 32))) & 3
        y[e] = dl * F32(q) - ml
    return y


def deq_q3_k(b):
    # hmask[32] | qs[64] | scales[12] | d. Low 2 bits as Q2_K; the third bit of value e is bit
    # e // 32 of hmask[e % 32] and, when clear, subtracts 4. Scale k (6 bits, minus 32): low
    # nibble of byte k (k < 8) or high nibble of byte k - 8, top bits 2*(k // 4) of byte 8 + k % 4.
    hmask, qs, sc = b[0:32], b[32:96], b[96:108]
    d = half(b[108:110])
    y = np.empty(QK_K, dtype=F32)
    for e in range(QK_K):
        k = e // 16
        lo = sc[k] & 0xF if k < 8 else sc[k - 8] >> 4
        s = (lo | (((sc[8 + k % 4] >> (2 * (k // 4))) & 3) << 4)) - 32
        q = (qs[32 * (e // 128) + e % 32] >> (2 * ((e % 128) // 32))) & 3
        q -= 0 if (hmask[e % 32] >> (e // 32)) & 1 else 4
        y[e] = (d * F32(s)) * F32(q)
    return y


def deq_q4_k(b):
    # d | dmin | scales[12] | qs[128]. Value e of sub-block j = e // 32: nibble (j % 2) of byte
    # qs[32 * (j // 2) + e % 32].
    d, dmin = half(b[0:2]), half(b[2:4])
    sc12, qs = b[4:16], b[16:144]
    y = np.empty(QK_K, dtype=F32)
    for e in range(QK_K):
        j = e // 32
        s, m = scale_min_k4(sc12, j)
        q = (qs[32 * (j // 2) + e % 32] >> (4 * (j % 2))) & 0xF
        y[e] = (d * F32(s)) * F32(q) - dmin * F32(m)
    return y


def deq_q5_k(b):
    # d | dmin | scales[12] | qh[32] | qs[128]: Q4_K plus a fifth bit, bit j of qh[e % 32].
    d, dmin = half(b[0:2]), half(b[2:4])
    sc12, qh, qs = b[4:16], b[16:48], b[48:176]
    y = np.empty(QK_K, dtype=F32)
    for e in range(QK_K):
        j = e // 32
        s, m = scale_min_k4(sc12, j)
        q = ((qs[32 * (j // 2) + e % 32] >> (4 * (j % 2))) & 0xF) + (16 if (qh[e % 32] >> j) & 1 else 0)
        y[e] = (d * F32(s)) * F32(q) - dmin * F32(m)
    return y


def deq_q6_k(b):
    # ql[128] | qh[64] | scales[16] (int8) | d. In half h = e // 128, position p = e % 128,
    # c = p // 32, l = p % 32: low nibble (c < 2) or high nibble (c >= 2) of ql[64h + 32(c % 2) + l],
    # two high bits at 2c of qh[32h + l]; value = d * scale[e // 16] * (q - 32).
    ql, qh = b[0:128], b[128:192]
    scales = np.frombuffer(bytes(b[192:208]), dtype=np.int8)
    d = half(b[208:210])
    y = np.empty(QK_K, dtype=F32)
    for e in range(QK_K):
        h, p = e // 128, e % 128
        c, l = p // 32, p % 32
        q = (ql[64 * h + 32 * (c % 2) + l] >> (4 * (c // 2))) & 0xF
        q |= ((qh[32 * h + l] >> (2 * c)) & 3) << 4
        y[e] = (d * F32(int(scales[e // 16]))) * F32(q - 32)
    return y


DEQ = {'q2_k': deq_q2_k, 'q3_k': deq_q3_k, 'q4_k': deq_q4_k, 'q5_k': deq_q5_k, 'q6_k': deq_q6_k}
# byte offsets of the fp16 scales in each block
HALVES = {'q2_k': (80, 82), 'q3_k': (108,), 'q4_k': (0, 2), 'q5_k': (0, 2), 'q6_k': (208,)}


def random_half(rng):
    kind = rng.integers(0, 8)
    if kind == 0:
        v = 0.0
    elif kind == 1:
        v = float(rng.integers(1, 1024)) * 2.0 ** -24  # subnormal
    else:
        v = float(rng.normal(0, 1)) * 10.0 ** float(rng.integers(-4, 2))
    return np.array([v], dtype='<f2').tobytes()


def random_blocks(rng, name, n):
    out = bytearray()
    for _ in range(n):
        b = bytearray(rng.integers(0, 256, SIZES[name], dtype=np.uint8).tobytes())
        for off in HALVES[name]:
            b[off:off + 2] = random_half(rng)
        out += b
    return bytes(out)


def bf16_round(x):
    """Round-to-nearest-even truncation of float32 bits to their top 16; NaNs stay quiet NaNs."""
    u = x.view(np.uint32).astype(np.uint64)
    nan = (u & 0x7fffffff) > 0x7f800000
    r = ((u + 0x7fff + ((u >> 16) & 1)) >> 16) & 0xffff
    return np.where(nan, (u >> 16) | 64, r).astype(np.uint16)


def write(path, n_blocks=8, seed=20):
    rng = np.random.default_rng(seed)
    tensors = []
    for name, tid in TYPES.items():
        raw = random_blocks(rng, name, n_blocks)
        want = np.concatenate([DEQ[name](raw[i * SIZES[name]:(i + 1) * SIZES[name]])
                               for i in range(n_blocks)]).astype('<f4')
        tensors.append((name + '.blocks', tid, [QK_K * n_blocks], raw))
        tensors.append((name + '.want', 0, [QK_K * n_blocks], want.tobytes()))
    n = QK_K * n_blocks
    bits = rng.integers(0, 1 << 16, n, dtype=np.uint16)
    tensors.append(('bf16.blocks', 30, [n], bits.astype('<u2').tobytes()))
    want = (bits.astype(np.uint32) << 16).view(np.float32)
    tensors.append(('bf16.want', 0, [n], want.astype('<f4').tobytes()))
    # floats near rounding ties, specials and random ones
    x = rng.normal(0, 1, n).astype(np.float32)
    u = x.view(np.uint32)
    u[:n // 4] = (u[:n // 4] & 0xffff0000) | 0x8000  # exact ties
    u[n // 4:n // 4 + 8] = [0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0, 0x80000000, 0x7f7fffff, 1]
    tensors.append(('bf16.from', 0, [n], u.view(np.float32).astype('<f4').tobytes()))
    tensors.append(('bf16.round', 30, [n], bf16_round(u.view(np.float32)).astype('<u2').tobytes()))
    kvs = [('general.architecture', 8, 'kquant-fixture')]
    write_gguf(path, kvs, tensors)


def main(argv):
    if len(argv) < 2 or argv[0] != 'write':
        sys.stderr.write(__doc__)
        return 2
    n, seed = 8, 20
    rest = argv[2:]
    while rest:
        if rest[0] == '--blocks':
            n = int(rest[1])
        elif rest[0] == '--seed':
            seed = int(rest[1])
        else:
            sys.stderr.write('unknown option %s\n' % rest[0])
            return 2
        rest = rest[2:]
    write(argv[1], n, seed)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
