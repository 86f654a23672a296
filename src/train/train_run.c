#include "train/train_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/rng.h"
#include "model/transformer.h"
#include "train/loop.h"

struct batch_buf {
    int32_t *inputs, *targets;
    float *weights;
};

static int batch_alloc(struct batch_buf *b, size_t n) {
    b->inputs = malloc(n * sizeof *b->inputs);
    b->targets = malloc(n * sizeof *b->targets);
    b->weights = malloc(n * sizeof *b->weights);
    if (!b->inputs || !b->targets || !b->weights)
        return disr_fail(DISR_E_NOMEM, "train: cannot allocate a batch of %zu tokens", n);
    return DISR_OK;
}

static void batch_free(struct batch_buf *b) {
    free(b->inputs), free(b->targets), free(b->weights);
}

/* What a pretraining step needs and what it reports. */
struct run_ctx {
    struct trainer *t;
    const struct corpus *c;
    const struct train_config *cfg;
    const struct train_run_opts *o;
    struct train_run_result *r;
    struct batch_buf *bb;
    float loss, norm, recent[10];
    int n_recent;
    double t0;
};

static int run_step(void *ctx, int step) {
    struct run_ctx *x = ctx;
    const struct train_config *cfg = x->cfg;
    double loss_sum = 0;
    for (int a = 0; a < cfg->accum; a++) {
        int64_t index = (int64_t)step * cfg->accum + a;
        DISR_TRY(corpus_sample(x->c, cfg->seed, index, cfg->batch, cfg->seq, x->bb->inputs,
                               x->bb->targets, x->bb->weights));
        float loss;
        DISR_TRY(trainer_accumulate(x->t, x->bb->inputs, x->bb->targets, x->bb->weights, &loss));
        loss_sum += loss;
    }
    x->loss = (float)(loss_sum / cfg->accum);
    DISR_TRY(trainer_update(x->t, step, &x->norm));
    if (x->o->losses) x->o->losses[step] = x->loss;
    if (x->r->steps_done == 0) x->r->first_loss = x->loss;
    x->recent[x->n_recent++ % 10] = x->loss;
    x->r->steps_done++;
    double el = time_now() - x->t0;
    x->r->seconds = el;
    x->r->tokens_per_s =
        el > 0 ? (double)cfg->batch * cfg->seq * cfg->accum * x->r->steps_done / el : 0;
    return DISR_OK;
}

static void run_describe(void *ctx, int step, bool final, char *buf, size_t cap) {
    struct run_ctx *x = ctx;
    (void) final;
    snprintf(buf, cap, "step %d  loss %.4f  lr %.2e  norm %.2f  %.0f tok/s", step + 1, x->loss,
             train_lr_at(x->cfg, step), x->norm, x->r->tokens_per_s);
}

static int run_steps(struct trainer *t, const struct corpus *c, const struct train_config *cfg,
                     const struct train_run_opts *o, struct train_run_result *r,
                     struct batch_buf *bb) {
    struct run_ctx x = {.t = t, .c = c, .cfg = cfg, .o = o, .r = r, .bb = bb, .t0 = time_now()};
    struct train_loop l = {.trainer = t,
                           .steps = cfg->steps,
                           .label = o->label ? o->label : "train",
                           .checkpoint = o->checkpoint,
                           .checkpoint_every = o->checkpoint_every,
                           .resume = o->resume,
                           .checkpoint_at_end = true,
                           .stop_after = o->stop_after,
                           .step = run_step,
                           .describe = run_describe};
    struct train_loop_result lr;
    int st = train_loop_run(&l, &x, &lr);
    r->first_step = lr.first_step;
    int k = x.n_recent < 10 ? x.n_recent : 10;
    double s = 0;
    for (int i = 0; i < k; i++)
        s += x.recent[i];
    r->final_loss = k ? (float)(s / k) : 0;
    return st;
}

