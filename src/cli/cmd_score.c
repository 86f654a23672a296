/* disr score: forced-answer accuracy of one model per task family (greedy, scenario NONE); with
 * --replies, every reply and its grade as JSONL. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "disr.h"
#include "core/err.h"
#include "core/log.h"
#include "model/engine.h"
#include "model/model.h"
#include "model/model_io.h"
#include "world/dataset.h"
#include "world/score.h"

/* Accuracy at each level 1 .. max (a dash where the level has no query), then the newline. */
static void print_levels(const struct score_levels *lv, int max) {
    for (int l = 1; l <= max; l++) {
        double a = score_level_accuracy(lv, l);
        if (a < 0)
            printf("  %8s", "-");
        else
            printf("  %8.3f", a);
    }
    printf("\n");
}

int cmd_score(int argc, char **argv) {
    const char *model_path = NULL, *data = NULL, *replies_path = NULL;
    int batch = 16, max_tokens = SCORE_MAX_TOKENS, threads = 0, quiet = 0;
    const struct cli_opt opts[] = {
        {"--model", "-m", OPT_STR, &model_path, "the agent (GGUF)"},
        {"--data", "-d", OPT_STR, &data, "queries as JSONL {id, family, query, answer, grader}"},
        {"--batch", NULL, OPT_INT, &batch, "queries decoded together (default 16)"},
        {"--max-tokens", NULL, OPT_INT, &max_tokens, "longest answer in tokens (default 32)"},
        {"--threads", "-t", OPT_INT, &threads, "compute threads (default: all cores)"},
        {"--replies", NULL, OPT_STR, &replies_path,
         "also write each item with its reply and grade (JSONL) to this file"},
        {"--quiet", "-q", OPT_FLAG, &quiet, "no progress line"},
        {0}};
    int st =
        cli_parse(argc, argv, opts, "-m AGENT.gguf --data FILE.jsonl [options]", NULL, 0, NULL);
    if (st) return st == 1 ? 0 : st;
    if (!model_path || !data) {
        fprintf(stderr, "disr score: -m MODEL and --data FILE are required (see --help)\n");
        return 2;
    }
    if (batch < 1 || max_tokens < 1 || threads < 0) {
        fprintf(stderr, "disr score: --batch and --max-tokens must be >= 1, --threads >= 0\n");
        return 2;
    }
    struct qa_set set;
    qa_set_init(&set);
    if ((st = qa_set_load(&set, data)) < 0) return cli_fail("score", st);
    struct model *m = NULL;
    struct engine *e = NULL;
    struct engine_params ep = {.max_seqs = batch, .n_ctx = 0, .n_threads = threads};
    if ((st = model_load(&m, model_path)) < 0 || (st = engine_init(&e, m, &ep)) < 0) {
        qa_set_free(&set);
        model_free(m);
        return cli_fail("score", st);
    }
    struct score_result r;
    struct progress prog;
    progress_init(&prog, "score", set.n);
    double t0 = time_now();
    char **replies = replies_path ? calloc((size_t)set.n + 1, sizeof *replies) : NULL;
    bool *correct = replies_path ? calloc((size_t)set.n + 1, sizeof *correct) : NULL;
    if (replies_path && (!replies || !correct))
        st = disr_fail(DISR_E_NOMEM, "score: replies of %d items", set.n);
    else
        st = world_score_engine(e, &set, batch, max_tokens, &r, correct, replies,
                                quiet ? NULL : &prog);
    if (st == DISR_OK && !quiet) progress_finish(&prog, set.n, NULL);
    if (st == DISR_OK && replies_path)
        st = qa_set_save_graded(&set, (const char *const *)replies, correct, replies_path);
    if (replies)
        for (int i = 0; i < set.n; i++)
            free(replies[i]);
    free(replies), free(correct);
    engine_free(e);
    model_free(m);
    qa_set_free(&set);
    if (st < 0) return cli_fail("score", st);
    printf("%-12s %6s %8s %8s", "family", "n", "correct", "accuracy");
    for (int l = 1; l <= r.max_level; l++)
        printf("  level %-2d", l);
    printf("\n");
    for (int k = 0; k < r.n_fam; k++) {
        printf("%-12s %6d %8d %8.3f", r.fam[k].name, r.fam[k].n, r.fam[k].correct,
               (double)r.fam[k].correct / r.fam[k].n);
        print_levels(&r.fam[k].level, r.max_level);
    }
    printf("%-12s %6d %8d %8.3f", "all", r.n, r.correct, score_accuracy(&r, NULL));
    print_levels(&r.level, r.max_level);
    printf("%-12s %6s %8s %8.3f   (mean over families)  %.1fs\n", "macro", "", "",
           score_macro_accuracy(&r), time_now() - t0);
    return 0;
}
