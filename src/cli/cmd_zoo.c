/* disr zoo: trains the agent family on a world (train/zoo.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/spawn.h"
#include "disr.h"
#include "core/log.h"
#include "core/matmul.h"
#include "train/zoo.h"

/* Runs `disr zoo <this command's options> --only I --threads 1` for each agent, largest first,
 * `lanes` at a time. Returns 0 or the exit code of the first that failed. */
static int train_in_lanes(int argc, char **argv, int agents, int lanes) {
    enum { MAX_AGENTS = 16 };
    if (agents < 1 || agents > MAX_AGENTS || argc + 6 > SPAWN_MAX_ARGS) return 2;
    const char *cmds_args[MAX_AGENTS][SPAWN_MAX_ARGS + 1];
    const char *const *cmds[MAX_AGENTS];
    char index[MAX_AGENTS][8];
    for (int j = 0; j < agents; j++) {
        int i = agents - 1 - j, n = 0;
        const char **a = cmds_args[j];
        a[n++] = "zoo";
        for (int k = 1; k < argc; k++) { /* drop --lanes and --threads with their values */
            if (!strcmp(argv[k], "--lanes") || !strcmp(argv[k], "--threads") ||
                !strcmp(argv[k], "-t")) {
                k++;
                continue;
            }
            a[n++] = argv[k];
        }
        snprintf(index[j], sizeof index[j], "%d", i);
        a[n++] = "--only", a[n++] = index[j], a[n++] = "--threads", a[n++] = "1";
        a[n] = NULL;
        cmds[j] = a;
    }
    return spawn_lanes(cmds, agents, lanes);
}

int cmd_zoo(int argc, char **argv) {
    const char *world = NULL, *out = NULL;
    int agents = 4, quick = 0, full = 0, only = -1, batch = 0, seq = 0, seed = 1, threads = 0,
        rescore = 0, lanes = 1;
    double scale = 1.0, prompt_weight = -1;
    const struct cli_opt opts[] = {
        {"--world", "-w", OPT_STR, &world, "world directory (from disr world)"},
        {"--out", "-o", OPT_STR, &out, "output directory: agentI.gguf and zoo.json"},
        {"--agents", "-k", OPT_INT, &agents, "number of agents, 1 .. 5 (default 4)"},
        {"--quick", NULL, OPT_FLAG, &quick, "tiny family for tests (about a minute)"},
        {"--full", NULL, OPT_FLAG, &full, "larger family (hours)"},
        {"--only", NULL, OPT_INT, &only, "train only agent I (0-based)"},
        {"--rescore", NULL, OPT_FLAG, &rescore,
         "score the agents already trained again on the world's test sets (after they changed)"},
        {"--steps-scale", NULL, OPT_FLOAT, &scale, "multiply every agent's steps (default 1)"},
        {"--prompt-weight", NULL, OPT_FLOAT, &prompt_weight,
         "loss weight of the questions in the stream, 0 .. 1 (default 0.2)"},
        {"--batch", NULL, OPT_INT, &batch, "sequences per step (default 8; quick 16, full 32)"},
        {"--seq", NULL, OPT_INT, &seq, "tokens per sequence (default 128; quick 64)"},
        {"--seed", "-s", OPT_INT, &seed, "training seed (default 1)"},
        {"--threads", "-t", OPT_INT, &threads, "compute threads (default: all cores)"},
        {"--lanes", NULL, OPT_INT, &lanes,
         "train this many agents at once, one thread each, largest first (default 1)"},
        {0}};
    int st = cli_parse(argc, argv, opts, "--world DIR --out DIR [--agents K] [--quick|--full]",
                       NULL, 0, NULL);
    if (st) return st == 1 ? 0 : st;
    if (!world || !out) {
        fprintf(stderr, "disr zoo: --world DIR and --out DIR are required (see --help)\n");
        return 2;
    }
    if (quick && full) {
        fprintf(stderr, "disr zoo: choose one of --quick and --full\n");
        return 2;
    }
    if (seed < 0 || threads < 0 || lanes < 1) {
        fprintf(stderr, "disr zoo: --seed and --threads must be >= 0, --lanes >= 1\n");
        return 2;
    }
    struct zoo_config c;
    zoo_config_default(&c, quick ? WORLD_QUICK : full ? WORLD_FULL : WORLD_DEFAULT);
    c.world_dir = world, c.out_dir = out, c.n_agents = agents, c.only = only;
    c.rescore = rescore;
    c.steps_scale = scale, c.seed = (uint64_t)seed, c.threads = threads;
    if (threads > 0) matmul_set_blas_threads(threads);
    if (batch > 0) c.batch = batch;
    if (prompt_weight >= 0) c.prompt_weight = (float)prompt_weight;
    if (seq > 0) c.seq = seq;
    double t0 = time_now();
    /* Lanes: each agent in its own `disr zoo --only I --threads 1` process; the small shapes
     * train faster on one thread than on two, so two agents side by side use both cores fully.
     * This process then only reads the finished manifest. */
    if (lanes > 1 && only < 0 && !rescore && (st = train_in_lanes(argc, argv, agents, lanes)))
        return st;
    struct zoo_manifest *m = malloc(sizeof *m);
    if (!m) return cli_fail("zoo", DISR_E_NOMEM);
    if ((st = zoo_run(&c, m)) < 0) {
        free(m);
        return cli_fail("zoo", st);
    }
    printf("%-8s %9s %5s %9s %8s", "agent", "params", "cost", "tokens", "train_s");
    const char *fams[SCORE_MAX_FAMILIES];
    int nf = 0;
    for (int k = 0; k < m->n; k++) /* union of families, in order of first appearance */
        for (int split = 0; split < 2; split++) {
            const struct score_result *r = split ? &m->agent[k].ood : &m->agent[k].test;
            for (int f = 0; f < r->n_fam; f++) {
                int j = 0;
                while (j < nf && strcmp(fams[j], r->fam[f].name))
                    j++;
                if (j == nf && nf < SCORE_MAX_FAMILIES) fams[nf++] = r->fam[f].name;
            }
        }
    for (int j = 0; j < nf; j++)
        printf(" %8s", fams[j]);
    printf(" %8s %8s\n", "test", "ood");
    for (int k = 0; k < m->n; k++) {
        const struct zoo_agent *a = &m->agent[k];
        printf("%-8s %9zu %5.2f %9lld %8.1f", a->name, a->n_params, a->cost,
               (long long)a->train_tokens, a->train_seconds);
        for (int j = 0; j < nf; j++) {
            double acc = score_accuracy(&a->test, fams[j]);
            if (acc < 0) acc = score_accuracy(&a->ood, fams[j]);
            printf(" %8.3f", acc);
        }
        printf(" %8.3f %8.3f\n", score_accuracy(&a->test, NULL), score_accuracy(&a->ood, NULL));
    }
    printf("zoo: %d agents in %s/%s (%.0fs)\n", m->n, out, ZOO_MANIFEST, time_now() - t0);
    free(m);
    return 0;
}
