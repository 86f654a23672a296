#include "serve/up.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "route/http_client.h"

#define MAX_ARGS 64

struct up_chain {
    struct netconf net;
    pid_t pids[NETCONF_MAX_AGENTS];
    char pid_file[NETCONF_STR + 8];
    sigset_t signals; /* SIGINT, SIGTERM, SIGCHLD: blocked, taken by sigwait */
    double seconds;
};

void up_job_default(struct up_job *j) {
    *j = (struct up_job){.timeout_s = 60};
}

int up_job_check(const struct up_job *j) {
    if (!j->network) return disr_fail(DISR_E_ARG, "give the network file");
    if (j->timeout_s < 1)
        return disr_fail(DISR_E_ARG, "timeout is %d s, must be at least 1", j->timeout_s);
    return DISR_OK;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The `disr serve` command line of agent i: its settings, the next agents, then its args. */
static int serve_argv(const struct netconf *c, int i, bool quiet, char bufs[4][NETCONF_STR * 4],
                      char *args, const char **argv) {
    const struct netconf_agent *a = &c->agents[i];
    char *cost = bufs[0], *port = bufs[1], *hops = bufs[2], *next = bufs[3];
    snprintf(cost, 32, "%g", a->cost);
    snprintf(port, 16, "%d", a->port);
    snprintf(hops, 16, "%d", c->max_hops);
    next[0] = '\0';
    for (int j = i + 1; j < c->n; j++) {
        size_t n = strlen(next);
        snprintf(next + n, NETCONF_STR * 4 - n, "%s%s", n ? "," : "", c->agents[j].url);
    }
    int k = 0;
    argv[k++] = "disr";
    argv[k++] = "serve";
    argv[k++] = "--name", argv[k++] = a->name;
    argv[k++] = "--cost", argv[k++] = cost;
    argv[k++] = "--mode", argv[k++] = a->mode;
    argv[k++] = "--host", argv[k++] = a->host;
    argv[k++] = "--port", argv[k++] = port;
    argv[k++] = "--max-hops", argv[k++] = hops;
    if (next[0]) argv[k++] = "--next", argv[k++] = next;
    if (a->model[0]) argv[k++] = "--model", argv[k++] = a->model;
    if (a->script[0]) argv[k++] = "--script", argv[k++] = a->script;
    if (a->remote[0]) argv[k++] = "--remote", argv[k++] = a->remote;
    if (a->remote_model[0]) argv[k++] = "--remote-model", argv[k++] = a->remote_model;
    if (quiet) argv[k++] = "--quiet";
    snprintf(args, NETCONF_STR, "%s", a->args);
    char *save = NULL;
    for (char *t = strtok_r(args, " \t", &save); t && k < MAX_ARGS - 1;
         t = strtok_r(NULL, " \t", &save))
        argv[k++] = t;
    argv[k] = NULL;
    return k;
}

/* In the child: its own process group, dies with the parent, secrets in the environment, output
 * to its log; then exec. Never returns. */
static void exec_agent(const struct netconf *c, int i, const struct up_job *j, pid_t parent,
                       const char **argv) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (c->hop_secret[0]) setenv("DISR_HOP_SECRET", c->hop_secret, 1);
    if (c->api_keys[0]) setenv("DISR_API_KEYS", c->api_keys, 1);
    if (j->log_dir) {
        char path[NETCONF_STR + 80];
        snprintf(path, sizeof path, "%s/%s.log", j->log_dir, c->agents[i].name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
    }
    execv(j->exe ? j->exe : "/proc/self/exe", (char *const *)argv);
    fprintf(stderr, "disr up: cannot exec disr serve: %s\n", strerror(errno));
    _exit(127);
}

static pid_t spawn_agent(const struct netconf *c, int i, const struct up_job *j) {
    char bufs[4][NETCONF_STR * 4], args[NETCONF_STR];
    const char *argv[MAX_ARGS];
    serve_argv(c, i, !j->verbose, bufs, args, argv);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) exec_agent(c, i, j, parent, argv);
    return pid;
}

static int health_ok(const char *url) {
    char u[NETCONF_STR + 16];
    snprintf(u, sizeof u, "%s/health", url);
    struct http_options o = {.connect_timeout_ms = 300, .timeout_ms = 1000};
    struct http_response r;
    if (http_request(u, NULL, 0, &o, &r) < 0) return 0;
    int ok = r.status == 200;
    http_response_free(&r);
    return ok;
}

static void stop_all(struct up_chain *ch) {
    const struct netconf *c = &ch->net;
    pid_t *pids = ch->pids;
    for (int i = 0; i < c->n; i++)
        if (pids[i] > 0) kill(pids[i], SIGTERM);
    for (int i = 0; i < c->n; i++) {
        if (pids[i] <= 0) continue;
        int st, waited = 0;
        while (waitpid(pids[i], &st, WNOHANG) == 0) {
            if (waited >= 5000) {
                log_warn("disr up: agent %s did not stop in 5 s; killing it", c->agents[i].name);
                kill(pids[i], SIGKILL);
                waitpid(pids[i], &st, 0);
                break;
            }
            sleep_ms(20);
            waited += 20;
        }
        pids[i] = 0;
    }
}

/* The pid a pid file's first line names (0: none, or no file). */
static long pid_file_read(const char *path) {
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f && fscanf(f, "%ld", &pid) != 1) pid = 0;
    if (f) fclose(f);
    return pid;
}

static int check_not_running(const struct up_chain *ch, const struct up_job *j) {
    long other = pid_file_read(ch->pid_file);
    if (other > 1 && kill((pid_t)other, 0) == 0)
        return disr_fail(DISR_E_STATE,
                         "already running (pid %ld, %s); stop it with disr up --down %s", other,
                         ch->pid_file, j->network);
    return DISR_OK;
}

