#include "cli/cli.h"

int cmd_world(int argc, char **argv) {
    (void)argc, (void)argv;
    return cli_pending("world");
}
