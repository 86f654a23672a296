#include <stdio.h>

#include "cli/cli.h"
#include "disr.h"

int cmd_version(int argc, char **argv) {
    static const struct cli_opt opts[] = {{0}};
    int st = cli_parse(argc, argv, opts, "", NULL, 0, NULL);
    if (st) return st == 1 ? 0 : st;
    printf("disr %s\n", DISR_VERSION);
    return 0;
}
