/* disr sa-sft: Self-Awareness Training stage 1 for one agent (the job: train/sa_job.h). Parses
 * the options into the job, runs it, and prints its report: the training summary and, on
 * held-out training queries, whether each scenario's answer rate follows its label. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sa_cli.h"
#include "core/err.h"
#include "world/scenario.h"
#include "train/sa_job.h"

static void print_check(const struct sa_sft_report *r) {
    printf("\nheld-out check (%d SA-train queries not trained on):\n", r->n_check);
    printf("| scenario | label answer rate (p̂ >= 1-α) | model answer rate | agreement | precision "
           "| threshold (1-α)^0.5 |\n|---|---|---|---|---|---|\n");
    for (int s = 0; s < SCENARIO_COUNT; s++)
        printf("| %s | %.3f | %.3f | %.3f | %.3f | %.3f |\n", scenario_name(scenario_at(s)),
               r->label_rate[s], r->answer_rate[s], r->agreement[s], r->precision[s],
               scenario_threshold(scenario_alpha(scenario_at(s))));
    printf("forced-answer accuracy on the check set: %.3f before, %.3f after (%+.1f points)\n",
           r->forced_before, r->forced_after, 100 * (r->forced_after - r->forced_before));
}

static void print_report(const struct sa_sft_job *j, const struct sa_sft_report *r) {
    if (!r->finished) {
        printf("sa-sft: stopped after %d of %d steps; checkpoint %s (continue with --resume)\n",
               r->train.steps_done, j->train.steps, r->checkpoint);
        return;
    }
    printf("sa-sft: %s -> %s: %d examples, %d steps, loss %.4f, %.1fs (sampling %.1fs)\n", j->agent,
           j->out, r->train.n_examples, r->train.steps_done, r->train.final_loss, r->train.seconds,
           r->sample_seconds);
    if (r->n_check) print_check(r);
}

int cmd_sa_sft(int argc, char **argv) {
    struct sa_sft_job job, quick;
    sa_sft_job_default(&job, cli_has_flag(argc, argv, "--quick"));
    sa_sft_job_default(&quick, true);
    struct sa_sft_config *c = &job.train;
    const char *balance = NULL;
    int no_distill = 0, quick_flag = 0;
    char quick_help[96];
    snprintf(quick_help, sizeof quick_help, "tiny run for tests (%d samples, %d steps)",
             quick.train.n_samples, quick.train.steps);
    const struct cli_opt opts[] = {
        {"--agent", "-m", OPT_STR, &job.agent, "the agent to train (GGUF, all F32)"},
        {"--data", "-d", OPT_STR, &job.data, "self-awareness training queries (JSONL)"},
        {"--out", "-o", OPT_STR, &job.out, "where to write the trained agent (GGUF)"},
        {"--last", NULL, OPT_BOOL, &c->last, "the chain's last agent: answer-only, never rejects"},
        {"--quick", NULL, OPT_FLAG, &quick_flag, quick_help},
        {"--samples", NULL, OPT_INT, &c->n_samples, "answers sampled per query ({})"},
        {"--temp", NULL, OPT_F32, &c->gen.temperature, "sampling temperature ({})"},
        {"--max-tokens", NULL, OPT_INT, &c->gen.max_tokens, "cap on answer tokens ({})"},
        {"--balance", NULL, OPT_STR, &balance,
         "weight (default: every query in every scenario, sides weighted 50/50) or subsample"},
        {"--max-weight", NULL, OPT_F32, &c->max_weight, "cap on a weighted example's weight ({})"},
        {"--min-side", NULL, OPT_INT, &c->min_side,
         "oversample a scenario's minority side up to N examples (default: a tenth of the queries; "
         "0: off)"},
        {"--anchors", NULL, OPT_INT, &c->anchors,
         "forced-answer examples replaying the agent's own samples (default: one per query)"},
        {"--anchor-data", NULL, OPT_STR, &job.anchor_data,
         "queries (JSONL) whose own sampled answers are the forced-answer anchors, e.g. the "
         "world's anchors.jsonl about every entity (default: the training queries)"},
        {"--anchor-temp", NULL, OPT_F32, &job.anchor_temp,
         "temperature of the answers replayed from --anchor-data (0: greedy, the default)"},
        {"--anchor-weight", NULL, OPT_F32, &c->anchor_weight, "loss weight of an anchor ({})"},
        {"--reject-tail-weight", NULL, OPT_F32, &c->reject_tail_weight,
         "loss weight of a reject's tokens after its first, whatever the balance gives the "
         "decision ({}; 0: the same as the decision)"},
        {"--no-distill", NULL, OPT_FLAG, &no_distill,
         "anchors learn only the replayed answer's tokens, not the untrained agent's whole "
         "next-token distribution at each answer position"},
        {"--steps", NULL, OPT_INT, &c->steps, "optimizer steps ({})"},
        {"--batch", NULL, OPT_INT, &c->batch, "rows per step ({})"},
        {"--seq", NULL, OPT_INT, &c->seq, "tokens per row (0: fit the longest example, >= 128)"},
        {"--lr", NULL, OPT_F32, &c->lr, "peak learning rate ({})"},
        {"--weight-decay", NULL, OPT_F32, &c->weight_decay, "AdamW weight decay ({})"},
        {"--warmup", NULL, OPT_INT, &c->warmup, "warmup steps ({})"},
        {"--holdout", NULL, OPT_INT, &job.holdout,
         "hold out every N-th query to check the result ({}; 0: none)"},
        {"--seed", NULL, OPT_U64, &c->seed, "seed of sampling, balancing and data order"},
        SA_CLI_RUN_OPTS(c),
        {"--resume", NULL, OPT_BOOL, &c->resume, "resume from the checkpoint and sample cache"},
        {"--samples-cache", NULL, OPT_STR, &job.samples_cache,
         "cache of the sampling pass (default OUT.samples.jsonl)"},
        {0}};
    int st = cli_parse(argc, argv, opts, "--agent A.gguf --data SA_TRAIN.jsonl --out A-sft.gguf",
                       NULL, 0, NULL);
    if (st) return st == 1 ? 0 : st;
    if (!job.agent || !job.data || !job.out) {
        fprintf(stderr, "disr sa-sft: --agent, --data and --out are required (see --help)\n");
        return 2;
    }
    if (balance && strcmp(balance, "weight") && strcmp(balance, "subsample")) {
        fprintf(stderr, "disr sa-sft: --balance is 'weight' or 'subsample', not '%s'\n", balance);
        return 2;
    }
    if (balance) c->weighted = !strcmp(balance, "weight");
    job.distill = !no_distill;
    if ((st = sa_sft_job_check(&job)) < 0) return cli_fail_settings("sa-sft", st);
    struct sa_sft_report r;
    if ((st = sa_sft_job_run(&job, &r)) < 0) return cli_fail("sa-sft", st);
    print_report(&job, &r);
    return 0;
}