/* Waits for agent i's /health; fails if it exits or the job's timeout passes. */
static int wait_healthy(struct up_chain *ch, int i, const struct up_job *j, double t0) {
    const struct netconf_agent *a = &ch->net.agents[i];
    while (!health_ok(a->url)) {
        int ws;
        if (waitpid(ch->pids[i], &ws, WNOHANG) == ch->pids[i]) {
            ch->pids[i] = 0;
            return disr_fail(DISR_E_STATE, "agent %s exited while starting (see %s)", a->name,
                             j->log_dir ? "its log" : "above");
        }
        if (time_now() - t0 > j->timeout_s)
            return disr_fail(DISR_E_TIMEOUT, "agent %s not healthy at %s after %d s", a->name,
                             a->url, j->timeout_s);
        sleep_ms(50);
    }
    return DISR_OK;
}

static void pid_file_write(const struct up_chain *ch) {
    FILE *f = fopen(ch->pid_file, "w");
    if (!f) {
        log_warn("disr up: cannot write %s: %s", ch->pid_file, strerror(errno));
        return;
    }
    fprintf(f, "%ld\n", (long)getpid());
    for (int i = 0; i < ch->net.n; i++)
        if (ch->pids[i] > 0) fprintf(f, "%ld %s\n", (long)ch->pids[i], ch->net.agents[i].name);
    fclose(f);
}

static int start_agents(struct up_chain *ch, const struct up_job *j) {
    const struct netconf *c = &ch->net;
    /* last agent first, so every node's next agents are up before it takes queries */
    for (int i = c->n - 1; i >= 0; i--) {
        if (!c->agents[i].start) continue;
        ch->pids[i] = spawn_agent(c, i, j);
        if (ch->pids[i] < 0) return disr_fail(DISR_E_STATE, "fork: %s", strerror(errno));
    }
    double t0 = time_now();
    for (int i = c->n - 1; i >= 0; i--)
        if (c->agents[i].start) DISR_TRY(wait_healthy(ch, i, j, t0));
    ch->seconds = time_now() - t0;
    return DISR_OK;
}

/* The job's pid file: its own, or NETWORK.pid. */
static void pid_file_path(const struct up_job *j, char *buf, size_t size) {
    if (j->pid_file)
        snprintf(buf, size, "%s", j->pid_file);
    else
        snprintf(buf, size, "%s.pid", j->network);
}

int up_start(struct up_chain **out, const struct up_job *j) {
    *out = NULL;
    DISR_TRY(up_job_check(j));
    struct up_chain *ch = calloc(1, sizeof *ch);
    if (!ch) return disr_fail(DISR_E_NOMEM, "chain");
    pid_file_path(j, ch->pid_file, sizeof ch->pid_file);
    int st = netconf_load(&ch->net, j->network);
    if (st == DISR_OK) st = check_not_running(ch, j);
    if (st < 0) {
        free(ch);
        return st;
    }
    sigemptyset(&ch->signals);
    sigaddset(&ch->signals, SIGINT);
    sigaddset(&ch->signals, SIGTERM);
    sigaddset(&ch->signals, SIGCHLD);
    sigprocmask(SIG_BLOCK, &ch->signals, NULL);
    if ((st = start_agents(ch, j)) < 0) {
        stop_all(ch);
        free(ch);
        return st;
    }
    pid_file_write(ch);
    *out = ch;
    return DISR_OK;
}

void up_report(const struct up_chain *c, struct up_report *r) {
    *r = (struct up_report){.net = &c->net, .seconds = c->seconds};
}

/* An agent that exited: logged, its slot cleared; the chain skips it. */
static void reap_agents(struct up_chain *ch) {
    int ws;
    pid_t p;
    while ((p = waitpid(-1, &ws, WNOHANG)) > 0)
        for (int i = 0; i < ch->net.n; i++)
            if (ch->pids[i] == p) {
                ch->pids[i] = 0;
                log_warn("disr up: agent %s exited (%s %d); the chain skips it",
                         ch->net.agents[i].name, WIFSIGNALED(ws) ? "signal" : "status",
                         WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws));
            }
}

void up_wait(struct up_chain *c) {
    for (;;) {
        int sig = 0;
        sigwait(&c->signals, &sig);
        if (sig != SIGCHLD) return;
        reap_agents(c);
    }
}

void up_stop(struct up_chain *c) {
    if (!c) return;
    stop_all(c);
    unlink(c->pid_file);
    http_client_cleanup();
    free(c);
}

int up_down(const struct up_job *j) {
    if (!j->network) return disr_fail(DISR_E_ARG, "give the network file");
    char pid_file[NETCONF_STR + 8];
    pid_file_path(j, pid_file, sizeof pid_file);
    FILE *f = fopen(pid_file, "r");
    if (!f)
        return disr_fail(DISR_E_IO, "%s: %s (is the chain running?)", pid_file, strerror(errno));
    fclose(f);
    long pid = pid_file_read(pid_file);
    if (pid <= 1) return disr_fail(DISR_E_FORMAT, "%s: no pid in it", pid_file);
    if (kill((pid_t)pid, SIGTERM) < 0) {
        int e = errno;
        unlink(pid_file);
        return disr_fail(DISR_E_STATE, "process %ld: %s (stale pid file removed)", pid,
                         strerror(e));
    }
    for (int i = 0; i < 500 && kill((pid_t)pid, 0) == 0; i++)
        sleep_ms(20);
    if (kill((pid_t)pid, 0) == 0)
        return disr_fail(DISR_E_STATE, "process %ld still running after 10 s", pid);
    return DISR_OK;
}
