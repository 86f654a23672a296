/* disr bench: prefill and decode tokens/s of the inference engine on random-weight models of
 * fixed shapes (speed does not depend on weight values), in the style of llama-bench (pp =
 * prompt of N tokens in one batch, logits of the last; tg = N tokens decoded one at a time from
 * an empty cache, logits each), median of --reps runs; plus memory (weights + KV cache), and
 * the machine's streaming read bandwidth, the ceiling of memory-bound decode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/log.h"
#include "core/matmul.h"
#include "core/pool.h"
#include "model/engine.h"
#include "model/model_io.h"
#include "model/quant.h"
#include "train/train_run.h"
#include "train/zoo.h"

struct bench_shape {
    const char *name;
    struct model_config c;
    int pp, tg; /* prompt length, decoded tokens */
};

/* ---- a GGUF file, llama-bench's tests ---- */

/* Median, min and max of the tokens/s of one test over its repetitions. */
struct test_stat {
    double med, min, max;
};

static double median(double *v, int n);

static void test_stat_of(double *tps, int n, struct test_stat *out) {
    out->min = out->max = tps[0];
    for (int i = 1; i < n; i++) {
        if (tps[i] < out->min) out->min = tps[i];
        if (tps[i] > out->max) out->max = tps[i];
    }
    out->med = median(tps, n);
}

/* Feeds n tokens of sequence 0 from position p0 in one batch; logits of every token when
 * `all`, else of the last only (a prompt). */
static int feed(struct engine *e, const int32_t *tok, int32_t *pos, int32_t *seq, int8_t *want,
                int p0, int n, bool all, float *logits) {
    for (int i = 0; i < n; i++)
        pos[i] = p0 + i, seq[i] = 0, want[i] = all || i == n - 1;
    struct engine_batch b = {n, tok, pos, seq, want};
    return engine_decode(e, &b, logits);
}

/* Seconds of one repetition of a test: a prompt of `pp` tokens (logits of the last), or `tg`
 * tokens decoded one at a time after `depth` cached tokens (the fill is not timed). The cache
 * needs no clearing between repetitions: positions start again at 0 and a token attends only
 * to positions up to its own. */
static int time_test(struct engine *e, const int32_t *tok, int32_t *scratch, int8_t *want,
                     float *logits, int pp, int tg, int depth, double *sec) {
    int32_t *pos = scratch, *seq = scratch + (pp + depth + tg);
    if (pp) {
        double t0 = time_now();
        DISR_TRY(feed(e, tok, pos, seq, want, 0, pp, false, logits));
        *sec = time_now() - t0;
        return DISR_OK;
    }
    if (depth) DISR_TRY(feed(e, tok, pos, seq, want, 0, depth, false, logits));
    double t0 = time_now();
    for (int i = 0; i < tg; i++)
        DISR_TRY(feed(e, tok + depth + i, pos, seq, want, depth + i, 1, true, logits));
    *sec = time_now() - t0;
    return DISR_OK;
}

struct file_test {
    char name[32];
    int pp, tg, depth;
};

/* Runs each test `reps` times after one warm-up, round-robin over the tests so that a load
 * change on a shared machine touches every test alike, and prints one row per test. */
