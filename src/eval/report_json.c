#include "eval/report_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/stats.h"

/* ---- summary.json --------------------------------------------------------------------------- */

static cJSON *result_json(const struct state *st, const struct result *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n", r->s.n);
    cJSON_AddNumberToObject(o, "utility", r->s.utility);
    cJSON_AddNumberToObject(o, "accuracy", r->s.accuracy);
    cJSON_AddNumberToObject(o, "cost", r->s.cost);
    cJSON_AddNumberToObject(o, "cost_calls", r->s.cost_calls);
    cJSON_AddNumberToObject(o, "latency", r->s.latency);
    cJSON *sh = cJSON_AddArrayToObject(o, "share");
    for (int a = 0; a < st->K; a++)
        cJSON_AddItemToArray(sh, cJSON_CreateNumber(r->share[a]));
    if (r->n_easy) cJSON_AddNumberToObject(o, "easy_cost", r->easy_cost);
    if (r->n_hard) cJSON_AddNumberToObject(o, "hard_cost", r->hard_cost);
    return o;
}

/* One row of a level table: counts per level (in the order of "levels"), per agent the right
 * answers and accuracy (null where a level has no query), and the row's totals, which include
 * the queries without a level. */
static cJSON *level_row_json(const struct state *st, const struct level_table *lt,
                             const struct level_row *row) {
    cJSON *o = cJSON_CreateObject();
    cJSON *n = cJSON_AddArrayToObject(o, "n");
    cJSON *cor = cJSON_AddArrayToObject(o, "correct");
    cJSON *acc = cJSON_AddArrayToObject(o, "accuracy");
    for (int j = 0; j < lt->n_levels; j++)
        cJSON_AddItemToArray(n, cJSON_CreateNumber(row->n[lt->level[j]]));
    for (int a = 0; a < st->K; a++) {
        cJSON *ca = cJSON_CreateArray(), *aa = cJSON_CreateArray();
        for (int j = 0; j < lt->n_levels; j++) {
            int l = lt->level[j];
            cJSON_AddItemToArray(ca, cJSON_CreateNumber(row->correct[a][l]));
            cJSON_AddItemToArray(
                aa, row->n[l] ? cJSON_CreateNumber((double)row->correct[a][l] / row->n[l])
                              : cJSON_CreateNull());
        }
        cJSON_AddItemToArray(cor, ca);
        cJSON_AddItemToArray(acc, aa);
    }
    cJSON_AddNumberToObject(o, "n_all", report_level_sum(row->n));
    cJSON *ct = cJSON_AddArrayToObject(o, "correct_all");
    for (int a = 0; a < st->K; a++)
        cJSON_AddItemToArray(ct, cJSON_CreateNumber(report_level_sum(row->correct[a])));
    return o;
}

static cJSON *level_table_json(const struct state *st, const struct level_table *lt) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "levels", cJSON_CreateIntArray(lt->level, lt->n_levels));
    cJSON_AddNumberToObject(o, "no_level", lt->row[0].n[0]);
    cJSON_AddItemToObject(o, "all", level_row_json(st, lt, &lt->row[0]));
    cJSON *fam = cJSON_AddObjectToObject(o, "families");
    for (int r = 1; r < lt->n_rows; r++)
        cJSON_AddItemToObject(fam, lt->row[r].family, level_row_json(st, lt, &lt->row[r]));
    return o;
}

