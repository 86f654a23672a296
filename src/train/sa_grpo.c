#include "train/sa_grpo.h"

#include <math.h>

#include "world/scenario.h"

float sa_reward(bool rejected, bool correct, double alpha) {
    if (rejected) return (float)scenario_reject_reward(alpha);
    return correct ? 1.0f : 0.0f;
}

void sa_grpo_advantages(const float *rewards, int g, float eps, float *adv) {
    if (g <= 0) return;
    double mean = 0, var = 0;
    for (int i = 0; i < g; i++)
        mean += rewards[i];
    mean /= g;
    for (int i = 0; i < g; i++)
        var += (rewards[i] - mean) * (rewards[i] - mean);
    double sd = sqrt(var / g);
    for (int i = 0; i < g; i++)
        adv[i] = sd < 1e-7 ? 0.0f : (float)((rewards[i] - mean) / (sd + eps));
}

struct sa_credit sa_grpo_credit(enum sa_reject_credit rule, bool rejected, int departure, int n) {
    if (rule != SA_CREDIT_WHOLE && rejected) return (struct sa_credit){0, n > 1 ? 1 : n};
    if (rule == SA_CREDIT_DEPARTURE && departure >= 0 && departure < n)
        return (struct sa_credit){departure, n};
    return (struct sa_credit){0, n};
}

float sa_grpo_token_weights(float adv, struct sa_credit credit, const float *logp,
                            const float *logp_ref, int n, float beta, float *w) {
    double kl = 0;
    for (int t = 0; t < n; t++) {
        /* Clamp the log-ratio: a token the reference finds 1e9 times likelier would otherwise
         * give an unbounded weight; +-20 is far outside anything a sane step produces. */
        float d = logp_ref[t] - logp[t];
        if (d > 20.0f) d = 20.0f;
        if (d < -20.0f) d = -20.0f;
        float rho = expf(d);
        kl += rho - d - 1.0f;
        w[t] = (t >= credit.first && t < credit.end ? adv : 0.0f) - beta * (1.0f - rho);
    }
    return (float)kl;
}