static int bench_file(const char *path, const struct file_test *tests, int n_tests, int threads,
                      int reps) {
    struct model *m = NULL;
    DISR_TRY(model_load_mapped(&m, path));
    const struct model_config *c = &m->config;
    int n_tok = 0;
    for (int i = 0; i < n_tests; i++) {
        int need = tests[i].pp + tests[i].depth + tests[i].tg;
        if (need > n_tok) n_tok = need;
    }
    struct engine *e = NULL;
    struct engine_params ep = {.max_seqs = 1, .n_ctx = n_tok, .n_threads = threads};
    int st = n_tok > c->n_ctx ? disr_fail(DISR_E_ARG,
                                          "bench: the tests need a context of %d tokens, %s "
                                          "has %d",
                                          n_tok, path, c->n_ctx)
                              : engine_init(&e, m, &ep);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)n_tok * 3);
    int8_t *want = malloc((size_t)n_tok);
    float *logits = malloc(sizeof(float) * (size_t)c->n_vocab * (size_t)n_tok);
    double *tps = malloc(sizeof(double) * (size_t)reps * (size_t)n_tests);
    if (st >= 0 && (!tok || !want || !logits || !tps))
        st = disr_fail(DISR_E_NOMEM, "bench: out of memory");
    if (st >= 0) {
        uint32_t x = 12345u; /* random tokens, as llama-bench feeds */
        for (int i = 0; i < n_tok; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            tok[i] = (int32_t)(x % (uint32_t)c->n_vocab);
        }
        struct engine_memory mem;
        engine_memory_get(e, &mem);
        printf("%s: %.1fM parameters, %s matrices, weights %.1f MiB; engine kernels: %s; "
               "threads: %d\n\n",
               path, model_param_count(c) / 1e6, dtype_name(m->weights.layer[0].wq.type),
               mem.weights / 1048576.0, matmul_kernel_name(),
               threads > 0 ? threads : pool_default_threads());
        printf("| test | tok/s (median of %d) | min | max |\n| --- | ---: | ---: | ---: |\n", reps);
    }
    for (int r = -1; r < reps && st >= 0; r++) /* r = -1 warms up */
        for (int i = 0; i < n_tests && st >= 0; i++) {
            const struct file_test *t = &tests[i];
            double sec = 0;
            st = time_test(e, tok, tok + n_tok, want, logits, t->pp, t->tg, t->depth, &sec);
            if (r >= 0) tps[(size_t)i * reps + r] = (t->pp ? t->pp : t->tg) / sec;
        }
    for (int i = 0; i < n_tests && st >= 0; i++) {
        struct test_stat s;
        test_stat_of(tps + (size_t)i * reps, reps, &s);
        printf("| %s | %.1f | %.1f | %.1f |\n", tests[i].name, s.med, s.min, s.max);
    }
    free(tok), free(want), free(logits), free(tps);
    engine_free(e);
    model_free(m);
    return st;
}

/* The agent shape is the largest built-in agent (char vocabulary); 110m is the llama2.c st110M
 * shape the early llama.cpp reference points were measured on (untied output, as in its GGUF;
 * docs/journal/2026-12-performance.md, 2026-11-28). */
static const struct bench_shape shapes[] = {
    {"agent",
     {.arch = MODEL_ARCH_LLAMA,
      .n_vocab = 100,
      .n_embd = 256,
      .n_layer = 4,
      .n_head = 4,
      .n_head_kv = 4,
      .n_ff = 768,
      .n_ctx = 512,
      .norm_eps = 1e-5f,
      .rope_base = 10000.0f,
      .rope_style = ROPE_NORMAL,
      .tied_output = true},
     128,
     128},
    {"110m",
     {.arch = MODEL_ARCH_LLAMA,
      .n_vocab = 32000,
      .n_embd = 768,
      .n_layer = 12,
      .n_head = 12,
      .n_head_kv = 12,
      .n_ff = 2048,
      .n_ctx = 1024,
      .norm_eps = 1e-5f,
      .rope_base = 10000.0f,
      .rope_style = ROPE_NORMAL},
     512,
     128},
};

/* ---- memory read bandwidth ---- */

/* Decode reads every weight once per token, so tokens/s can never beat bandwidth / bytes read
 * per token; this probe measures that bandwidth the way decode reads: the pool's threads stream
 * a buffer far larger than the caches in chunks claimed dynamically. XOR of 64-byte vectors
 * (GCC vector extensions: AVX-512 or AVX2 loads with -march=native) keeps it load-bound. */
typedef uint64_t membw_vec __attribute__((vector_size(64)));
#define MEMBW_BYTES (512u << 20)
#define MEMBW_CHUNK (256u << 10)

struct membw_job {
    const membw_vec *buf;
    size_t per_chunk; /* vectors per chunk */
    uint64_t sink[64];
};

static void membw_chunk(void *ctx, int chunk, int thread) {
    struct membw_job *j = ctx;
    const membw_vec *p = j->buf + (size_t)chunk * j->per_chunk;
    membw_vec a = {0}, b = {0}, c = {0}, d = {0};
    for (size_t i = 0; i < j->per_chunk; i += 4) {
        a ^= p[i], b ^= p[i + 1], c ^= p[i + 2], d ^= p[i + 3];
    }
    a ^= b ^ c ^ d;
    uint64_t s = 0;
    for (int k = 0; k < 8; k++)
        s ^= a[k];
    j->sink[thread & 63] ^= s; /* keeps the loads alive */
}

