/* score_engine.c: world_score with an in-process engine as the answerer: greedy decoding of
 * the forced-answer prompt (scenario NONE), stopping at the answer's newline. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "model/engine.h"
#include "model/tokenizer.h"
#include "world/scenario.h"
#include "world/score.h"

#define PROMPT_MAX 4096

struct engine_answerer {
    struct engine *e;
    int max_tokens;
    char *prompts;          /* batch x PROMPT_MAX */
    const char **ptrs;      /* batch */
    struct gen_result *res; /* batch */
    int *slot;              /* batch: index into ptrs/res, or -1 when the prompt cannot fit */
    int32_t *ids;           /* n_ctx: scratch for measuring prompts */
};

/* The forced-answer prompt: the built-in agents' "[-] Q: ...\n[-] A: " for char models; for chat
 * (BPE, SentencePiece) models the scenario-NONE system prompt and the query through the chat template. */
static int format_prompt(const struct model *m, const char *query, char *buf) {
    const struct tokenizer *tok = m->tokenizer;
    if (tok && tokenizer_kind(tok) != TOKENIZER_CHAR)
        return tokenizer_apply_chat(tok, scenario_system_prompt(SCENARIO_NONE), query, buf,
                                    PROMPT_MAX);
    int n = scenario_format_prompt(buf, PROMPT_MAX, query, SCENARIO_NONE);
    return n < 0 ? n : DISR_OK;
}

/* A query the model cannot take (longer than its context, or a byte its vocabulary lacks)
 * gets an empty reply, which grades as wrong, instead of aborting the whole scoring run. */
static bool fits(const struct model *m, const char *prompt, int32_t *ids) {
    int n = 0;
    if (tokenizer_encode(m->tokenizer, prompt, strlen(prompt), ids, m->config.n_ctx, &n) < 0)
        return false;
    return n < m->config.n_ctx;
}

static int engine_answer(void *ctx, int n, const char *const *queries, char **replies) {
    struct engine_answerer *a = ctx;
    const struct model *m = engine_model(a->e);
    if (!m->tokenizer) return disr_fail(DISR_E_STATE, "score: the model has no tokenizer");
    int k = 0;
    for (int i = 0; i < n; i++) {
        char *buf = a->prompts + (size_t)k * PROMPT_MAX;
        a->slot[i] = -1;
        if (format_prompt(m, queries[i], buf) < 0 || !fits(m, buf, a->ids)) continue;
        a->slot[i] = k;
        a->ptrs[k++] = buf;
    }
    struct gen_params g = {.temperature = 0,
                           .top_k = 0,
                           .top_p = 1,
                           .seed = 0,
                           .max_tokens = a->max_tokens,
                           .stop_char = '\n'};
    DISR_TRY(engine_generate_batch(a->e, k, a->ptrs, &g, a->res));
    /* A reply cut at max_tokens is an answer that never finished: wrong, as in self-awareness
     * sampling, RL rewards and the evaluation, so it is returned empty (the number grader would
     * otherwise read whatever number the runaway reply held last). */
    for (int i = 0; i < n; i++) {
        const struct gen_result *r = a->slot[i] < 0 ? NULL : &a->res[a->slot[i]];
        snprintf(replies[i], SCORE_REPLY_MAX, "%s", r && !r->truncated ? r->text : "");
    }
    return DISR_OK;
}

int world_score_engine(struct engine *e, const struct qa_set *s, int batch, int max_tokens,
                       struct score_result *out, bool *correct, char **replies,
                       struct progress *progress) {
    if (batch < 1 || max_tokens < 1)
        return disr_fail(DISR_E_ARG, "world_score_engine: batch and max_tokens must be >= 1");
    const struct model *m = engine_model(e);
    struct engine_answerer a = {
        .e = e,
        .max_tokens = max_tokens,
        .prompts = malloc((size_t)batch * PROMPT_MAX),
        .ptrs = malloc((size_t)batch * sizeof(char *)),
        .res = malloc((size_t)batch * sizeof(struct gen_result)),
        .slot = malloc((size_t)batch * sizeof(int)),
        .ids = malloc((size_t)(m->config.n_ctx + 1) * sizeof(int32_t)),
    };
    int st;
    if (!a.prompts || !a.ptrs || !a.res || !a.slot || !a.ids)
        st = disr_fail(DISR_E_NOMEM, "scoring batch of %d", batch);
    else
        st = world_score(s, engine_answer, &a, batch, out, correct, replies, progress);
    free(a.prompts), free(a.ptrs), free(a.res), free(a.slot), free(a.ids);
    return st;
}
