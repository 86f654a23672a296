/* report.h: the evaluation report. From an outcome table it fits the learned baselines, routes
 * every query through every method at every scenario (and through the chain with agents
 * removed), and writes into one directory:
 *   records.jsonl  one line per (split, chain, method, alpha, query): the answering agent,
 *                  correct, cost, latency, hops; every number of the report recomputes from it
 *   summary.json   the numbers of every table, machine-readable
 *   fitted.jsonl   what the learned baselines route by (kNN neighbours and predictions, MLP
 *                  predictions, scorer scores), one line per test and OOD query
 *   report.md      the tables (paper's Table 1 layout, in-domain and OOD, forced accuracy per
 *                  family and difficulty level, routing shares, answer rates, easy vs hard cost,
 *                  self-assessment F1, modularity, thresholds)
 *   *.png          plots drawn by gnuplot (skipped with a warning if gnuplot is missing)
 * and prints the utility table to stdout. */
#ifndef EVAL_REPORT_H
#define EVAL_REPORT_H

#include <stdio.h>

#include "eval/methods.h"
#include "eval/outcomes.h"

struct report_config {
    const char *out_dir; /* created if missing */
    const char *title;   /* first line of report.md */
    const char *source;  /* where the outcomes came from (shown in the report) */
    struct eval_fit_config fit;
    int plots;   /* draw PNGs with gnuplot */
    FILE *print; /* the utility table is also printed here (NULL = silent) */
};
void report_config_default(struct report_config *c);

/* Runs everything and writes the directory. Methods whose inputs are missing (no RL decisions,
 * no training split, no OOD split) are left out and the report says why. */
int report_run(const struct outcome_table *t, const struct report_config *c);

#endif
