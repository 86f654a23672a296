/* disr: the command-line entry point. Dispatches to one function per command. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
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

int main(int argc, char **argv) {
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
