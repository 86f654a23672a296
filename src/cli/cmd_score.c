#include "cli/cli.h"

int cmd_score(int argc, char **argv) {
    (void)argc, (void)argv;
    return cli_pending("score");
}
