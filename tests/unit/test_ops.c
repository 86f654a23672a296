/* Finite-difference gradient checks for every backward op (core/ops.h and the training
 * linear layer): for a random projection R, L = sum(out * R) is differentiated by central
 * differences (accumulated in double) and compared with the analytic backward fed dout = R. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "core/rng.h"
#include "model/transformer.h"

typedef void (*fd_fn)(void *ctx, float *out);

static void fill(struct rng *r, float *x, int n, float scale) {
    for (int i = 0; i < n; i++)
        x[i] = scale * rng_normal(r);
}

static double proj(fd_fn f, void *ctx, float *out, const float *R, int n_out) {
    f(ctx, out);
    double s = 0;
    for (int i = 0; i < n_out; i++)
        s += (double)out[i] * R[i];
    return s;
}

/* Returns the number of entries of `analytic` that disagree with the numerical gradient of
 * sum(f(x) * R) w.r.t. x; tolerance relative to the largest gradient entry. */
static int fd_mismatches(fd_fn f, void *ctx, float *x, int n_x, const float *analytic,
                         const float *R, int n_out, float eps, double rtol, const char *what) {
    float *out = malloc(sizeof(float) * n_out);
    double maxg = 1e-6;
    for (int i = 0; i < n_x; i++)
        maxg = fmax(maxg, fabs(analytic[i]));
    int bad = 0;
    for (int i = 0; i < n_x; i++) {
        float keep = x[i];
        x[i] = keep + eps;
        double lp = proj(f, ctx, out, R, n_out);
        x[i] = keep - eps;
        double lm = proj(f, ctx, out, R, n_out);
        x[i] = keep;
        double num = (lp - lm) / (2.0 * eps);
        if (fabs(num - analytic[i]) > rtol * maxg + 1e-5) {
            if (bad < 3)
                fprintf(stderr, "%s[%d]: numerical %.6g analytic %.6g\n", what, i, num,
                        analytic[i]);
            bad++;
        }
    }
    free(out);
    return bad;
}

/* ---- rmsnorm ---- */
struct rms_ctx {
    float *x, *w;
    int rows, n;
};
static void rms_f(void *vc, float *out) {
    struct rms_ctx *c = vc;
    rmsnorm_forward(out, NULL, c->x, c->w, c->rows, c->n, 1e-5f);
}
static void test_rmsnorm_backward(void **state) {
    (void)state;
    struct rng r;
    rng_init(&r, 1);
    enum { ROWS = 3, N = 7 };
    float x[ROWS * N], w[N], R[ROWS * N], out[ROWS * N], rstd[ROWS], dx[ROWS * N] = {0},
                                                                               dw[N] = {0};
    fill(&r, x, ROWS * N, 1.0f);
    fill(&r, w, N, 1.0f);
    fill(&r, R, ROWS * N, 1.0f);
    rmsnorm_forward(out, rstd, x, w, ROWS, N, 1e-5f);
    rmsnorm_backward(dx, dw, R, x, w, rstd, ROWS, N);
    struct rms_ctx c = {x, w, ROWS, N};
    assert_int_equal(fd_mismatches(rms_f, &c, x, ROWS * N, dx, R, ROWS * N, 1e-2f, 1e-3, "dx"), 0);
    assert_int_equal(fd_mismatches(rms_f, &c, w, N, dw, R, ROWS * N, 1e-2f, 1e-3, "dw"), 0);
    /* The checker itself must be able to fail: a 5 % error in one entry is caught. */
    dw[2] *= 1.05f;
    assert_true(fd_mismatches(rms_f, &c, w, N, dw, R, ROWS * N, 1e-2f, 1e-3, "bad dw") > 0);
}

