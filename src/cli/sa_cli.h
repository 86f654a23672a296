/* sa_cli.h: what the three self-awareness commands (sa-sft, sa-rl, sa-report) share on the CLI
 * side: shallow subsets of a data set, comma lists, and the per-scenario table they print. */
#ifndef CLI_SA_CLI_H
#define CLI_SA_CLI_H

#include <stdio.h>

#include "train/sa.h"
#include "world/dataset.h"

/* A shallow subset: items i with (i % every == every - 1) == held (every <= 1: all items, or
 * none when held). The items point into `all`; free with sa_cli_subset_free only. */
int sa_cli_subset(const struct qa_set *all, int every, int held, struct qa_set *out, int **index);
void sa_cli_subset_free(struct qa_set *s, int *index);

/* Splits "a,b,c" into at most cap pieces (modifies s). Returns the count, or -1 if > cap. */
int sa_cli_split(char *s, char **out, int cap);

/* Parses "0.1,0.5" into at most cap numbers; returns the count or -1 on a bad number. */
int sa_cli_numbers(const char *s, double *out, int cap);

/* Markdown rows "| name | scenario | answer rate | precision | threshold | F1 | ..." */
void sa_cli_print_eval_header(FILE *f);
void sa_cli_print_eval(FILE *f, const char *name, const struct sa_agent_eval *e,
                       const struct sa_agent_eval *base);

#endif
