/* quant.h: float rows to the engine's element types: F16, BF16, Q8_0 and Q4_0 bit-exact with
 * ggml's reference (scalar) block quantizers of ggml-quants.c, so a file we quantize is the file
 * llama-quantize would write; Q2_K .. Q6_K by ggml's reference algorithms (quant_k.c). The types themselves, their block formats and the way back to
 * floats are core/tensor.h's; fast dot kernels are core/matmul.h's. */
#ifndef MODEL_QUANT_H
#define MODEL_QUANT_H

#include <stdint.h>

#include "core/tensor.h"

/* Converts n floats to type t (DISR_E_ARG if n is not a multiple of the block size). */
int quantize_row(enum dtype t, const float *x, void *y, int64_t n);

/* nb super-blocks of a K type (quant_k.c; quantize_row checks the arguments). */
void quantize_row_k(enum dtype t, const float *x, void *y, int64_t nb);

#endif