/* ---- rope ---- */
struct rope_ctx {
    float *x;
    int heads, hd, pos, style;
};
static void rope_f(void *vc, float *out) {
    struct rope_ctx *c = vc;
    memcpy(out, c->x, sizeof(float) * c->heads * c->hd);
    rope_forward(out, c->heads, c->hd, c->pos, 10000.0f, c->style);
}
static void test_rope_backward_both_styles(void **state) {
    (void)state;
    struct rng r;
    rng_init(&r, 2);
    enum { H = 2, HD = 6 };
    for (int style = 0; style <= 2; style += 2) {
        float x[H * HD], R[H * HD], d[H * HD];
        fill(&r, x, H * HD, 1.0f);
        fill(&r, R, H * HD, 1.0f);
        memcpy(d, R, sizeof d);
        rope_backward(d, H, HD, 5, 10000.0f, style);
        struct rope_ctx c = {x, H, HD, 5, style};
        assert_int_equal(fd_mismatches(rope_f, &c, x, H * HD, d, R, H * HD, 1e-2f, 1e-3, "rope"),
                         0);
        /* Backward undoes forward: rotating back restores the input. */
        float y[H * HD];
        memcpy(y, x, sizeof y);
        rope_forward(y, H, HD, 5, 10000.0f, style);
        rope_backward(y, H, HD, 5, 10000.0f, style);
        for (int i = 0; i < H * HD; i++)
            assert_float_equal(y[i], x[i], 1e-5);
    }
}

/* ---- softmax ---- */
struct sm_ctx {
    float *x;
    int n;
};
static void sm_f(void *vc, float *out) {
    struct sm_ctx *c = vc;
    memcpy(out, c->x, sizeof(float) * c->n);
    softmax_forward(out, c->n);
}
static void test_softmax_backward(void **state) {
    (void)state;
    struct rng r;
    rng_init(&r, 3);
    enum { N = 6 };
    float x[N], R[N], y[N], dx[N] = {0};
    fill(&r, x, N, 2.0f);
    fill(&r, R, N, 1.0f);
    memcpy(y, x, sizeof y);
    softmax_forward(y, N);
    softmax_backward(dx, R, y, N);
    struct sm_ctx c = {x, N};
    assert_int_equal(fd_mismatches(sm_f, &c, x, N, dx, R, N, 1e-2f, 1e-3, "softmax"), 0);
}

/* ---- swiglu ---- */
struct sw_ctx {
    float *gate, *up;
    int n;
};
static void sw_f(void *vc, float *out) {
    struct sw_ctx *c = vc;
    swiglu_forward(out, c->gate, c->up, c->n);
}
static void test_swiglu_backward(void **state) {
    (void)state;
    struct rng r;
    rng_init(&r, 4);
    enum { N = 21 }; /* a whole vector of 16 and a tail */
    float g[N], u[N], R[N], dg[N], du[N];
    for (int i = 0; i < N; i++) /* overwritten, not accumulated */
        dg[i] = du[i] = 5.0f;
    fill(&r, g, N, 2.0f);
    fill(&r, u, N, 1.0f);
    fill(&r, R, N, 1.0f);
    swiglu_backward(dg, du, R, g, u, N);
    struct sw_ctx c = {g, u, N};
    assert_int_equal(fd_mismatches(sw_f, &c, g, N, dg, R, N, 1e-2f, 1e-3, "dgate"), 0);
    assert_int_equal(fd_mismatches(sw_f, &c, u, N, du, R, N, 1e-2f, 1e-3, "dup"), 0);
}

/* ---- attention (causal, GQA) ---- */
/* Head sizes 3 (scalar code only), 11 (one 8-wide block and a tail), 24 (three 8-wide blocks
 * together) and 56 (a 32-wide block, then 24), so every path of the vectorized head sums is
 * checked. */
