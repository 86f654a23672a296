#include "eval/methods.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/rng.h"
#include "eval/features.h"
#include "eval/mlp.h"
#include "route/chain.h"
#include "world/scenario.h"

/* AutoMix asks for this many verification samples per answer (counted in its latency). */
#define AUTOMIX_SAMPLES 8

static const char *const method_names[EM_COUNT][2] = {
    [EM_DISR_RL] = {"DiSRouter (+RL)", "disr_rl"},
    [EM_DISR_SFT] = {"DiSRouter (SFT)", "disr_sft"},
    [EM_CONF] = {"Confidence cascade", "conf_cascade"},
    [EM_AUTOMIX] = {"AutoMix (self-verify)", "automix"},
    [EM_FRUGAL] = {"FrugalGPT (scorer)", "frugalgpt"},
    [EM_MLP] = {"MLP router", "mlp_router"},
    [EM_KNN] = {"kNN router", "knn_router"},
    [EM_RANDOM] = {"Random", "random"},
    [EM_SMALLEST] = {"Smallest", "smallest"},
    [EM_LARGEST] = {"Largest", "largest"},
    [EM_ORACLE] = {"Oracle", "oracle"},
};

const char *eval_method_name(enum eval_method m) {
    return (m >= 0 && m < EM_COUNT) ? method_names[m][0] : "?";
}

const char *eval_method_key(enum eval_method m) {
    return (m >= 0 && m < EM_COUNT) ? method_names[m][1] : "?";
}

int eval_method_parse(const char *key) {
    for (int m = 0; m < EM_COUNT; m++)
        if (!strcmp(key, method_names[m][1])) return m;
    return -1;
}

int eval_method_is_cascade(enum eval_method m) {
    return m == EM_DISR_RL || m == EM_DISR_SFT || m == EM_CONF || m == EM_AUTOMIX || m == EM_FRUGAL;
}

int eval_scenario_index(double alpha) {
    enum scenario s = scenario_from_alpha(alpha);
    return fabs(scenario_alpha(s) - alpha) < 1e-9 ? scenario_index(s) : -1;
}

void eval_fit_config_default(struct eval_fit_config *c) {
    c->feat_dim = 1024;
    c->knn_k = 25;
    c->mlp_hidden = 64;
    c->scorer_hidden = 32;
    c->epochs = 30;
    c->lr = 2e-3f;
    c->seed = 7;
}

void eval_fitted_free(struct eval_fitted *f) {
    free(f->p_knn);
    free(f->p_mlp);
    free(f->s_frugal);
    free(f->knn_nb);
    free(f->knn_sim);
    memset(f, 0, sizeof *f);
}

/* ---- fitting the learned baselines ---------------------------------------------------------- */

/* kNN router: cosine similarity to the training queries, similarity-weighted mean correctness of
 * the k nearest, shrunk toward the agent's overall training accuracy (one pseudo-neighbour). */
