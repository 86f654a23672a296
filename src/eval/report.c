#include "eval/report.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/err.h"
#include "core/file.h"
#include "core/strbuf.h"
#include "core/log.h"
#include "core/stats.h"
#include "train/sa_grpo.h"
#include "world/scenario.h"
#include "world/dataset.h"

extern char **environ;

#define N_ALPHA    SCENARIO_COUNT
#define MAX_CHAINS (OUT_MAX_AGENTS + 2)
/* the alpha of the ai-th scenario (0.2 / 0.5 / 0.8) */
#define ALPHA(ai) scenario_alpha(scenario_at(ai))
static const char *const ALPHA_KEY[N_ALPHA] = {"0.2", "0.5", "0.8"};
static const char *const SCEN_LABEL[N_ALPHA] = {"Performance First", "Balance", "Cost First"};
/* The order methods appear in tables: DiSRouter first, then baselines, Oracle last. */
static const enum eval_method TABLE_ORDER[EM_COUNT] = {
    EM_ORACLE, EM_SMALLEST, EM_LARGEST, EM_RANDOM,   EM_KNN,    EM_MLP,
    EM_FRUGAL, EM_AUTOMIX,  EM_CONF,    EM_DISR_SFT, EM_DISR_RL};
/* Methods shown in the modularity table. */
static const enum eval_method MOD_METHODS[] = {EM_DISR_RL, EM_DISR_SFT, EM_CONF, EM_ORACLE};
#define N_MOD ((int)(sizeof MOD_METHODS / sizeof *MOD_METHODS))

void report_config_default(struct report_config *c) {
    memset(c, 0, sizeof *c);
    c->out_dir = "eval-report";
    c->title = "DiSRouter evaluation";
    c->source = "";
    eval_fit_config_default(&c->fit);
    c->plots = 1;
    c->print = stdout;
}

struct result {
    int ok;
    struct eval_score s;
    double share[OUT_MAX_AGENTS]; /* fraction of queries answered by each agent */
    double easy_cost, hard_cost;  /* mean cost on easy / hard queries */
    int n_easy, n_hard;
};

/* Forced-answer counts of every agent per task family and difficulty level, on one split: how
 * each agent's competence falls off with the level, which the routing tables only show pooled. */
#define LV_COLS         (QA_MAX_DIFFICULTY + 1) /* column 0 = queries without a level */
#define LV_MAX_FAMILIES 32 /* rows of families; a data set with more pools the rest in one row */
#define LV_OTHER        "(other families)"

struct level_row {
    const char *family; /* points into the outcome table; NULL for the row of all families */
    int n[LV_COLS];
    int correct[OUT_MAX_AGENTS][LV_COLS];
};

struct level_table {
    int n_rows; /* row 0 pools every family, then families in order of first appearance */
    struct level_row row[LV_MAX_FAMILIES + 1];
    int n_levels; /* levels with queries; 0: the split has none, and no table is shown */
    int level[QA_MAX_DIFFICULTY]; /* those levels, ascending (0, "no level", not among them) */
};

struct state {
    const struct outcome_table *t;
    const struct report_config *c;
    int K;
    struct eval_fitted fit;
    int avail[EM_COUNT];
    char why[EM_COUNT][120];
    int has_split[OUT_N_SPLIT];
    struct result res[OUT_N_SPLIT][EM_COUNT][N_ALPHA];
    uint8_t *easy; /* per query: some agent below the largest is right */
    struct eval_pick *picks;
    struct strbuf records; /* written atomically at the end */
    int n_chains;
    uint8_t chain[MAX_CHAINS][OUT_MAX_AGENTS];
    char chain_name[MAX_CHAINS][64];
    struct result mod[MAX_CHAINS][N_MOD][N_ALPHA];
    float th[3][N_ALPHA][OUT_MAX_AGENTS]; /* fitted thresholds: conf, automix, frugal */
    struct level_table lv[OUT_N_SPLIT];   /* test and OOD */
};

static int level_row_of(struct level_table *lt, const char *family) {
    for (int r = 1; r < lt->n_rows; r++)
        if (!strcmp(lt->row[r].family, family)) return r;
    if (lt->n_rows < LV_MAX_FAMILIES) {
        lt->row[lt->n_rows].family = family;
        return lt->n_rows++;
    }
    if (lt->n_rows == LV_MAX_FAMILIES) lt->row[lt->n_rows++].family = LV_OTHER;
    return LV_MAX_FAMILIES;
}

static void level_table_build(const struct outcome_table *t, enum out_split s,
                              struct level_table *lt) {
    memset(lt, 0, sizeof *lt);
    lt->n_rows = 1;
    for (int qi = 0; qi < t->n_queries; qi++) {
        if (t->q[qi].split != s) continue;
        int l = t->q[qi].difficulty;
        if (l < 0 || l > QA_MAX_DIFFICULTY)
            l = 0; /* the loader checks; a table built in code may not */
        int rows[2] = {0, level_row_of(lt, t->q[qi].family)};
        for (int k = 0; k < 2; k++) {
            struct level_row *r = &lt->row[rows[k]];
            r->n[l]++;
            for (int a = 0; a < t->n_agents; a++)
                r->correct[a][l] += outcome_at(t, qi, a)->correct;
        }
    }
    for (int l = 1; l <= QA_MAX_DIFFICULTY; l++)
        if (lt->row[0].n[l]) lt->level[lt->n_levels++] = l;
}

static int level_sum(const int *x) {
    int sum = 0;
    for (int l = 0; l < LV_COLS; l++)
        sum += x[l];
    return sum;
}

static void chain_label(const struct state *st, const uint8_t *mask, char *buf, size_t cap) {
    size_t pos = 0;
    buf[0] = '\0';
    for (int a = 0; a < st->K; a++)
        if (mask[a] && pos + 4 < cap)
            pos += (size_t)snprintf(buf + pos, cap - pos, "%s%d", pos ? "," : "", a);
}

/* Records keep 6 decimals: the floats' noise digits would only make the file longer. */
static double round6(double x) {
    return round(x * 1e6) / 1e6;
}

/* Routes one (split, chain, method, alpha), writes its records and summarizes into r. */
static int route_one(struct state *st, enum out_split split, const uint8_t *mask, const char *chain,
                     enum eval_method m, int ai, struct result *r) {
    int n = 0;
    memset(r, 0, sizeof *r);
    DISR_TRY(eval_route(&st->fit, m, ALPHA(ai), split, mask, st->picks, &n));
    r->ok = 1;
    r->s = eval_score_picks(st->picks, n, ALPHA(ai));
    for (int i = 0; i < n; i++) {
        const struct eval_pick *p = &st->picks[i];
        r->share[p->agent] += 1.0 / n;
        if (st->easy[p->qi])
            r->easy_cost += p->cost, r->n_easy++;
        else
            r->hard_cost += p->cost, r->n_hard++;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "split", outcome_split_name(split));
        cJSON_AddStringToObject(o, "chain", chain);
        cJSON_AddStringToObject(o, "method", eval_method_key(m));
        cJSON_AddNumberToObject(o, "alpha", ALPHA(ai));
        cJSON_AddStringToObject(o, "qid", st->t->q[p->qi].id);
        cJSON_AddNumberToObject(o, "agent", p->agent);
        cJSON_AddNumberToObject(o, "correct", p->correct);
        cJSON_AddNumberToObject(o, "cost", round6(p->cost));
        cJSON_AddNumberToObject(o, "latency", round6(p->latency));
        cJSON_AddNumberToObject(o, "hops", p->hops);
        cJSON_AddNumberToObject(o, "cost_calls", round6(p->cost_calls));
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!s) return disr_fail(DISR_E_NOMEM, "records");
        strbuf_puts(&st->records, s);
        strbuf_puts(&st->records, "\n");
        free(s);
    }
    if (r->n_easy) r->easy_cost /= r->n_easy;
    if (r->n_hard) r->hard_cost /= r->n_hard;
    return DISR_OK;
}