int train_run(struct model *m, const struct corpus *c, const struct train_config *cfg,
              const struct train_run_opts *o, struct train_run_result *res) {
    struct train_run_opts none = {0};
    struct train_run_result r = {0};
    if (!o) o = &none;
    if (c->n_tokens < 2) return disr_fail(DISR_E_STATE, "train: the corpus is not tokenized");
    struct trainer *t;
    DISR_TRY(trainer_init(&t, m, cfg));
    struct batch_buf bb = {0};
    int st = batch_alloc(&bb, (size_t)cfg->batch * cfg->seq);
    if (st >= 0) st = run_steps(t, c, cfg, o, &r, &bb);
    batch_free(&bb);
    trainer_free(t);
    if (res) *res = r;
    return st;
}

void train_bench_config_gpt2(struct model_config *c) {
    *c = (struct model_config){
        .arch = MODEL_ARCH_LLAMA,
        .n_vocab = 50304,
        .n_embd = 768,
        .n_layer = 12,
        .n_head = 12,
        .n_head_kv = 12,
        .n_ff = 3072,
        .n_ctx = 1024,
        .norm_eps = 1e-5f,
        .rope_base = 10000.0f,
        .rope_style = ROPE_NORMAL,
        .qkv_bias = false,
        .tied_output = true,
    };
}

static double cpu_seconds(void) {
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
    return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + (double)u.ru_stime.tv_sec +
           u.ru_stime.tv_usec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int train_bench(const struct model_config *c, int B, int T, int steps, int threads,
                struct train_bench_result *out) {
    if (steps <= 0 || steps > 1000) return disr_fail(DISR_E_ARG, "bench: %d steps", steps);
    struct model *m;
    DISR_TRY(model_init_random(&m, c, NULL, 42));
    struct train_config cfg;
    train_config_default(&cfg);
    cfg.batch = B;
    cfg.seq = T;
    cfg.steps = steps + 1;
    cfg.threads = threads;
    struct trainer *t = NULL;
    struct batch_buf bb = {0};
    double *times = calloc(2 * (size_t)steps, sizeof *times), *cpu = times ? times + steps : NULL;
    int st = times ? trainer_init(&t, m, &cfg) : disr_fail(DISR_E_NOMEM, "bench: out of memory");
    if (st >= 0) st = batch_alloc(&bb, (size_t)B * T);
    if (st >= 0) {
        struct rng r;
        rng_init(&r, 7);
        for (int i = 0; i < B * T; i++) {
            bb.inputs[i] = (int32_t)rng_below(&r, (uint64_t)c->n_vocab);
            bb.targets[i] = (int32_t)rng_below(&r, (uint64_t)c->n_vocab);
        }
        /* Step 0 is a warm-up (first-touch page faults of the big buffers), not timed. */
        for (int s = 0; s <= steps && st >= 0; s++) {
            double t0 = time_now(), c0 = cpu_seconds();
            float loss;
            st = trainer_accumulate(t, bb.inputs, bb.targets, NULL, &loss);
            if (st >= 0) st = trainer_update(t, s, NULL);
            double wall = time_now() - t0, used = cpu_seconds() - c0;
            if (s > 0) times[s - 1] = wall, cpu[s - 1] = used;
            log_info("bench: train step %d: %.3f s wall, %.3f s CPU, loss %.3f", s, wall, used,
                     loss);
        }
    }
    if (st >= 0) {
        qsort(times, (size_t)steps, sizeof *times, cmp_double);
        qsort(cpu, (size_t)steps, sizeof *cpu, cmp_double);
        double med = times[steps / 2];
        out->cpu_per_step = cpu[steps / 2];
        out->n_params = m->n_params;
        out->sec_per_step = med;
        out->tokens_per_s = (double)B * T / med;
        out->gflops = transformer_flops(c, B, T) / med * 1e-9;
    }
    free(times);
    batch_free(&bb);
    trainer_free(t);
    model_free(m);
    return st;
}