enum { AT = 5, AH = 4, AHKV = 2 };
struct att_ctx {
    float *q, *k, *v;
    int hd;
    float att[AH * AT * AT];
};
static void att_f(void *vc, float *out) {
    struct att_ctx *c = vc;
    float *scratch = malloc(sizeof(float) * attention_scratch_floats(AT, c->hd));
    attention_forward(out, c->att, c->q, c->k, c->v, AT, AH, AHKV, c->hd, AH * c->hd, AHKV * c->hd,
                      scratch);
    free(scratch);
}
static void check_attention_backward(int hd) {
    const int qn = AT * AH * hd, kn = AT * AHKV * hd;
    struct rng r;
    rng_init(&r, 5);
    struct att_ctx c = {.hd = hd};
    float *q = malloc(sizeof(float) * qn), *k = malloc(sizeof(float) * kn),
          *v = malloc(sizeof(float) * kn), *R = malloc(sizeof(float) * qn),
          *out = malloc(sizeof(float) * qn), *dq = calloc(qn, sizeof(float)),
          *dk = calloc(kn, sizeof(float)), *dv = calloc(kn, sizeof(float)),
          *scratch = malloc(sizeof(float) * attention_scratch_floats(AT, hd));
    fill(&r, q, qn, 1.0f);
    fill(&r, k, kn, 1.0f);
    fill(&r, v, kn, 1.0f);
    fill(&r, R, qn, 1.0f);
    c.q = q, c.k = k, c.v = v;
    att_f(&c, out);
    /* Causality: the first position attends only to itself. */
    assert_float_equal(c.att[0], 1.0f, 1e-6);
    attention_backward(dq, dk, dv, R, c.att, q, k, v, AT, AH, AHKV, hd, AH * hd, AHKV * hd,
                       scratch);
    assert_int_equal(fd_mismatches(att_f, &c, q, qn, dq, R, qn, 1e-2f, 1e-3, "dq"), 0);
    assert_int_equal(fd_mismatches(att_f, &c, k, kn, dk, R, qn, 1e-2f, 1e-3, "dk"), 0);
    assert_int_equal(fd_mismatches(att_f, &c, v, kn, dv, R, qn, 1e-2f, 1e-3, "dv"), 0);
    free(q), free(k), free(v), free(R), free(out), free(dq), free(dk), free(dv), free(scratch);
}
static void test_attention_backward(void **state) {
    (void)state;
    check_attention_backward(3);
    check_attention_backward(11);
    check_attention_backward(24);
    check_attention_backward(56);
}

/* ---- cross-entropy (weighted, fused with softmax) ---- */
enum { CR = 4, CV = 5 };
struct ce_ctx {
    float *logits;
    int32_t tgt[CR];
};
static void ce_f(void *vc, float *out) {
    struct ce_ctx *c = vc;
    crossentropy_forward(out, c->logits, c->tgt, CR, CV);
}
static void test_crossentropy_backward(void **state) {
    (void)state;
    struct rng r;
    rng_init(&r, 6);
    float logits[CR * CV], d[CR * CV], inplace[CR * CV];
    float dl[CR] = {0.5f, 0.0f, -1.25f, 2.0f}; /* weights, including 0 and negative */
    struct ce_ctx c = {logits, {1, 4, 0, 2}};
    float losses[CR];
    fill(&r, logits, CR * CV, 2.0f);
    crossentropy_forward(losses, logits, c.tgt, CR, CV);
    crossentropy_softmax_backward(d, logits, c.tgt, losses, dl, CR, CV);
    for (int i = 0; i < CV; i++)
        assert_true(d[CV + i] == 0.0f); /* weight 0: zero row */
    assert_int_equal(fd_mismatches(ce_f, &c, logits, CR * CV, d, dl, CR, 1e-2f, 1e-3, "dlogits"),
                     0);
    memcpy(inplace, logits, sizeof inplace);
    crossentropy_softmax_backward(inplace, inplace, c.tgt, losses, dl, CR, CV);
    for (int i = 0; i < CR * CV; i++)
        assert_float_equal(inplace[i], d[i], 1e-7);
    /* The loss itself: log-sum-exp minus the target logit. */
    double s = 0;
    for (int i = 0; i < CV; i++)
        s += exp(logits[i]);
    assert_float_equal(losses[0], log(s) - logits[1], 1e-5);
}

