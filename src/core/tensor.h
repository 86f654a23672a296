/* tensor.h: the element types every layer computes with (F32, F16, BF16, Q8_0, Q4_0, and the
 * super-block types Q2_K..Q6_K whose layouts core/kquant.h holds), the first four's block
 * formats, and the typed matrix view the kernels take. It sits at the bottom, as ggml keeps its
 * types at its base: the kernels (core/matmul.h) read every type, the model (model/model.h) holds
 * its weights as `struct mat`, and the quantizers (model/quant.h) write the blocks.
 *
 * Bit-exact with ggml: IEEE half conversion with round-to-nearest-even, the block layouts of
 * ggml-common.h, and the reference (scalar) dequantization of ggml-quants.c, which the fast
 * kernels are tested against. */
#ifndef CORE_TENSOR_H
#define CORE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

/* Values are ggml type ids, so they are written to GGUF as they are. */
enum dtype {
    DTYPE_F32 = 0,
    DTYPE_F16 = 1,
    DTYPE_Q4_0 = 2,
    DTYPE_Q8_0 = 8,
    DTYPE_Q2_K = 10,
    DTYPE_Q3_K = 11,
    DTYPE_Q4_K = 12,
    DTYPE_Q5_K = 13,
    DTYPE_Q6_K = 14,
    DTYPE_BF16 = 30,
};

/* A row-major matrix [rows][cols] of any supported type: out[i] = dot(row i, x). This is GGUF's
 * layout for a tensor with ne = [cols, rows], so file data can be used in place. */
struct mat {
    enum dtype type;
    int rows, cols;
    void *data;
};

#define QK8_0 32
#define QK4_0 32

/* Q8_0: x[j] ~= d * qs[j], d = amax / 127. */
struct block_q8_0 {
    uint16_t d; /* fp16 */
    int8_t qs[QK8_0];
};
/* Q4_0: x[j] ~= d * ((nibble) - 8); byte j holds element j (low nibble) and j + 16 (high). */
struct block_q4_0 {
    uint16_t d; /* fp16 */
    uint8_t qs[QK4_0 / 2];
};
_Static_assert(sizeof(struct block_q8_0) == 34, "Q8_0 block must be 34 bytes");
_Static_assert(sizeof(struct block_q4_0) == 18, "Q4_0 block must be 18 bytes");

uint16_t fp32_to_fp16(float f); /* round to nearest even; NaN -> 0x7e00 */
float fp16_to_fp32(uint16_t h);

/* "f32", "f16", "q8_0", "q4_0", "q2_k" .. "q6_k", "bf16". */
const char *dtype_name(enum dtype t);
/* Parses a dtype name (case-insensitive); DISR_E_ARG with the accepted list otherwise. */
int dtype_parse(const char *s, enum dtype *out);
/* 1 for F32/F16/BF16, 32 for Q8_0/Q4_0, 256 for the K types; 0 for an id not one of ours. */
int dtype_block_size(enum dtype t);
/* Bytes of a row of n elements (n must be a multiple of the block size; 0 otherwise). */
size_t dtype_row_size(enum dtype t, int64_t n);
/* True when t is one of the types above. */
int dtype_is_supported(int t);

/* Converts n elements of type t back to floats (DISR_E_ARG if n is not a multiple of the block
 * size). The writing side, float -> type, is model/quant.h's quantize_row. */
int dequantize_row(enum dtype t, const void *x, float *y, int64_t n);

#endif