static int fit_knn(struct eval_fitted *f, const float *x, const int *train, int n_train) {
    const struct outcome_table *t = f->t;
    int K = t->n_agents, D = f->cfg.feat_dim, N = t->n_queries;
    int k = f->cfg.knn_k < n_train ? f->cfg.knn_k : n_train;
    const int chunk = 128;
    float *xt = malloc((size_t)n_train * D * sizeof *xt);
    float *sim = malloc((size_t)chunk * n_train * sizeof *sim);
    float *best_s = malloc((size_t)(k + 1) * sizeof *best_s);
    int *best_i = malloc((size_t)(k + 1) * sizeof *best_i);
    double prior[OUT_MAX_AGENTS] = {0};
    f->knn_n = k;
    f->knn_nb = malloc((size_t)N * k * sizeof *f->knn_nb);
    f->knn_sim = malloc((size_t)N * k * sizeof *f->knn_sim);
    if (!xt || !sim || !best_s || !best_i || !f->knn_nb || !f->knn_sim) {
        free(xt), free(sim), free(best_s), free(best_i);
        return disr_fail(DISR_E_NOMEM, "kNN router: %d x %d similarities", chunk, n_train);
    }
    for (int j = 0; j < n_train; j++) {
        memcpy(xt + (size_t)j * D, x + (size_t)train[j] * D, (size_t)D * sizeof(float));
        for (int a = 0; a < K; a++)
            prior[a] += outcome_at(t, train[j], a)->correct;
    }
    for (int a = 0; a < K; a++)
        prior[a] /= n_train;
    for (int s = 0; s < N; s += chunk) {
        int b = N - s < chunk ? N - s : chunk;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, n_train, D, 1.0f, x + (size_t)s * D,
                    D, xt, D, 0.0f, sim, n_train);
        for (int r = 0; r < b; r++) {
            int qi = s + r, nb = 0;
            const float *row = sim + (size_t)r * n_train;
            for (int j = 0; j < n_train; j++) {
                if (train[j] == qi) continue; /* leave-one-out on training rows */
                if (nb == k && row[j] <= best_s[k - 1]) continue;
                int pos = nb < k ? nb++ : k - 1; /* insertion into the sorted top-k */
                while (pos > 0 && best_s[pos - 1] < row[j]) {
                    best_s[pos] = best_s[pos - 1], best_i[pos] = best_i[pos - 1];
                    pos--;
                }
                best_s[pos] = row[j], best_i[pos] = train[j];
            }
            for (int a = 0; a < K; a++) {
                double num = prior[a], den = 1.0;
                for (int j = 0; j < nb; j++) {
                    double w = (best_s[j] > 0 ? best_s[j] : 0) + 1e-3;
                    num += w * outcome_at(t, best_i[j], a)->correct;
                    den += w;
                }
                f->p_knn[(size_t)qi * K + a] = (float)(num / den);
            }
            for (int j = 0; j < k; j++) {
                f->knn_nb[(size_t)qi * k + j] = j < nb ? best_i[j] : -1;
                f->knn_sim[(size_t)qi * k + j] = j < nb ? best_s[j] : 0;
            }
        }
    }
    free(xt), free(sim), free(best_s), free(best_i);
    return DISR_OK;
}

/* Seed salts: every learned baseline's randomness derives from the fit's seed and its label. */
enum {
    FIT_SALT_MLP_INIT = 1,         /* the MLP router's weights */
    FIT_SALT_MLP_TRAIN = 2,        /* its batches */
    FIT_SALT_SCORER_INIT = 100,    /* + 2 agent + fold: FrugalGPT's scorers' weights */
    FIT_SALT_SCORER_TRAIN = 200,   /* + 2 agent + fold: their batches */
    FIT_SALT_ANSWER_HASH = 0x5eed, /* the hashed features of an agent's answer */
    FIT_SALT_RANDOM = 0x7a11d0,    /* xor: the random router's picks */
};

static struct mlp_train_config train_config(const struct eval_fit_config *c, uint64_t label) {
    struct mlp_train_config tc = {.epochs = c->epochs,
                                  .batch = 64,
                                  .lr = c->lr,
                                  .weight_decay = 1e-4f,
                                  .seed = rng_derive_seed(c->seed, label)};
    return tc;
}

/* MLP router: query features -> K sigmoid outputs, one per agent's correctness. */
static int fit_mlp_router(struct eval_fitted *f, const float *x, const int *train, int n_train) {
    const struct outcome_table *t = f->t;
    int K = t->n_agents, D = f->cfg.feat_dim;
    float *xt = malloc((size_t)n_train * D * sizeof *xt);
    float *y = malloc((size_t)n_train * K * sizeof *y);
    struct mlp net;
    int st = (xt && y) ? mlp_init(&net, D, f->cfg.mlp_hidden, K, 256,
                                  rng_derive_seed(f->cfg.seed, FIT_SALT_MLP_INIT))
                       : disr_fail(DISR_E_NOMEM, "MLP router: training set");
    if (st == DISR_OK) {
        for (int j = 0; j < n_train; j++) {
            memcpy(xt + (size_t)j * D, x + (size_t)train[j] * D, (size_t)D * sizeof(float));
            for (int a = 0; a < K; a++)
                y[(size_t)j * K + a] = outcome_at(t, train[j], a)->correct;
        }
        struct mlp_train_config tc = train_config(&f->cfg, FIT_SALT_MLP_TRAIN);
        st = mlp_train(&net, xt, y, NULL, n_train, &tc, "eval: MLP router", &f->mlp_loss);
        if (st == DISR_OK) st = mlp_predict(&net, x, t->n_queries, f->p_mlp);
        mlp_free(&net);
    }
    free(xt), free(y);
    return st;
}

