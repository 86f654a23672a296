/* sa_target.h: Stage 1 (Self-Awareness SFT) label construction, separated from the model so it
 * can be tested on hand-made inputs. Given how many of an agent's own N samples were correct on
 * each training query (p̂ = n_correct / N), it decides, per scenario, whether the query's SFT
 * target is the agent's own answer (p̂ >= 1 - alpha, the paper's delta) or the reject text, and
 * balances answer and reject targets 50/50 per scenario.
 *
 * Balance (DESIGN §1, §7): per scenario the majority side is subsampled to the minority's size.
 * A strong agent may have very few reject examples (and a weak one few answers), which starved
 * the reference run's SFT; `min_side` lets the minority side be oversampled (drawn again, with
 * repetition) up to that many examples so every scenario keeps enough signal, still 50/50. */
#ifndef TRAIN_SA_TARGET_H
#define TRAIN_SA_TARGET_H

#include <stdbool.h>
#include <stdint.h>

/* One SFT example: the query (index into the caller's list), the scenario slot of its prompt
 * (SCENARIO_PERFORMANCE..SCENARIO_COST) and whether the target is the reject text. */
struct sa_example {
    int32_t query;
    int8_t scenario;
    int8_t reject;
    float weight; /* loss weight of the target's tokens (1 when balanced by subsampling) */
};

struct sa_target_stats {
    /* indexed by scenario - 1 (PERFORMANCE, BALANCE, COST) */
    int answer_pool[3], reject_pool[3]; /* queries labelled answer / reject before balancing */
    int answer_kept[3], reject_kept[3]; /* examples kept after balancing (with repeats) */
};

/* Smallest number of correct samples out of n for which p̂ = k/n >= 1 - alpha (integer-exact, so
 * 0.8 * 10 = 8 counts as ">= 0.8"). */
int sa_min_correct(double alpha, int n_samples);

/* Builds the SFT example list. n_correct[i] in [0, n_samples] for query i; has_answer[i] says the
 * agent produced at least one correct sample usable as its target (may be NULL: n_correct > 0).
 * `last`: the last agent of a chain never learns to reject: every query with an own correct
 * answer becomes an answer example in each scenario, no balancing. The result is shuffled
 * (scenarios mixed) deterministically from `seed`. `out` must hold 6 * n_queries examples.
 * Returns DISR_OK; DISR_E_ARG on bad counts. */
int sa_build_targets(const int *n_correct, const bool *has_answer, int n_queries, int n_samples,
                     bool last, int min_side, uint64_t seed, struct sa_example *out, int *n_out,
                     struct sa_target_stats *stats);

/* Balance by weight instead of by subsampling: every query with a usable target appears in all
 * three scenarios (so the same query is seen answered under one slot and rejected under
 * another: the contrast that makes the model read the slot at all), and each side of a scenario
 * gets half the scenario's loss mass: weight n / (2 * side size), capped at max_weight (a side
 * of 2 queries must not carry half of everything). Same stats as sa_build_targets ("kept" =
 * examples, with their weights summing to about half each). `out` holds 3 * n_queries. */
int sa_build_targets_weighted(const int *n_correct, const bool *has_answer, int n_queries,
                              int n_samples, bool last, float max_weight, uint64_t seed,
                              struct sa_example *out, int *n_out, struct sa_target_stats *stats);

/* Loss weight of an example's response tokens after the first. The first token of a reject is
 * the decision, which the balance weights; the rest spells out a fixed text that must hold in
 * every context, so it weighs `reject_tail_weight` when that is > 0. Carrying the balance weight
 * (about 0.5 for a weak agent's many rejects), the tiny char-level agents lost the text to the
 * sort family's copying ("I d w k in don."; docs/SELF_AWARENESS.md, "The reject's text and its
 * credit"). An answer's tokens all weigh the same. */
float sa_target_tail_weight(const struct sa_example *e, float reject_tail_weight);

#endif