/* Decides which methods can run on this table and fits the learned ones. */
static int prepare(struct state *st) {
    const struct outcome_table *t = st->t;
    for (int s = 0; s < OUT_N_SPLIT; s++)
        st->has_split[s] = outcome_count_split(t, s) > 0;
    for (int m = 0; m < EM_COUNT; m++)
        st->avail[m] = 1;
    st->fit.t = t;
    st->fit.cfg = st->c->fit;
    static const enum out_variant vs[2] = {OUT_RL, OUT_SFT};
    static const enum eval_method vm[2] = {EM_DISR_RL, EM_DISR_SFT};
    for (int i = 0; i < 2; i++)
        if (!outcome_has_variant(t, vs[i])) {
            st->avail[vm[i]] = 0;
            snprintf(st->why[vm[i]], sizeof st->why[0],
                     "the outcome table has no %s decisions for every agent and scenario",
                     vs[i] == OUT_RL ? "RL" : "SFT");
        }
    int learned[] = {EM_CONF, EM_AUTOMIX, EM_FRUGAL, EM_MLP, EM_KNN};
    int st_fit = outcome_count_split(t, OUT_SPLIT_TRAIN) >= 2
                     ? eval_fit(&st->fit, t, &st->c->fit)
                     : disr_fail(DISR_E_ARG, "no self-awareness training split in the outcomes");
    if (st_fit != DISR_OK) {
        log_warn("eval: learned baselines left out: %s", disr_last_error());
        for (size_t i = 0; i < sizeof learned / sizeof *learned; i++) {
            st->avail[learned[i]] = 0;
            snprintf(st->why[learned[i]], sizeof st->why[0], "%s", disr_last_error());
        }
        st->fit.t = t;
        st->fit.cfg = st->c->fit;
    }
    st->easy = calloc((size_t)t->n_queries, 1);
    st->picks = malloc((size_t)t->n_queries * sizeof *st->picks);
    if (!st->easy || !st->picks) return disr_fail(DISR_E_NOMEM, "report: %d queries", t->n_queries);
    for (int qi = 0; qi < t->n_queries; qi++)
        for (int a = 0; a + 1 < t->n_agents; a++)
            st->easy[qi] |= outcome_at(t, qi, a)->correct;
    for (int s = OUT_SPLIT_TEST; s <= OUT_SPLIT_OOD; s++)
        level_table_build(t, s, &st->lv[s]);
    return DISR_OK;
}

static int run_all(struct state *st) {
    uint8_t all[OUT_MAX_AGENTS];
    char name[64];
    memset(all, 1, sizeof all);
    chain_label(st, all, name, sizeof name);
    int total = 0, done = 0;
    for (int s = OUT_SPLIT_TEST; s <= OUT_SPLIT_OOD; s++)
        total += st->has_split[s] * EM_COUNT * N_ALPHA;
    struct progress pr;
    progress_init(&pr, "eval: routing", total);
    for (int s = OUT_SPLIT_TEST; s <= OUT_SPLIT_OOD; s++) {
        if (!st->has_split[s]) continue;
        for (int m = 0; m < EM_COUNT; m++)
            for (int ai = 0; ai < N_ALPHA; ai++, done++) {
                if (!st->avail[m]) continue;
                DISR_TRY(route_one(st, s, NULL, name, m, ai, &st->res[s][m][ai]));
                progress_update(&pr, done + 1, eval_method_name(m));
            }
    }
    progress_finish(&pr, total, "");
    /* cascade thresholds (for the report; eval_route fitted the same ones) */
    for (int k = 0; k < 3; k++) {
        enum eval_method m = (enum eval_method)(EM_CONF + k);
        for (int ai = 0; ai < N_ALPHA && st->avail[m]; ai++)
            DISR_TRY(eval_fit_thresholds(&st->fit, m, ALPHA(ai), NULL, st->th[k][ai]));
    }
    /* modularity: the full chain, each agent but the last removed, and first + last only */
    if (!st->has_split[OUT_SPLIT_TEST]) return DISR_OK;
    int K = st->K;
    st->n_chains = 0;
    memcpy(st->chain[st->n_chains++], all, sizeof all);
    for (int drop = 0; drop + 1 < K && K > 2; drop++) {
        uint8_t *c = st->chain[st->n_chains++];
        memset(c, 1, OUT_MAX_AGENTS);
        c[drop] = 0;
    }
    if (K > 3) {
        uint8_t *c = st->chain[st->n_chains++];
        memset(c, 0, OUT_MAX_AGENTS);
        c[0] = c[K - 1] = 1;
    }
    for (int ci = 0; ci < st->n_chains; ci++) {
        chain_label(st, st->chain[ci], st->chain_name[ci], sizeof st->chain_name[ci]);
        for (int k = 0; k < N_MOD; k++)
            for (int ai = 0; ai < N_ALPHA; ai++) {
                if (!st->avail[MOD_METHODS[k]]) continue;
                if (ci == 0) { /* the full chain was routed above */
                    st->mod[ci][k][ai] = st->res[OUT_SPLIT_TEST][MOD_METHODS[k]][ai];
                    continue;
                }
                DISR_TRY(route_one(st, OUT_SPLIT_TEST, st->chain[ci], st->chain_name[ci],
                                   MOD_METHODS[k], ai, &st->mod[ci][k][ai]));
            }
    }
    return DISR_OK;
}

/* ---- per-agent statistics that come straight from the outcome table ------------------------- */

/* Answer rate of agent a among the test queries that reach it in the full chain. */
static double answer_rate(const struct state *st, enum out_variant v, int ai, int a, int *reached) {
    const struct outcome_table *t = st->t;
    int reach = 0, answered = 0;
    for (int qi = 0; qi < t->n_queries; qi++) {
        if (t->q[qi].split != OUT_SPLIT_TEST) continue;
        int j = 0;
        while (j < a && outcome_at(t, qi, j)->decide[v][ai] == OUT_REJECT)
            j++;
        if (j < a) continue;
        reach++;
        answered += a == t->n_agents - 1 || outcome_at(t, qi, a)->decide[v][ai] == OUT_ANSWER;
    }
    *reached = reach;
    return reach ? (double)answered / reach : NAN;
}

/* Self-assessment F1 of agent a on the test split: positive = "reject", truth = "its forced
 * answer would be wrong". Predictors: 0 SFT, 1 RL, 2 confidence < threshold, 3 the external MLP
 * router's P(correct) < threshold. NAN if the predictor is missing. */
#define N_PRED 4
static const char *const PRED_NAME[N_PRED] = {"DiSRouter SFT", "DiSRouter +RL", "Confidence",
                                              "External MLP"};
static const char *const PRED_KEY[N_PRED] = {"disr_sft", "disr_rl", "confidence", "external_mlp"};

/* The outcome variant a DiSRouter predictor (0 SFT, 1 RL) reads its decisions from. */
static enum out_variant pred_variant(int pred) {
    return pred == 0 ? OUT_SFT : OUT_RL;
}

static bool pred_available(const struct state *st, int pred) {
    return pred == 3 ? st->fit.p_mlp != NULL
                     : pred == 2 || st->avail[pred == 0 ? EM_DISR_SFT : EM_DISR_RL];
}

/* Whether predictor `pred` has agent a reject query qi at alpha index ai: 1, 0, or -1 when the
 * decision was not recorded. */
static int pred_rejects(const struct state *st, int pred, int ai, int qi, int a) {
    const struct outcome_cell *c = outcome_at(st->t, qi, a);
    double th = scenario_threshold(ALPHA(ai));
    if (pred < 2) {
        int d = c->decide[pred_variant(pred)][ai];
        return d == OUT_UNKNOWN ? -1 : d == OUT_REJECT;
    }
    if (pred == 2) return c->conf < th;
    return st->fit.p_mlp[(size_t)qi * st->t->n_agents + a] < th;
}

static double sa_f1(const struct state *st, int pred, int ai, int a) {
    const struct outcome_table *t = st->t;
    if (!pred_available(st, pred)) return NAN;
    int tp = 0, fp = 0, fn = 0;
    for (int qi = 0; qi < t->n_queries; qi++) {
        if (t->q[qi].split != OUT_SPLIT_TEST) continue;
        int reject = pred_rejects(st, pred, ai, qi, a);
        if (reject < 0) return NAN;
        int wrong = !outcome_at(t, qi, a)->correct;
        tp += reject && wrong, fp += reject && !wrong, fn += !reject && wrong;
    }
    return tp ? 2.0 * tp / (2.0 * tp + fp + fn) : 0.0;
}

