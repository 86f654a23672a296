#include "cli/cli.h"

int cmd_up(int argc, char **argv) {
    (void)argc, (void)argv;
    return cli_pending("up");
}
