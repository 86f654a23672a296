/* report_internal.h: what the report's writers share: the routed results (struct state, filled
 * by report.c), the per-agent statistics and the paper's claims computed from them. The writers
 * are one file per output: report_tables.c (report.md and the terminal table), report_json.c
 * (summary.json), report_plots.c (the gnuplot data, scripts and PNGs). */
#ifndef EVAL_REPORT_INTERNAL_H
#define EVAL_REPORT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/strbuf.h"
#include "eval/methods.h"
#include "eval/outcomes.h"
#include "eval/report.h"
#include "world/dataset.h"
#include "world/scenario.h"

struct cJSON;

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

/* Self-assessment predictors: 0 SFT, 1 RL, 2 confidence < threshold, 3 the external MLP
 * router's P(correct) < threshold. */
#define N_PRED 4
static const char *const PRED_NAME[N_PRED] = {"DiSRouter SFT", "DiSRouter +RL", "Confidence",
                                              "External MLP"};
static const char *const PRED_KEY[N_PRED] = {"disr_sft", "disr_rl", "confidence", "external_mlp"};

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

static const char *const SPLIT_TITLE[OUT_N_SPLIT] = {"", "In-domain test", "Out-of-domain"};

/* Sum of a level row's counts over every column. */
int report_level_sum(const int *x);
/* Answer rate of agent a among the test queries that reach it in the full chain. */
double report_answer_rate(const struct state *st, enum out_variant v, int ai, int a, int *reached);
/* Self-assessment F1 of agent a on the test split for predictor `pred`; NAN if missing. */
double report_sa_f1(const struct state *st, int pred, int ai, int a);
/* How many of agent a's answers (predictor pred, alpha index ai) were right, of how many. */
bool report_answer_precision(const struct state *st, int pred, int ai, int a, int *right,
                             int *answered);
/* Forced accuracy of agent a on split s. */
double report_forced_accuracy(const struct outcome_table *t, enum out_split s, int a);
/* The paper's claims, checked on this run. */
void report_check_claims(const struct state *st, struct claim *c);

/* Writes DIR/NAME atomically from a text built in memory (which it empties). */
int report_emit(const char *dir, const char *name, struct strbuf *b);

/* report.md, the terminal table, summary.json, the plots. */
void report_write_markdown(struct strbuf *f, const struct state *st);
void report_print_table(FILE *f, const struct state *st);
struct cJSON *report_summary_json(const struct state *st);
/* fitted.jsonl: what the learned baselines route the test and OOD queries by, one line per
 * query, so an independent checker recomputes their routes: the kNN router's neighbours (their
 * qids and similarities) and predictions, the MLP router's predictions, the FrugalGPT scorer's
 * scores (the cascades' thresholds are in summary.json). */
void report_write_fitted(struct strbuf *f, const struct state *st);
int report_plot_all(const struct state *st, const char *dir);
int report_plot_levels(const struct state *st, const char *dir);

#endif
