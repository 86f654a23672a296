/* sa_grpo.h: the arithmetic of Stage 2 (Self-Awareness RL), kept apart from the rollout and
 * training loop so it can be checked on hand-made numbers.
 *
 * Reward (paper): 1 for a correct answer, 0 for a wrong one, (1 - alpha)^0.5 for a reject.
 * GRPO: a group of G rollouts of one prompt; advantage A_i = (r_i - mean) / (std + eps) with the
 * population std of the group (a group whose rewards are all equal carries no signal: A = 0).
 * Loss per rollout token t: -A * log pi(y_t) + beta * k3_t, with the k3 estimator of
 * KL(pi || pi_ref): k3 = rho - log rho - 1, rho = pi_ref(y_t) / pi(y_t). Its gradient with respect
 * to log pi(y_t) is (1 - rho), so the whole per-token gradient is that of a weighted
 * cross-entropy w_t * (-log pi(y_t)) with w_t = A - beta * (1 - rho): the trainer's weighted CE
 * does policy gradient and the KL penalty in one pass. */
#ifndef TRAIN_SA_GRPO_H
#define TRAIN_SA_GRPO_H

#include <stdbool.h>

/* Reward of one rollout: `rejected` (scenario_output_rejects of the output), else `correct`. */
float sa_reward(bool rejected, bool correct, double alpha);

/* Group-normalized advantages of g rewards. */
void sa_grpo_advantages(const float *rewards, int g, float eps, float *adv);

/* How many of a rollout's n tokens its advantage reaches. A reject's reward is decided by its
 * first token (the decision); the rest spells out a fixed text whose every token would otherwise
 * be pushed down whenever a reject loses to a right answer, and the tiny agents' rejects frayed
 * into copying ("I d w k in don."). So a reject credits its first token only, unless
 * `whole_reject`; an answer credits all its tokens. */
int sa_grpo_credited_tokens(bool rejected, bool whole_reject, int n);

/* Per-token training weights of one rollout of n tokens: w[t] = adv - beta * (1 - rho_t) for the
 * first n_credited tokens and -beta * (1 - rho_t) (the KL term alone) after them, with
 * rho_t = exp(logp_ref[t] - logp[t]) (clamped to avoid overflow). Returns the rollout's summed
 * k3 KL estimate (for the progress line). */
float sa_grpo_token_weights(float adv, int n_credited, const float *logp, const float *logp_ref,
                            int n, float beta, float *w);

#endif