static double median(double *v, int n);

/* Median GB/s of `reps` passes over MEMBW_BYTES with `threads` threads. */
static int bench_memory(int threads, int reps, double *gbs, int *used) {
    struct pool *pool = NULL;
    DISR_TRY(pool_init(&pool, threads));
    *used = pool_size(pool);
    membw_vec *buf = aligned_alloc(64, MEMBW_BYTES);
    double *t = malloc(sizeof(double) * (size_t)reps);
    if (!buf || !t) {
        free(buf), free(t), pool_free(pool);
        return disr_fail(DISR_E_NOMEM, "bench: %u MiB buffer", MEMBW_BYTES >> 20);
    }
    memset(buf, 1, MEMBW_BYTES); /* touch every page before timing */
    struct membw_job j = {.buf = buf, .per_chunk = MEMBW_CHUNK / sizeof(membw_vec)};
    int n_chunks = (int)(MEMBW_BYTES / MEMBW_CHUNK);
    pool_run(pool, n_chunks, membw_chunk, &j); /* warm-up */
    for (int r = 0; r < reps; r++) {
        double t0 = time_now();
        pool_run(pool, n_chunks, membw_chunk, &j);
        t[r] = MEMBW_BYTES / (time_now() - t0) / 1e9;
    }
    *gbs = median(t, reps);
    free(t), free(buf), pool_free(pool);
    return DISR_OK;
}

/* Bytes decode reads per token for an F32 model: every matrix once (the output head included),
 * but only one row of the token table. */
static double decode_bytes_f32(const struct model_config *c) {
    double d = c->n_embd, kv = (double)c->n_embd * c->n_head_kv / c->n_head, ff = c->n_ff;
    double layer = d * d * 2 + d * kv * 2 + d * ff * 3;
    return 4.0 * (c->n_layer * layer + (double)c->n_vocab * d);
}

/* Re-points every matrix of an F32 model at a copy converted to `type` (norms stay F32). */
static int convert_matrices(struct model *m, enum dtype type, void **storage) {
    const struct model_config *c = &m->config;
    struct mat *mats[4 + 7 * MODEL_MAX_LAYERS];
    int n = 0;
    mats[n++] = &m->weights.token_embd;
    if (!c->tied_output) mats[n++] = &m->weights.output;
    for (int l = 0; l < c->n_layer; l++) {
        struct layer_weights *lw = &m->weights.layer[l];
        struct mat *ls[7] = {&lw->wq,     &lw->wk,   &lw->wv,    &lw->wo,
                             &lw->w_gate, &lw->w_up, &lw->w_down};
        for (int i = 0; i < 7; i++)
            mats[n++] = ls[i];
    }
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += dtype_row_size(type, mats[i]->cols) * (size_t)mats[i]->rows;
    char *buf = malloc(total ? total : 1);
    if (!buf) return disr_fail(DISR_E_NOMEM, "bench: cannot allocate %zu bytes", total);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        struct mat *mt = mats[i];
        size_t rb = dtype_row_size(type, mt->cols);
        for (int r = 0; r < mt->rows; r++)
            DISR_TRY(quantize_row(type, (const float *)mt->data + (size_t)r * mt->cols,
                                  buf + off + rb * (size_t)r, mt->cols));
        mt->data = buf + off;
        mt->type = type;
        off += rb * (size_t)mt->rows;
    }
    if (c->tied_output) m->weights.output = m->weights.token_embd;
    *storage = buf;
    return DISR_OK;
}

/* An F32 model with cheap pseudo-random weights: speed does not depend on the values, and a
 * Gaussian init of 134M parameters would take longer than the benchmark. */
static int bench_model_new(struct model **out, const struct model_config *c) {
    DISR_TRY(model_config_validate(c));
    struct model *m = calloc(1, sizeof *m);
    size_t n = model_param_count(c);
    float *p = m ? malloc(n * sizeof(float)) : NULL;
    if (!p) {
        free(m);
        return disr_fail(DISR_E_NOMEM, "bench: cannot allocate %zu parameters", n);
    }
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) { /* xorshift32, uniform in [-0.05, 0.05) */
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        p[i] = (float)((double)x / 4294967296.0 - 0.5) * 0.1f;
    }
    m->config = *c;
    m->params = p;
    m->n_params = n;
    model_weights_point(&m->weights, c, p);
    *out = m;
    return DISR_OK;
}

