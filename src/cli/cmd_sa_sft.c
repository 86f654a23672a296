#include "cli/cli.h"

int cmd_sa_sft(int argc, char **argv) {
    (void)argc, (void)argv;
    return cli_pending("sa-sft");
}
