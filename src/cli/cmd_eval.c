/* disr eval: DiSRouter against every baseline, from a recorded outcome table (or a synthetic
 * one), into a report directory. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "core/log.h"
#include "eval/outcomes.h"
#include "eval/report.h"

int cmd_eval(int argc, char **argv) {
    const char *outcomes = NULL, *out = "eval-report", *title = NULL;
    int synthetic = 0, seed = 1, no_plots = 0, quick = 0, epochs = 0, feat_dim = 0, knn_k = 0;
    const struct cli_opt opts[] = {
        {"--outcomes", "-i", OPT_STR, &outcomes,
         "recorded outcome table (JSONL, one line per query x agent)"},
        {"--out", "-o", OPT_STR, &out, "report directory (default eval-report)"},
        {"--synthetic", NULL, OPT_INT, &synthetic,
         "instead of --outcomes: a synthetic world with N test queries (2N train, N/2 OOD)"},
        {"--seed", NULL, OPT_INT, &seed,
         "seed of the synthetic world and of the baselines (default 1)"},
        {"--title", NULL, OPT_STR, &title, "report title"},
        {"--epochs", NULL, OPT_INT, &epochs,
         "training epochs of the MLP router and scorers (default 30)"},
        {"--feat-dim", NULL, OPT_INT, &feat_dim,
         "hashed query feature size, a power of two (default 1024)"},
        {"--knn-k", NULL, OPT_INT, &knn_k, "neighbours of the kNN router (default 25)"},
        {"--quick", NULL, OPT_FLAG, &quick, "small baselines (256 features, 8 epochs): for tests"},
        {"--no-plots", NULL, OPT_FLAG, &no_plots, "skip the gnuplot PNGs"},
        {NULL, NULL, 0, NULL, NULL},
    };
    int rc = cli_parse(argc, argv, opts,
                       "--outcomes FILE.jsonl --out DIR | --synthetic N --out DIR\n\n"
                       "Routes every query of the outcome table's test and OOD splits through "
                       "DiSRouter (SFT, +RL) and every baseline at alpha 0.2 / 0.5 / 0.8, fits the "
                       "learned baselines on its training split, and writes report.md, PNG plots, "
                       "summary.json and the per-query records.jsonl into DIR.",
                       NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (!outcomes == !synthetic) {
        fprintf(stderr,
                "disr eval: give exactly one of --outcomes FILE or --synthetic N (see --help)\n");
        return 2;
    }
    if (synthetic < 0 || synthetic > 1000000) {
        fprintf(stderr, "disr eval: --synthetic %d is out of range (1..1000000)\n", synthetic);
        return 2;
    }
    struct outcome_table t;
    int st;
    if (outcomes) {
        st = outcome_table_load(&t, outcomes);
        if (st) return cli_fail("loading outcomes", st);
    } else {
        struct outcome_synth_config sc;
        outcome_synth_defaults(&sc);
        sc.n_test = synthetic, sc.n_train = 2 * synthetic, sc.n_ood = synthetic / 2;
        sc.seed = (uint64_t)seed;
        st = outcome_table_synth(&t, &sc);
        if (st) return cli_fail("synthetic outcomes", st);
    }
    struct report_config rc2;
    report_config_default(&rc2);
    rc2.out_dir = out;
    rc2.plots = !no_plots;
    rc2.source = outcomes ? outcomes : "synthetic world (disr eval --synthetic)";
    if (title)
        rc2.title = title;
    else if (!outcomes)
        rc2.title = "DiSRouter evaluation on a synthetic outcome table";
    rc2.fit.seed = (uint64_t)seed;
    if (quick) rc2.fit.feat_dim = 256, rc2.fit.epochs = 8, rc2.fit.knn_k = 15;
    if (epochs) rc2.fit.epochs = epochs;
    if (feat_dim) rc2.fit.feat_dim = feat_dim;
    if (knn_k) rc2.fit.knn_k = knn_k;
    double t0 = time_now();
    st = report_run(&t, &rc2);
    outcome_table_free(&t);
    if (st) return cli_fail("eval", st);
    log_info("eval: report written to %s/report.md in %.1fs", out, time_now() - t0);
    return 0;
}
