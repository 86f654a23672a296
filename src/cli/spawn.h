/* spawn.h: running this `disr` binary again as child processes, for the commands that fan work
 * out over the cores (`disr zoo --lanes`, `disr demo`): start one, wait for one, and run a list
 * of commands a few at a time. Each command line is printed as it starts, so a long job shows
 * what it is doing. */
#ifndef CLI_SPAWN_H
#define CLI_SPAWN_H

#include <sys/types.h>

#define SPAWN_MAX_ARGS 48

/* Starts `disr <args...>` (NULL-terminated) without waiting; 0, or -1 with a message. */
int spawn_disr(const char *const *args, pid_t *pid);

/* Waits for a child (pid -1: any child, whose pid goes to *done); its exit code, or -1 if it
 * died of a signal or there was none to wait for. */
int spawn_wait(pid_t pid, pid_t *done);

/* Runs `disr <args...>` and waits; its exit code, or -1. */
int spawn_run(const char *const *args);

/* Runs n commands, at most `lanes` at a time, in list order (each lane takes the next command
 * when its last one ends). If one fails, the running ones are stopped and no new one starts.
 * Returns 0, or the first failure's exit code (1 for a signal). */
int spawn_lanes(const char *const *const *cmds, int n, int lanes);

#endif