/* FrugalGPT-style external scorer, one per agent, on [query features | answer features]. The
 * train split is cross-fitted in two folds, so the scores the cascade thresholds are fitted on
 * are out-of-sample like the test scores (which average both folds' scorers). */
static int fit_frugal(struct eval_fitted *f, const float *xq, const int *train, int n_train) {
    const struct outcome_table *t = f->t;
    int K = t->n_agents, D = f->cfg.feat_dim, N = t->n_queries, D2 = 2 * D;
    float *xa = malloc((size_t)N * D2 * sizeof *xa);
    float *xt = malloc((size_t)n_train * D2 * sizeof *xt);
    float *y = malloc((size_t)n_train * sizeof *y);
    float *pred = malloc((size_t)N * sizeof *pred);
    uint8_t *fold = calloc((size_t)N, 1), *is_train = calloc((size_t)N, 1);
    int st = (xa && xt && y && pred && fold && is_train)
                 ? DISR_OK
                 : disr_fail(DISR_E_NOMEM, "scorer features");
    for (int j = 0; j < n_train && st == DISR_OK; j++)
        fold[train[j]] = (uint8_t)(j & 1), is_train[train[j]] = 1;
    for (int a = 0; a < K && st == DISR_OK; a++) {
        for (int qi = 0; qi < N; qi++) {
            float *row = xa + (size_t)qi * D2;
            memcpy(row, xq + (size_t)qi * D, (size_t)D * sizeof(float));
            memset(row + D, 0, (size_t)D * sizeof(float));
            feat_add_text(row + D, D, outcome_at(t, qi, a)->forced, FIT_SALT_ANSWER_HASH);
            feat_normalize(row + D, D);
        }
        for (size_t i = 0; i < (size_t)N; i++)
            f->s_frugal[i * K + a] = 0;
        for (int k = 0; k < 2 && st == DISR_OK; k++) {
            int n = 0;
            for (int j = 0; j < n_train; j++) {
                if (fold[train[j]] == k) continue; /* train on the other fold */
                memcpy(xt + (size_t)n * D2, xa + (size_t)train[j] * D2, (size_t)D2 * sizeof(float));
                y[n++] = outcome_at(t, train[j], a)->correct;
            }
            struct mlp net;
            if (n == 0) continue;
            st = mlp_init(&net, D2, f->cfg.scorer_hidden, 1, 256,
                          rng_derive_seed(f->cfg.seed, FIT_SALT_SCORER_INIT + 2 * a + k));
            if (st) break;
            struct mlp_train_config tc = train_config(&f->cfg, FIT_SALT_SCORER_TRAIN + 2 * a + k);
            char label[48];
            snprintf(label, sizeof label, "eval: scorer agent %d fold %d", a, k);
            st = mlp_train(&net, xt, y, NULL, n, &tc, label, &f->scorer_loss);
            if (st == DISR_OK) st = mlp_predict(&net, xa, N, pred);
            mlp_free(&net);
            for (int qi = 0; qi < N && st == DISR_OK; qi++) {
                float *dst = &f->s_frugal[(size_t)qi * K + a];
                if (is_train[qi])
                    *dst += fold[qi] == k ? pred[qi] : 0; /* out-of-fold prediction only */
                else
                    *dst += 0.5f * pred[qi];
            }
        }
    }
    free(xa), free(xt), free(y), free(pred), free(fold), free(is_train);
    return st;
}

