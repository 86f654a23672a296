/* score.h: forced-answer accuracy of any answerer over a data set, per family. The answerer is
 * a callback (a batch of queries in, replies out), so the same code scores an in-process engine
 * (world_score_engine in score_engine.c), a remote agent, or a test double; correctness is
 * always grader_check. */
#ifndef WORLD_SCORE_H
#define WORLD_SCORE_H

#include <stdbool.h>

#include "core/log.h"
#include "world/dataset.h"

#define SCORE_MAX_FAMILIES 32
#define SCORE_REPLY_MAX    1024 /* bytes per reply, NUL included */
/* Answer length cap (tokens) of every forced-answer pass: the zoo's manifest, disr score, the
 * self-awareness sampling and the evaluation must all cap alike, or the same agent scores
 * differently in each (a reply cut shorter loses the last number the number grader reads). */
#define SCORE_MAX_TOKENS 32

/* Counts by difficulty level: index 0 holds the items without a level, index l level l. */
struct score_levels {
    int n[QA_MAX_DIFFICULTY + 1], correct[QA_MAX_DIFFICULTY + 1];
};

struct score_family {
    char name[32];
    int n, correct;
    struct score_levels level;
};

struct score_result {
    struct score_family fam[SCORE_MAX_FAMILIES]; /* in order of first appearance */
    int n_fam;
    int n, correct; /* over the whole set */
    struct score_levels level;
    int max_level; /* highest difficulty present (0: the set has none) */
};

/* Writes one reply (NUL-terminated, at most SCORE_REPLY_MAX bytes) per query into
 * replies[i]. Returns DISR_OK or a negative status (which aborts the scoring). */
typedef int (*score_answer_fn)(void *ctx, int n, const char *const *queries, char **replies);

/* Asks `answer` for every item (in batches of `batch`, >= 1) and grades the replies. `correct`
 * (may be NULL) receives one flag per item; `replies` (may be NULL) one copy of each reply,
 * malloc'd (the caller frees each; all NULL on failure). Families beyond SCORE_MAX_FAMILIES are
 * pooled under "other". `progress` (may be NULL, see core/log.h) is updated after each batch with
 * the items done and the running accuracy. */
int world_score(const struct qa_set *s, score_answer_fn answer, void *ctx, int batch,
                struct score_result *out, bool *correct, char **replies, struct progress *progress);

struct engine;

/* world_score with an in-process engine as the answerer: greedy decoding of the forced-answer
 * prompt (char models: scenario_format_prompt with SCENARIO_NONE; BPE chat models: the chat
 * template with the scenario-NONE system prompt), stopping at '\n', at most max_tokens tokens;
 * a reply cut at max_tokens is returned empty (wrong, as everywhere else). `batch` prompts are
 * decoded together (the engine needs max_seqs >= 1; waves otherwise). */
int world_score_engine(struct engine *e, const struct qa_set *s, int batch, int max_tokens,
                       struct score_result *out, bool *correct, char **replies,
                       struct progress *progress);

/* Accuracy of a family (by name) or of the whole set (name NULL); -1 if it has no items. */
double score_accuracy(const struct score_result *r, const char *family);

/* Accuracy at difficulty level l (0: items without a level); -1 if there are none. */
double score_level_accuracy(const struct score_levels *lv, int l);

/* Mean of the per-family accuracies (each family counts the same, whatever its size). */
double score_macro_accuracy(const struct score_result *r);

#endif
