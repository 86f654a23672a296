/* up.h: the `disr up` job: a whole chain from a network file (netconf.h), each agent its own
 * `disr serve` process (the program named by `exe`, normally this same binary). up_start spawns
 * them last agent first, so every node's next agents are up before it takes queries, waits
 * until each answers /health and writes the pid file; up_wait supervises them until SIGINT or
 * SIGTERM (an agent that exits is logged and the chain skips it); up_stop stops them in order.
 * Children get their own process group (a terminal's Ctrl-C reaches only the supervisor) and die
 * with it even on SIGKILL (PR_SET_PDEATHSIG). Secrets reach them through the environment, not
 * argv. up_down stops the chain a pid file names.
 *
 * up_start blocks SIGINT, SIGTERM and SIGCHLD in the calling thread: up_wait takes them with
 * sigwait. */
#ifndef SERVE_UP_H
#define SERVE_UP_H

#include <stdbool.h>

#include "serve/netconf.h"

struct up_job {
    const char *network;  /* the network file (required) */
    const char *pid_file; /* NULL: NETWORK.pid */
    const char *log_dir;  /* each agent's log as DIR/NAME.log (NULL: inherited stdout/err) */
    int timeout_s;        /* for every /health */
    bool verbose;         /* agents log at info level (else --quiet) */
    const char *exe;      /* the `disr` binary to run (NULL: /proc/self/exe) */
};
void up_job_default(struct up_job *j);
/* DISR_E_ARG on a job that cannot start: no network file, timeout below 1 s. */
int up_job_check(const struct up_job *j);

struct up_chain;
/* Everything up to a healthy chain; every error (the network file, a chain already running
 * from it, an agent that exits or stays unhealthy) stops what was started and says why. */
int up_start(struct up_chain **out, const struct up_job *j);

/* What the command prints once the chain is up. */
struct up_report {
    const struct netconf *net; /* the chain as read (agents[0] is the entry) */
    double seconds;            /* until the last agent was healthy */
};
void up_report(const struct up_chain *c, struct up_report *r);

/* Blocks until SIGINT or SIGTERM. */
void up_wait(struct up_chain *c);
/* Stops every agent (SIGTERM, SIGKILL after 5 s), removes the pid file, frees; NULL is fine. */
void up_stop(struct up_chain *c);

/* Stops the chain started from the job's network file (its supervisor's pid is in the job's pid
 * file) and waits up to 10 s for it. */
int up_down(const struct up_job *j);

#endif
