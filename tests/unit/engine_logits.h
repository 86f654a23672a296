/* Test helper shared by unit tests: the logits of every token of one sequence, computed by
 * the engine as one prefill batch or one token at a time (the decode path). */
#ifndef TESTS_ENGINE_LOGITS_H
#define TESTS_ENGINE_LOGITS_H

#include "core/err.h"
#include "model/engine.h"

/* out: [T][n_vocab]; T <= 64. */
static void engine_logits(struct model *m, const int32_t *tok, int T, int decode, float *out) {
    struct engine *e;
    struct engine_params p = {.max_seqs = 1, .n_threads = 2};
    if (engine_init(&e, m, &p)) fail_msg("%s", disr_last_error());
    int32_t pos[64], seq[64] = {0};
    int8_t want[64];
    assert_true(T <= 64);
    for (int t = 0; t < T; t++)
        pos[t] = t, want[t] = 1;
    for (int t = 0; t < T; t += decode ? 1 : T) {
        struct engine_batch b = {decode ? 1 : T, tok + t, pos + t, seq, want};
        assert_int_equal(engine_decode(e, &b, out + (size_t)t * m->config.n_vocab), 0);
    }
    engine_free(e);
}

#endif