/* Process CPU time: with one thread, tokens per CPU-second is the speed the engine has when it
 * gets the core, a figure that other work on a shared machine barely moves (wall time does). */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct bench_result {
    double pp_tps, tg_tps, batch_tps;
    double tg_cpu_tps; /* decode tokens per second of process CPU time */
    struct engine_memory mem;
};

/* pp: one batch of `pp` tokens; tg: `tg` single-token steps; batch: n_batch sequences decoded
 * together for tg/4 steps (aggregate tokens/s, what a busy server sees). */
static int run_shape(const struct bench_shape *s, enum dtype type, int threads, int reps,
                     int n_batch, struct bench_result *out) {
    struct model *m = NULL;
    DISR_TRY(bench_model_new(&m, &s->c));
    void *storage = NULL;
    int st = type == DTYPE_F32 ? DISR_OK : convert_matrices(m, type, &storage);
    struct engine *e = NULL;
    struct engine_params ep = {.max_seqs = n_batch > 1 ? n_batch : 1,
                               .n_ctx = s->pp > s->tg ? s->pp : s->tg,
                               .n_threads = threads};
    if (st >= 0) st = engine_init(&e, m, &ep);
    const int V = s->c.n_vocab, n_tok = s->pp > s->tg ? s->pp : s->tg;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)n_tok * 3);
    int8_t *want = calloc((size_t)n_tok, 1);
    float *logits = malloc(sizeof(float) * (size_t)V * (n_batch > 1 ? n_batch : 1));
    double *t_pp = calloc((size_t)reps, sizeof(double)),
           *t_tg = calloc((size_t)reps, sizeof(double)),
           *t_cpu = calloc((size_t)reps, sizeof(double));
    double *t_b = calloc((size_t)reps, sizeof(double));
    if (st >= 0 && (!tok || !want || !logits || !t_pp || !t_tg || !t_cpu || !t_b))
        st = disr_fail(DISR_E_NOMEM, "bench: out of memory");
    if (st >= 0) {
        int32_t *pos = tok + n_tok, *seq = tok + 2 * n_tok;
        for (int i = 0; i < n_tok; i++)
            tok[i] = (int32_t)((i * 7919) % V), pos[i] = i, seq[i] = 0;
        int8_t one = 1;
        for (int r = 0; r < reps + 1 && st >= 0; r++) { /* run 0 warms up (page faults) */
            want[s->pp - 1] = 1;
            struct engine_batch b = {s->pp, tok, pos, seq, want};
            double t0 = time_now();
            st = engine_decode(e, &b, logits);
            double t1 = time_now(), c1 = cpu_now();
            for (int i = 0; i < s->tg && st >= 0; i++) {
                struct engine_batch d = {1, tok + i, pos + i, seq, &one};
                st = engine_decode(e, &d, logits);
            }
            double t2 = time_now(), c2 = cpu_now();
            double t3 = t2, t4 = t2;
            if (n_batch > 1) {
                int32_t bt[64], bp[64], bs[64];
                int8_t bw[64];
                for (int k = 0; k < n_batch; k++)
                    bs[k] = k, bw[k] = 1;
                t3 = time_now();
                for (int i = 0; i < s->tg / 4 && st >= 0; i++) {
                    for (int k = 0; k < n_batch; k++)
                        bt[k] = tok[(i + k) % n_tok], bp[k] = i;
                    struct engine_batch d = {n_batch, bt, bp, bs, bw};
                    st = engine_decode(e, &d, logits);
                }
                t4 = time_now();
            }
            if (r > 0) {
                t_pp[r - 1] = s->pp / (t1 - t0);
                t_tg[r - 1] = s->tg / (t2 - t1);
                t_cpu[r - 1] = s->tg / (c2 - c1);
                t_b[r - 1] = n_batch > 1 ? (double)n_batch * (s->tg / 4) / (t4 - t3) : 0;
            }
        }
    }
    if (st >= 0) {
        out->pp_tps = median(t_pp, reps);
        out->tg_tps = median(t_tg, reps);
        out->tg_cpu_tps = median(t_cpu, reps);
        out->batch_tps = median(t_b, reps);
        engine_memory_get(e, &out->mem);
    }
    free(t_pp), free(t_tg), free(t_cpu), free(t_b), free(tok), free(want), free(logits);
    engine_free(e);
    model_free(m);
    free(storage);
    return st;
}