cJSON *report_summary_json(const struct state *st) {
    const struct outcome_table *t = st->t;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "agents", st->K);
    cJSON *costs = cJSON_AddArrayToObject(root, "costs");
    for (int a = 0; a < st->K; a++)
        cJSON_AddItemToArray(costs, cJSON_CreateNumber(t->cost[a]));
    cJSON *tables = cJSON_AddObjectToObject(root, "tables");
    for (int s = OUT_SPLIT_TEST; s <= OUT_SPLIT_OOD; s++) {
        if (!st->has_split[s]) continue;
        cJSON *ts = cJSON_AddObjectToObject(tables, outcome_split_name(s));
        for (int m = 0; m < EM_COUNT; m++) {
            if (!st->avail[m]) continue;
            cJSON *tm = cJSON_AddObjectToObject(ts, eval_method_key(m));
            for (int ai = 0; ai < N_ALPHA; ai++)
                cJSON_AddItemToObject(tm, ALPHA_KEY[ai], result_json(st, &st->res[s][m][ai]));
        }
    }
    cJSON *mod = cJSON_AddArrayToObject(root, "modularity");
    for (int ci = 0; ci < st->n_chains; ci++)
        for (int k = 0; k < N_MOD; k++) {
            if (!st->avail[MOD_METHODS[k]]) continue;
            for (int ai = 0; ai < N_ALPHA; ai++) {
                cJSON *o = result_json(st, &st->mod[ci][k][ai]);
                cJSON_AddStringToObject(o, "chain", st->chain_name[ci]);
                cJSON_AddStringToObject(o, "method", eval_method_key(MOD_METHODS[k]));
                cJSON_AddNumberToObject(o, "alpha", ALPHA(ai));
                cJSON_AddItemToArray(mod, o);
            }
        }
    cJSON *f1 = cJSON_AddObjectToObject(root, "sa_f1");
    for (int p = 0; p < N_PRED && st->has_split[OUT_SPLIT_TEST]; p++) {
        if (isnan(report_sa_f1(st, p, 0, 0))) continue;
        cJSON *fp = cJSON_AddObjectToObject(f1, PRED_KEY[p]);
        for (int ai = 0; ai < N_ALPHA; ai++) {
            cJSON *arr = cJSON_AddArrayToObject(fp, ALPHA_KEY[ai]);
            for (int a = 0; a < st->K; a++) {
                double x = report_sa_f1(st, p, ai, a);
                cJSON_AddItemToArray(arr, isnan(x) ? cJSON_CreateNull() : cJSON_CreateNumber(x));
            }
        }
    }
    cJSON *pr = cJSON_AddObjectToObject(root, "answer_precision");
    for (int p = 0; p < N_PRED && st->has_split[OUT_SPLIT_TEST]; p++) {
        int right, answered;
        if (!report_answer_precision(st, p, 0, 0, &right, &answered)) continue;
        cJSON *pp = cJSON_AddObjectToObject(pr, PRED_KEY[p]);
        for (int ai = 0; ai < N_ALPHA; ai++) {
            cJSON *arr = cJSON_AddArrayToObject(pp, ALPHA_KEY[ai]);
            for (int a = 0; a < st->K; a++) {
                if (!report_answer_precision(st, p, ai, a, &right, &answered)) {
                    cJSON_AddItemToArray(arr, cJSON_CreateNull());
                    continue;
                }
                double lo, hi;
                stats_wilson95(right, answered, &lo, &hi);
                cJSON *o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "answered", answered);
                cJSON_AddNumberToObject(o, "right", right);
                cJSON_AddItemToObject(o, "precision",
                                      answered ? cJSON_CreateNumber((double)right / answered)
                                               : cJSON_CreateNull());
                cJSON_AddItemToObject(o, "interval95",
                                      cJSON_CreateDoubleArray((double[]){lo, hi}, 2));
                cJSON_AddItemToArray(arr, o);
            }
        }
    }
    cJSON *ar = cJSON_AddObjectToObject(root, "answer_rate");
    for (int v = OUT_SFT; v <= OUT_RL && st->has_split[OUT_SPLIT_TEST]; v++) {
        if (!st->avail[v == OUT_RL ? EM_DISR_RL : EM_DISR_SFT]) continue;
        cJSON *av = cJSON_AddObjectToObject(ar, v == OUT_RL ? "disr_rl" : "disr_sft");
        for (int ai = 0; ai < N_ALPHA; ai++) {
            cJSON *arr = cJSON_AddArrayToObject(av, ALPHA_KEY[ai]);
            for (int a = 0; a < st->K; a++) {
                int reached;
                double x = report_answer_rate(st, v, ai, a, &reached);
                cJSON_AddItemToArray(arr, isnan(x) ? cJSON_CreateNull() : cJSON_CreateNumber(x));
            }
        }
    }
    struct claim cl[N_CLAIMS];
    report_check_claims(st, cl);
    cJSON *claims = cJSON_AddArrayToObject(root, "claims");
    for (int i = 0; i < N_CLAIMS; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "claim", cl[i].text);
        if (cl[i].known)
            cJSON_AddBoolToObject(o, "holds", cl[i].pass);
        else
            cJSON_AddNullToObject(o, "holds");
        cJSON_AddStringToObject(o, "numbers", cl[i].detail);
        cJSON_AddItemToArray(claims, o);
    }
    cJSON *lv = cJSON_AddObjectToObject(root, "level_accuracy");
    for (int s = OUT_SPLIT_TEST; s <= OUT_SPLIT_OOD; s++)
        if (st->has_split[s] && st->lv[s].n_levels > 0)
            cJSON_AddItemToObject(lv, outcome_split_name(s), level_table_json(st, &st->lv[s]));
    cJSON *th = cJSON_AddObjectToObject(root, "thresholds");
    for (int k = 0; k < 3; k++) {
        enum eval_method m = (enum eval_method)(EM_CONF + k);
        if (!st->avail[m]) continue;
        cJSON *tm = cJSON_AddObjectToObject(th, eval_method_key(m));
        for (int ai = 0; ai < N_ALPHA; ai++) {
            cJSON *arr = cJSON_AddArrayToObject(tm, ALPHA_KEY[ai]);
            for (int a = 0; a < st->K; a++)
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(st->th[k][ai][a]));
        }
    }
    return root;
}

