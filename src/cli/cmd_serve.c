/* disr serve: one agent node. Runs until SIGINT/SIGTERM, then stops cleanly (in-flight requests
 * finish). Secrets can come from the environment (DISR_API_KEYS, DISR_HOP_SECRET) so they do not
 * show in the process list. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/log.h"
#include "model/model_io.h"
#include "route/agent.h"
#include "route/backend_engine.h"
#include "route/http_client.h"
#include "serve/server.h"

#define MAX_LIST 32

/* Splits a comma-separated list in place into at most MAX_LIST items. */
static int split_list(char *s, const char **items) {
    int n = 0;
    for (char *tok = strtok(s, ","); tok && n < MAX_LIST; tok = strtok(NULL, ","))
        if (*tok) items[n++] = tok;
    return n;
}

int cmd_serve(int argc, char **argv) {
    const char *name = "agent", *model = NULL, *chat_template = NULL, *remote = NULL,
               *remote_model = "default", *remote_key = NULL, *script = NULL, *mode_s = "trained",
               *next_s = NULL, *host = "127.0.0.1", *keys_s = NULL, *secret = NULL,
               *port_file = NULL;
    double cost = 0.5;
    int port = 8080, max_body = 1 << 20, max_tokens = 1024, max_hops = 8, hop_timeout = 30000,
        connect_timeout = 500, conn_timeout = 10, slots = 8, threads = 0, quiet = 0;
    const struct cli_opt opts[] = {
        {"--name", "-n", OPT_STR, &name, "agent name, unique in the chain (default agent)"},
        {"--model", "-m", OPT_STR, &model, "backend: a GGUF model run by the embedded engine"},
        {"--chat-template", NULL, OPT_STR, &chat_template,
         "with --model: a built-in chat template instead of the file's"},
        {"--remote", NULL, OPT_STR, &remote, "backend: an OpenAI-compatible server URL"},
        {"--remote-model", NULL, OPT_STR, &remote_model, "model name sent to --remote"},
        {"--remote-key", NULL, OPT_STR, &remote_key, "bearer key for --remote"},
        {"--script", NULL, OPT_STR, &script, "backend: scripted rules (JSONL), for tests"},
        {"--cost", "-c", OPT_FLOAT, &cost, "the agent's cost in [0, 1] (default 0.5)"},
        {"--mode", NULL, OPT_STR, &mode_s, "trained | confidence | always (default trained)"},
        {"--next", NULL, OPT_STR, &next_s, "next agents' URLs in chain order, comma-separated"},
        {"--host", NULL, OPT_STR, &host, "IPv4 address to bind (default 127.0.0.1)"},
        {"--port", "-p", OPT_INT, &port, "port (default 8080; 0 = any free port)"},
        {"--port-file", NULL, OPT_STR, &port_file, "write the bound port to this file"},
        {"--api-key", NULL, OPT_STR, &keys_s,
         "accepted client keys, comma-separated (env DISR_API_KEYS)"},
        {"--hop-secret", NULL, OPT_STR, &secret,
         "secret shared by the agents (env DISR_HOP_SECRET)"},
        {"--max-body", NULL, OPT_INT, &max_body, "request body limit in bytes (default 1048576)"},
        {"--max-tokens", NULL, OPT_INT, &max_tokens, "largest max_tokens accepted (default 1024)"},
        {"--max-hops", NULL, OPT_INT, &max_hops, "hop limit of a query (default 8)"},
        {"--hop-timeout-ms", NULL, OPT_INT, &hop_timeout,
         "wait for the next agent (default 30000)"},
        {"--connect-timeout-ms", NULL, OPT_INT, &connect_timeout,
         "connect to the next agent (default 500)"},
        {"--idle-timeout", NULL, OPT_INT, &conn_timeout, "idle connection timeout, s (default 10)"},
        {"--slots", NULL, OPT_INT, &slots, "engine: sequences decoded together (default 8)"},
        {"--threads", "-t", OPT_INT, &threads, "engine: compute threads (default cores - 1)"},
        {"--quiet", "-q", OPT_FLAG, &quiet, "log warnings and errors only"},
        {NULL, NULL, 0, NULL, NULL}};
    int rc = cli_parse(argc, argv, opts,
                       "(--model A.gguf | --remote URL | --script rules.jsonl) [options]", NULL, 0,
                       NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (quiet) log_set_level(LOG_WARN);
    int n_backends = !!model + !!remote + !!script;
    if (n_backends != 1) {
        fprintf(stderr, "disr serve: give exactly one of --model, --remote, --script\n");
        return 2;
    }
    int mode = agent_mode_parse(mode_s);
    if (mode < 0 || cost < 0 || cost > 1 || max_body < 256 || max_tokens < 1 || max_hops < 1) {
        fprintf(stderr, "disr serve: bad --mode (trained|confidence|always), --cost [0,1], "
                        "--max-body >= 256, --max-tokens >= 1 or --max-hops >= 1\n");
        return 2;
    }
    struct backend *be = NULL;
    int st;
    if (script) {
        st = backend_scripted_create(&be);
        if (st == DISR_OK) st = backend_scripted_load(be, script);
    } else if (remote) {
        st = backend_remote_create(&be, remote, remote_model, remote_key, hop_timeout);
    } else {
        struct model *m = NULL;
        st = model_load_mapped(&m, model);
        if (st == DISR_OK) st = cli_check_chat_template(m, chat_template);
        if (st < 0) {
            model_free(m);
        } else {
            st = backend_engine_create(&be, m, true, slots, threads);
            if (st < 0) model_free(m);
        }
    }
    if (st < 0) {
        backend_free(be);
        return cli_fail("serve: backend", st);
    }
    struct agent agent = {.cost = cost, .mode = (enum agent_mode)mode, .backend = be};
    snprintf(agent.name, sizeof agent.name, "%s", name);

    char *next_copy = next_s ? strdup(next_s) : NULL;
    if (!keys_s) keys_s = getenv("DISR_API_KEYS");
    if (!secret) secret = getenv("DISR_HOP_SECRET");
    if (secret && !*secret) secret = NULL;
    char *keys_copy = keys_s ? strdup(keys_s) : NULL;
    const char *next[MAX_LIST], *keys[MAX_LIST];
    struct server_config cfg = {.host = host,
                                .port = port,
                                .agent = &agent,
                                .next = next,
                                .n_next = next_copy ? split_list(next_copy, next) : 0,
                                .api_keys = keys,
                                .n_api_keys = keys_copy ? split_list(keys_copy, keys) : 0,
                                .hop_secret = secret,
                                .max_body = (size_t)max_body,
                                .limits = {.max_tokens = max_tokens},
                                .max_hops = max_hops,
                                .hop_timeout_ms = hop_timeout,
                                .connect_timeout_ms = connect_timeout,
                                .conn_timeout_s = conn_timeout};

    /* block the stop signals before any thread starts, so only sigwait sees them */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct server *srv = NULL;
    st = server_start(&srv, &cfg);
    if (st < 0) {
        rc = cli_fail("serve", st);
        goto out;
    }
    int bound = server_port(srv);
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (f) {
            fprintf(f, "%d\n", bound);
            fclose(f);
        }
    }
    printf("disr serve: agent %s (%s, cost %.2f, %s backend) on http://%s:%d, %d next agent%s\n",
           agent.name, agent_mode_name(agent.mode), agent.cost, be->ops->kind, host, bound,
           cfg.n_next, cfg.n_next == 1 ? "" : "s");
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    log_info("disr serve: %s: signal %d, stopping", agent.name, sig);
    server_stop(srv);
    rc = 0;
out:
    backend_free(be);
    http_client_cleanup();
    free(next_copy);
    free(keys_copy);
    return rc;
}