/* How often agent a's answers are right when predictor `pred` decides, over every test query
 * (the agent on its own, not only the queries a chain hands it). A trained agent is graded on
 * the answer it gave in that scenario; confidence and the MLP let the forced answer through.
 * False if the predictor or a decision is missing. */
static bool answer_precision(const struct state *st, int pred, int ai, int a, int *right,
                             int *answered) {
    const struct outcome_table *t = st->t;
    *right = *answered = 0;
    if (!pred_available(st, pred)) return false;
    for (int qi = 0; qi < t->n_queries; qi++) {
        if (t->q[qi].split != OUT_SPLIT_TEST) continue;
        int reject = pred_rejects(st, pred, ai, qi, a);
        if (reject < 0) return false;
        const struct outcome_cell *c = outcome_at(t, qi, a);
        *answered += !reject;
        *right += !reject && (pred < 2 ? c->dcorrect[pred_variant(pred)][ai] : c->correct);
    }
    return true;
}

static double forced_accuracy(const struct outcome_table *t, enum out_split s, int a) {
    int n = 0, c = 0;
    for (int qi = 0; qi < t->n_queries; qi++)
        if (t->q[qi].split == s) n++, c += outcome_at(t, qi, a)->correct;
    return n ? (double)c / n : NAN;
}

/* ---- the paper's claims, checked on this run ---------------------------------------------- */

#define N_CLAIMS 8
/* Precision is compared across scenarios only where an agent answers at least this many test
 * queries in each: fewer make a rate too noisy to order. */
#define CLAIM_MIN_ANSWERED 20
/* Cost First (alpha 0.8): DiSRouter (+RL) may trail the best method by this much. At that alpha
 * the cheapest agent alone is hard to beat (every hop up costs 0.8 x its cost) and the paper
 * itself reports its smallest margin there. */
#define CLAIM_COST_FIRST_SLACK 0.01
struct claim {
    const char *text;
    int known; /* the run has what the claim needs */
    int pass;
    char detail[320];
};

/* Mean of the paper's reward over every test query, agent a alone under DiSRouter SFT (pred 0)
 * or +RL (pred 1) at alpha index ai: 1 right, 0 wrong, (1 - alpha)^gamma for a reject. NAN if a
 * decision is missing. */
static double mean_reward(const struct state *st, int pred, int ai, int a) {
    const struct outcome_table *t = st->t;
    double sum = 0;
    int n = 0;
    for (int qi = 0; qi < t->n_queries; qi++) {
        if (t->q[qi].split != OUT_SPLIT_TEST) continue;
        int reject = pred_rejects(st, pred, ai, qi, a);
        if (reject < 0) return NAN;
        const struct outcome_cell *c = outcome_at(t, qi, a);
        sum += sa_reward(reject, c->dcorrect[pred_variant(pred)][ai], ALPHA(ai));
        n++;
    }
    return n ? sum / n : NAN;
}

/* The self-awareness bar of every agent but the last (which always answers), under +RL:
 * c[0] its mean reward >= SFT's in every scenario; c[1] its answer rate falls from Cost First
 * to Performance First; c[2] its precision rises with the bar where it answers enough. */
static void check_self_awareness(const struct state *st, struct claim *c) {
    if (!st->avail[EM_DISR_RL] || !st->avail[EM_DISR_SFT] || !st->has_split[OUT_SPLIT_TEST]) return;
    size_t p[3] = {0};
    for (int k = 0; k < 3; k++)
        c[k].known = c[k].pass = 1;
    for (int a = 0; a + 1 < st->K; a++) {
        double rate[N_ALPHA], prec[N_ALPHA];
        int enough = 1;
        for (int ai = 0; ai < N_ALPHA; ai++) {
            double r = mean_reward(st, 1, ai, a), f = mean_reward(st, 0, ai, a);
            if (isnan(r) || isnan(f)) {
                for (int k = 0; k < 3; k++)
                    c[k].known = 0;
                return;
            }
            if (r < f - 1e-12) c[0].pass = 0;
            p[0] += (size_t)snprintf(c[0].detail + p[0], sizeof c[0].detail - p[0], "%s%.3f/%.3f",
                                     ai ? " " : (a ? "; " : ""), r, f);
            int right, answered;
            answer_precision(st, 1, ai, a, &right, &answered);
            int total = 0;
            for (int qi = 0; qi < st->t->n_queries; qi++)
                total += st->t->q[qi].split == OUT_SPLIT_TEST;
            rate[ai] = total ? (double)answered / total : 0;
            prec[ai] = answered ? (double)right / answered : NAN;
            enough &= answered >= CLAIM_MIN_ANSWERED;
        }
        /* alpha index 0 is Performance First (the highest bar), 2 Cost First */
        if (rate[0] > rate[1] + 1e-12 || rate[1] > rate[2] + 1e-12) c[1].pass = 0;
        p[1] += (size_t)snprintf(c[1].detail + p[1], sizeof c[1].detail - p[1],
                                 "%sagent%d %.2f/%.2f/%.2f", a ? "; " : "", a, rate[0], rate[1],
                                 rate[2]);
        if (enough) {
            if (prec[0] < prec[1] - 1e-12 || prec[1] < prec[2] - 1e-12) c[2].pass = 0;
            p[2] += (size_t)snprintf(c[2].detail + p[2], sizeof c[2].detail - p[2],
                                     "%sagent%d %.2f/%.2f/%.2f", p[2] ? "; " : "", a, prec[0],
                                     prec[1], prec[2]);
        }
    }
    if (!p[2])
        snprintf(c[2].detail, sizeof c[2].detail,
                 "no agent answers %d queries in every "
                 "scenario",
                 CLAIM_MIN_ANSWERED);
}