int eval_fit(struct eval_fitted *f, const struct outcome_table *t,
             const struct eval_fit_config *c) {
    memset(f, 0, sizeof *f);
    f->t = t;
    f->cfg = *c;
    int D = c->feat_dim, K = t->n_agents, N = t->n_queries;
    if (D < 16 || D > (1 << 16) || (D & (D - 1)))
        return disr_fail(DISR_E_ARG, "feature size %d must be a power of two in 16..65536", D);
    if (c->knn_k < 1 || c->epochs < 1 || c->mlp_hidden < 1 || c->scorer_hidden < 1)
        return disr_fail(DISR_E_ARG, "eval fit: k, epochs and hidden sizes must be >= 1");
    int n_train = outcome_count_split(t, OUT_SPLIT_TRAIN);
    if (n_train < 2)
        return disr_fail(DISR_E_ARG,
                         "the outcome table has %d training queries: the baselines "
                         "need the self-awareness training split",
                         n_train);
    int *train = malloc((size_t)n_train * sizeof *train);
    float *x = calloc((size_t)N * D, sizeof *x);
    f->p_knn = malloc((size_t)N * K * sizeof(float));
    f->p_mlp = malloc((size_t)N * K * sizeof(float));
    f->s_frugal = malloc((size_t)N * K * sizeof(float));
    int st = DISR_OK;
    if (!train || !x || !f->p_knn || !f->p_mlp || !f->s_frugal)
        st = disr_fail(DISR_E_NOMEM, "eval fit: %d queries x %d features", N, D);
    if (st == DISR_OK) {
        for (int qi = 0, j = 0; qi < N; qi++) {
            feat_add_text(x + (size_t)qi * D, D, t->q[qi].query, 0);
            feat_normalize(x + (size_t)qi * D, D);
            if (t->q[qi].split == OUT_SPLIT_TRAIN) train[j++] = qi;
        }
        double t0 = time_now();
        st = fit_knn(f, x, train, n_train);
        if (st == DISR_OK) st = fit_mlp_router(f, x, train, n_train);
        if (st == DISR_OK) st = fit_frugal(f, x, train, n_train);
        log_info("eval: fitted kNN, MLP router and scorers on %d training queries in %.1fs",
                 n_train, time_now() - t0);
    }
    free(train);
    free(x);
    if (st != DISR_OK) {
        eval_fitted_free(f);
        f->t = t;
    }
    return st;
}

/* ---- routing -------------------------------------------------------------------------------- */

float eval_cascade_score(const struct eval_fitted *f, enum eval_method m, int qi, int agent) {
    const struct outcome_cell *c = outcome_at(f->t, qi, agent);
    switch (m) {
    case EM_CONF:
        return c->conf;
    case EM_AUTOMIX:
        return c->verify;
    case EM_FRUGAL:
        return f->s_frugal ? f->s_frugal[(size_t)qi * f->t->n_agents + agent] : 0;
    default:
        return 0;
    }
}

/* Kept agents in chain order; returns how many (>= 1) or a negative status. */
static int active_agents(const struct outcome_table *t, const uint8_t *mask, int *act) {
    int m = 0;
    for (int a = 0; a < t->n_agents; a++)
        if (!mask || mask[a]) act[m++] = a;
    if (m == 0) return disr_fail(DISR_E_ARG, "agent mask keeps no agent");
    return m;
}

static int cmp_float(const void *x, const void *y) {
    float a = *(const float *)x, b = *(const float *)y;
    return (a > b) - (a < b);
}

/* Walks a threshold cascade: the first kept agent (but the last) with score >= th answers. */
static int cascade_pick(const struct eval_fitted *f, enum eval_method m, int qi, const int *act,
                        int n_act, const float *th) {
    for (int j = 0; j + 1 < n_act; j++)
        if (eval_cascade_score(f, m, qi, act[j]) >= th[act[j]]) return j;
    return n_act - 1;
}

