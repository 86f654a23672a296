#include "cli/cli.h"

int cmd_zoo(int argc, char **argv) {
    (void)argc, (void)argv;
    return cli_pending("zoo");
}