static void check_claims(const struct state *st, struct claim *c) {
    const int T = OUT_SPLIT_TEST, O = OUT_SPLIT_OOD;
    int rl = st->avail[EM_DISR_RL];
    memset(c, 0, N_CLAIMS * sizeof *c);
    c[0].text = "DiSRouter (+RL) has the best utility of all non-Oracle methods at alpha 0.2 and "
                "0.5, and is within 0.01 of the best at 0.8 (in domain)";
    c[1].text = "DiSRouter (+RL) reaches at least 80 % of the Oracle's utility at every alpha "
                "(in domain; the paper: 74.29 %)";
    c[2].text = "DiSRouter (+RL) beats every central router (kNN, MLP) out of domain at alpha 0.5";
    c[3].text = "Removing one middle agent without retraining keeps DiSRouter (+RL)'s Balance "
                "utility within 0.03";
    c[4].text = "RL is at least as good as SFT in chain utility at every alpha (in domain)";
    c[5].text = "Each agent's mean reward under +RL is at least SFT's, in every scenario "
                "(agents before the last, alone on the test queries; numbers: RL/SFT at "
                "alpha 0.2 0.5 0.8)";
    c[6].text = "Each agent's answer rate under +RL falls from Cost First to Performance First "
                "(numbers: alpha 0.2/0.5/0.8)";
    c[7].text = "Each agent's precision under +RL rises with the bar, where it answers at least "
                "20 test queries in every scenario (numbers: alpha 0.2/0.5/0.8)";
    check_self_awareness(st, c + 5);
    if (rl && st->has_split[T]) {
        c[0].known = c[1].known = 1;
        c[0].pass = c[1].pass = 1;
        size_t p0 = 0, p1 = 0;
        for (int ai = 0; ai < N_ALPHA; ai++) {
            double u = st->res[T][EM_DISR_RL][ai].s.utility, best = -1e30;
            int arg = -1;
            for (int m = 0; m < EM_COUNT; m++)
                if (m != EM_DISR_RL && m != EM_ORACLE && st->avail[m] &&
                    st->res[T][m][ai].s.utility > best)
                    best = st->res[T][m][ai].s.utility, arg = m;
            double slack = ai == N_ALPHA - 1 ? CLAIM_COST_FIRST_SLACK : 0;
            if (arg >= 0 && best > u + slack + 1e-12) c[0].pass = 0;
            p0 += (size_t)snprintf(c[0].detail + p0, sizeof c[0].detail - p0,
                                   "%sα=%.1f: %.3f vs %s %.3f", ai ? "; " : "", ALPHA(ai), u,
                                   arg >= 0 ? eval_method_name(arg) : "-", best);
            double o = st->res[T][EM_ORACLE][ai].s.utility, pct = o > 0 ? 100 * u / o : NAN;
            if (!(o > 0)) c[1].known = 0; /* a ratio to a non-positive topline means nothing */
            if (!(pct >= 80)) c[1].pass = 0;
            p1 += (size_t)snprintf(c[1].detail + p1, sizeof c[1].detail - p1, "%sα=%.1f: %.1f %%",
                                   ai ? "; " : "", ALPHA(ai), pct);
        }
    }
    if (rl && st->has_split[T] && st->avail[EM_DISR_SFT]) {
        c[4].known = c[4].pass = 1;
        size_t p = 0;
        for (int ai = 0; ai < N_ALPHA; ai++) {
            double r = st->res[T][EM_DISR_RL][ai].s.utility;
            double f = st->res[T][EM_DISR_SFT][ai].s.utility;
            if (r < f - 1e-12) c[4].pass = 0;
            p += (size_t)snprintf(c[4].detail + p, sizeof c[4].detail - p, "%sα=%.1f: %.3f vs %.3f",
                                  ai ? "; " : "", ALPHA(ai), r, f);
        }
    }
    if (rl && st->has_split[O] && st->avail[EM_KNN] && st->avail[EM_MLP]) {
        double u = st->res[O][EM_DISR_RL][1].s.utility;
        double k = st->res[O][EM_KNN][1].s.utility, m = st->res[O][EM_MLP][1].s.utility;
        c[2].known = 1;
        c[2].pass = u > k && u > m;
        snprintf(c[2].detail, sizeof c[2].detail, "%.3f vs kNN %.3f, MLP %.3f", u, k, m);
    }
    /* chains 1..K-1 of the modularity run drop agent 0..K-2; the middle ones are 1..K-2 */
    if (rl && st->K >= 3 && st->n_chains >= st->K) {
        int k = 0; /* MOD_METHODS[0] is EM_DISR_RL */
        double full = st->mod[0][k][1].s.utility;
        size_t p = 0;
        c[3].known = c[3].pass = 1;
        for (int drop = 1; drop + 1 < st->K; drop++) {
            double d = st->mod[1 + drop][k][1].s.utility - full;
            if (d < -0.03) c[3].pass = 0;
            p += (size_t)snprintf(c[3].detail + p, sizeof c[3].detail - p,
                                  "%swithout agent %d: %+.3f", p ? "; " : "", drop, d);
        }
    }
}

/* ---- Markdown ------------------------------------------------------------------------------- */

static void fmt3(char *buf, size_t n, double x) {
    if (isnan(x))
        snprintf(buf, n, "–");
    else
        snprintf(buf, n, "%.3f", x);
}

/* The paper's Table 1: method x scenario, utility (bold = best non-Oracle), accuracy, cost. */
static void write_utility_table(struct strbuf *f, const struct state *st, enum out_split s) {
    strbuf_printf(f, "| Method |");
    for (int ai = 0; ai < N_ALPHA; ai++)
        strbuf_printf(f, " %s α=%.1f: Utility | Acc | Cost |", SCEN_LABEL[ai], ALPHA(ai));
    strbuf_printf(f, "\n|---|");
    for (int ai = 0; ai < N_ALPHA; ai++)
        strbuf_printf(f, "---:|---:|---:|");
    strbuf_printf(f, "\n");
    double best[N_ALPHA];
    for (int ai = 0; ai < N_ALPHA; ai++) {
        best[ai] = -1e30;
        for (int m = 0; m < EM_COUNT; m++)
            if (m != EM_ORACLE && st->res[s][m][ai].ok && st->res[s][m][ai].s.utility > best[ai])
                best[ai] = st->res[s][m][ai].s.utility;
    }
    for (int k = 0; k < EM_COUNT; k++) {
        enum eval_method m = TABLE_ORDER[k];
        if (!st->avail[m]) continue;
        strbuf_printf(f, "| %s%s |", eval_method_name(m), m == EM_ORACLE ? " (topline)" : "");
        for (int ai = 0; ai < N_ALPHA; ai++) {
            const struct result *r = &st->res[s][m][ai];
            int b = m != EM_ORACLE && fabs(r->s.utility - best[ai]) < 1e-12;
            strbuf_printf(f, " %s%.3f%s | %.3f | %.3f |", b ? "**" : "", r->s.utility,
                          b ? "**" : "", r->s.accuracy, r->s.cost);
        }
        strbuf_printf(f, "\n");
    }
    if (st->avail[EM_DISR_RL]) {
        strbuf_printf(f, "| DiSRouter (+RL) / Oracle |");
        for (int ai = 0; ai < N_ALPHA; ai++) {
            double o = st->res[s][EM_ORACLE][ai].s.utility;
            strbuf_printf(f, " %.1f %% | | |",
                          o > 0 ? 100 * st->res[s][EM_DISR_RL][ai].s.utility / o : NAN);
        }
        strbuf_printf(f, "\n");
    }
}

static void write_share_row(struct strbuf *f, const struct state *st, const char *label,
                            const double *share) {
    strbuf_printf(f, "| %s |", label);
    for (int a = 0; a < st->K; a++)
        strbuf_printf(f, " %.1f %% |", 100 * share[a]);
    strbuf_printf(f, "\n");
}

static void write_agent_header(struct strbuf *f, const struct state *st, const char *first) {
    strbuf_printf(f, "| %s |", first);
    for (int a = 0; a < st->K; a++)
        strbuf_printf(f, " agent %d (c=%.2f) |", a, st->t->cost[a]);
    strbuf_printf(f, "\n|---|");
    for (int a = 0; a < st->K; a++)
        strbuf_printf(f, "---:|");
    strbuf_printf(f, "\n");
}

static const char *const SPLIT_TITLE[OUT_N_SPLIT] = {"", "In-domain test", "Out-of-domain"};

static void write_level_cell(struct strbuf *f, int correct, int n) {
    if (n)
        strbuf_printf(f, " %.3f |", (double)correct / n);
    else
        strbuf_printf(f, " – |");
}

/* Forced accuracy per family and level, one table per split; says so when there are no levels
 * (a user's query files need not grade their queries). */
static void write_level_section(struct strbuf *f, const struct state *st) {
    int any = 0;
    for (int s = OUT_SPLIT_TEST; s <= OUT_SPLIT_OOD; s++)
        any |= st->has_split[s] && st->lv[s].n_levels > 0;
    strbuf_printf(f, "## Forced accuracy per family and difficulty level\n\n");
    if (!any) {
        strbuf_printf(f,
                      "The queries carry no difficulty level (no `difficulty` field in the query "
                      "files), so there is no per-level table.\n\n");
        return;
    }
    strbuf_printf(
        f, "Share of queries each base agent gets right with its forced answer (no scenario, "
           "no routing), per task family and difficulty level (the query's `difficulty`); "
           "the `queries` rows count the queries of each cell. The levels a small agent still "
           "masters are the queries a router can keep cheap. The plot shows the all-families "
           "rows.\n\n");
    for (int s = OUT_SPLIT_TEST; s <= OUT_SPLIT_OOD; s++) {
        if (!st->has_split[s]) continue;
        const struct level_table *lt = &st->lv[s];
        strbuf_printf(f, "### %s\n\n", SPLIT_TITLE[s]);
        if (lt->n_levels == 0) {
            strbuf_printf(f, "These queries carry no difficulty level.\n\n");
            continue;
        }
        int none = lt->row[0].n[0] > 0; /* some queries without a level: their own column */
        strbuf_printf(f, "| Family | Agent |");
        for (int j = 0; j < lt->n_levels; j++)
            strbuf_printf(f, " level %d |", lt->level[j]);
        strbuf_printf(f, "%s all |\n|---|---|", none ? " no level |" : "");
        for (int j = 0; j < lt->n_levels + none + 1; j++)
            strbuf_printf(f, "---:|");
        strbuf_printf(f, "\n");
        for (int r = 0; r < lt->n_rows; r++) {
            const struct level_row *row = &lt->row[r];
            const char *name = r == 0 ? "all families" : row->family;
            strbuf_printf(f, "| %s | queries |", name);
            for (int j = 0; j < lt->n_levels; j++)
                strbuf_printf(f, " %d |", row->n[lt->level[j]]);
            if (none) strbuf_printf(f, " %d |", row->n[0]);
            strbuf_printf(f, " %d |\n", level_sum(row->n));
            for (int a = 0; a < st->K; a++) {
                strbuf_printf(f, "| %s | agent %d |", name, a);
                for (int j = 0; j < lt->n_levels; j++)
                    write_level_cell(f, row->correct[a][lt->level[j]], row->n[lt->level[j]]);
                if (none) write_level_cell(f, row->correct[a][0], row->n[0]);
                write_level_cell(f, level_sum(row->correct[a]), level_sum(row->n));
                strbuf_printf(f, "\n");
            }
        }
        strbuf_printf(f, "\n");
    }
    strbuf_printf(f, "![forced accuracy per level](level_accuracy.png)\n\n");
}

