/* node.h: the `disr serve` job: one agent node from its settings. serve_node_init checks them
 * and makes the backend (a GGUF model on the embedded engine, an OpenAI-compatible remote, or
 * scripted rules), serve_node_start puts the node on HTTP (server.h), serve_node_free takes it
 * down. Waiting for the stop signal is the caller's: the command blocks SIGINT/SIGTERM between
 * init and start, so only its sigwait sees them. */
#ifndef SERVE_NODE_H
#define SERVE_NODE_H

#include <stdbool.h>

#include "route/agent.h"

#define SERVE_NODE_MAX_LIST 32 /* --next URLs and --api-key keys, at most */

struct serve_node_job {
    const char *name;                  /* unique in the chain */
    const char *model, *chat_template; /* backend: a GGUF model (template: a built-in one) */
    const char *remote, *remote_model, *remote_key; /* backend: an OpenAI-compatible server */
    const char *script;                             /* backend: scripted rules (JSONL) */
    double cost;                                    /* in [0, 1] */
    const char *mode;                               /* trained | confidence | always */
    const char *next;       /* the next agents' URLs in chain order, comma-separated (or NULL) */
    const char *host;       /* IPv4 address to bind */
    int port;               /* 0: any free port */
    const char *api_keys;   /* accepted client keys, comma-separated (NULL: open) */
    const char *hop_secret; /* shared by the agents (NULL or "": hop headers trusted) */
    int max_body, max_tokens, max_hops;
    int hop_timeout_ms, connect_timeout_ms, idle_timeout_s;
    int slots, threads; /* engine: sequences decoded together, compute threads (0: cores - 1) */
};
void serve_node_job_default(struct serve_node_job *j);
/* DISR_E_ARG, with the message the command prints, on a job that cannot start. */
int serve_node_job_check(const struct serve_node_job *j);

struct serve_node;
/* Checks the job and makes the backend; *out is NULL on failure. */
int serve_node_init(struct serve_node **out, const struct serve_node_job *j);
int serve_node_start(struct serve_node *n);
/* What the command prints once the node is up. */
struct serve_node_report {
    const char *name, *mode, *backend, *host;
    double cost;
    int port, n_next;
};
void serve_node_report(const struct serve_node *n, struct serve_node_report *r);
/* Stops the server (in-flight requests finish) and frees everything; NULL is fine. */
void serve_node_free(struct serve_node *n);

#endif
