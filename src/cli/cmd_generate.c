#include "cli/cli.h"

int cmd_generate(int argc, char **argv) {
    (void)argc, (void)argv;
    return cli_pending("generate");
}