/* ---- cross-entropy against target distributions (distillation) ---- */
struct soft_ce_ctx {
    float *logits;
    const float *probs;
};
static void soft_ce_f(void *vc, float *out) {
    struct soft_ce_ctx *c = vc;
    crossentropy_soft_forward(out, c->logits, c->probs, CR, CV);
}
static void test_crossentropy_soft_backward(void **state) {
    (void)state;
    struct rng r;
    rng_init(&r, 7);
    float logits[CR * CV], probs[CR * CV], d[CR * CV], inplace[CR * CV], losses[CR];
    float dl[CR] = {0.5f, 0.0f, -1.25f, 2.0f};
    fill(&r, logits, CR * CV, 2.0f);
    fill(&r, probs, CR * CV, 1.0f);
    for (int row = 0; row < CR; row++) /* a softmax: positive, summing to 1 */
        softmax_forward(probs + row * CV, CV);
    struct soft_ce_ctx c = {logits, probs};
    crossentropy_soft_forward(losses, logits, probs, CR, CV);
    crossentropy_soft_softmax_backward(d, logits, probs, dl, CR, CV);
    for (int i = 0; i < CV; i++)
        assert_true(d[CV + i] == 0.0f); /* weight 0: zero row */
    assert_int_equal(
        fd_mismatches(soft_ce_f, &c, logits, CR * CV, d, dl, CR, 1e-2f, 1e-3, "dlogits"), 0);
    memcpy(inplace, logits, sizeof inplace);
    crossentropy_soft_softmax_backward(inplace, inplace, probs, dl, CR, CV);
    for (int i = 0; i < CR * CV; i++)
        assert_float_equal(inplace[i], d[i], 1e-7);
    /* One-hot distributions are the hard cross-entropy, loss and gradient alike. */
    int32_t tgt[CR] = {1, 4, 0, 2};
    float hard_losses[CR], hard_d[CR * CV];
    memset(probs, 0, sizeof probs);
    for (int row = 0; row < CR; row++)
        probs[row * CV + tgt[row]] = 1.0f;
    crossentropy_soft_forward(losses, logits, probs, CR, CV);
    crossentropy_forward(hard_losses, logits, tgt, CR, CV);
    crossentropy_soft_softmax_backward(d, logits, probs, dl, CR, CV);
    crossentropy_softmax_backward(hard_d, logits, tgt, hard_losses, dl, CR, CV);
    for (int row = 0; row < CR; row++)
        assert_float_equal(losses[row], hard_losses[row], 1e-5);
    for (int i = 0; i < CR * CV; i++)
        assert_float_equal(d[i], hard_d[i], 1e-6);
}

/* ---- linear layer (core/gemm.h: tile edges and whole tiles) ---- */
struct lin_ctx {
    float *x, *w, *b;
    int N, IC, OC;
};
static void lin_f(void *vc, float *out) {
    struct lin_ctx *c = vc;
    float *scratch = malloc(sizeof(float) * tf_linear_scratch_floats(c->N, c->IC, c->OC, 1));
    tf_linear_forward(NULL, scratch, out, c->x, c->w, c->b, c->N, c->IC, c->OC);
    free(scratch);
}
static void check_linear(int N, int IC, int OC) {
    struct rng r;
    rng_init(&r, 7 + (uint64_t)N);
    int nx = N * IC, nw = OC * IC, no = N * OC;
    float *x = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw),
          *b = malloc(sizeof(float) * OC), *R = malloc(sizeof(float) * no),
          *dx = calloc(nx, sizeof(float)), *dw = calloc(nw, sizeof(float)),
          *db = calloc(OC, sizeof(float)), *out = malloc(sizeof(float) * no);
    fill(&r, x, nx, 1.0f);
    fill(&r, w, nw, 0.2f);
    fill(&r, b, OC, 1.0f);
    fill(&r, R, no, 1.0f);
    struct lin_ctx c = {x, w, b, N, IC, OC};
    /* Forward against a double-precision reference. */
    lin_f(&c, out);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = b[o];
            for (int i = 0; i < IC; i++)
                s += (double)x[n * IC + i] * w[o * IC + i];
            assert_float_equal(out[n * OC + o], s, 1e-4);
        }
    float *scratch = malloc(sizeof(float) * tf_linear_scratch_floats(N, IC, OC, 1));
    tf_linear_backward(NULL, scratch, dx, 1, dw, db, R, x, w, N, IC, OC);
    free(scratch);
    /* The function is linear, so a large step is exact up to rounding. */
    assert_int_equal(fd_mismatches(lin_f, &c, x, nx, dx, R, no, 0.5f, 1e-3, "dinp"), 0);
    assert_int_equal(fd_mismatches(lin_f, &c, w, nw, dw, R, no, 0.5f, 1e-3, "dw"), 0);
    assert_int_equal(fd_mismatches(lin_f, &c, b, OC, db, R, no, 0.5f, 1e-3, "dbias"), 0);
    free(x), free(w), free(b), free(R), free(dx), free(dw), free(db), free(out);
}
static void test_linear_backward_small_and_blas(void **state) {
    (void)state;
    check_linear(3, 5, 4);   /* edges only */
    check_linear(8, 64, 80); /* whole tiles and edges */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm_backward),
        cmocka_unit_test(test_rope_backward_both_styles),
        cmocka_unit_test(test_softmax_backward),
        cmocka_unit_test(test_swiglu_backward),
        cmocka_unit_test(test_attention_backward),
        cmocka_unit_test(test_crossentropy_backward),
        cmocka_unit_test(test_crossentropy_soft_backward),
        cmocka_unit_test(test_linear_backward_small_and_blas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