int eval_fit_thresholds(const struct eval_fitted *f, enum eval_method m, double alpha,
                        const uint8_t *mask, float *th) {
    const struct outcome_table *t = f->t;
    if (m != EM_CONF && m != EM_AUTOMIX && m != EM_FRUGAL)
        return disr_fail(DISR_E_ARG, "%s has no thresholds", eval_method_name(m));
    if (m == EM_FRUGAL && !f->s_frugal)
        return disr_fail(DISR_E_STATE, "FrugalGPT scorer not fitted (eval_fit)");
    int act[OUT_MAX_AGENTS];
    int n_act = active_agents(t, mask, act);
    if (n_act < 0) return n_act;
    int n = outcome_count_split(t, OUT_SPLIT_TRAIN), N = t->n_queries;
    int *rows = malloc((size_t)(n > 0 ? n : 1) * sizeof *rows);
    float *cand = malloc((size_t)(n + 2) * sizeof *cand);
    if (!rows || !cand) {
        free(rows), free(cand);
        return disr_fail(DISR_E_NOMEM, "threshold fit");
    }
    for (int qi = 0, j = 0; qi < N; qi++)
        if (t->q[qi].split == OUT_SPLIT_TRAIN) rows[j++] = qi;
    const float never = 2.0f, always = -1.0f; /* scores live in [0, 1] */
    for (int a = 0; a < t->n_agents; a++)
        th[a] = (float)scenario_threshold(alpha);
    th[act[n_act - 1]] = always;
    double best = -1e30;
    for (int pass = 0; pass < 8 && n > 0; pass++) {
        int changed = 0;
        for (int j = 0; j + 1 < n_act; j++) {
            int a = act[j];
            /* candidates: up to 65 quantiles of this agent's training scores, plus the extremes */
            int nc = 0;
            for (int i = 0; i < n; i++)
                cand[nc++] = eval_cascade_score(f, m, rows[i], a);
            qsort(cand, (size_t)nc, sizeof *cand, cmp_float);
            float grid[67];
            int ng = 0;
            grid[ng++] = always;
            grid[ng++] = never;
            for (int g = 0; g <= 64 && nc > 0; g++) {
                float v = cand[(size_t)((double)g / 64 * (nc - 1))];
                if (ng == 2 || grid[ng - 1] != v) grid[ng++] = v;
            }
            float keep = th[a];
            for (int g = 0; g < ng; g++) {
                th[a] = grid[g];
                double u = 0;
                for (int i = 0; i < n; i++) {
                    int pick = act[cascade_pick(f, m, rows[i], act, n_act, th)];
                    u += outcome_at(t, rows[i], pick)->correct - alpha * t->cost[pick];
                }
                u /= n;
                if (u > best + 1e-12) best = u, keep = grid[g], changed = 1;
            }
            th[a] = keep;
        }
        if (!changed && pass > 0) break;
    }
    free(rows), free(cand);
    return DISR_OK;
}

/* DiSRouter over the outcome table: hop i is the kept chain's agent act[i], whose recorded
 * decision under the scenario answers or rejects; the last hop gives its forced answer. */
struct table_walk {
    const struct outcome_table *t;
    int qi;
    const int *act;
    int variant, scen;
    double alpha;
    float lat;
    int correct; /* -1: the forced answer's correctness */
};

static int table_ask(void *ctx, int i, bool last) {
    struct table_walk *w = ctx;
    const struct outcome_cell *c = outcome_at(w->t, w->qi, w->act[i]);
    if (last) {
        w->lat += c->t_answer;
        return CHAIN_ANSWER;
    }
    int d = c->decide[w->variant][w->scen];
    if (d == OUT_UNKNOWN)
        return disr_fail(
            DISR_E_STATE, "query %s: agent %d has no %s decision at alpha %g in the outcome table",
            w->t->q[w->qi].id, w->act[i], w->variant == OUT_RL ? "RL" : "SFT", w->alpha);
    if (d == OUT_ANSWER) {
        w->correct = c->dcorrect[w->variant][w->scen];
        w->lat += c->t_answer;
        return CHAIN_ANSWER;
    }
    w->lat += c->t_reject;
    return CHAIN_REJECT;
}

static const struct chain_ops table_chain = {.ask = table_ask};

