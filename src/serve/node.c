#include "serve/node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "model/model_io.h"
#include "model/tokenizer.h"
#include "route/backend_engine.h"
#include "route/http_client.h"
#include "serve/server.h"

struct serve_node {
    struct agent agent;
    struct backend *backend;
    char *next_copy, *keys_copy; /* the lists split in place */
    const char *next[SERVE_NODE_MAX_LIST], *keys[SERVE_NODE_MAX_LIST];
    struct server_config cfg;
    struct server *server;
};

void serve_node_job_default(struct serve_node_job *j) {
    *j = (struct serve_node_job){.name = "agent",
                                 .remote_model = "default",
                                 .cost = 0.5,
                                 .mode = "trained",
                                 .host = "127.0.0.1",
                                 .port = 8080,
                                 .max_body = 1 << 20,
                                 .max_tokens = 1024,
                                 .max_hops = 8,
                                 .hop_timeout_ms = 30000,
                                 .connect_timeout_ms = 500,
                                 .idle_timeout_s = 10,
                                 .slots = 8,
                                 .threads = 0};
}

int serve_node_job_check(const struct serve_node_job *j) {
    if (!!j->model + !!j->remote + !!j->script != 1)
        return disr_fail(DISR_E_ARG, "give exactly one of --model, --remote, --script");
    if (agent_mode_parse(j->mode) < 0 || j->cost < 0 || j->cost > 1 || j->max_body < 256 ||
        j->max_tokens < 1 || j->max_hops < 1)
        return disr_fail(DISR_E_ARG, "bad --mode (trained|confidence|always), --cost [0,1], "
                                     "--max-body >= 256, --max-tokens >= 1 or --max-hops >= 1");
    return DISR_OK;
}

/* Puts the built-in chat template `name` (NULL: keep the file's) on a model that is prompted
 * through its chat template, and checks that the template renders, so that the node refuses to
 * start rather than fail on every prompt. Models without a chat vocabulary pass. */
static int check_chat_template(struct model *m, const char *name) {
    struct tokenizer *t = m->tokenizer;
    if (!t || tokenizer_kind(t) == TOKENIZER_CHAR) {
        if (name) return disr_fail(DISR_E_ARG, "--chat-template: the model has no chat vocabulary");
        return DISR_OK;
    }
    if (name) DISR_TRY(tokenizer_set_chat_template(t, name));
    char buf[4096];
    return tokenizer_apply_chat(t, "system", "user", buf, sizeof buf);
}

static int engine_backend(struct backend **out, const struct serve_node_job *j) {
    struct model *m = NULL;
    int st = model_load_mapped(&m, j->model);
    if (st == DISR_OK) st = check_chat_template(m, j->chat_template);
    if (st == DISR_OK) st = backend_engine_create(out, m, true, j->slots, j->threads);
    if (st < 0) model_free(m);
    return st;
}

static int make_backend(struct backend **out, const struct serve_node_job *j) {
    if (j->script) {
        DISR_TRY(backend_scripted_create(out));
        return backend_scripted_load(*out, j->script);
    }
    if (j->remote)
        return backend_remote_create(out, j->remote, j->remote_model, j->remote_key,
                                     j->hop_timeout_ms);
    return engine_backend(out, j);
}

/* Splits a comma-separated copy of s in place into at most SERVE_NODE_MAX_LIST items. */
static int split_list(const char *s, char **copy, const char **items) {
    *copy = s ? strdup(s) : NULL;
    int n = 0;
    if (!*copy) return 0;
    char *save = NULL;
    for (char *tok = strtok_r(*copy, ",", &save); tok && n < SERVE_NODE_MAX_LIST;
         tok = strtok_r(NULL, ",", &save))
        if (*tok) items[n++] = tok;
    return n;
}

int serve_node_init(struct serve_node **out, const struct serve_node_job *j) {
    *out = NULL;
    DISR_TRY(serve_node_job_check(j));
    struct serve_node *n = calloc(1, sizeof *n);
    if (!n) return disr_fail(DISR_E_NOMEM, "node");
    int st = make_backend(&n->backend, j);
    if (st < 0) {
        serve_node_free(n);
        return st;
    }
    n->agent = (struct agent){
        .cost = j->cost, .mode = (enum agent_mode)agent_mode_parse(j->mode), .backend = n->backend};
    snprintf(n->agent.name, sizeof n->agent.name, "%s", j->name);
    const char *secret = j->hop_secret && *j->hop_secret ? j->hop_secret : NULL;
    n->cfg = (struct server_config){.host = j->host,
                                    .port = j->port,
                                    .agent = &n->agent,
                                    .next = n->next,
                                    .n_next = split_list(j->next, &n->next_copy, n->next),
                                    .api_keys = n->keys,
                                    .n_api_keys = split_list(j->api_keys, &n->keys_copy, n->keys),
                                    .hop_secret = secret,
                                    .max_body = (size_t)j->max_body,
                                    .limits = {.max_tokens = j->max_tokens},
                                    .max_hops = j->max_hops,
                                    .hop_timeout_ms = j->hop_timeout_ms,
                                    .connect_timeout_ms = j->connect_timeout_ms,
                                    .conn_timeout_s = j->idle_timeout_s};
    *out = n;
    return DISR_OK;
}

int serve_node_start(struct serve_node *n) {
    return server_start(&n->server, &n->cfg);
}

void serve_node_report(const struct serve_node *n, struct serve_node_report *r) {
    *r = (struct serve_node_report){.name = n->agent.name,
                                    .mode = agent_mode_name(n->agent.mode),
                                    .backend = n->backend->ops->kind,
                                    .host = n->cfg.host,
                                    .cost = n->agent.cost,
                                    .port = n->server ? server_port(n->server) : 0,
                                    .n_next = n->cfg.n_next};
}

void serve_node_free(struct serve_node *n) {
    if (!n) return;
    if (n->server) server_stop(n->server);
    backend_free(n->backend);
    http_client_cleanup();
    free(n->next_copy);
    free(n->keys_copy);
    free(n);
}
