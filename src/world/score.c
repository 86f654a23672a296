#include "world/score.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/* The slot of a family; once SCORE_MAX_FAMILIES - 1 are taken, the rest pool in "other". */
static int family_slot(struct score_result *r, const char *name) {
    for (int k = 0; k < r->n_fam; k++)
        if (!strcmp(r->fam[k].name, name)) return k;
    if (r->n_fam == SCORE_MAX_FAMILIES) return SCORE_MAX_FAMILIES - 1;
    if (r->n_fam == SCORE_MAX_FAMILIES - 1) name = "other";
    snprintf(r->fam[r->n_fam].name, sizeof r->fam[0].name, "%s", name);
    return r->n_fam++;
}

int world_score(const struct qa_set *s, score_answer_fn answer, void *ctx, int batch,
                struct score_result *out, bool *correct, char **replies,
                struct progress *progress) {
    if (!s || !answer || !out || batch < 1)
        return disr_fail(DISR_E_ARG, "world_score: bad arguments");
    memset(out, 0, sizeof *out);
    if (replies) memset(replies, 0, (size_t)s->n * sizeof *replies);
    const char **queries = malloc((size_t)batch * sizeof *queries);
    char **batch_replies = malloc((size_t)batch * sizeof *batch_replies);
    char *store = malloc((size_t)batch * SCORE_REPLY_MAX);
    int st = DISR_OK;
    if (!queries || !batch_replies || !store) {
        st = disr_fail(DISR_E_NOMEM, "scoring batch of %d", batch);
        goto out;
    }
    for (int i = 0; i < batch; i++)
        batch_replies[i] = store + (size_t)i * SCORE_REPLY_MAX;
    for (int i0 = 0; i0 < s->n; i0 += batch) {
        int n = s->n - i0 < batch ? s->n - i0 : batch;
        for (int i = 0; i < n; i++) {
            queries[i] = s->items[i0 + i].query;
            batch_replies[i][0] = '\0';
        }
        if ((st = answer(ctx, n, queries, batch_replies)) < 0) goto out;
        for (int i = 0; i < n; i++) {
            const struct qa_item *it = &s->items[i0 + i];
            batch_replies[i][SCORE_REPLY_MAX - 1] = '\0';
            bool ok = grader_check(it->grader, it->answer, batch_replies[i]);
            int k = family_slot(out, it->family);
            int l = it->difficulty;
            out->fam[k].n++, out->fam[k].correct += ok;
            out->fam[k].level.n[l]++, out->fam[k].level.correct[l] += ok;
            out->n++, out->correct += ok;
            out->level.n[l]++, out->level.correct[l] += ok;
            if (l > out->max_level) out->max_level = l;
            if (correct) correct[i0 + i] = ok;
            if (replies && !(replies[i0 + i] = strdup(batch_replies[i]))) {
                st = disr_fail(DISR_E_NOMEM, "keeping the replies");
                goto out;
            }
        }
        if (progress) {
            char extra[32];
            snprintf(extra, sizeof extra, "acc %.3f", (double)out->correct / out->n);
            progress_update(progress, i0 + n, extra);
        }
    }
out:
    free(queries), free(batch_replies), free(store);
    if (st < 0 && replies)
        for (int i = 0; i < s->n; i++) {
            free(replies[i]);
            replies[i] = NULL;
        }
    return st;
}

double score_accuracy(const struct score_result *r, const char *family) {
    if (!family) return r->n ? (double)r->correct / r->n : -1;
    for (int k = 0; k < r->n_fam; k++)
        if (!strcmp(r->fam[k].name, family))
            return r->fam[k].n ? (double)r->fam[k].correct / r->fam[k].n : -1;
    return -1;
}

double score_macro_accuracy(const struct score_result *r) {
    double sum = 0;
    int n = 0;
    for (int k = 0; k < r->n_fam; k++)
        if (r->fam[k].n) sum += (double)r->fam[k].correct / r->fam[k].n, n++;
    return n ? sum / n : -1;
}

double score_level_accuracy(const struct score_levels *lv, int l) {
    if (l < 0 || l > QA_MAX_DIFFICULTY || !lv->n[l]) return -1;
    return (double)lv->correct[l] / lv->n[l];
}
