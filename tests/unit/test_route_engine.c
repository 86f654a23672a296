/* The engine backend against the engine used directly: same greedy text and log probability
 * whether a request runs alone or batched with others, early stop frees the slot, and the
 * confidence mode's probability agrees with engine_score of the answer (teacher forcing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"
#include "model/engine.h"
#include "model/tokenizer.h"
#include "route/agent.h"
#include "route/backend_engine.h"

static struct model *tiny_model(void) {
    struct tokenizer *tok = NULL;
    assert_int_equal(tokenizer_init_char(&tok, "", 0), DISR_OK);
    struct model_config c = {.arch = MODEL_ARCH_LLAMA,
                             .n_vocab = tokenizer_n_vocab(tok),
                             .n_embd = 32,
                             .n_layer = 2,
                             .n_head = 4,
                             .n_head_kv = 2,
                             .n_ff = 64,
                             .n_ctx = 96,
                             .norm_eps = 1e-5f,
                             .rope_base = 10000.0f,
                             .rope_style = ROPE_NORMAL};
    struct model *m;
    assert_int_equal(model_init_random(&m, &c, tok, 7), DISR_OK);
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] *= 5.0f; /* peaked, varied outputs */
    return m;
}

static const char *queries[6] = {"what is 2+2", "capital of Zorbia", "sort dcba",
                                 "hi",          "friend of Kalo",    "12+30"};

static void reference(struct model *m, const char *q, struct gen_result *out) {
    struct engine *e;
    struct engine_params p = {.max_seqs = 1, .n_threads = 1};
    assert_int_equal(engine_init(&e, m, &p), DISR_OK);
    char prompt[256];
    assert_true(scenario_format_prompt(prompt, sizeof prompt, q, SCENARIO_NONE) > 0);
    struct gen_params g = {.temperature = 0, .top_p = 1, .max_tokens = 12, .stop_char = '\n'};
    assert_int_equal(engine_generate(e, prompt, &g, out), DISR_OK);
    engine_free(e);
}

struct job {
    struct backend *b;
    const char *q;
    struct gen_output out;
    int st;
};
static void *run_job(void *arg) {
    struct job *j = arg;
    struct gen_request rq = {.query = j->q, .scenario = SCENARIO_NONE, .max_tokens = 12};
    j->st = backend_generate(j->b, &rq, &j->out);
    return NULL;
}

static void test_batched_equals_alone(void **state) {
    (void)state;
    struct model *m = tiny_model();
    struct backend *b;
    assert_int_equal(backend_engine_create(&b, m, false, 4, 1), DISR_OK);
    struct job jobs[6];
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        jobs[i] = (struct job){.b = b, .q = queries[i]};
        pthread_create(&th[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 6; i++) {
        struct gen_result ref;
        reference(m, queries[i], &ref);
        assert_int_equal(jobs[i].st, DISR_OK);
        assert_string_equal(jobs[i].out.text, ref.text);
        assert_int_equal(jobs[i].out.n_tokens, ref.n_tokens);
        assert_float_equal(jobs[i].out.sum_logprob, ref.sum_logprob, 1e-4);
        assert_true(jobs[i].out.has_logprob);
        assert_true(jobs[i].out.n_prompt_tokens > (int)strlen(queries[i]));
    }
    struct engine_backend_stats s;
    assert_int_equal(backend_engine_stats(b, &s), DISR_OK);
    assert_true(s.steps > 0);
    assert_true(s.max_batch >= 1 && s.max_batch <= 4); /* never more than the slots */
    assert_true(s.slot_steps >= s.steps);
    backend_free(b);
    model_free(m);
}

static int stop_now(void *ctx, const char *piece, size_t len) {
    (void)piece, (void)len;
    (*(int *)ctx)++;
    return 1;
}

static void test_early_stop_and_confidence(void **state) {
    (void)state;
    struct model *m = tiny_model();
    struct backend *b;
    assert_int_equal(backend_engine_create(&b, m, false, 2, 1), DISR_OK);
    int calls = 0;
    struct gen_output out;
    struct gen_request rq = {.query = "hello there",
                             .scenario = SCENARIO_BALANCE,
                             .max_tokens = 40,
                             .on_text = stop_now,
                             .ctx = &calls};
    assert_int_equal(backend_generate(b, &rq, &out), DISR_OK);
    assert_int_equal(calls, 1);
    assert_true(out.stopped);
    assert_true(out.n_tokens <= 2);
    /* confidence = exp(sum logprob of the greedy forced answer) = exp(engine_score(answer)) */
    struct agent a = {.name = "e", .cost = 0.1, .mode = AGENT_CONFIDENCE, .backend = b};
    struct agent_query q = {.query = "capital of Zorbia", .alpha = 0.5, .max_tokens = 12};
    struct agent_result r;
    assert_int_equal(agent_decide(&a, &q, &r), DISR_OK);
    struct engine *e;
    struct engine_params p = {.max_seqs = 1, .n_threads = 1};
    assert_int_equal(engine_init(&e, m, &p), DISR_OK);
    char prompt[256], cont[BACKEND_TEXT_CAP + 2];
    scenario_format_prompt(prompt, sizeof prompt, q.query, SCENARIO_NONE);
    /* the stop newline was emitted (and scored) but is not part of the text */
    snprintf(cont, sizeof cont, "%s%s", r.gen.text, r.gen.truncated ? "" : "\n");
    float lp;
    assert_int_equal(engine_score(e, prompt, cont, &lp), DISR_OK);
    assert_float_equal(log(r.confidence), lp, 1e-3);
    assert_int_equal(r.decision, r.confidence > scenario_threshold(0.5) ? HOP_ANSWER : HOP_REJECT);
    engine_free(e);
    /* a query the char vocabulary cannot encode fails clearly */
    rq = (struct gen_request){.query = "caf\xc3\xa9 \x01", .max_tokens = 4};
    int st = backend_generate(b, &rq, &out);
    if (st < 0) assert_true(strlen(disr_last_error()) > 0);
    backend_free(b);
    model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batched_equals_alone),
        cmocka_unit_test(test_early_stop_and_confidence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
