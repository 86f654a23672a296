/* kquant.h: ggml's super-block types (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K: 256 elements, sub-block
 * scales packed in the block) and BF16, the types most hub GGUF files hold beyond tensor.h's
 * first four: their block layouts (ggml-common.h), the reference dequantization (bit-exact with
 * ggml-quants.c), the Q8_K activation blocks ggml dots them with, and the dot kernels the matrix
 * products (core/matmul.h) call for these types: scalar, AVX2 and AVX-512 (VNNI), all three
 * giving the same bits, since each sums exact integers per super-block and scales them alike.
 * The writing side (float -> block) is model/quant.h's. */
#ifndef CORE_KQUANT_H
#define CORE_KQUANT_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

#define QK_K 256

/* x ~= d * (scales[k] & 15) * q - dmin * (scales[k] >> 4) for sub-block k of 16; q in 0..3,
 * four per byte: qs[32 * h + l] holds elements 128h + l + 32j in bits 2j, 2j + 1. */
struct block_q2_K {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    uint16_t d, dmin; /* fp16 */
};
/* x ~= d * (s_k - 32) * q, q = low two bits - (high bit ? 0 : 4); element e's high bit is bit
 * e / 32 of hmask[e % 32]; the 16 six-bit scales s_k are packed in 12 bytes (low nibbles in
 * bytes 0-7, high two bits in bytes 8-11). */
struct block_q3_K {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    uint16_t d;
};
/* x ~= d * sc_j * q - dmin * m_j for sub-block j of 32; six-bit sc/m packed in 12 bytes;
 * qs[32p + l] holds element 64p + l (low nibble) and 64p + 32 + l (high nibble). */
struct block_q4_K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[QK_K / 2];
};
/* Q4_K plus a fifth bit: bit j of qh[l] is element 32j + l's. */
struct block_q5_K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
};
/* x ~= d * scales[k] * (q - 32), q six bits: four low ones in ql, two high ones in qh. */
struct block_q6_K {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
};
/* Activations: x ~= d * qs, with the sums of each 16 quants (they carry the mins/offsets). */
struct block_q8_K {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
};
_Static_assert(sizeof(struct block_q2_K) == 84, "Q2_K block must be 84 bytes");
_Static_assert(sizeof(struct block_q3_K) == 110, "Q3_K block must be 110 bytes");
_Static_assert(sizeof(struct block_q4_K) == 144, "Q4_K block must be 144 bytes");
_Static_assert(sizeof(struct block_q5_K) == 176, "Q5_K block must be 176 bytes");
_Static_assert(sizeof(struct block_q6_K) == 210, "Q6_K block must be 210 bytes");
_Static_assert(sizeof(struct block_q8_K) == 292, "Q8_K block must be 292 bytes");

/* True for Q2_K .. Q6_K. */
int kquant_is_ktype(int t);
/* Bytes of one super-block of type t (0 if t is not a K type). */
size_t kquant_block_bytes(enum dtype t);

/* nb super-blocks of type t to 256 * nb floats, as ggml's dequantize_row_* does. */
void kquant_dequantize(enum dtype t, const void *x, float *y, int64_t nb);

/* BF16 <-> F32 as ggml: truncation with round-to-nearest-even, NaN kept quiet. */
uint16_t fp32_to_bf16(float f);
float bf16_to_fp32(uint16_t h);

/* n floats (a multiple of 256) to n / 256 Q8_K blocks (ggml's quantize_row_q8_K_ref). */
void kquant_quantize_q8_K(const float *x, struct block_q8_K *y, int n);

/* Kernel levels, as core/matmul.h chooses them: 0 scalar, 1 AVX2, 2 AVX-512 (F/BW/VL/VNNI); a
 * level the CPU cannot run is lowered. */
enum { KQUANT_SCALAR = 0, KQUANT_AVX2 = 1, KQUANT_AVX512 = 2 };

/* dot(row of nb super-blocks of type t, x) for a K type. */
float kquant_dot(int level, enum dtype t, const void *w, const struct block_q8_K *x, int nb);
/* dot(bf16 row, float x) over n elements. */
float kquant_dot_bf16(int level, const uint16_t *w, const float *x, int n);

#endif
