/* cli.h: the `disr` command table and the one option parser every command uses. Only the CLI
 * layer prints errors for the user and chooses exit codes. */
#ifndef CLI_CLI_H
#define CLI_CLI_H

enum cli_opt_kind { OPT_STR, OPT_INT, OPT_FLOAT, OPT_FLAG };

struct cli_opt {
    const char *name; /* "--steps" (and optional short alias "-s" in `alias`) */
    const char *alias;
    enum cli_opt_kind kind;
    void *dst; /* const char **, int *, double *, or int * (flag set to 1) */
    const char *help;
};

struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name; returns an exit code */
};

/* Parses argv[1..] against `opts`. Positional arguments are collected into `pos` (up to
 * max_pos). Prints usage and returns 1 on --help, prints a clear message and returns 2 on a bad
 * option, returns 0 when the command should run. */
int cli_parse(int argc, char **argv, const struct cli_opt *opts, const char *usage,
              const char **pos, int max_pos, int *n_pos);

/* Prints "disr: <what>: <last error detail or status text>" and returns exit code 1. */
int cli_fail(const char *what, int status);

/* Every command, defined in src/cli/cmd_*.c. Add new ones to the table in main.c. */
#define CLI_COMMANDS(X)                                                                            \
    X(version, "print the version")

#define CLI_DECLARE(name, summary) int cmd_##name(int argc, char **argv);
CLI_COMMANDS(CLI_DECLARE)
#undef CLI_DECLARE

#endif