static void write_markdown(struct strbuf *f, const struct state *st) {
    const struct outcome_table *t = st->t;
    const struct report_config *c = st->c;
    int K = st->K;
    strbuf_printf(f, "# %s\n\n", c->title);
    if (c->source && c->source[0]) strbuf_printf(f, "Outcomes: `%s`.\n", c->source);
    strbuf_printf(f, "%d agents, costs", K);
    for (int a = 0; a < K; a++)
        strbuf_printf(f, "%s %.2f", a ? "," : "", t->cost[a]);
    strbuf_printf(f,
                  ". Queries: %d self-awareness training, %d in-domain test, %d out-of-domain.\n\n",
                  outcome_count_split(t, OUT_SPLIT_TRAIN), outcome_count_split(t, OUT_SPLIT_TEST),
                  outcome_count_split(t, OUT_SPLIT_OOD));
    strbuf_printf(f,
                  "Utility = accuracy − α · mean cost of the answering agent (rejected hops cost "
                  "nothing). Every learned baseline was fitted on the training split only. Every "
                  "number below recomputes from `records.jsonl` (and `outcomes.jsonl`); "
                  "`summary.json` holds them all.\n\n");
    for (int m = 0; m < EM_COUNT; m++)
        if (!st->avail[m])
            strbuf_printf(f, "- Left out: **%s**: %s.\n", eval_method_name(m), st->why[m]);
    strbuf_printf(f, "\nForced-answer accuracy per agent (test):");
    for (int a = 0; a < K; a++)
        strbuf_printf(f, " %.3f", forced_accuracy(t, OUT_SPLIT_TEST, a));
    if (st->has_split[OUT_SPLIT_OOD]) {
        strbuf_printf(f, "; OOD:");
        for (int a = 0; a < K; a++)
            strbuf_printf(f, " %.3f", forced_accuracy(t, OUT_SPLIT_OOD, a));
    }
    strbuf_printf(f, ".\n\n");

    struct claim cl[N_CLAIMS];
    check_claims(st, cl);
    strbuf_printf(
        f, "## The paper's claims on this run\n\n| Claim | Holds | Numbers |\n|---|---|---|\n");
    for (int i = 0; i < N_CLAIMS; i++)
        strbuf_printf(f, "| %s | %s | %s |\n", cl[i].text,
                      !cl[i].known ? "not measured"
                      : cl[i].pass ? "**yes**"
                                   : "**no**",
                      cl[i].detail);
    strbuf_printf(f, "\n");

    for (int s = OUT_SPLIT_TEST; s <= OUT_SPLIT_OOD; s++) {
        if (!st->has_split[s]) continue;
        strbuf_printf(f, "## %s: utility, accuracy, cost\n\n", SPLIT_TITLE[s]);
        write_utility_table(f, st, s);
        strbuf_printf(f, "\n![utility vs alpha](utility_alpha_%s.png)\n\n", outcome_split_name(s));
    }
    write_level_section(f, st);
    if (!st->has_split[OUT_SPLIT_TEST]) return;
    const int S = OUT_SPLIT_TEST;

    strbuf_printf(
        f, "## Serving cost at Balance (α = 0.5, in-domain)\n\n"
           "Cost of calls = every agent that produced a full answer (a cascade pays for the "
           "answers it discards; a DiSRouter reject costs a few tokens, counted as nothing). "
           "Latency sums every hop as recorded in the outcomes.\n\n"
           "| Method | Accuracy | Cost (metric) | Cost of calls | Latency (s) |\n"
           "|---|---:|---:|---:|---:|\n");
    for (int k = 0; k < EM_COUNT; k++) {
        enum eval_method m = TABLE_ORDER[k];
        if (!st->avail[m]) continue;
        const struct eval_score *sc = &st->res[S][m][1].s;
        strbuf_printf(f, "| %s | %.3f | %.3f | %.3f | %.4f |\n", eval_method_name(m), sc->accuracy,
                      sc->cost, sc->cost_calls, sc->latency);
    }

    strbuf_printf(
        f, "\n## Routing share per agent (in-domain)\n\nFraction of queries answered by each "
           "agent: DiSRouter at every scenario, the other methods at Balance (all of them "
           "at every scenario are in `summary.json`).\n\n");
    write_agent_header(f, st, "Method, scenario");
    for (int k = EM_COUNT - 1; k >= 0; k--) {
        enum eval_method m = TABLE_ORDER[k];
        if (!st->avail[m]) continue;
        for (int ai = 0; ai < N_ALPHA; ai++) {
            if (m != EM_DISR_RL && m != EM_DISR_SFT && ai != 1) continue;
            char label[96];
            snprintf(label, sizeof label, "%s, α=%.1f", eval_method_name(m), ALPHA(ai));
            write_share_row(f, st, label, st->res[S][m][ai].share);
        }
    }
    strbuf_printf(f, "\n![routing share](routing_share.png)\n\n");

    strbuf_printf(
        f, "## Answer rate per agent (in-domain)\n\nFraction of the queries reaching an agent "
           "that it answers (the last agent always answers). A calibrated agent answers when "
           "P(correct) > (1 − α)^0.5 = 0.894 / 0.707 / 0.447.\n\n");
    write_agent_header(f, st, "Variant, scenario");
    strbuf_printf(f, "| forced accuracy |");
    for (int a = 0; a < K; a++)
        strbuf_printf(f, " %.3f |", forced_accuracy(t, S, a));
    strbuf_printf(f, "\n");
    for (int v = OUT_RL; v >= OUT_SFT; v--) {
        if (!st->avail[v == OUT_RL ? EM_DISR_RL : EM_DISR_SFT]) continue;
        for (int ai = 0; ai < N_ALPHA; ai++) {
            strbuf_printf(f, "| %s, α=%.1f |", v == OUT_RL ? "+RL" : "SFT", ALPHA(ai));
            for (int a = 0; a < K; a++) {
                int reached;
                double r = answer_rate(st, v, ai, a, &reached);
                if (isnan(r))
                    strbuf_printf(f, " – |");
                else
                    strbuf_printf(f, " %.1f %% (of %d) |", 100 * r, reached);
            }
            strbuf_printf(f, "\n");
        }
    }
    strbuf_printf(f, "\n![answer rate](answer_rate.png)\n\n");

    strbuf_printf(
        f, "## Precision of each agent's answers (in-domain)\n\nOf the test queries an agent "
           "answers on its own (every query, not only those a chain hands it), the share it gets "
           "right (a trained agent's answer in that scenario; confidence and the MLP pass "
           "the forced answer), with the counts and a Wilson 95 %% interval: it should rise "
           "with the bar (1 − α)^0.5, and a few dozen answers leave it wide.\n\n");
    write_agent_header(f, st, "Predictor, scenario");
    for (int p = 0; p < N_PRED; p++)
        for (int ai = 0; ai < N_ALPHA; ai++) {
            int right, answered;
            if (!answer_precision(st, p, ai, 0, &right, &answered)) continue;
            strbuf_printf(f, "| %s, α=%.1f |", PRED_NAME[p], ALPHA(ai));
            for (int a = 0; a < K; a++) {
                double lo, hi;
                bool known = answer_precision(st, p, ai, a, &right, &answered);
                stats_wilson95(right, answered, &lo, &hi);
                if (!known)
                    strbuf_printf(f, " – |");
                else if (answered)
                    strbuf_printf(f, " %.3f (%d / %d, %.2f–%.2f) |", (double)right / answered,
                                  right, answered, lo, hi);
                else
                    strbuf_printf(f, " – (0 / 0) |");
            }
            strbuf_printf(f, "\n");
        }
    strbuf_printf(f, "\n");

    strbuf_printf(
        f, "## Cost on easy vs hard queries (in-domain)\n\nEasy = some agent below the "
           "largest answers it correctly (forced); hard = only the largest, or nobody. A good "
           "router spends little on easy queries.\n\n| Method |");
    for (int ai = 0; ai < N_ALPHA; ai++)
        strbuf_printf(f, " easy α=%.1f | hard α=%.1f |", ALPHA(ai), ALPHA(ai));
    strbuf_printf(f, "\n|---|");
    for (int ai = 0; ai < N_ALPHA; ai++)
        strbuf_printf(f, "---:|---:|");
    strbuf_printf(f, "\n");
    for (int k = 0; k < EM_COUNT; k++) {
        enum eval_method m = TABLE_ORDER[k];
        if (!st->avail[m]) continue;
        strbuf_printf(f, "| %s |", eval_method_name(m));
        for (int ai = 0; ai < N_ALPHA; ai++) {
            char e[16], h[16];
            const struct result *r = &st->res[S][m][ai];
            fmt3(e, sizeof e, r->n_easy ? r->easy_cost : NAN);
            fmt3(h, sizeof h, r->n_hard ? r->hard_cost : NAN);
            strbuf_printf(f, " %s | %s |", e, h);
        }
        strbuf_printf(f, "\n");
    }
    strbuf_printf(f, "\n![easy vs hard cost](easy_hard_cost.png)\n\n");

    strbuf_printf(f,
                  "## Self-assessment F1 per agent (in-domain)\n\nPositive = the agent rejects; "
                  "truth = its forced answer would be wrong. Confidence and the external MLP "
                  "(the central router's prediction for that agent) reject below (1 − α)^0.5.\n\n");
    write_agent_header(f, st, "Predictor, scenario");
    for (int p = 0; p < N_PRED; p++)
        for (int ai = 0; ai < N_ALPHA; ai++) {
            if (isnan(sa_f1(st, p, ai, 0))) continue;
            strbuf_printf(f, "| %s, α=%.1f |", PRED_NAME[p], ALPHA(ai));
            for (int a = 0; a < K; a++) {
                char b[16];
                fmt3(b, sizeof b, sa_f1(st, p, ai, a));
                strbuf_printf(f, " %s |", b);
            }
            strbuf_printf(f, "\n");
        }
    strbuf_printf(f, "\n![self-assessment F1](sa_f1.png)\n\n");

    strbuf_printf(
        f, "## Modularity: agents removed, nothing retrained (in-domain)\n\nChains list the "
           "agents kept; the last kept agent always answers. DiSRouter reuses every agent's "
           "decisions as they are; the confidence cascade refits its thresholds on the "
           "training split (it has a fitting step; DiSRouter has none); the Oracle is the "
           "reduced chain's topline.\n\n| Chain | Method | α=0.2 | α=0.5 | α=0.8 | Δ vs full "
           "at α=0.5 |\n|---|---|---:|---:|---:|---:|\n");
    for (int ci = 0; ci < st->n_chains; ci++)
        for (int k = 0; k < N_MOD; k++) {
            if (!st->avail[MOD_METHODS[k]]) continue;
            strbuf_printf(f, "| %s | %s |", st->chain_name[ci], eval_method_name(MOD_METHODS[k]));
            for (int ai = 0; ai < N_ALPHA; ai++)
                strbuf_printf(f, " %.3f |", st->mod[ci][k][ai].s.utility);
            strbuf_printf(f, " %+.3f |\n",
                          st->mod[ci][k][1].s.utility - st->mod[0][k][1].s.utility);
        }

    strbuf_printf(f, "\n## Fitted cascade thresholds (training split)\n\n");
    write_agent_header(f, st, "Cascade, scenario");
    for (int k = 0; k < 3; k++) {
        enum eval_method m = (enum eval_method)(EM_CONF + k);
        if (!st->avail[m]) continue;
        for (int ai = 0; ai < N_ALPHA; ai++) {
            strbuf_printf(f, "| %s, α=%.1f |", eval_method_name(m), ALPHA(ai));
            for (int a = 0; a < K; a++) {
                float x = st->th[k][ai][a];
                if (a == K - 1)
                    strbuf_printf(f, " always |");
                else if (x > 1.5f)
                    strbuf_printf(f, " never |");
                else if (x < -0.5f)
                    strbuf_printf(f, " always |");
                else
                    strbuf_printf(f, " %.3f |", x);
            }
            strbuf_printf(f, "\n");
        }
    }
    strbuf_printf(f, "\n");
}

