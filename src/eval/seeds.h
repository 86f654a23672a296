/* seeds.h: one table over several runs of the whole pipeline on different world seeds. Each
 * run's evaluation leaves a summary.json (eval/report.h); this reads them and writes, per claim
 * of the paper, whether it held on each seed, and for the headline numbers (utility, accuracy
 * and cost of DiSRouter (+RL), its share of the Oracle's utility, each agent's forced accuracy)
 * the mean and the range over seeds. A claim that held on some seeds only says so; nothing is
 * averaged into a pass. */
#ifndef EVAL_SEEDS_H
#define EVAL_SEEDS_H

#include <stdio.h>

/* summaries[i] is the summary.json of the run on world seed seeds[i]. Writes Markdown to md
 * and the same figures as JSON to json_path (NULL: none). Fails with a clear message when a
 * summary is missing or lacks a figure. */
int seeds_report(const char *const *summaries, const int *seeds, int n, FILE *md,
                 const char *json_path);

#endif