int eval_route(const struct eval_fitted *f, enum eval_method m, double alpha, enum out_split split,
               const uint8_t *mask, struct eval_pick *out, int *n_out) {
    const struct outcome_table *t = f->t;
    *n_out = 0;
    if (m < 0 || m >= EM_COUNT) return disr_fail(DISR_E_ARG, "unknown method %d", m);
    int act[OUT_MAX_AGENTS];
    int n_act = active_agents(t, mask, act);
    if (n_act < 0) return n_act;
    int scen = -1, variant = m == EM_DISR_RL ? OUT_RL : OUT_SFT;
    float th[OUT_MAX_AGENTS];
    if (m == EM_DISR_RL || m == EM_DISR_SFT) {
        scen = eval_scenario_index(alpha);
        if (scen < 0)
            return disr_fail(DISR_E_ARG,
                             "%s runs at the trained scenarios (alpha 0.2, 0.5, 0.8), "
                             "not %g",
                             eval_method_name(m), alpha);
    } else if (m == EM_CONF || m == EM_AUTOMIX || m == EM_FRUGAL) {
        DISR_TRY(eval_fit_thresholds(f, m, alpha, mask, th));
    } else if ((m == EM_MLP && !f->p_mlp) || (m == EM_KNN && !f->p_knn)) {
        return disr_fail(DISR_E_STATE, "%s not fitted (eval_fit)", eval_method_name(m));
    }
    const int K = t->n_agents;
    int n = 0;
    for (int qi = 0; qi < t->n_queries; qi++) {
        if (t->q[qi].split != split) continue;
        struct eval_pick *p = &out[n++];
        memset(p, 0, sizeof *p);
        p->qi = qi;
        int j = 0; /* position in the kept chain of the agent that answers */
        float lat = 0, calls = 0;
        int correct = -1; /* -1: take the forced answer's correctness */
        switch (m) {
        case EM_DISR_RL:
        case EM_DISR_SFT: {
            struct table_walk w = {.t = t,
                                   .qi = qi,
                                   .act = act,
                                   .variant = variant,
                                   .scen = scen,
                                   .alpha = alpha,
                                   .correct = -1};
            struct chain_outcome o;
            DISR_TRY(chain_walk(n_act, &table_chain, &w, &o));
            j = o.answerer;
            lat = w.lat;
            correct = w.correct;
            calls = (float)t->cost[act[j]];
            break;
        }
        case EM_CONF:
        case EM_AUTOMIX:
        case EM_FRUGAL:
            j = cascade_pick(f, m, qi, act, n_act, th);
            for (int i = 0; i <= j; i++) {
                float ta = outcome_at(t, qi, act[i])->t_answer;
                /* AutoMix verifies every answer it might escalate from by sampling */
                lat += (m == EM_AUTOMIX && i + 1 < n_act) ? ta * (1 + AUTOMIX_SAMPLES) : ta;
                calls += (float)t->cost[act[i]];
            }
            break;
        case EM_MLP:
        case EM_KNN: {
            const float *pr = (m == EM_MLP ? f->p_mlp : f->p_knn) + (size_t)qi * K;
            double best = -1e30;
            for (int i = 0; i < n_act; i++) {
                double u = pr[act[i]] - alpha * t->cost[act[i]];
                if (u > best) best = u, j = i;
            }
            break;
        }
        case EM_RANDOM: {
            struct rng r;
            rng_init(&r, rng_derive_seed(f->cfg.seed ^ FIT_SALT_RANDOM, (uint64_t)qi));
            j = (int)rng_below(&r, (uint64_t)n_act);
            break;
        }
        case EM_SMALLEST:
            j = 0;
            break;
        case EM_LARGEST:
            j = n_act - 1;
            break;
        case EM_ORACLE:
            for (j = 0; j < n_act && !outcome_at(t, qi, act[j])->correct; j++) {
            }
            if (j == n_act) j = 0; /* nobody is right: the cheapest wrong answer */
            break;
        default:
            break;
        }
        int a = act[j];
        const struct outcome_cell *c = outcome_at(t, qi, a);
        if (!eval_method_is_cascade(m)) { /* one direct call */
            lat = c->t_answer;
            calls = (float)t->cost[a];
        }
        p->agent = a;
        p->correct = (uint8_t)(correct >= 0 ? correct : c->correct);
        p->hops = (uint8_t)(eval_method_is_cascade(m) ? j + 1 : 1);
        p->cost = (float)t->cost[a];
        p->cost_calls = calls;
        p->latency = lat;
    }
    *n_out = n;
    return DISR_OK;
}

struct eval_score eval_score_picks(const struct eval_pick *p, int n, double alpha) {
    struct eval_score s = {.n = n};
    if (n <= 0) return s;
    for (int i = 0; i < n; i++) {
        s.accuracy += p[i].correct;
        s.cost += p[i].cost;
        s.cost_calls += p[i].cost_calls;
        s.latency += p[i].latency;
    }
    s.accuracy /= n, s.cost /= n, s.cost_calls /= n, s.latency /= n;
    s.utility = s.accuracy - alpha * s.cost;
    return s;
}
