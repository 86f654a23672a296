#include "train/sa_pack.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "model/tokenizer.h"

int sa_pack_init(struct sa_pack *p, int T, int cap_rows, int32_t pad) {
    *p = (struct sa_pack){0};
    if (T < 2 || cap_rows < 1)
        return disr_fail(DISR_E_ARG, "sa pack: %d rows of %d tokens", cap_rows, T);
    size_t n = (size_t)T * (size_t)cap_rows;
    p->inputs = malloc(n * sizeof(int32_t));
    p->targets = malloc(n * sizeof(int32_t));
    p->weights = malloc(n * sizeof(float));
    p->distill = malloc(n);
    if (!p->inputs || !p->targets || !p->weights || !p->distill) {
        sa_pack_free(p);
        return disr_fail(DISR_E_NOMEM, "sa pack: %d rows of %d tokens", cap_rows, T);
    }
    p->T = T;
    p->cap_rows = cap_rows;
    p->pad = pad;
    sa_pack_reset(p);
    return DISR_OK;
}

void sa_pack_free(struct sa_pack *p) {
    free(p->inputs);
    free(p->targets);
    free(p->weights);
    free(p->distill);
    *p = (struct sa_pack){0};
}

void sa_pack_reset(struct sa_pack *p) {
    size_t n = (size_t)p->T * (size_t)p->cap_rows;
    for (size_t i = 0; i < n; i++) {
        p->inputs[i] = p->pad;
        p->targets[i] = p->pad;
        p->weights[i] = 0.0f;
    }
    memset(p->distill, 0, n);
    p->rows = 0;
    p->fill = 0;
}

int sa_pack_fits(const struct sa_pack *p, int n) {
    if (n > p->T + 1) return 0;
    if (p->rows > 0 && p->fill + n <= p->T + 1) return 1;
    return p->rows < p->cap_rows;
}

int sa_pack_add(struct sa_pack *p, const int32_t *tok, int n, int n_prompt, const float *w,
                int *row, int *off) {
    if (n > p->T + 1)
        return disr_fail(DISR_E_RANGE, "sequence of %d tokens is longer than a row (%d)", n,
                         p->T + 1);
    if (n_prompt < 1 || n_prompt > n)
        return disr_fail(DISR_E_RANGE, "prompt of %d tokens in a sequence of %d", n_prompt, n);
    if (p->rows == 0 || p->fill + n > p->T + 1) {
        if (p->rows >= p->cap_rows) return disr_fail(DISR_E_NOMEM, "sa pack: rows are full");
        p->rows++;
        p->fill = 0;
    }
    int r = p->rows - 1, o = p->fill;
    int32_t *in = p->inputs + (size_t)r * p->T, *tg = p->targets + (size_t)r * p->T;
    float *wt = p->weights + (size_t)r * p->T;
    for (int j = 0; j < n; j++) {
        int s = o + j; /* stream position */
        if (s < p->T) in[s] = tok[j];
        if (s >= 1) {
            tg[s - 1] = tok[j];
            wt[s - 1] = j >= n_prompt ? (w ? w[j - n_prompt] : 1.0f) : 0.0f;
        }
    }
    p->fill = o + n;
    if (row) *row = r;
    if (off) *off = o;
    return DISR_OK;
}

int sa_pack_add_distilled(struct sa_pack *p, const int32_t *tok, int n, int n_prompt,
                          const float *w) {
    int row = 0, off = 0;
    DISR_TRY(sa_pack_add(p, tok, n, n_prompt, w, &row, &off));
    /* Token j >= n_prompt is predicted at stream index off + j - 1, as its weight is. */
    uint8_t *d = p->distill + (size_t)row * p->T;
    for (int j = n_prompt; j < n; j++)
        d[off + j - 1] = 1;
    return DISR_OK;
}

int sa_pack_token_at(const struct tokenizer *t, const int32_t *ids, int n, int at) {
    if (at < 0) return -1;
    size_t end = 0;
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        tokenizer_piece(t, ids[i], &len);
        end += len;
        if (end > (size_t)at) return i;
    }
    return -1;
}

int sa_pack_encode(const struct tokenizer *t, const char *prompt, const char *response,
                   int32_t *ids, int cap, int *n, int *n_prompt) {
    int np = 0, nr = 0;
    DISR_TRY(tokenizer_encode(t, prompt, strlen(prompt), ids, cap, &np));
    DISR_TRY(tokenizer_encode(t, response, strlen(response), ids + np, cap - np, &nr));
    *n_prompt = np;
    *n = np + nr;
    return DISR_OK;
}