/* Compact utility table for the terminal. */
static void print_table(FILE *f, const struct state *st) {
    for (int s = OUT_SPLIT_TEST; s <= OUT_SPLIT_OOD; s++) {
        if (!st->has_split[s]) continue;
        fprintf(
            f,
            "%s utility (accuracy, cost)       α=0.2                α=0.5                α=0.8\n",
            s == OUT_SPLIT_TEST ? "in-domain" : "out-of-domain");
        for (int k = 0; k < EM_COUNT; k++) {
            enum eval_method m = TABLE_ORDER[k];
            if (!st->avail[m]) continue;
            fprintf(f, "  %-24s", eval_method_name(m));
            for (int ai = 0; ai < N_ALPHA; ai++) {
                const struct eval_score *sc = &st->res[s][m][ai].s;
                fprintf(f, "  %6.3f (%.2f, %.2f)", sc->utility, sc->accuracy, sc->cost);
            }
            fprintf(f, "\n");
        }
    }
    struct claim cl[N_CLAIMS];
    check_claims(st, cl);
    for (int i = 0; i < N_CLAIMS; i++)
        if (cl[i].known)
            fprintf(f, "%-3s %s (%s)\n", cl[i].pass ? "yes" : "NO", cl[i].text, cl[i].detail);
}

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
    cJSON_AddNumberToObject(o, "n_all", level_sum(row->n));
    cJSON *ct = cJSON_AddArrayToObject(o, "correct_all");
    for (int a = 0; a < st->K; a++)
        cJSON_AddItemToArray(ct, cJSON_CreateNumber(level_sum(row->correct[a])));
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

static cJSON *summary_json(const struct state *st) {
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
        if (isnan(sa_f1(st, p, 0, 0))) continue;
        cJSON *fp = cJSON_AddObjectToObject(f1, PRED_KEY[p]);
        for (int ai = 0; ai < N_ALPHA; ai++) {
            cJSON *arr = cJSON_AddArrayToObject(fp, ALPHA_KEY[ai]);
            for (int a = 0; a < st->K; a++) {
                double x = sa_f1(st, p, ai, a);
                cJSON_AddItemToArray(arr, isnan(x) ? cJSON_CreateNull() : cJSON_CreateNumber(x));
            }
        }
    }
    cJSON *pr = cJSON_AddObjectToObject(root, "answer_precision");
    for (int p = 0; p < N_PRED && st->has_split[OUT_SPLIT_TEST]; p++) {
        int right, answered;
        if (!answer_precision(st, p, 0, 0, &right, &answered)) continue;
        cJSON *pp = cJSON_AddObjectToObject(pr, PRED_KEY[p]);
        for (int ai = 0; ai < N_ALPHA; ai++) {
            cJSON *arr = cJSON_AddArrayToObject(pp, ALPHA_KEY[ai]);
            for (int a = 0; a < st->K; a++) {
                if (!answer_precision(st, p, ai, a, &right, &answered)) {
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
                double x = answer_rate(st, v, ai, a, &reached);
                cJSON_AddItemToArray(arr, isnan(x) ? cJSON_CreateNull() : cJSON_CreateNumber(x));
            }
        }
    }
    struct claim cl[N_CLAIMS];
    check_claims(st, cl);
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

/* ---- plots ---------------------------------------------------------------------------------- */

static int write_text(const char *dir, const char *name, const char *text) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return disr_fail(DISR_E_ARG, "path too long: %s/%s", dir, name);
    return file_write_atomic(path, text, strlen(text));
}

