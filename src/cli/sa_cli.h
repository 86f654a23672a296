/* sa_cli.h: what the three self-awareness commands (sa-sft, sa-rl, sa-report) share on the CLI
 * side: options, comma lists, and the per-scenario table they print. */
#ifndef CLI_SA_CLI_H
#define CLI_SA_CLI_H

#include <stdio.h>

#include "train/sa.h"
#include "world/dataset.h"

/* The options sa-sft and sa-rl share, on a config `c` with gen, checkpoint, checkpoint_every and
 * stop_after: entries of a cli_opt table. */
// clang-format off
#define SA_CLI_RUN_OPTS(c)                                                                         \
    {"--threads", NULL, OPT_INT, &(c)->gen.n_threads,                                              \
     "engine threads ({}; 0: all cores; tiny agents run best on 1)"},                              \
    {"--checkpoint", NULL, OPT_STR, &(c)->checkpoint, "checkpoint path (default OUT.ckpt)"},       \
    {"--checkpoint-every", NULL, OPT_INT, &(c)->checkpoint_every,                                  \
     "steps between checkpoints ({})"},                                                            \
    {"--stop-after", NULL, OPT_INT, &(c)->stop_after,                                              \
     "stop after N steps, checkpointed (to test resuming)"}
// clang-format on

/* Splits "a,b,c" into at most cap pieces (modifies s). Returns the count, or -1 if > cap. */
int sa_cli_split(char *s, char **out, int cap);

/* Parses "0.1,0.5" into at most cap numbers; returns the count or -1 on a bad number. */
int sa_cli_numbers(const char *s, double *out, int cap);

/* Markdown rows "| name | scenario | answer rate | precision | threshold | F1 | ..." */
void sa_cli_print_eval_header(FILE *f);
void sa_cli_print_eval(FILE *f, const char *name, const struct sa_agent_eval *e,
                       const struct sa_agent_eval *base);

#endif