/* Training tokens/s at the default ladder's agent shapes (all five rungs, `disr zoo --agents 5`;
 * the default family of four is the last four), character vocabulary, context 256, batch 8 x
 * 128, random tokens: the speed `disr zoo` trains them at. With --quick the largest shape only,
 * at 1 x 16. */
enum { BENCH_RUNGS = 5 }; /* the ladder's rungs: `disr zoo --agents` takes up to five */
static int bench_zoo(int n_shapes, int B, int T, int steps, int threads) {
    /* as `disr zoo --threads N` runs: OpenBLAS's own threads capped to the same N (their
     * spin-wait otherwise takes a quarter of a one-thread step at these sizes) */
    if (threads > 0) matmul_set_blas_threads(threads);
    printf("\n| zoo shape | params | B x T | threads | s/step | tok/s | tok/CPU-s |\n");
    printf("| --- | ---: | --- | ---: | ---: | ---: | ---: |\n");
    for (int i = BENCH_RUNGS - n_shapes; i < BENCH_RUNGS; i++) {
        struct zoo_size sz;
        DISR_TRY(zoo_agent_size(WORLD_DEFAULT, i, BENCH_RUNGS, &sz));
        struct model_config c = {.arch = MODEL_ARCH_LLAMA,
                                 .n_vocab = 98,
                                 .n_embd = sz.n_embd,
                                 .n_layer = sz.n_layer,
                                 .n_head = sz.n_head,
                                 .n_head_kv = sz.n_head,
                                 .n_ff = sz.n_ff,
                                 .n_ctx = 256,
                                 .norm_eps = 1e-5f,
                                 .rope_base = 10000.0f,
                                 .rope_style = ROPE_NORMAL,
                                 .tied_output = true};
        struct train_bench_result tr;
        DISR_TRY(train_bench(&c, B, T, steps, threads, &tr));
        printf("| C%d L%d | %.2fM | %d x %d | %d | %.4f | %.0f | %.0f |\n", sz.n_embd, sz.n_layer,
               tr.n_params / 1e6, B, T, threads > 0 ? threads : pool_default_threads(),
               tr.sec_per_step, tr.tokens_per_s, (double)B * T / tr.cpu_per_step);
        fflush(stdout);
    }
    return DISR_OK;
}

/* ---- the command ---- */

/* What `disr bench` measures: its options, defaults in bench_job_default. */
struct bench_job {
    const char *what, *model, *types;
    int threads, reps, batch, pp, tg, train_steps, depth;
    int quick;
};

static void bench_job_default(struct bench_job *j, bool quick) {
    *j = (struct bench_job){.what = "all",
                            .model = "all",
                            .types = "f32,q8_0,q4_0",
                            .reps = 5,
                            .batch = 4,
                            .train_steps = 5,
                            .depth = 512};
    /* quick: the agent shape only, two weight types and repetitions (for tests) */
    if (quick) j->model = "agent", j->types = "f32,q8_0", j->reps = 2, j->train_steps = 2;
}

static int bench_check(const struct bench_job *j) {
    if (j->train_steps < 1 || j->train_steps > 100 || j->reps < 1 || j->reps > 100 ||
        j->batch < 1 || j->batch > 64 || j->pp < 0 || j->tg < 0 || j->pp > 4096 || j->tg > 4096) {
        fprintf(stderr,
                "disr: bench: --reps must be 1..100, --batch 1..64, --pp and --tg 0..4096\n");
        return 2;
    }
    return 0;
}

