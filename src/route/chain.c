#include "route/chain.h"

#include "core/err.h"

static int chain_force(const struct chain_ops *ops, void *ctx, int i, bool fallback) {
    if (!ops->force)
        return disr_fail(DISR_E_STATE, "chain: hop %d must answer, no forced answer", i);
    return ops->force(ctx, i, fallback);
}

int chain_walk(int n, const struct chain_ops *ops, void *ctx, struct chain_outcome *out) {
    out->answerer = -1;
    out->fallback = false;
    if (n <= 0) return disr_fail(DISR_E_ARG, "chain: no hops");
    int last_ok = -1; /* the last hop that worked (rejected) */
    for (int i = 0; i < n; i++) {
        bool last = i == n - 1;
        int st = ops->ask(ctx, i, last);
        if (st < 0) return st;
        if (st == CHAIN_ANSWER ||
            (st == CHAIN_REJECT && last && chain_force(ops, ctx, i, false) == DISR_OK)) {
            out->answerer = i;
            return DISR_OK;
        }
        if (st == CHAIN_REJECT && !last) last_ok = i;
    }
    if (last_ok < 0) return disr_fail(DISR_E_STATE, "chain: no agent could answer");
    DISR_TRY(chain_force(ops, ctx, last_ok, true));
    out->answerer = last_ok;
    out->fallback = true;
    return DISR_OK;
}