static cJSON *floats_json(const float *x, int n) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(x[i]));
    return arr;
}

static cJSON *fitted_line(const struct state *st, int qi) {
    const struct eval_fitted *fit = &st->fit;
    const int K = st->K, k = fit->knn_n;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "qid", st->t->q[qi].id);
    cJSON_AddStringToObject(o, "split", outcome_split_name(st->t->q[qi].split));
    cJSON *nb = cJSON_AddArrayToObject(o, "knn_neighbours");
    int n = 0;
    for (; n < k && fit->knn_nb[(size_t)qi * k + n] >= 0; n++)
        cJSON_AddItemToArray(nb, cJSON_CreateString(st->t->q[fit->knn_nb[(size_t)qi * k + n]].id));
    cJSON_AddItemToObject(o, "knn_sim", floats_json(fit->knn_sim + (size_t)qi * k, n));
    cJSON_AddItemToObject(o, "knn_p", floats_json(fit->p_knn + (size_t)qi * K, K));
    cJSON_AddItemToObject(o, "mlp_p", floats_json(fit->p_mlp + (size_t)qi * K, K));
    cJSON_AddItemToObject(o, "frugal_score", floats_json(fit->s_frugal + (size_t)qi * K, K));
    return o;
}

void report_write_fitted(struct strbuf *f, const struct state *st) {
    if (!st->fit.knn_nb) return; /* nothing fitted (no training split) */
    for (int qi = 0; qi < st->t->n_queries; qi++) {
        enum out_split s = st->t->q[qi].split;
        if (s != OUT_SPLIT_TEST && s != OUT_SPLIT_OOD) continue;
        cJSON *o = fitted_line(st, qi);
        char *line = o ? cJSON_PrintUnformatted(o) : NULL;
        if (line) {
            strbuf_puts(f, line);
            strbuf_puts(f, "\n");
        } else {
            f->oom = true;
        }
        free(line);
        cJSON_Delete(o);
    }
}
