#include "model/sampler.h"

#include <math.h>

#include "core/ops.h"

struct cand {
    float logit;
    int32_t id;
};

void sampler_init(struct sampler *s, float temperature, int top_k, float top_p, uint64_t seed) {
    s->temperature = temperature;
    s->top_k = top_k;
    s->top_p = top_p;
    rng_init(&s->rng, seed);
}

size_t sampler_work_size(int n_vocab) {
    return (size_t)(n_vocab > 0 ? n_vocab : 1) * sizeof(struct cand);
}

/* "a ranks below b": by logit, then the lower id ranks higher, so the order (and therefore the
 * draw) is fully determined. */
static int cand_below(const struct cand *a, const struct cand *b) {
    return a->logit < b->logit || (a->logit == b->logit && a->id > b->id);
}

/* Restores the min-heap (on rank: the worst candidate at the root) below `pos` in c[0..end). */
static void sift_down(struct cand *c, int pos, int end) {
    for (;;) {
        int l = 2 * pos + 1, r = l + 1, w = pos;
        if (l < end && cand_below(&c[l], &c[w])) w = l;
        if (r < end && cand_below(&c[r], &c[w])) w = r;
        if (w == pos) return;
        struct cand t = c[pos];
        c[pos] = c[w];
        c[w] = t;
        pos = w;
    }
}

/* The k best of n logits into c[0..k) as a heap: O(n log k), so a top-k of 40 over a 150K
 * vocabulary does not sort the vocabulary for every token. */
static void select_top_k(const float *logits, int n, int k, struct cand *c) {
    for (int i = 0; i < k; i++)
        c[i] = (struct cand){logits[i], i};
    for (int i = k / 2 - 1; i >= 0; i--)
        sift_down(c, i, k);
    for (int i = k; i < n; i++) {
        struct cand x = {logits[i], i};
        if (!cand_below(&c[0], &x)) continue;
        c[0] = x;
        sift_down(c, 0, k);
    }
}

/* Sorts c[0..m) best first, in place (heapsort: glibc's qsort may call malloc, and sampling
 * must not allocate per token). Popping the worst to the end leaves the best first. */
static void cand_sort(struct cand *c, int m) {
    for (int i = m / 2 - 1; i >= 0; i--)
        sift_down(c, i, m);
    for (int end = m - 1; end > 0; end--) {
        struct cand t = c[0];
        c[0] = c[end];
        c[end] = t;
        sift_down(c, 0, end);
    }
}

int32_t sampler_sample(struct sampler *s, float *logits, int n, void *work, float *logprob) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    float lse = logprob ? logsumexp(logits, n) : 0.0f;
    int32_t tok = best;
    if (s->temperature > 0) {
        struct cand *c = work;
        float inv_t = 1.0f / s->temperature;
        double nucleus_of = -1; /* mass the nucleus is a fraction of; < 0: of the candidates */
        int m;
        if (s->top_k > 0 && s->top_k < n) {
            m = s->top_k;
            select_top_k(logits, n, m, c);
            cand_sort(c, m);
        } else if (s->top_p < 1.0f) {
            /* Only tokens with probability >= (1-p)/(n-1) can be in the nucleus (the rest
             * together cannot reach 1-p), which keeps the sort short (llama2.c's trick). */
            float mx = logits[best] * inv_t, sum = 0;
            for (int i = 0; i < n; i++)
                sum += expf(logits[i] * inv_t - mx);
            float cutoff = (1.0f - s->top_p) / (float)(n > 1 ? n - 1 : 1) * sum;
            nucleus_of = sum;
            m = 0;
            for (int i = 0; i < n; i++)
                if (expf(logits[i] * inv_t - mx) >= cutoff) c[m++] = (struct cand){logits[i], i};
            cand_sort(c, m);
        } else {
            m = n;
            for (int i = 0; i < n; i++)
                c[i] = (struct cand){logits[i], i};
        }
        /* Probabilities over the candidates (sorted descending unless no truncation). */
        float mx = c[0].logit;
        for (int i = 1; i < m; i++)
            if (c[i].logit > mx) mx = c[i].logit;
        double total = 0;
        for (int i = 0; i < m; i++) {
            c[i].logit = expf((c[i].logit - mx) * inv_t);
            total += c[i].logit;
        }
        if (s->top_p < 1.0f) { /* candidates are sorted descending here */
            double cum = 0, goal = s->top_p * (nucleus_of >= 0 ? nucleus_of : total);
            int keep = m;
            for (int i = 0; i < m; i++) {
                cum += c[i].logit;
                if (cum >= goal) {
                    keep = i + 1;
                    break;
                }
            }
            m = keep;
            total = cum < total ? cum : total;
        }
        double r = (double)rng_uniform(&s->rng) * total, cum = 0;
        tok = c[m - 1].id;
        for (int i = 0; i < m; i++) {
            cum += c[i].logit;
            if (r < cum) {
                tok = c[i].id;
                break;
            }
        }
    }
    if (logprob) *logprob = logits[tok] - lse;
    return tok;
}
