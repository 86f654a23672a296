/* disr up: starts a whole chain from a network file as separate `disr serve` processes (the job:
 * serve/up.h), prints the entry URL once every node answers /health, and stops them all on
 * SIGINT/SIGTERM or `disr up --down FILE`. */
#include <stdio.h>

#include "cli/cli.h"
#include "core/err.h"
#include "serve/up.h"

static void print_ready(const struct up_report *r) {
    const struct netconf *c = r->net;
    printf("disr up: %d agents ready in %.1f s:", c->n, r->seconds);
    for (int i = 0; i < c->n; i++)
        printf(" %s(%.2f)%s", c->agents[i].name, c->agents[i].cost, i + 1 < c->n ? " ->" : "");
    printf("\nentry: %s\n", c->agents[0].url);
    fflush(stdout);
}

int cmd_up(int argc, char **argv) {
    struct up_job j;
    up_job_default(&j);
    int down = 0;
    const struct cli_opt opts[] = {
        {"--down", NULL, OPT_FLAG, &down, "stop the chain started from this file"},
        {"--pid-file", NULL, OPT_STR, &j.pid_file, "pid file (default NETWORK_FILE.pid)"},
        {"--log-dir", NULL, OPT_STR, &j.log_dir, "write each agent's log to DIR/NAME.log"},
        {"--timeout", NULL, OPT_INT, &j.timeout_s,
         "seconds to wait for every /health (default {})"},
        {"--verbose", "-v", OPT_BOOL, &j.verbose, "agents log at info level"},
        {NULL, NULL, 0, NULL, NULL}};
    int n_pos = 0;
    int rc = cli_parse(argc, argv, opts, "NETWORK_FILE [--down]", &j.network, 1, &n_pos);
    if (rc) return rc == 1 ? 0 : rc;
    if (n_pos != 1) {
        fprintf(stderr, "disr up: give the network file (see disr up --help)\n");
        return 2;
    }
    if (down) {
        if (up_down(&j) < 0) {
            fprintf(stderr, "disr up --down: %s\n", disr_last_error());
            return 1;
        }
        printf("disr up: chain stopped\n");
        return 0;
    }
    struct up_chain *c = NULL;
    if (up_start(&c, &j) < 0) {
        fprintf(stderr, "disr up: %s\n", disr_last_error());
        return 1;
    }
    struct up_report r;
    up_report(c, &r);
    print_ready(&r);
    up_wait(c);
    up_stop(c);
    printf("disr up: stopped\n");
    return 0;
}
