#include "train/sa_target.h"

#include <math.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/rng.h"
#include "world/scenario.h"

int sa_min_correct(double alpha, int n_samples) {
    /* k / n >= 1 - alpha  <=>  k >= (1 - alpha) * n; the epsilon absorbs 0.8 * 10 = 7.9999... */
    int k = (int)ceil((1.0 - alpha) * n_samples - 1e-9);
    return k < 0 ? 0 : k;
}

static void shuffle_i32(int32_t *a, int n, struct rng *r) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint64_t)i + 1);
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static void shuffle_examples(struct sa_example *a, int n, struct rng *r) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint64_t)i + 1);
        struct sa_example t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* Appends `count` examples drawn from pool (in its shuffled order, wrapping around when count
 * exceeds the pool: oversampling repeats whole passes before any query repeats twice). */
static int take(struct sa_example *out, int n, const int32_t *pool, int pool_n, int count,
                int scenario, int reject) {
    for (int j = 0; j < count; j++)
        out[n++] = (struct sa_example){pool[j % pool_n], (int8_t)scenario, (int8_t)reject, 1.0f};
    return n;
}

/* Seed salts of the two target builders' shuffles. */
enum { TARGET_SALT_BALANCED = 0x5A7A56E7, TARGET_SALT_WEIGHTED = 0x5A7A56E8 };

int sa_build_targets(const int *n_correct, const bool *has_answer, int n_queries, int n_samples,
                     bool last, int min_side, uint64_t seed, struct sa_example *out, int *n_out,
                     struct sa_target_stats *stats) {
    if (n_queries < 0 || n_samples <= 0 || min_side < 0)
        return disr_fail(DISR_E_ARG, "sa targets: %d queries, %d samples, min side %d", n_queries,
                         n_samples, min_side);
    for (int i = 0; i < n_queries; i++)
        if (n_correct[i] < 0 || n_correct[i] > n_samples)
            return disr_fail(DISR_E_ARG, "sa targets: query %d has %d correct of %d samples", i,
                             n_correct[i], n_samples);
    int32_t *ans = malloc(sizeof(int32_t) * (size_t)(n_queries + 1));
    int32_t *rej = malloc(sizeof(int32_t) * (size_t)(n_queries + 1));
    if (!ans || !rej) {
        free(ans);
        free(rej);
        return disr_fail(DISR_E_NOMEM, "sa targets: %d queries", n_queries);
    }
    struct rng r;
    rng_init(&r, rng_derive_seed(seed, TARGET_SALT_BALANCED));
    struct sa_target_stats st = {0};
    int n = 0;
    for (int s = SCENARIO_PERFORMANCE; s <= SCENARIO_COST; s++) {
        int kmin = sa_min_correct(scenario_alpha((enum scenario)s), n_samples);
        int na = 0, nr = 0;
        for (int i = 0; i < n_queries; i++) {
            bool usable = has_answer ? has_answer[i] : n_correct[i] > 0;
            if (last) {
                if (usable) ans[na++] = i;
            } else if (n_correct[i] >= kmin) {
                if (usable) ans[na++] = i; /* no usable text: cannot teach this answer */
            } else {
                rej[nr++] = i;
            }
        }
        st.answer_pool[s - 1] = na;
        st.reject_pool[s - 1] = nr;
        shuffle_i32(ans, na, &r);
        shuffle_i32(rej, nr, &r);
        int ka, kr;
        if (last) {
            ka = na, kr = 0;
        } else if (na == 0 || nr == 0) {
            /* One side is empty: nothing to balance against; keep up to min_side of the other
             * so the scenario's slot is still seen in training. */
            ka = na < min_side ? na : min_side;
            kr = nr < min_side ? nr : min_side;
        } else {
            int minority = na < nr ? na : nr, majority = na < nr ? nr : na;
            int k = minority;
            if (k < min_side) k = min_side < majority ? min_side : majority;
            ka = kr = k;
        }
        n = take(out, n, ans, na, ka, s, 0);
        n = take(out, n, rej, nr, kr, s, 1);
        st.answer_kept[s - 1] = ka;
        st.reject_kept[s - 1] = kr;
    }
    shuffle_examples(out, n, &r);
    free(ans);
    free(rej);
    *n_out = n;
    if (stats) *stats = st;
    return DISR_OK;
}

int sa_build_targets_weighted(const int *n_correct, const bool *has_answer, int n_queries,
                              int n_samples, bool last, float max_weight, uint64_t seed,
                              struct sa_example *out, int *n_out, struct sa_target_stats *stats) {
    if (n_queries < 0 || n_samples <= 0 || !(max_weight >= 1.0f))
        return disr_fail(DISR_E_ARG, "sa targets: %d queries, %d samples, max weight %g", n_queries,
                         n_samples, (double)max_weight);
    for (int i = 0; i < n_queries; i++)
        if (n_correct[i] < 0 || n_correct[i] > n_samples)
            return disr_fail(DISR_E_ARG, "sa targets: query %d has %d correct of %d samples", i,
                             n_correct[i], n_samples);
    struct sa_target_stats st = {0};
    int n = 0;
    for (int s = SCENARIO_PERFORMANCE; s <= SCENARIO_COST; s++) {
        int kmin = sa_min_correct(scenario_alpha((enum scenario)s), n_samples), first = n;
        int na = 0, nr = 0;
        for (int i = 0; i < n_queries; i++) {
            bool usable = has_answer ? has_answer[i] : n_correct[i] > 0;
            bool answer = last || n_correct[i] >= kmin;
            if (answer && !usable) continue; /* no text to teach this answer */
            out[n++] = (struct sa_example){i, (int8_t)s, (int8_t)!answer, 1.0f};
            na += answer, nr += !answer;
        }
        int total = na + nr;
        for (int k = first; k < n; k++) {
            int side = out[k].reject ? nr : na;
            float w = last ? 1.0f : (float)total / (2.0f * (float)side);
            out[k].weight = w < max_weight ? w : max_weight;
        }
        st.answer_pool[s - 1] = st.answer_kept[s - 1] = na;
        st.reject_pool[s - 1] = st.reject_kept[s - 1] = nr;
    }
    struct rng r;
    rng_init(&r, rng_derive_seed(seed, TARGET_SALT_WEIGHTED));
    shuffle_examples(out, n, &r);
    *n_out = n;
    if (stats) *stats = st;
    return DISR_OK;
}

float sa_target_tail_weight(const struct sa_example *e, float reject_tail_weight) {
    return e->reject && reject_tail_weight > 0 ? reject_tail_weight : e->weight;
}