/* Runs gnuplot on a script (in dir, run from dir so relative names work). */
static int run_gnuplot(const char *dir, const char *script) {
    char *argv[] = {"gnuplot", (char *)script, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 29))
    posix_spawn_file_actions_addchdir_np(&fa, dir);
#endif
    pid_t pid;
    int rc = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return disr_fail(DISR_E_NOTFOUND, "cannot run gnuplot: %s", strerror(rc));
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return disr_fail(DISR_E_IO, "gnuplot failed on %s/%s", dir, script);
    return DISR_OK;
}

static const char GP_HEAD[] =
    "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
    "  set terminal pngcairo size 1000,600 font 'Sans,11'\n"
    "} else {\n"
    "  set terminal png size 1000,600\n"
    "}\n"
    "set grid ytics lc rgb '#dddddd'\n"
    "set key outside right top\n"
    "colors = '#9400d3 #009e73 #56b4e9 #e69f00 #f0e442 #0072b2 #d55e00 #000000 #cc79a7 "
    "#7f7f7f #8b4513 #2f4f4f'\n";

static int plot_all(const struct state *st, const char *dir) {
    const int K = st->K, S = OUT_SPLIT_TEST;
    struct strbuf d = {0}, g = {0};
    int rc = DISR_OK;
    /* utility vs alpha, one line per method, per split */
    for (int s = OUT_SPLIT_TEST; s <= OUT_SPLIT_OOD && rc == DISR_OK; s++) {
        if (!st->has_split[s]) continue;
        strbuf_printf(&d, "alpha");
        int n = 0, n_disr = st->avail[EM_DISR_RL] + st->avail[EM_DISR_SFT];
        for (int k = EM_COUNT - 1; k >= 0; k--)
            if (st->avail[TABLE_ORDER[k]])
                strbuf_printf(&d, " \"%s\"", eval_method_name(TABLE_ORDER[k])), n++;
        strbuf_printf(&d, "\n");
        for (int ai = 0; ai < N_ALPHA; ai++) {
            strbuf_printf(&d, "%.1f", ALPHA(ai));
            for (int k = EM_COUNT - 1; k >= 0; k--)
                if (st->avail[TABLE_ORDER[k]])
                    strbuf_printf(&d, " %.5f", st->res[s][TABLE_ORDER[k]][ai].s.utility);
            strbuf_printf(&d, "\n");
        }
        strbuf_printf(&g, "%sset output 'utility_alpha_%s.png'\n", GP_HEAD, outcome_split_name(s));
        strbuf_printf(&g,
                      "set title 'Utility vs alpha (%s)'\nset xlabel 'alpha (cost weight)'\n"
                      "set ylabel 'utility = accuracy - alpha * cost'\nset xtics (0.2, 0.5, 0.8)\n"
                      "set xrange [0.15:0.85]\nset key autotitle columnheader\n"
                      "f = 'plots/utility_alpha_%s.dat'\n"
                      "plot for [i=2:%d] f using 1:i with linespoints lw 3.5 pt 7 ps 1.5 lc rgb "
                      "word(colors, i-1), \\\n"
                      "     for [i=%d:%d] f using 1:i with linespoints lw 1.5 pt (i+2) ps 1.2 dt 2 "
                      "lc rgb word(colors, i-1)\n",
                      s == S ? "in-domain test" : "out-of-domain", outcome_split_name(s),
                      n_disr + 1, n_disr + 2, n + 1);
        char name[64];
        char *dt = strbuf_take(&d), *gt = strbuf_take(&g);
        snprintf(name, sizeof name, "plots/utility_alpha_%s.dat", outcome_split_name(s));
        rc = write_text(dir, name, dt);
        snprintf(name, sizeof name, "plots/utility_alpha_%s.gp", outcome_split_name(s));
        if (rc == DISR_OK) rc = write_text(dir, name, gt);
        free(dt), free(gt);
        if (rc == DISR_OK) rc = run_gnuplot(dir, name);
    }
    if (rc != DISR_OK || !st->has_split[S]) return rc;

    /* routing share and answer rate: clustered bars per agent, one cluster member per alpha,
     * one panel per chain method */
    for (int which = 0; which < 2 && rc == DISR_OK; which++) {
        enum eval_method panels[3];
        int np = 0;
        if (st->avail[EM_DISR_RL]) panels[np++] = EM_DISR_RL;
        if (st->avail[EM_DISR_SFT]) panels[np++] = EM_DISR_SFT;
        if (which == 0 && st->avail[EM_MLP]) panels[np++] = EM_MLP;
        if (which == 0 && np < 3) panels[np++] = EM_ORACLE;
        if (np == 0) continue;
        for (int p = 0; p < np; p++) {
            strbuf_printf(&d, "# %s\nagent \"α=0.2\" \"α=0.5\" \"α=0.8\"\n",
                          eval_method_name(panels[p]));
            for (int a = 0; a < K; a++) {
                strbuf_printf(&d, "\"%d\"", a);
                for (int ai = 0; ai < N_ALPHA; ai++) {
                    double x;
                    if (which == 0) {
                        x = 100 * st->res[S][panels[p]][ai].share[a];
                    } else {
                        int reached;
                        x = 100 * answer_rate(st, panels[p] == EM_DISR_RL ? OUT_RL : OUT_SFT, ai, a,
                                              &reached);
                        if (isnan(x)) x = 0;
                    }
                    strbuf_printf(&d, " %.3f", x);
                }
                strbuf_printf(&d, "\n");
            }
            strbuf_printf(&d, "\n\n");
        }
        const char *stem = which == 0 ? "routing_share" : "answer_rate";
        strbuf_printf(&g,
                      "%sset output '%s.png'\nset style data histograms\n"
                      "set style histogram clustered gap 1\nset style fill solid 0.85 border -1\n"
                      "set yrange [0:100]\nset ylabel '%s'\nset xlabel 'agent (cheapest first)'\n"
                      "set key outside top center horizontal autotitle columnheader\n"
                      "set multiplot layout 1,%d title '%s (in-domain test)'\n",
                      GP_HEAD, stem,
                      which == 0 ? "% of queries answered"
                                 : "% of queries reaching the agent that it answers",
                      np,
                      which == 0 ? "Routing share per agent and scenario"
                                 : "Answer rate per agent and scenario");
        for (int p = 0; p < np; p++)
            strbuf_printf(
                &g,
                "set title '%s'\nplot 'plots/%s.dat' index %d using 2:xtic(1), '' index %d "
                "using 3, "
                "'' index %d using 4\n",
                eval_method_name(panels[p]), stem, p, p, p);
        strbuf_printf(&g, "unset multiplot\n");
        char *dt = strbuf_take(&d), *gt = strbuf_take(&g);
        char dn[64], gn[64];
        snprintf(dn, sizeof dn, "plots/%s.dat", stem);
        snprintf(gn, sizeof gn, "plots/%s.gp", stem);
        rc = write_text(dir, dn, dt);
        if (rc == DISR_OK) rc = write_text(dir, gn, gt);
        free(dt), free(gt);
        if (rc == DISR_OK) rc = run_gnuplot(dir, gn);
    }

    /* easy vs hard cost at balance, per method */
    if (rc == DISR_OK) {
        strbuf_printf(&d, "method \"easy queries\" \"hard queries\"\n");
        for (int k = EM_COUNT - 1; k >= 0; k--) {
            enum eval_method m = TABLE_ORDER[k];
            if (!st->avail[m]) continue;
            const struct result *r = &st->res[S][m][1];
            strbuf_printf(&d, "\"%s\" %.4f %.4f\n", eval_method_name(m), r->easy_cost,
                          r->hard_cost);
        }
        strbuf_printf(
            &g,
            "%sset output 'easy_hard_cost.png'\nset style data histograms\n"
            "set style histogram clustered gap 1\nset style fill solid 0.85 border -1\n"
            "set xtics rotate by -35\nset bmargin 9\nset yrange [0:1]\n"
            "set ylabel 'mean cost of the answering agent'\nset key autotitle columnheader\n"
            "set title 'Cost spent on easy vs hard queries (alpha = 0.5, in-domain)'\n"
            "plot 'plots/easy_hard_cost.dat' using 2:xtic(1), '' using 3\n",
            GP_HEAD);
        char *dt = strbuf_take(&d), *gt = strbuf_take(&g);
        rc = write_text(dir, "plots/easy_hard_cost.dat", dt);
        if (rc == DISR_OK) rc = write_text(dir, "plots/easy_hard_cost.gp", gt);
        free(dt), free(gt);
        if (rc == DISR_OK) rc = run_gnuplot(dir, "plots/easy_hard_cost.gp");
    }

    /* self-assessment F1 at balance: clustered by agent, one bar per predictor */
    if (rc == DISR_OK) {
        int cols = 0;
        strbuf_printf(&d, "agent");
        for (int p = 0; p < N_PRED; p++)
            if (!isnan(sa_f1(st, p, 1, 0))) strbuf_printf(&d, " \"%s\"", PRED_NAME[p]), cols++;
        strbuf_printf(&d, "\n");
        for (int a = 0; a < K; a++) {
            strbuf_printf(&d, "\"agent %d\"", a);
            for (int p = 0; p < N_PRED; p++)
                if (!isnan(sa_f1(st, p, 1, 0))) {
                    double x = sa_f1(st, p, 1, a);
                    strbuf_printf(&d, " %.4f", isnan(x) ? 0 : x);
                }
            strbuf_printf(&d, "\n");
        }
        strbuf_printf(&g,
                      "%sset output 'sa_f1.png'\nset style data histograms\n"
                      "set style histogram clustered gap 1\nset style fill solid 0.85 border -1\n"
                      "set yrange [0:1.05]\nset ylabel 'F1 of reject vs would-be-wrong'\n"
                      "set key autotitle columnheader\n"
                      "set title 'Self-assessment F1 per agent (alpha = 0.5, in-domain)'\n"
                      "plot for [i=2:%d] 'plots/sa_f1.dat' using i:xtic(1)\n",
                      GP_HEAD, cols + 1);
        char *dt = strbuf_take(&d), *gt = strbuf_take(&g);
        rc = write_text(dir, "plots/sa_f1.dat", dt);
        if (rc == DISR_OK) rc = write_text(dir, "plots/sa_f1.gp", gt);
        free(dt), free(gt);
        if (rc == DISR_OK && cols > 0) rc = run_gnuplot(dir, "plots/sa_f1.gp");
    }
    return rc;
}

