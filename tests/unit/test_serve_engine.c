/* Real GGUF agents behind HTTP: a tiny model is saved to GGUF, loaded twice, and served as a
 * two-node chain (confidence mode, then always). The chain's answer must be exactly what the
 * engine generates for the forced-answer prompt, batched or streamed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "model/engine.h"
#include "model/model_io.h"
#include "model/tokenizer.h"
#include "route/backend_engine.h"
#include "route/http_client.h"
#include "serve/server.h"

static char model_path[64];

static int setup(void **state) {
    (void)state;
    struct tokenizer *tok = NULL;
    assert_int_equal(tokenizer_init_char(&tok, "", 0), DISR_OK);
    struct model_config c = {.arch = MODEL_ARCH_LLAMA,
                             .n_vocab = tokenizer_n_vocab(tok),
                             .n_embd = 32,
                             .n_layer = 2,
                             .n_head = 4,
                             .n_head_kv = 2,
                             .n_ff = 64,
                             .n_ctx = 128,
                             .norm_eps = 1e-5f,
                             .rope_base = 10000.0f,
                             .rope_style = ROPE_NORMAL};
    struct model *m;
    assert_int_equal(model_init_random(&m, &c, tok, 11), DISR_OK);
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] *= 5.0f;
    snprintf(model_path, sizeof model_path, "/tmp/disr_test_serve_%d.gguf", (int)getpid());
    assert_int_equal(model_save(m, model_path, NULL), DISR_OK);
    model_free(m);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    unlink(model_path);
    http_client_cleanup();
    return 0;
}

static void reference(const char *q, char *out, size_t cap) {
    struct model *m;
    assert_int_equal(model_load(&m, model_path), DISR_OK);
    struct engine *e;
    struct engine_params p = {.max_seqs = 1, .n_threads = 1};
    assert_int_equal(engine_init(&e, m, &p), DISR_OK);
    char prompt[256];
    scenario_format_prompt(prompt, sizeof prompt, q, SCENARIO_NONE);
    struct gen_params g = {.temperature = 0, .top_p = 1, .max_tokens = 10, .stop_char = '\n'};
    struct gen_result r;
    assert_int_equal(engine_generate(e, prompt, &g, &r), DISR_OK);
    snprintf(out, cap, "%s", r.text);
    engine_free(e);
    model_free(m);
}

struct node {
    struct model *m;
    struct backend *b;
    struct agent a;
    struct server *s;
    char url[64];
};

static void node_start(struct node *n, const char *name, enum agent_mode mode, double cost,
                       const char *next) {
    memset(n, 0, sizeof *n);
    assert_int_equal(model_load(&n->m, model_path), DISR_OK);
    assert_int_equal(backend_engine_create(&n->b, n->m, true, 4, 1), DISR_OK);
    snprintf(n->a.name, sizeof n->a.name, "%s", name);
    n->a.mode = mode;
    n->a.cost = cost;
    n->a.backend = n->b;
    static const char *nx[1];
    nx[0] = next;
    struct server_config c = {
        .agent = &n->a, .next = nx, .n_next = next ? 1 : 0, .limits = {.default_tokens = 10}};
    assert_int_equal(server_start(&n->s, &c), DISR_OK);
    snprintf(n->url, sizeof n->url, "http://127.0.0.1:%d/v1/chat/completions", server_port(n->s));
}

static void node_stop(struct node *n) {
    server_stop(n->s);
    backend_free(n->b);
}

struct call {
    const char *url, *query;
    int stream;
    char content[1024];
    char answerer[64];
    long status;
};

static void *do_call(void *arg) {
    struct call *c = arg;
    char body[512];
    snprintf(body, sizeof body,
             "{\"model\":\"disr-performance\",\"stream\":%s,\"messages\":[{\"role\":\"user\","
             "\"content\":\"%s\"}]}",
             c->stream ? "true" : "false", c->query);
    struct http_options o = {.timeout_ms = 20000};
    struct http_response r;
    if (http_request(c->url, body, strlen(body), &o, &r) < 0) return NULL;
    c->status = r.status;
    if (!c->stream) {
        cJSON *j = cJSON_Parse(r.body);
        cJSON *msg = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0),
                                         "message");
        snprintf(c->content, sizeof c->content, "%s",
                 cJSON_GetObjectItem(msg, "content")->valuestring);
        snprintf(c->answerer, sizeof c->answerer, "%s",
                 cJSON_GetObjectItem(cJSON_GetObjectItem(j, "disr"), "answerer")->valuestring);
        cJSON_Delete(j);
    } else { /* concatenate the deltas of every data: event */
        for (char *p = r.body; (p = strstr(p, "data: {")) != NULL; p += 6) {
            char *end = strstr(p, "\n\n");
            cJSON *j = cJSON_ParseWithLength(p + 6, (size_t)(end - p - 6));
            cJSON *d = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0),
                                           "delta");
            cJSON *t = cJSON_GetObjectItem(d, "content");
            if (cJSON_IsString(t))
                strncat(c->content, t->valuestring, sizeof c->content - strlen(c->content) - 1);
            cJSON *dd = cJSON_GetObjectItem(j, "disr");
            if (dd)
                snprintf(c->answerer, sizeof c->answerer, "%s",
                         cJSON_GetObjectItem(dd, "answerer")->valuestring);
            cJSON_Delete(j);
        }
    }
    http_response_free(&r);
    return NULL;
}

static void test_gguf_chain_answers_like_the_engine(void **state) {
    (void)state;
    struct node big, small;
    node_start(&big, "big", AGENT_ALWAYS, 0.9, NULL);
    char next[64];
    snprintf(next, sizeof next, "%.*s", (int)(strlen(big.url) - strlen("/v1/chat/completions")),
             big.url);
    node_start(&small, "small", AGENT_CONFIDENCE, 0.1, next);
    const char *qs[6] = {"capital of Zorbia", "2+2", "sort cab", "hop Kalo", "read this", "x"};
    struct call calls[6];
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        calls[i] = (struct call){.url = small.url, .query = qs[i], .stream = i % 2};
        pthread_create(&th[i], NULL, do_call, &calls[i]);
    }
    for (int i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 6; i++) {
        char ref[1024];
        reference(qs[i], ref, sizeof ref);
        assert_int_equal(calls[i].status, 200);
        /* a random model is never confident at alpha 0.2: the big agent answers */
        assert_string_equal(calls[i].answerer, "big");
        assert_string_equal(calls[i].content, ref);
    }
    const struct metrics *m = server_metrics(small.s);
    assert_int_equal(atomic_load(&m->rejects), 6);
    assert_true(atomic_load(&m->completion_tokens) > 0);
    node_stop(&small);
    node_stop(&big);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gguf_chain_answers_like_the_engine),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