/* llama-bench's pp, tg and tg @ depth on a GGUF file. */
static int bench_gguf(const struct bench_job *j) {
    if (j->depth < 0 || j->depth > 65536) {
        fprintf(stderr, "disr: bench: --depth must be 0..65536\n");
        return 2;
    }
    struct file_test t[3];
    int n = 0, pp = j->pp ? j->pp : 512, tg = j->tg ? j->tg : 128;
    t[n] = (struct file_test){"", pp, 0, 0}, snprintf(t[n].name, 32, "pp%d", pp), n++;
    t[n] = (struct file_test){"", 0, tg, 0}, snprintf(t[n].name, 32, "tg%d", tg), n++;
    if (j->depth) {
        t[n] = (struct file_test){"", 0, tg, j->depth};
        snprintf(t[n].name, 32, "tg%d @ d%d", tg, j->depth), n++;
    }
    int st = bench_file(j->model, t, n, j->threads, j->reps);
    return st < 0 ? cli_fail("bench", st) : 0;
}

/* One row per weight type of --types for shape s. */
static int infer_rows(const struct bench_job *j, const struct bench_shape *s) {
    char list[64];
    snprintf(list, sizeof list, "%s", j->types);
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        enum dtype dt;
        if (dtype_parse(t, &dt) < 0) return DISR_E_ARG;
        struct bench_result r;
        DISR_TRY(run_shape(s, dt, j->threads, j->reps, j->batch, &r));
        char pp_label[32], tg_label[32], batch_cell[32] = "–"; /* --batch 1: skipped */
        snprintf(pp_label, sizeof pp_label, "pp%d", s->pp);
        snprintf(tg_label, sizeof tg_label, "tg%d", s->tg);
        if (j->batch > 1) snprintf(batch_cell, sizeof batch_cell, "%.1f", r.batch_tps);
        printf("| %s | %s | %.1f | %.1f | %.0f (%s) | %.1f (%s) | %s | %.1f |\n", s->name,
               dtype_name(dt), r.mem.weights / 1048576.0, r.mem.kv_cache / 1048576.0, r.pp_tps,
               pp_label, r.tg_tps, tg_label, batch_cell, r.tg_cpu_tps);
        fflush(stdout);
    }
    return DISR_OK;
}

static int bench_infer(const struct bench_job *j) {
    printf("engine kernels: %s, sgemm: OpenBLAS %s, threads: %d\n\n", matmul_kernel_name(),
           matmul_blas_core(), j->threads);
    printf("| model | type | weights MiB | KV MiB | pp tok/s | tg tok/s | tg x%d tok/s | tg "
           "tok/CPU-s |\n",
           j->batch);
    printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        struct bench_shape shape = shapes[i], *s = &shape;
        if (strcmp(j->model, "all") && strcmp(j->model, s->name)) continue;
        if (j->pp) s->pp = j->pp;
        if (j->tg) s->tg = j->tg;
        if (s->c.n_ctx < s->pp) s->c.n_ctx = s->pp;
        if (s->c.n_ctx < s->tg) s->c.n_ctx = s->tg;
        DISR_TRY(infer_rows(j, s));
    }
    return DISR_OK;
}

static int bench_memory_table(const struct bench_job *j) {
    double gbs = 0;
    int used = 0;
    DISR_TRY(bench_memory(j->threads, j->quick ? 2 : j->reps, &gbs, &used));
    double bytes = decode_bytes_f32(&shapes[1].c);
    printf("\n| memory | threads | read GB/s | 110m f32 decode ceiling (%.0f MB/token) |\n",
           bytes / 1e6);
    printf("| --- | ---: | ---: | ---: |\n");
    printf("| streaming read, %u MiB | %d | %.1f | %.1f tok/s |\n", MEMBW_BYTES >> 20, used, gbs,
           gbs * 1e9 / bytes);
    return DISR_OK;
}

static int bench_train(const struct bench_job *j) {
    /* llm.c's CPU trainer took 4.7 s/step on this shape here (B=4, T=64). */
    struct model_config c;
    train_bench_config_gpt2(&c);
    int B = 4, T = 64;
    const char *label = "gpt2-124m";
    if (j->quick) c = shapes[0].c, B = 2, T = 32, label = "agent";
    struct train_bench_result tr;
    DISR_TRY(train_bench(&c, B, T, j->train_steps, j->threads, &tr));
    printf("\n| training | params | B x T | s/step | tok/s | GFLOPS |\n");
    printf("| --- | ---: | --- | ---: | ---: | ---: |\n");
    printf("| %s | %.1fM | %d x %d | %.3f | %.0f | %.1f |\n", label, tr.n_params / 1e6, B, T,
           tr.sec_per_step, tr.tokens_per_s, tr.gflops);
    return DISR_OK;
}