/* Forced accuracy against difficulty level, one line per agent (all families pooled), one panel
 * per split that has levels. */
static int plot_levels(const struct state *st, const char *dir) {
    int splits[2], np = 0;
    for (int s = OUT_SPLIT_TEST; s <= OUT_SPLIT_OOD; s++)
        if (st->has_split[s] && st->lv[s].n_levels > 0) splits[np++] = s;
    if (np == 0) return DISR_OK;
    struct strbuf d = {0}, g = {0};
    strbuf_printf(
        &g,
        "%sset output 'level_accuracy.png'\nset key outside bottom center horizontal "
        "autotitle columnheader\nset xlabel 'difficulty level'\nset ylabel 'forced accuracy'\n"
        "set yrange [0:1.05]\nset xtics 1\n"
        "set multiplot layout 1,%d title 'Forced accuracy per difficulty level, one line per "
        "agent (all families)'\n",
        GP_HEAD, np);
    for (int p = 0; p < np; p++) {
        const struct level_table *lt = &st->lv[splits[p]];
        strbuf_printf(&d, "# %s\nlevel", SPLIT_TITLE[splits[p]]);
        for (int a = 0; a < st->K; a++)
            strbuf_printf(&d, " \"agent %d (c=%.2f)\"", a, st->t->cost[a]);
        strbuf_printf(&d, "\n");
        for (int j = 0; j < lt->n_levels; j++) {
            int l = lt->level[j];
            strbuf_printf(&d, "%d", l);
            for (int a = 0; a < st->K; a++)
                strbuf_printf(&d, " %.5f", (double)lt->row[0].correct[a][l] / lt->row[0].n[l]);
            strbuf_printf(&d, "\n");
        }
        strbuf_printf(&d, "\n\n");
        strbuf_printf(
            &g,
            "set title '%s'\nset xrange [%.1f:%.1f]\n"
            "plot for [i=2:%d] 'plots/level_accuracy.dat' index %d using 1:i with linespoints "
            "lw 2.5 pt 7 ps 1.3 lc rgb word(colors, (i-2)%%12+1)\n",
            SPLIT_TITLE[splits[p]], lt->level[0] - 0.5, lt->level[lt->n_levels - 1] + 0.5,
            st->K + 1, p);
    }
    strbuf_printf(&g, "unset multiplot\n");
    char *dt = strbuf_take(&d), *gt = strbuf_take(&g);
    int rc = write_text(dir, "plots/level_accuracy.dat", dt);
    if (rc == DISR_OK) rc = write_text(dir, "plots/level_accuracy.gp", gt);
    free(dt), free(gt);
    if (rc == DISR_OK) rc = run_gnuplot(dir, "plots/level_accuracy.gp");
    return rc;
}

/* ---- driver --------------------------------------------------------------------------------- */

int report_run(const struct outcome_table *t, const struct report_config *c) {
    if (!c->out_dir || !c->out_dir[0]) return disr_fail(DISR_E_ARG, "no output directory");
    if (t->n_queries == 0) return disr_fail(DISR_E_ARG, "the outcome table is empty");
    if (outcome_count_split(t, OUT_SPLIT_TEST) + outcome_count_split(t, OUT_SPLIT_OOD) == 0)
        return disr_fail(DISR_E_ARG, "the outcome table has no test or OOD queries to evaluate");
    char path[4096];
    DISR_TRY(file_mkdir_p(c->out_dir));
    snprintf(path, sizeof path, "%s/plots", c->out_dir);
    DISR_TRY(file_mkdir_p(path));

    /* first, so outcomes collected from real agents are kept even if a later step fails */
    snprintf(path, sizeof path, "%s/outcomes.jsonl", c->out_dir);
    DISR_TRY(outcome_table_save(t, path));

    struct state *st = calloc(1, sizeof *st);
    if (!st) return disr_fail(DISR_E_NOMEM, "report state");
    st->t = t, st->c = c, st->K = t->n_agents;
    int rc = prepare(st);
    if (rc == DISR_OK) rc = run_all(st);
    if (rc == DISR_OK && st->records.oom) rc = disr_fail(DISR_E_NOMEM, "records buffer");
    if (rc == DISR_OK) {
        snprintf(path, sizeof path, "%s/records.jsonl", c->out_dir);
        rc = file_write_atomic(path, st->records.p ? st->records.p : "", st->records.n);
    }
    if (rc == DISR_OK) {
        cJSON *j = summary_json(st);
        char *s = j ? cJSON_Print(j) : NULL;
        snprintf(path, sizeof path, "%s/summary.json", c->out_dir);
        rc = s ? file_write_atomic(path, s, strlen(s)) : disr_fail(DISR_E_NOMEM, "summary");
        free(s);
        cJSON_Delete(j);
    }
    if (rc == DISR_OK) {
        struct strbuf md = {0};
        write_markdown(&md, st);
        char *text = strbuf_take(&md);
        snprintf(path, sizeof path, "%s/report.md", c->out_dir);
        rc = text ? file_write_atomic(path, text, strlen(text)) : DISR_E_NOMEM;
        free(text);
    }
    if (rc == DISR_OK && c->plots) {
        int prc = plot_all(st, c->out_dir);
        if (prc == DISR_OK) prc = plot_levels(st, c->out_dir);
        if (prc != DISR_OK) log_warn("eval: plots not drawn: %s", disr_last_error());
    }
    if (rc == DISR_OK && c->print) print_table(c->print, st);
    strbuf_free(&st->records);
    free(st->easy);
    free(st->picks);
    eval_fitted_free(&st->fit);
    free(st);
    return rc;
}
