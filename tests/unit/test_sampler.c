/* Unit tests for model/sampler: greedy is the argmax (lowest id on ties); the returned
 * log-probability is the model's own log-softmax; top-k and top-p draw only from the right
 * set, with frequencies matching the renormalized distribution; a seed reproduces a sequence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "model/sampler.h"

enum { V = 10 };
static const float base_logits[V] = {1.0f, 3.0f, 2.5f, -1.0f, 3.0f, 0.0f, 2.0f, -2.0f, 0.5f, 1.5f};
static char work[V * 16];

static int32_t draw(struct sampler *s, float *lp) {
    float l[V];
    memcpy(l, base_logits, sizeof l);
    return sampler_sample(s, l, V, work, lp);
}

static void probs(double *p, float temp) {
    double sum = 0;
    for (int i = 0; i < V; i++)
        sum += p[i] = exp(base_logits[i] / temp);
    for (int i = 0; i < V; i++)
        p[i] /= sum;
}

static void test_greedy_and_logprob(void **state) {
    (void)state;
    assert_true(sampler_work_size(V) <= sizeof work);
    struct sampler s;
    sampler_init(&s, 0, 0, 1, 1);
    float lp;
    assert_int_equal(draw(&s, &lp), 1); /* ids 1 and 4 tie: lowest wins */
    double p[V];
    probs(p, 1);
    assert_float_equal(lp, log(p[1]), 1e-5);
    /* top-k 1 at any temperature is greedy too */
    sampler_init(&s, 2.0f, 1, 1, 9);
    for (int i = 0; i < 50; i++)
        assert_int_equal(draw(&s, NULL), 1);
}

/* Draws many tokens and checks their frequencies against `want` (0 = must never appear). */
static void check_freq(struct sampler *s, const double *want) {
    enum { N = 40000 };
    int count[V] = {0};
    for (int i = 0; i < N; i++)
        count[draw(s, NULL)]++;
    for (int i = 0; i < V; i++) {
        if (want[i] == 0) {
            assert_int_equal(count[i], 0);
            continue;
        }
        double sd = sqrt(want[i] * (1 - want[i]) / N);
        if (fabs((double)count[i] / N - want[i]) > 5 * sd + 1e-4)
            fail_msg("token %d: frequency %.4f, expected %.4f", i, (double)count[i] / N, want[i]);
    }
}

static void test_distributions(void **state) {
    (void)state;
    struct sampler s;
    double p[V], want[V];
    /* plain temperature */
    sampler_init(&s, 0.7f, 0, 1, 3);
    probs(p, 0.7f);
    check_freq(&s, p);
    /* top-k 3: ids 1, 4 (logit 3) and 2 (2.5), renormalized */
    sampler_init(&s, 1.0f, 3, 1, 4);
    probs(p, 1);
    memset(want, 0, sizeof want);
    double z = p[1] + p[4] + p[2];
    want[1] = p[1] / z, want[4] = p[4] / z, want[2] = p[2] / z;
    check_freq(&s, want);
    /* top-p 0.6: the smallest prefix of the sorted distribution reaching 0.6 */
    sampler_init(&s, 1.0f, 0, 0.6f, 5);
    const int order[V] = {1, 4, 2, 6, 9, 0, 8, 5, 3, 7};
    memset(want, 0, sizeof want);
    double cum = 0;
    int k = 0;
    while (cum < 0.6)
        cum += p[order[k++]];
    assert_true(k >= 2 && k < V);
    for (int i = 0; i < k; i++)
        want[order[i]] = p[order[i]] / cum;
    check_freq(&s, want);
}

/* A large vocabulary: top-k draws only from the k best (found here by brute force) and top-p
 * sorts thousands of candidates. */
static void test_large_vocabulary(void **state) {
    (void)state;
    enum { N = 3000, K = 7 };
    static float logits[N], copy[N];
    static char big[N * 16];
    assert_true(sampler_work_size(N) <= sizeof big);
    struct rng r;
    rng_init(&r, 3);
    for (int i = 0; i < N; i++)
        logits[i] = rng_normal(&r);
    int best[K];
    for (int k = 0; k < K; k++) {
        best[k] = -1;
        for (int i = 0; i < N; i++) {
            int taken = 0;
            for (int j = 0; j < k; j++)
                taken |= best[j] == i;
            if (!taken && (best[k] < 0 || logits[i] > logits[best[k]])) best[k] = i;
        }
    }
    struct sampler s;
    sampler_init(&s, 1.0f, K, 1, 8);
    int seen[K] = {0};
    for (int t = 0; t < 2000; t++) {
        memcpy(copy, logits, sizeof copy);
        int32_t id = sampler_sample(&s, copy, N, big, NULL);
        int k = 0;
        while (k < K && best[k] != id)
            k++;
        assert_true(k < K);
        seen[k]++;
    }
    for (int k = 0; k < K; k++)
        assert_true(seen[k] > 0);
    /* top-p 0.5 over thousands of candidates never picks outside its nucleus */
    sampler_init(&s, 1.0f, 0, 0.5f, 9);
    for (int t = 0; t < 200; t++) {
        memcpy(copy, logits, sizeof copy);
        int32_t id = sampler_sample(&s, copy, N, big, NULL);
        assert_true(id >= 0 && id < N);
        /* in the nucleus: fewer than half the mass lies strictly above it */
        double above = 0, total = 0;
        for (int i = 0; i < N; i++) {
            total += exp(logits[i]);
            if (logits[i] > logits[id]) above += exp(logits[i]);
        }
        assert_true(above < 0.5 * total);
    }
}

static void test_seed_reproduces(void **state) {
    (void)state;
    struct sampler a, b, c;
    sampler_init(&a, 1.0f, 5, 0.9f, 77);
    sampler_init(&b, 1.0f, 5, 0.9f, 77);
    sampler_init(&c, 1.0f, 5, 0.9f, 78);
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        int32_t x = draw(&a, NULL);
        assert_int_equal(x, draw(&b, NULL));
        differ += x != draw(&c, NULL);
    }
    assert_true(differ > 20);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_and_logprob),
        cmocka_unit_test(test_distributions),
        cmocka_unit_test(test_large_vocabulary),
        cmocka_unit_test(test_seed_reproduces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
