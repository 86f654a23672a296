/* live_node.h: a scripted agent served by the real HTTP server on a free loopback port, for unit
 * tests that need live nodes (include after cmocka.h). It rejects queries containing
 * `reject_word` and otherwise answers "answer from NAME". */
#ifndef TESTS_LIVE_NODE_H
#define TESTS_LIVE_NODE_H

#include <stdio.h>
#include <string.h>

#include "disr.h"
#include "route/agent.h"
#include "route/backend.h"
#include "serve/server.h"

struct node {
    struct backend *b;
    struct agent a;
    struct server *s;
    char url[64];
};

static void node_start(struct node *n, const char *name, double cost, enum agent_mode mode,
                       const char *reject_word, const char *const *next, int n_next,
                       const char *secret, const char *key) {
    memset(n, 0, sizeof *n);
    assert_int_equal(backend_scripted_create(&n->b), DISR_OK);
    struct script_rule rej = {
        .contains = reject_word, .scenario = -1, .reply = "I don't know!", .p = 0.5};
    char reply[64];
    snprintf(reply, sizeof reply, "answer from %s", name);
    struct script_rule ans = {.contains = "", .scenario = -1, .reply = reply, .p = 0.9};
    if (reject_word) assert_int_equal(backend_scripted_add(n->b, &rej), DISR_OK);
    assert_int_equal(backend_scripted_add(n->b, &ans), DISR_OK);
    snprintf(n->a.name, sizeof n->a.name, "%s", name);
    n->a.cost = cost;
    n->a.mode = mode;
    n->a.backend = n->b;
    static const char *keys[1];
    keys[0] = key;
    struct server_config c = {.agent = &n->a,
                              .next = next,
                              .n_next = n_next,
                              .hop_secret = secret,
                              .api_keys = keys,
                              .n_api_keys = key ? 1 : 0,
                              .connect_timeout_ms = 200,
                              .hop_timeout_ms = 5000};
    assert_int_equal(server_start(&n->s, &c), DISR_OK);
    snprintf(n->url, sizeof n->url, "http://127.0.0.1:%d", server_port(n->s));
}

static void node_stop(struct node *n) {
    server_stop(n->s);
    n->s = NULL;
    backend_free(n->b);
}

#endif
