#include "cli/cli.h"

int cmd_sa_report(int argc, char **argv) {
    (void)argc, (void)argv;
    return cli_pending("sa-report");
}
