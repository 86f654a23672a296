#include "cli/cli.h"

int cmd_eval(int argc, char **argv) {
    (void)argc, (void)argv;
    return cli_pending("eval");
}
