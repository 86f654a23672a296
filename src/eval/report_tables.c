#include "eval/report_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/stats.h"
#include "core/strbuf.h"

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
            strbuf_printf(f, " %d |\n", report_level_sum(row->n));
            for (int a = 0; a < st->K; a++) {
                strbuf_printf(f, "| %s | agent %d |", name, a);
                for (int j = 0; j < lt->n_levels; j++)
                    write_level_cell(f, row->correct[a][lt->level[j]], row->n[lt->level[j]]);
                if (none) write_level_cell(f, row->correct[a][0], row->n[0]);
                write_level_cell(f, report_level_sum(row->correct[a]), report_level_sum(row->n));
                strbuf_printf(f, "\n");
            }
        }
        strbuf_printf(f, "\n");
    }
    strbuf_printf(f, "![forced accuracy per level](level_accuracy.png)\n\n");
}

/* Title, where the outcomes came from, the methods left out and each agent's forced accuracy. */
static void md_intro(struct strbuf *f, const struct state *st) {
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
        strbuf_printf(f, " %.3f", report_forced_accuracy(t, OUT_SPLIT_TEST, a));
    if (st->has_split[OUT_SPLIT_OOD]) {
        strbuf_printf(f, "; OOD:");
        for (int a = 0; a < K; a++)
            strbuf_printf(f, " %.3f", report_forced_accuracy(t, OUT_SPLIT_OOD, a));
    }
    strbuf_printf(f, ".\n\n");
}

/* The paper's claims, checked on this run. */
static void md_claims(struct strbuf *f, const struct state *st) {
    struct claim cl[N_CLAIMS];
    report_check_claims(st, cl);
    strbuf_printf(
        f, "## The paper's claims on this run\n\n| Claim | Holds | Numbers |\n|---|---|---|\n");
    for (int i = 0; i < N_CLAIMS; i++)
        strbuf_printf(f, "| %s | %s | %s |\n", cl[i].text,
                      !cl[i].known ? "not measured"
                      : cl[i].pass ? "**yes**"
                                   : "**no**",
                      cl[i].detail);
    strbuf_printf(f, "\n");
}

/* Table 1: utility, accuracy and cost per method and scenario, per split. */
static void md_utility(struct strbuf *f, const struct state *st) {
    for (int s = OUT_SPLIT_TEST; s <= OUT_SPLIT_OOD; s++) {
        if (!st->has_split[s]) continue;
        strbuf_printf(f, "## %s: utility, accuracy, cost\n\n", SPLIT_TITLE[s]);
        write_utility_table(f, st, s);
        strbuf_printf(f, "\n![utility vs alpha](utility_alpha_%s.png)\n\n", outcome_split_name(s));
    }
}

/* Accuracy, cost and latency at Balance. */
static void md_serving_cost(struct strbuf *f, const struct state *st) {
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
}

/* Which agent answers, per method. */
static void md_routing_share(struct strbuf *f, const struct state *st) {
    const int S = OUT_SPLIT_TEST;
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
}

/* Each agent's answer rate among the queries that reach it. */
static void md_answer_rate(struct strbuf *f, const struct state *st) {
    const struct outcome_table *t = st->t;
    int K = st->K;
    const int S = OUT_SPLIT_TEST;
    strbuf_printf(
        f, "## Answer rate per agent (in-domain)\n\nFraction of the queries reaching an agent "
           "that it answers (the last agent always answers). A calibrated agent answers when "
           "P(correct) > (1 − α)^0.5 = 0.894 / 0.707 / 0.447.\n\n");
    write_agent_header(f, st, "Variant, scenario");
    strbuf_printf(f, "| forced accuracy |");
    for (int a = 0; a < K; a++)
        strbuf_printf(f, " %.3f |", report_forced_accuracy(t, S, a));
    strbuf_printf(f, "\n");
    for (int v = OUT_RL; v >= OUT_SFT; v--) {
        if (!st->avail[v == OUT_RL ? EM_DISR_RL : EM_DISR_SFT]) continue;
        for (int ai = 0; ai < N_ALPHA; ai++) {
            strbuf_printf(f, "| %s, α=%.1f |", v == OUT_RL ? "+RL" : "SFT", ALPHA(ai));
            for (int a = 0; a < K; a++) {
                int reached;
                double r = report_answer_rate(st, v, ai, a, &reached);
                if (isnan(r))
                    strbuf_printf(f, " – |");
                else
                    strbuf_printf(f, " %.1f %% (of %d) |", 100 * r, reached);
            }
            strbuf_printf(f, "\n");
        }
    }
    strbuf_printf(f, "\n![answer rate](answer_rate.png)\n\n");
}

/* The precision of each agent's own answers, with Wilson intervals. */
static void md_precision(struct strbuf *f, const struct state *st) {
    int K = st->K;
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
            if (!report_answer_precision(st, p, ai, 0, &right, &answered)) continue;
            strbuf_printf(f, "| %s, α=%.1f |", PRED_NAME[p], ALPHA(ai));
            for (int a = 0; a < K; a++) {
                double lo, hi;
                bool known = report_answer_precision(st, p, ai, a, &right, &answered);
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
}

/* Cost on easy against hard queries. */
static void md_easy_hard(struct strbuf *f, const struct state *st) {
    const int S = OUT_SPLIT_TEST;
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
}

/* Self-assessment F1 per agent and predictor. */
static void md_sa_f1(struct strbuf *f, const struct state *st) {
    int K = st->K;
    strbuf_printf(f,
                  "## Self-assessment F1 per agent (in-domain)\n\nPositive = the agent rejects; "
                  "truth = its forced answer would be wrong. Confidence and the external MLP "
                  "(the central router's prediction for that agent) reject below (1 − α)^0.5.\n\n");
    write_agent_header(f, st, "Predictor, scenario");
    for (int p = 0; p < N_PRED; p++)
        for (int ai = 0; ai < N_ALPHA; ai++) {
            if (isnan(report_sa_f1(st, p, ai, 0))) continue;
            strbuf_printf(f, "| %s, α=%.1f |", PRED_NAME[p], ALPHA(ai));
            for (int a = 0; a < K; a++) {
                char b[16];
                fmt3(b, sizeof b, report_sa_f1(st, p, ai, a));
                strbuf_printf(f, " %s |", b);
            }
            strbuf_printf(f, "\n");
        }
    strbuf_printf(f, "\n![self-assessment F1](sa_f1.png)\n\n");
}

/* Chains with agents removed. */
static void md_modularity(struct strbuf *f, const struct state *st) {
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
}

/* The cascades' fitted thresholds. */
static void md_thresholds(struct strbuf *f, const struct state *st) {
    int K = st->K;
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

/* report.md: the sections in order; those of the in-domain split only when it was evaluated. */
void report_write_markdown(struct strbuf *f, const struct state *st) {
    md_intro(f, st);
    md_claims(f, st);
    md_utility(f, st);
    write_level_section(f, st);
    if (!st->has_split[OUT_SPLIT_TEST]) return;
    md_serving_cost(f, st);
    md_routing_share(f, st);
    md_answer_rate(f, st);
    md_precision(f, st);
    md_easy_hard(f, st);
    md_sa_f1(f, st);
    md_modularity(f, st);
    md_thresholds(f, st);
}

/* Compact utility table for the terminal. */
void report_print_table(FILE *f, const struct state *st) {
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
    report_check_claims(st, cl);
    for (int i = 0; i < N_CLAIMS; i++)
        if (cl[i].known)
            fprintf(f, "%-3s %s (%s)\n", cl[i].pass ? "yes" : "NO", cl[i].text, cl[i].detail);
}
