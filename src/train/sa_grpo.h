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

#include "train/sa.h" /* enum sa_reject_credit */

/* Reward of one rollout: `rejected` (scenario_output_rejects of the output), else `correct`. */
float sa_reward(bool rejected, bool correct, double alpha);

/* Group-normalized advantages of g rewards. */
void sa_grpo_advantages(const float *rewards, int g, float eps, float *adv);

/* The tokens [first, end) of a rollout of n tokens that its advantage reaches. `departure` is
 * the token at which a broken reject left the reject text, -1 for any other rollout. */
struct sa_credit {
    int first, end;
};
struct sa_credit sa_grpo_credit(enum sa_reject_credit rule, bool rejected, int departure, int n);

/* Per-token training weights of one rollout of n tokens: w[t] = adv - beta * (1 - rho_t) for the
 * credited tokens and -beta * (1 - rho_t) (the KL term alone) for the others, with
 * rho_t = exp(logp_ref[t] - logp[t]) (clamped to avoid overflow). Returns the rollout's summed
 * k3 KL estimate (for the progress line). */
float sa_grpo_token_weights(float adv, struct sa_credit credit, const float *logp,
                            const float *logp_ref, int n, float beta, float *w);

#endif
