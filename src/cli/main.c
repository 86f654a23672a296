/* disr: the command-line entry point. Dispatches to one function per command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/matmul.h"
#include "disr.h"

#define CLI_ENTRY(ident, name, summary) {name, summary, cmd_##ident},
static const struct cli_command commands[] = {CLI_COMMANDS(CLI_ENTRY){NULL, NULL, NULL}};
#undef CLI_ENTRY

static void print_help(void) {
    printf("disr %s: distributed self-routing LLM agents (DiSRouter) in C\n\n"
           "usage: disr <command> [options]   (disr <command> --help for details)\n\ncommands:\n",
           DISR_VERSION);
    for (const struct cli_command *c = commands; c->name; c++)
        printf("  %-10s %s\n", c->name, c->summary);
}

/* See matmul_blas_better_core: OpenBLAS picks its kernels while it loads, before main, so a wrong
 * pick is undone by starting again with OPENBLAS_CORETYPE set (same pid, same arguments). If the
 * exec fails, the program goes on with the slower kernels. */
static void blas_fix_core(char **argv) {
    const char *core = matmul_blas_better_core();
    if (!core || setenv("OPENBLAS_CORETYPE", core, 1)) return;
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE");
}

int main(int argc, char **argv) {
    blas_fix_core(argv);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        print_help();
        return argc < 2 ? 2 : 0;
    }
    for (const struct cli_command *c = commands; c->name; c++)
        if (!strcmp(c->name, argv[1])) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "disr: unknown command '%s' (see disr --help)\n", argv[1]);
    return 2;
}
