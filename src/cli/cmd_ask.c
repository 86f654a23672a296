#include "cli/cli.h"

int cmd_ask(int argc, char **argv) {
    (void)argc, (void)argv;
    return cli_pending("ask");
}