/* The sections --what asks for, in order; a failure ends the run. */
static int bench_sections(const struct bench_job *j) {
    bool all = !strcmp(j->what, "all");
    if (all || !strcmp(j->what, "infer")) DISR_TRY(bench_infer(j));
    if (all || !strcmp(j->what, "memory")) DISR_TRY(bench_memory_table(j));
    if (all || !strcmp(j->what, "train")) DISR_TRY(bench_train(j));
    if (all || !strcmp(j->what, "zoo"))
        DISR_TRY(bench_zoo(j->quick ? 1 : BENCH_RUNGS, j->quick ? 1 : 8, j->quick ? 16 : 128,
                           j->train_steps, j->threads));
    return DISR_OK;
}

int cmd_bench(int argc, char **argv) {
    struct bench_job j, quick;
    bench_job_default(&j, false);
    bench_job_default(&quick, true);
    char quick_help[128];
    snprintf(quick_help, sizeof quick_help,
             "%s shape only (inference and training), types %s, %d repetitions (for tests)",
             quick.model, quick.types, quick.reps);
    const struct cli_opt opts[] = {
        {"--what", NULL, OPT_STR, &j.what,
         "infer, train, zoo (training at the agent family's shapes), memory or all (default "
         "{})"},
        {"--model", NULL, OPT_STR, &j.model,
         "inference shape: agent, 110m or all (default {}), or a GGUF file (FILE.gguf): "
         "llama-bench's pp512, tg128 and tg128 @ d512 on it"},
        {"--types", NULL, OPT_STR, &j.types, "weight types, comma-separated (default {})"},
        {"--threads", "-t", OPT_INT, &j.threads, "compute threads (default: all cores)"},
        {"--reps", NULL, OPT_INT, &j.reps, "repetitions; the median is reported (default {})"},
        {"--batch", NULL, OPT_INT, &j.batch,
         "sequences in the batched-decode test (default {}; 1 = skip)"},
        {"--pp", NULL, OPT_INT, &j.pp, "prompt tokens (default 128 agent, 512 110m)"},
        {"--tg", NULL, OPT_INT, &j.tg, "decoded tokens (default 128)"},
        {"--depth", NULL, OPT_INT, &j.depth,
         "with a GGUF file: cached tokens before the tg test at depth (default {}; 0 = skip)"},
        {"--train-steps", NULL, OPT_INT, &j.train_steps, "timed training steps (default {})"},
        {"--quick", NULL, OPT_FLAG, &j.quick, quick_help},
        {0},
    };
    int rc = cli_parse(argc, argv, opts,
                       "[--what infer|train|all] [--model agent|110m|all|FILE.gguf] "
                       "[--types f32,q8_0,q4_0] [--threads N] [--reps N]\n"
                       "With a GGUF file: llama-bench's tests on it (pp512: a prompt of 512 "
                       "tokens in one batch; tg128: 128 tokens decoded one at a time from an "
                       "empty cache; tg128 @ d512: the same after a 512-token prompt, which is "
                       "not timed), median, min and max over --reps runs, round-robin.\n"
                       "Prefill (pp) and decode (tg) tokens/s of the engine on random-weight "
                       "models, median of --reps runs, and the memory each needs; then training "
                       "speed (s/step, tokens/s, GFLOPS) on the GPT-2-124M shape.",
                       NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (j.quick) { /* --quick overrides the options it sets, given or not */
        quick.what = j.what, quick.threads = j.threads, quick.batch = j.batch, quick.pp = j.pp;
        quick.tg = j.tg, quick.depth = j.depth, quick.quick = 1;
        j = quick;
    }
    static const char *const whats[] = {"all", "infer", "train", "zoo", "memory"};
    bool known = false;
    for (size_t i = 0; i < sizeof whats / sizeof *whats; i++)
        known |= !strcmp(j.what, whats[i]);
    if (!known) {
        fprintf(stderr, "disr: bench: --what must be infer, train, zoo, memory or all\n");
        return 2;
    }
    if ((rc = bench_check(&j))) return rc;
    size_t ml = strlen(j.model);
    if (ml > 5 && !strcmp(j.model + ml - 5, ".gguf")) return bench_gguf(&j);
    int st = bench_sections(&j);
    return st < 0 ? cli_fail("bench", st) : 0;
}
