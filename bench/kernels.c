/* bench/kernels.c: single-thread GEMV speed of each weight type (core/matmul), streaming a set of
 * matrices as large as the 110M model's layers so the weights come from memory, not cache, as in
 * decode. Reports the calling thread's CPU time (robust when the machine is shared) and wall time;
 * args: [reps] [threads].
 *   make && cc -O2 -march=native -Iinclude -Isrc bench/kernels.c build/libdisr.a \
 *      -lopenblas -lpthread -lm -o build/bench_kernels && build/bench_kernels */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/log.h"
#include "core/matmul.h"
#include "core/pool.h"
#include "model/quant.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    enum { ROWS = 2048, COLS = 768, NMAT = 48 }; /* ~ the 110M model's 12 layers of FFN + attn */
    int reps = argc > 1 ? atoi(argv[1]) : 5, threads = argc > 2 ? atoi(argv[2]) : 1;
    struct pool *pool = NULL;
    if (threads > 1 && pool_init(&pool, threads) < 0) return 1;
    const enum dtype types[] = {DTYPE_F32,  DTYPE_F16,  DTYPE_BF16, DTYPE_Q8_0, DTYPE_Q4_0,
                                DTYPE_Q6_K, DTYPE_Q5_K, DTYPE_Q4_K, DTYPE_Q3_K, DTYPE_Q2_K};
    const int n_types = (int)(sizeof types / sizeof types[0]);
    float *src = malloc(sizeof(float) * ROWS * COLS), x[COLS], out[ROWS];
    for (int i = 0; i < ROWS * COLS; i++)
        src[i] = (float)(((unsigned)i * 7919u) % 1000u) / 1000.0f - 0.5f;
    for (int i = 0; i < COLS; i++)
        x[i] = (float)(i % 17) / 17.0f - 0.5f;
    char scratch[4096];
    printf("kernels: %s\n", matmul_kernel_name());
    for (int t = 0; t < n_types; t++) {
        size_t rb = dtype_row_size(types[t], COLS), mb = rb * ROWS;
        char *data = malloc(mb * NMAT);
        for (int k = 0; k < NMAT; k++)
            for (int r = 0; r < ROWS; r++)
                quantize_row(types[t], src + (size_t)r * COLS, data + k * mb + r * rb, COLS);
        double best = 1e30, best_wall = 1e30;
        for (int rep = 0; rep < reps; rep++) {
            double t0 = cpu_now(), w0 = time_now();
            for (int k = 0; k < NMAT; k++) {
                struct mat m = {types[t], ROWS, COLS, data + k * mb};
                matmul_apply(pool, out, x, 1, &m, scratch, sizeof scratch);
            }
            double dt = cpu_now() - t0, dw = time_now() - w0;
            if (dt < best) best = dt;
            if (dw < best_wall) best_wall = dw;
        }
        printf("%-5s %6.1f MB  cpu %6.2f ms (%5.1f GB/s)  wall %6.2f ms (%5.1f GB/s)\n",
               dtype_name(types[t]), mb * NMAT / 1e6, best * 1e3, mb * NMAT / best / 1e9,
               best_wall * 1e3, mb * NMAT / best_wall / 1e9);
        free(data);
    }
    free(src);
    pool_free(pool);
    return 0;
}
