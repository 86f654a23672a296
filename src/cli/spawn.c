#include "cli/spawn.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The running binary: children are the same build as their parent, whatever PATH says. */
#define SPAWN_SELF "/proc/self/exe"

int spawn_disr(const char *const *args, pid_t *pid) {
    const char *argv[SPAWN_MAX_ARGS + 2];
    int n = 0;
    argv[n++] = "disr";
    fprintf(stderr, "\n$ disr");
    for (; args[n - 1] && n <= SPAWN_MAX_ARGS; n++) {
        argv[n] = args[n - 1];
        fprintf(stderr, " %s", argv[n]);
    }
    argv[n] = NULL;
    fprintf(stderr, "\n");
    int err = posix_spawn(pid, SPAWN_SELF, NULL, NULL, (char *const *)argv, environ);
    if (err) {
        fprintf(stderr, "disr: cannot start %s: %s\n", SPAWN_SELF, strerror(err));
        return -1;
    }
    return 0;
}

int spawn_wait(pid_t pid, pid_t *done) {
    int status;
    pid_t got;
    while ((got = waitpid(pid, &status, 0)) < 0)
        if (errno != EINTR) return -1;
    if (done) *done = got;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int spawn_run(const char *const *args) {
    pid_t pid;
    if (spawn_disr(args, &pid)) return -1;
    return spawn_wait(pid, NULL);
}

enum { SPAWN_MAX_LANES = 16 };

int spawn_lanes(const char *const *const *cmds, int n, int lanes) {
    if (lanes < 1) lanes = 1;
    if (lanes > SPAWN_MAX_LANES) lanes = SPAWN_MAX_LANES;
    pid_t pid[SPAWN_MAX_LANES] = {0};
    int next = 0, running = 0, rc = 0;
    for (;;) {
        for (int l = 0; l < lanes && !rc && next < n; l++) {
            if (pid[l]) continue;
            if (spawn_disr(cmds[next++], &pid[l])) {
                rc = 1;
                pid[l] = 0;
                break;
            }
            running++;
        }
        if (!running) return rc;
        pid_t done = -1;
        int code = spawn_wait(-1, &done);
        if (done < 0) return rc ? rc : 1; /* no child left to wait for: lost track */
        for (int l = 0; l < lanes; l++) {
            if (pid[l] != done) continue;
            pid[l] = 0;
            running--;
            if (code != 0 && !rc) { /* stop the others: the job cannot succeed */
                rc = code < 0 ? 1 : code;
                for (int o = 0; o < lanes; o++)
                    if (pid[o]) kill(pid[o], SIGTERM);
            }
        }
    }
}
