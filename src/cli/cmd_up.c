/* disr up: starts a whole chain from a network file as separate `disr serve` processes (this
 * same binary), waits until every node answers /health, prints the entry URL, and stops them all
 * on SIGINT/SIGTERM or `disr up --down FILE`. Children get their own process group (a terminal's
 * Ctrl-C reaches only us, and we stop them in order) and die with us even on SIGKILL
 * (PR_SET_PDEATHSIG). Secrets reach them through the environment, not argv. */
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

#include "cli/cli.h"
#include "core/err.h"
#include "core/log.h"
#include "route/http_client.h"
#include "serve/netconf.h"

#define MAX_ARGS 64

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static pid_t spawn_agent(const struct netconf *c, int i, const char *log_dir, int quiet) {
    const struct netconf_agent *a = &c->agents[i];
    char cost[32], port[16], next[NETCONF_STR * 4] = "", hops[16], args[NETCONF_STR];
    snprintf(cost, sizeof cost, "%g", a->cost);
    snprintf(port, sizeof port, "%d", a->port);
    snprintf(hops, sizeof hops, "%d", c->max_hops);
    for (int j = i + 1; j < c->n; j++) {
        size_t n = strlen(next);
        snprintf(next + n, sizeof next - n, "%s%s", n ? "," : "", c->agents[j].url);
    }
    const char *argv[MAX_ARGS];
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
    snprintf(args, sizeof args, "%s", a->args);
    for (char *t = strtok(args, " \t"); t && k < MAX_ARGS - 1; t = strtok(NULL, " \t"))
        argv[k++] = t;
    argv[k] = NULL;

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0) return pid;
    /* child */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (c->hop_secret[0]) setenv("DISR_HOP_SECRET", c->hop_secret, 1);
    if (c->api_keys[0]) setenv("DISR_API_KEYS", c->api_keys, 1);
    if (log_dir) {
        char path[NETCONF_STR + 80];
        snprintf(path, sizeof path, "%s/%s.log", log_dir, a->name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
    }
    execv("/proc/self/exe", (char *const *)argv);
    fprintf(stderr, "disr up: cannot exec disr serve: %s\n", strerror(errno));
    _exit(127);
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

static void stop_all(const struct netconf *c, pid_t *pids) {
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

static int up_down(const char *pid_file) {
    FILE *f = fopen(pid_file, "r");
    if (!f) {
        fprintf(stderr, "disr up --down: %s: %s (is the chain running?)\n", pid_file,
                strerror(errno));
        return 1;
    }
    long pid = 0;
    int n = fscanf(f, "%ld", &pid);
    fclose(f);
    if (n != 1 || pid <= 1) {
        fprintf(stderr, "disr up --down: %s: no pid in it\n", pid_file);
        return 1;
    }
    if (kill((pid_t)pid, SIGTERM) < 0) {
        fprintf(stderr, "disr up --down: process %ld: %s (stale pid file removed)\n", pid,
                strerror(errno));
        unlink(pid_file);
        return 1;
    }
    for (int i = 0; i < 500 && kill((pid_t)pid, 0) == 0; i++)
        sleep_ms(20);
    if (kill((pid_t)pid, 0) == 0) {
        fprintf(stderr, "disr up --down: process %ld still running after 10 s\n", pid);
        return 1;
    }
    printf("disr up: chain stopped\n");
    return 0;
}

int cmd_up(int argc, char **argv) {
    const char *pid_file = NULL, *log_dir = NULL;
    int down = 0, timeout = 60, verbose = 0;
    const struct cli_opt opts[] = {
        {"--down", NULL, OPT_FLAG, &down, "stop the chain started from this file"},
        {"--pid-file", NULL, OPT_STR, &pid_file, "pid file (default NETWORK_FILE.pid)"},
        {"--log-dir", NULL, OPT_STR, &log_dir, "write each agent's log to DIR/NAME.log"},
        {"--timeout", NULL, OPT_INT, &timeout, "seconds to wait for every /health (default 60)"},
        {"--verbose", "-v", OPT_FLAG, &verbose, "agents log at info level"},
        {NULL, NULL, 0, NULL, NULL}};
    const char *pos[1];
    int n_pos = 0;
    int rc = cli_parse(argc, argv, opts, "NETWORK_FILE [--down]", pos, 1, &n_pos);
    if (rc) return rc == 1 ? 0 : rc;
    if (n_pos != 1) {
        fprintf(stderr, "disr up: give the network file (see disr up --help)\n");
        return 2;
    }
    char pid_default[NETCONF_STR];
    snprintf(pid_default, sizeof pid_default, "%s.pid", pos[0]);
    if (!pid_file) pid_file = pid_default;
    if (down) return up_down(pid_file);

    static struct netconf c;
    int st = netconf_load(&c, pos[0]);
    if (st < 0) return cli_fail("up", st);
    if (access(pid_file, F_OK) == 0) {
        FILE *f = fopen(pid_file, "r");
        long other = 0;
        if (f && fscanf(f, "%ld", &other) == 1 && other > 1 && kill((pid_t)other, 0) == 0) {
            fprintf(stderr,
                    "disr up: already running (pid %ld, %s); stop it with disr up --down %s\n",
                    other, pid_file, pos[0]);
            fclose(f);
            return 1;
        }
        if (f) fclose(f);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);

    pid_t pids[NETCONF_MAX_AGENTS] = {0};
    /* last agent first, so every node's next agents are up before it takes queries */
    for (int i = c.n - 1; i >= 0; i--) {
        if (!c.agents[i].start) continue;
        pids[i] = spawn_agent(&c, i, log_dir, !verbose);
        if (pids[i] < 0) {
            stop_all(&c, pids);
            return cli_fail("up: fork", disr_fail(DISR_E_STATE, "fork: %s", strerror(errno)));
        }
    }
    double t0 = time_now();
    for (int i = c.n - 1; i >= 0; i--) {
        if (!c.agents[i].start) continue;
        while (!health_ok(c.agents[i].url)) {
            int ws;
            if (waitpid(pids[i], &ws, WNOHANG) == pids[i]) {
                pids[i] = 0;
                stop_all(&c, pids);
                fprintf(stderr, "disr up: agent %s exited while starting (see %s)\n",
                        c.agents[i].name, log_dir ? "its log" : "above");
                return 1;
            }
            if (time_now() - t0 > timeout) {
                stop_all(&c, pids);
                fprintf(stderr, "disr up: agent %s not healthy at %s after %d s\n",
                        c.agents[i].name, c.agents[i].url, timeout);
                return 1;
            }
            sleep_ms(50);
        }
    }
    FILE *f = fopen(pid_file, "w");
    if (f) {
        fprintf(f, "%ld\n", (long)getpid());
        for (int i = 0; i < c.n; i++)
            if (pids[i] > 0) fprintf(f, "%ld %s\n", (long)pids[i], c.agents[i].name);
        fclose(f);
    } else {
        log_warn("disr up: cannot write %s: %s", pid_file, strerror(errno));
    }
    printf("disr up: %d agents ready in %.1f s:", c.n, time_now() - t0);
    for (int i = 0; i < c.n; i++)
        printf(" %s(%.2f)%s", c.agents[i].name, c.agents[i].cost, i + 1 < c.n ? " ->" : "");
    printf("\nentry: %s\n", c.agents[0].url);
    fflush(stdout);
    for (;;) {
        int sig = 0;
        sigwait(&set, &sig);
        if (sig != SIGCHLD) break;
        int ws;
        pid_t p;
        while ((p = waitpid(-1, &ws, WNOHANG)) > 0)
            for (int i = 0; i < c.n; i++)
                if (pids[i] == p) {
                    pids[i] = 0;
                    log_warn("disr up: agent %s exited (%s %d); the chain skips it",
                             c.agents[i].name, WIFSIGNALED(ws) ? "signal" : "status",
                             WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws));
                }
    }
    stop_all(&c, pids);
    unlink(pid_file);
    http_client_cleanup();
    printf("disr up: stopped\n");
    return 0;
}
