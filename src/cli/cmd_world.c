/* disr world: generates the synthetic world (world/world.h) into a directory. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "world/world.h"

int cmd_world(int argc, char **argv) {
    int seed = 1, quick = 0, full = 0, entities = -1, pretrain = -1, n_sa = -1, n_anchors = -1,
        n_test = -1, n_ood = -1;
    double zipf = -1, query_zipf = -1, statements = -1, lookups = -1;
    const char *out = NULL, *mc_options = NULL, *levels = NULL;
    const struct cli_opt opts[] = {
        {"--seed", "-s", OPT_INT, &seed, "world seed (default 1): same seed, same files"},
        {"--out", "-o", OPT_STR, &out, "output directory (created if missing)"},
        {"--quick", NULL, OPT_FLAG, &quick, "small world for tests (about a minute of training)"},
        {"--full", NULL, OPT_FLAG, &full, "large world (800 entities)"},
        {"--entities", NULL, OPT_INT, &entities, "number of entities (overrides the preset)"},
        {"--pretrain-chars", NULL, OPT_INT, &pretrain, "size of the pretraining stream in bytes"},
        {"--sa", NULL, OPT_INT, &n_sa, "self-awareness training queries per family"},
        {"--anchors", NULL, OPT_INT, &n_anchors,
         "anchor queries per family, about every entity (default: three per --sa query)"},
        {"--test", NULL, OPT_INT, &n_test, "in-domain test queries per family"},
        {"--ood", NULL, OPT_INT, &n_ood, "out-of-domain test queries per family"},
        {"--zipf", NULL, OPT_FLOAT, &zipf, "exposure exponent of entities in pretraining (0.9)"},
        {"--statements", NULL, OPT_FLOAT, &statements,
         "share of the pretraining stream that is fact statements (the rest: QA examples)"},
        {"--lookups", NULL, OPT_FLOAT, &lookups,
         "share of the stream's QA examples that are option-lookup drills (see docs/WORLD.md)"},
        {"--mc-options", NULL, OPT_STR, &mc_options,
         "sorted (default: alphabetical, one per quarter, so a value's letter is fixed) or "
         "shuffled (the letter must be read off the options)"},
        {"--query-zipf", NULL, OPT_FLOAT, &query_zipf,
         "entity distribution of queries (0 = uniform)"},
        {"--levels", NULL, OPT_STR, &levels,
         "relative weights of the difficulty levels 1..4 in the queries and the stream's "
         "add, read and sort examples (default 1,1,1,1)"},
        {0}};
    int st = cli_parse(argc, argv, opts, "--out DIR [--seed S] [--quick|--full] [options]", NULL, 0,
                       NULL);
    if (st) return st == 1 ? 0 : st;
    if (!out) {
        fprintf(stderr, "disr world: --out DIR is required (see disr world --help)\n");
        return 2;
    }
    if (quick && full) {
        fprintf(stderr, "disr world: choose one of --quick and --full\n");
        return 2;
    }
    if (seed < 0) {
        fprintf(stderr, "disr world: --seed must be >= 0\n");
        return 2;
    }
    if (mc_options && strcmp(mc_options, "sorted") && strcmp(mc_options, "shuffled")) {
        fprintf(stderr, "disr world: --mc-options is sorted or shuffled, not '%s'\n", mc_options);
        return 2;
    }
    struct world_config c;
    world_config_preset(&c,
                        quick  ? WORLD_QUICK
                        : full ? WORLD_FULL
                               : WORLD_DEFAULT,
                        (uint64_t)seed);
    if (entities >= 0) c.n_entities = entities;
    if (pretrain >= 0) c.pretrain_chars = pretrain;
    if (n_sa >= 0) c.n_sa = n_sa, c.n_anchors = 3 * n_sa;
    if (n_anchors >= 0) c.n_anchors = n_anchors;
    if (n_test >= 0) c.n_test = n_test;
    if (n_ood >= 0) c.n_ood = n_ood;
    if (zipf >= 0) c.zipf = zipf;
    if (query_zipf >= 0) c.query_zipf = query_zipf;
    if (statements >= 0) c.statement_frac = statements;
    if (lookups >= 0) c.lookup_frac = lookups;
    if (mc_options) c.mc_shuffled = !strcmp(mc_options, "shuffled");
    if (levels) {
        double w[WORLD_LEVELS];
        int used = 0, n = sscanf(levels, "%lf,%lf,%lf,%lf%n", &w[0], &w[1], &w[2], &w[3], &used);
        if (n != WORLD_LEVELS || levels[used] != '\0') {
            fprintf(stderr, "disr world: --levels wants %d comma-separated weights, not '%s'\n",
                    WORLD_LEVELS, levels);
            return 2;
        }
        memcpy(c.level_mix, w, sizeof w);
    }
    struct world *w;
    double t0 = time_now();
    if ((st = world_build(&w, &c)) < 0) return cli_fail("world", st);
    st = world_write(w, out);
    world_free(w);
    if (st < 0) return cli_fail("world", st);
    printf("world seed %d: %d entities, %ld pretraining bytes, %d/%d/%d/%d SA/test/OOD/anchor "
           "queries per family, written to %s in %.1fs\n",
           seed, c.n_entities, c.pretrain_chars, c.n_sa, c.n_test, c.n_ood, c.n_anchors, out,
           time_now() - t0);
    return 0;
}
