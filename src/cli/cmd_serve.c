/* disr serve: one agent node (the job: serve/node.h). Runs until SIGINT/SIGTERM, then stops
 * cleanly (in-flight requests finish). Secrets can come from the environment (DISR_API_KEYS,
 * DISR_HOP_SECRET) so they do not show in the process list. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/log.h"
#include "serve/node.h"

/* Blocks SIGINT and SIGTERM in this thread and those it starts, so only sigwait sees them. */
static void block_stop_signals(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int cmd_serve(int argc, char **argv) {
    struct serve_node_job j;
    serve_node_job_default(&j);
    const char *port_file = NULL;
    int quiet = 0;
    const struct cli_opt opts[] = {
        {"--name", "-n", OPT_STR, &j.name, "agent name, unique in the chain (default {})"},
        {"--model", "-m", OPT_STR, &j.model, "backend: a GGUF model run by the embedded engine"},
        {"--chat-template", NULL, OPT_STR, &j.chat_template,
         "with --model: a built-in chat template instead of the file's"},
        {"--remote", NULL, OPT_STR, &j.remote, "backend: an OpenAI-compatible server URL"},
        {"--remote-model", NULL, OPT_STR, &j.remote_model, "model name sent to --remote"},
        {"--remote-key", NULL, OPT_STR, &j.remote_key, "bearer key for --remote"},
        {"--script", NULL, OPT_STR, &j.script, "backend: scripted rules (JSONL), for tests"},
        {"--cost", "-c", OPT_FLOAT, &j.cost, "the agent's cost in [0, 1] (default {})"},
        {"--mode", NULL, OPT_STR, &j.mode, "trained | confidence | always (default {})"},
        {"--next", NULL, OPT_STR, &j.next, "next agents' URLs in chain order, comma-separated"},
        {"--host", NULL, OPT_STR, &j.host, "IPv4 address to bind (default {})"},
        {"--port", "-p", OPT_INT, &j.port, "port (default {}; 0 = any free port)"},
        {"--port-file", NULL, OPT_STR, &port_file, "write the bound port to this file"},
        {"--api-key", NULL, OPT_STR, &j.api_keys,
         "accepted client keys, comma-separated (env DISR_API_KEYS)"},
        {"--hop-secret", NULL, OPT_STR, &j.hop_secret,
         "secret shared by the agents (env DISR_HOP_SECRET)"},
        {"--max-body", NULL, OPT_INT, &j.max_body, "request body limit in bytes (default {})"},
        {"--max-tokens", NULL, OPT_INT, &j.max_tokens, "largest max_tokens accepted (default {})"},
        {"--max-hops", NULL, OPT_INT, &j.max_hops, "hop limit of a query (default {})"},
        {"--hop-timeout-ms", NULL, OPT_INT, &j.hop_timeout_ms,
         "wait for the next agent (default {})"},
        {"--connect-timeout-ms", NULL, OPT_INT, &j.connect_timeout_ms,
         "connect to the next agent (default {})"},
        {"--idle-timeout", NULL, OPT_INT, &j.idle_timeout_s,
         "idle connection timeout, s (default {})"},
        {"--slots", NULL, OPT_INT, &j.slots, "engine: sequences decoded together (default {})"},
        {"--threads", "-t", OPT_INT, &j.threads, "engine: compute threads (default cores - 1)"},
        {"--quiet", "-q", OPT_FLAG, &quiet, "log warnings and errors only"},
        {NULL, NULL, 0, NULL, NULL}};
    int rc = cli_parse(argc, argv, opts,
                       "(--model A.gguf | --remote URL | --script rules.jsonl) [options]", NULL, 0,
                       NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (quiet) log_set_level(LOG_WARN);
    if (!j.api_keys) j.api_keys = getenv("DISR_API_KEYS");
    if (!j.hop_secret) j.hop_secret = getenv("DISR_HOP_SECRET");
    int st = serve_node_job_check(&j);
    if (st < 0) {
        fprintf(stderr, "disr serve: %s\n", disr_last_error());
        return 2;
    }
    struct serve_node *n = NULL;
    if ((st = serve_node_init(&n, &j)) < 0) return cli_fail("serve: backend", st);
    sigset_t set;
    block_stop_signals(&set);
    if ((st = serve_node_start(n)) < 0) {
        rc = cli_fail("serve", st);
        serve_node_free(n);
        return rc;
    }
    struct serve_node_report r;
    serve_node_report(n, &r);
    FILE *f = port_file ? fopen(port_file, "w") : NULL;
    if (f) {
        fprintf(f, "%d\n", r.port);
        fclose(f);
    }
    printf("disr serve: agent %s (%s, cost %.2f, %s backend) on http://%s:%d, %d next agent%s\n",
           r.name, r.mode, r.cost, r.backend, r.host, r.port, r.n_next, r.n_next == 1 ? "" : "s");
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    log_info("disr serve: %s: signal %d, stopping", r.name, sig);
    serve_node_free(n);
    return 0;
}
