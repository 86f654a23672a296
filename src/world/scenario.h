/* scenario.h: the paper's scenarios and the exact texts every layer must agree on: the reject
 * reply, how a query is put to a built-in agent (with its fixed scenario slot), the system
 * prompt for chat models, the reward and the answer threshold (1 - alpha)^gamma. */
#ifndef WORLD_SCENARIO_H
#define WORLD_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>

#define SCENARIO_REJECT_TEXT "I don't know!"
#define SCENARIO_GAMMA       0.5

/* NONE is the forced-answer prompt used in pretraining and scoring (no scenario instruction). */
enum scenario {
    SCENARIO_NONE = 0,
    SCENARIO_PERFORMANCE = 1,
    SCENARIO_BALANCE = 2,
    SCENARIO_COST = 3
};
#define SCENARIO_COUNT 3 /* the three real scenarios, PERFORMANCE..COST */

/* The real scenarios by index 0 .. SCENARIO_COUNT - 1 (PERFORMANCE first), as tables hold them. */
static inline enum scenario scenario_at(int i) {
    return (enum scenario)(SCENARIO_PERFORMANCE + i);
}
static inline int scenario_index(enum scenario s) {
    return (int)s - SCENARIO_PERFORMANCE;
}

/* alpha of a scenario: 0.2 / 0.5 / 0.8 (0 for NONE). */
double scenario_alpha(enum scenario s);
/* The scenario whose alpha is nearest to `alpha` (alpha in [0, 1]). */
enum scenario scenario_from_alpha(double alpha);
/* "performance" / "balance" / "cost" / "none"; and the reverse (also accepts disr-* aliases
 * such as "disr-balance"); returns -1 if unknown. */
const char *scenario_name(enum scenario s);
int scenario_parse(const char *name);

/* The paper's reward for a reject, (1 - alpha)^gamma, and the decision threshold it implies:
 * a calibrated agent answers iff P(correct) > threshold. */
double scenario_reject_reward(double alpha);
double scenario_threshold(double alpha);

/* Prompt of a built-in (char-level) agent: "[x] Q: <query>\n[x] A: " with x = '-', 'P', 'B',
 * 'C'. The slot exists (as '-') in pretraining so the scenario never shifts positions. It is
 * written again right before the answer because the smallest agents (one or two layers) could
 * not carry it across the query: with the slot only at the start, the 30 K agent answered at
 * the same rate under all three scenarios and its rejects leaked into the forced-answer prompt
 * (docs/SELF_AWARENESS.md, "The slot written twice"). Answers end with '\n'. Returns the length,
 * or DISR_E_RANGE if cap is too small. */
int scenario_format_prompt(char *buf, size_t cap, const char *query, enum scenario s);

/* True if the n bytes at line start like the first line of such a prompt ("[x] Q: "); the
 * answer follows the next line's "[x] A: " (the pretraining stream's QA blocks are read this
 * way). */
bool scenario_is_prompt_line(const char *line, size_t n);
/* Length of the answer line's prefix ("[x] A: ", 7) if the n bytes at line start with one, else
 * 0. */
size_t scenario_answer_prefix(const char *line, size_t n);

/* System prompt for chat models (remote or BPE backends) under a scenario. */
const char *scenario_system_prompt(enum scenario s);

/* An output read so far, against the reject text (leading spaces skipped): it starts with the
 * whole reject text; it is still a proper prefix of it (empty included: nothing is known yet);
 * or it has departed from it (an answer). Streaming callers decide on the first two pieces. */
enum reject_state { REJECT_STATE_PENDING, REJECT_STATE_REJECT, REJECT_STATE_ANSWER };
enum reject_state scenario_reject_state(const char *output);

/* True if an agent's output is a reject: it starts with the reject text (after leading spaces). */
bool scenario_is_reject(const char *output);

/* True if an output began like the reject and then departed from it ("IIIt s in alphabetical
 * order."): the agent started to decline and lost the thread, so what it returns is neither a
 * reject nor a meant answer. Judged by the first character, so it is a diagnostic for agents
 * whose answers never start like the reject (true of every answer in the synthetic world). */
bool scenario_is_broken_reject(const char *output);

/* Where a broken reject departed: the byte offset in `output` of its first character that is
 * not the reject text's ("I d d" -> 3); -1 if the output is not a broken reject. RL blames
 * that character, not the decision before it (sa_grpo_credit). */
int scenario_broken_reject_departure(const char *output);

/* The one rule every layer decides by (nodes, evaluation, SA training and its rewards): a reject,
 * or an output cut off by the token limit midway through the reject text ("I don't kn": the
 * agent was declining, and that is no answer to pass on). At least 3 characters are needed, so a
 * truncated "I" (a possible start of an answer) is not read as a reject. */
bool scenario_output_rejects(const char *output, bool truncated);

#endif
