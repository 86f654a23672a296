/* server.h: one agent node on HTTP (libmicrohttpd, a thread per connection). It decides with
 * route/agent.h and, on a reject, forwards the original query to the next agent over
 * route/http_client.h, trying the agents after it when one is dead, slow or failing, and
 * answering itself when none can be reached, so no query is ever dropped.
 *
 * Endpoints: POST /v1/chat/completions (OpenAI schema, SSE when "stream": true), GET /v1/models,
 * GET /health, GET /metrics. Hop headers between agents: X-Disr-Hops (count), X-Disr-Path (agent
 * names so far, comma-separated), X-Disr-Hop-Secret (the shared secret). */
#ifndef SERVE_SERVER_H
#define SERVE_SERVER_H

#include <stddef.h>

#include "route/agent.h"
#include "serve/api.h"
#include "serve/metrics.h"

struct server_config {
    const char *host;        /* address to bind; NULL = 127.0.0.1 ("0.0.0.0" for all) */
    int port;                /* 0 = any free port (see server_port) */
    struct agent *agent;     /* not owned; its name identifies this node on the path */
    const char *const *next; /* the agents after this one, in chain order */
    int n_next;
    const char *const *api_keys; /* accepted client bearer keys; none = open */
    int n_api_keys;
    const char *hop_secret; /* NULL = hop headers trusted (closed network) */
    size_t max_body;        /* request body limit; default 1 MiB */
    struct api_limits limits;
    int max_hops;           /* default 8 */
    int hop_timeout_ms;     /* waiting for the rest of the chain; default 30000 */
    int connect_timeout_ms; /* connecting to a next agent; default 500 */
    int max_connections;    /* default 1024 */
    int conn_timeout_s;     /* idle connection timeout (slowloris); default 10 */
};

struct server;
int server_start(struct server **out, const struct server_config *c);
int server_port(const struct server *s);
const struct metrics *server_metrics(const struct server *s);
/* Stops accepting, waits for the connections being served, frees everything. */
void server_stop(struct server *s);

#endif
