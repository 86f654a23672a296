#include "cli/cli.h"

int cmd_sa_rl(int argc, char **argv) {
    (void)argc, (void)argv;
    return cli_pending("sa-rl");
}
