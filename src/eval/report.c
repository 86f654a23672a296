#include "eval/report_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/file.h"
#include "core/strbuf.h"
#include "core/log.h"
#include "core/stats.h"
#include "train/sa_grpo.h"
#include "world/scenario.h"
#include "world/dataset.h"

void report_config_default(struct report_config *c) {
    memset(c, 0, sizeof *c);
    c->out_dir = "eval-report";
    c->title = "DiSRouter evaluation";
    c->source = "";
    eval_fit_config_default(&c->fit);
    c->plots = 1;
    c->print = stdout;
}

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

int report_level_sum(const int *x) {
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
    /* A cascade on the agents' own scores needs them from every agent it may stop at: a server
     * without log probabilities (or a run without samples) leaves it out, never scores 0. */
    for (int k = 0; k < 2; k++) {
        enum eval_method m = k ? EM_AUTOMIX : EM_CONF;
        for (int a = 0; a + 1 < t->n_agents && st->avail[m]; a++)
            if (!outcome_agent_has_score(t, a, k)) {
                st->avail[m] = 0;
                snprintf(st->why[m], sizeof st->why[0],
                         "agent %d (%s) has no recorded %s", a,
                         t->agent_name[a] ? t->agent_name[a] : "?",
                         k ? "self-verification samples" : "answer probabilities (no logprobs)");
            }
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
double report_answer_rate(const struct state *st, enum out_variant v, int ai, int a, int *reached) {
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
    if (pred == 2) return isnan(c->conf) ? -1 : c->conf < th;
    return st->fit.p_mlp[(size_t)qi * st->t->n_agents + a] < th;
}

double report_sa_f1(const struct state *st, int pred, int ai, int a) {
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
bool report_answer_precision(const struct state *st, int pred, int ai, int a, int *right,
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

double report_forced_accuracy(const struct outcome_table *t, enum out_split s, int a) {
    int n = 0, c = 0;
    for (int qi = 0; qi < t->n_queries; qi++)
        if (t->q[qi].split == s) n++, c += outcome_at(t, qi, a)->correct;
    return n ? (double)c / n : NAN;
}

/* ---- the paper's claims, checked on this run ---------------------------------------------- */

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
            report_answer_precision(st, 1, ai, a, &right, &answered);
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

void report_check_claims(const struct state *st, struct claim *c) {
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

/* ---- driver --------------------------------------------------------------------------------- */

int report_emit(const char *dir, const char *name, struct strbuf *b) {
    char path[4096];
    char *text = strbuf_take(b);
    int rc = text ? DISR_OK : DISR_E_NOMEM;
    if (rc == DISR_OK && snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        rc = disr_fail(DISR_E_ARG, "path too long: %s/%s", dir, name);
    if (rc == DISR_OK) rc = file_write_atomic(path, text, strlen(text));
    free(text);
    return rc;
}

static int write_summary(const struct state *st, const char *dir) {
    cJSON *j = report_summary_json(st);
    char *s = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!s) return disr_fail(DISR_E_NOMEM, "summary");
    struct strbuf b = {0};
    strbuf_puts(&b, s);
    free(s);
    return report_emit(dir, "summary.json", &b);
}

/* The report's files other than the plots. */
static int write_files(struct state *st) {
    const char *dir = st->c->out_dir;
    DISR_TRY(report_emit(dir, "records.jsonl", &st->records));
    DISR_TRY(write_summary(st, dir));
    struct strbuf b = {0};
    report_write_fitted(&b, st);
    DISR_TRY(report_emit(dir, "fitted.jsonl", &b));
    report_write_markdown(&b, st);
    return report_emit(dir, "report.md", &b);
}

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
    if (rc == DISR_OK) rc = write_files(st);
    if (rc == DISR_OK && c->plots) {
        int prc = report_plot_all(st, c->out_dir);
        if (prc == DISR_OK) prc = report_plot_levels(st, c->out_dir);
        if (prc != DISR_OK) log_warn("eval: plots not drawn: %s", disr_last_error());
    }
    if (rc == DISR_OK && c->print) report_print_table(c->print, st);
    strbuf_free(&st->records);
    free(st->easy);
    free(st->picks);
    eval_fitted_free(&st->fit);
    free(st);
    return rc;
}
