/* disr sa-rl: Self-Awareness Training stage 2 (GRPO) for one agent, from its SFT model (the job:
 * train/sa_job.h). Parses the options into the job, runs it, and prints its report. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sa_cli.h"
#include "core/err.h"
#include "train/sa_job.h"

/* --reject-credit's name, or -1 */
static int parse_credit(const char *name) {
    static const char *const names[] = {[SA_CREDIT_WHOLE] = "whole",
                                        [SA_CREDIT_DECISION] = "decision",
                                        [SA_CREDIT_DEPARTURE] = "departure"};
    for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
        if (!strcmp(name, names[i])) return i;
    return -1;
}

static void print_report(const struct sa_rl_job *j, const struct sa_rl_report *r) {
    const struct sa_rl_summary *s = &r->train;
    if (r->copied) return;
    if (!r->finished) {
        printf("sa-rl: stopped after %d of %d steps; checkpoint %s (continue with --resume)\n",
               s->steps_done, j->train.steps, r->checkpoint);
        return;
    }
    printf("sa-rl: %s -> %s: %d steps, reward %.3f, answer rate P/B/C %.2f/%.2f/%.2f, KL %.4f, "
           "%.1fs\n",
           j->agent, j->out, s->steps_done, s->mean_reward, s->answer_rate[0], s->answer_rate[1],
           s->answer_rate[2], s->kl, s->seconds);
}

int cmd_sa_rl(int argc, char **argv) {
    struct sa_rl_job job, quick;
    sa_rl_job_default(&job, cli_has_flag(argc, argv, "--quick"));
    sa_rl_job_default(&quick, true);
    struct sa_rl_config *c = &job.train;
    const char *reject_credit = NULL;
    int no_distill = 0, whole_reject = 0, quick_flag = 0;
    char quick_help[96];
    snprintf(quick_help, sizeof quick_help, "tiny run for tests (%d steps of %d prompts)",
             quick.train.steps, quick.train.prompts);
    const struct cli_opt opts[] = {
        {"--agent", "-m", OPT_STR, &job.agent, "the SFT agent to train (GGUF, all F32)"},
        {"--ref", NULL, OPT_STR, &job.ref, "reference model of the KL term (default: --agent)"},
        {"--data", "-d", OPT_STR, &job.data, "self-awareness training queries (JSONL)"},
        {"--out", "-o", OPT_STR, &job.out, "where to write the trained agent (GGUF)"},
        {"--last", NULL, OPT_BOOL, &c->last,
         "the chain's last agent: never rejects, so RL is skipped (the model is copied)"},
        {"--quick", NULL, OPT_FLAG, &quick_flag, quick_help},
        {"--steps", NULL, OPT_INT, &c->steps, "optimizer steps ({})"},
        {"--prompts", NULL, OPT_INT, &c->prompts, "prompts (query x scenario) per step ({})"},
        {"--group", NULL, OPT_INT, &c->group, "rollouts per prompt ({})"},
        {"--beta", NULL, OPT_F32, &c->beta, "KL penalty to the reference ({})"},
        {"--anchors", NULL, OPT_INT, &c->anchors,
         "forced-answer answers of the reference trained per step ({}; keeps forced accuracy)"},
        {"--anchor-data", NULL, OPT_STR, &job.anchor_data,
         "queries (JSONL) the anchors draw from, e.g. the world's anchors.jsonl (default: --data)"},
        {"--anchor-weight", NULL, OPT_F32, &c->anchor_weight, "loss weight of an anchor ({})"},
        {"--anchor-model", NULL, OPT_STR, &job.anchor_model,
         "model whose forced answers the anchors replay, e.g. the pretrained agent (default: "
         "--ref)"},
        {"--no-distill", NULL, OPT_FLAG, &no_distill,
         "anchors learn only the anchor model's answer tokens, not its whole next-token "
         "distribution at each answer position"},
        {"--reject-credit", NULL, OPT_STR, &reject_credit,
         "which tokens of a reject its advantage reaches: departure (the default: a reject's "
         "first token, the decision; a broken reject's from where it left the reject text), "
         "decision (a broken reject's all), whole (every token of every reject)"},
        {"--credit-whole-reject", NULL, OPT_FLAG, &whole_reject, "same as --reject-credit whole"},
        {"--anchor-temp", NULL, OPT_F32, &c->anchor_temperature,
         "temperature of the reference's anchor answers (0: greedy, the default)"},
        {"--lr", NULL, OPT_F32, &c->lr, "peak learning rate ({})"},
        {"--warmup", NULL, OPT_INT, &c->warmup, "warmup steps ({})"},
        {"--batch", NULL, OPT_INT, &c->batch, "rows per micro-batch ({})"},
        {"--seq", NULL, OPT_INT, &c->seq, "tokens per row (0: longest prompt + max tokens)"},
        {"--temp", NULL, OPT_F32, &c->gen.temperature, "rollout temperature ({})"},
        {"--tempered", NULL, OPT_BOOL, &c->tempered,
         "train the tempered policy softmax(logits / --temp) that the rollouts sample, so a "
         "temperature below 1 stays on-policy (greedy answers are the same at every temperature)"},
        {"--max-tokens", NULL, OPT_INT, &c->gen.max_tokens, "cap on rollout tokens ({})"},
        {"--seed", NULL, OPT_U64, &c->seed, "seed of prompt choice and rollouts"},
        SA_CLI_RUN_OPTS(c),
        {"--resume", NULL, OPT_BOOL, &c->resume, "resume from the checkpoint if it exists"},
        {0}};
    int st = cli_parse(argc, argv, opts, "--agent A-sft.gguf --data SA_TRAIN.jsonl --out A-rl.gguf",
                       NULL, 0, NULL);
    if (st) return st == 1 ? 0 : st;
    if (!job.agent || !job.data || !job.out) {
        fprintf(stderr, "disr sa-rl: --agent, --data and --out are required (see --help)\n");
        return 2;
    }
    int credit = reject_credit ? parse_credit(reject_credit) : (int)c->reject_credit;
    if (credit < 0) {
        fprintf(stderr, "disr sa-rl: --reject-credit is departure, decision or whole, not '%s'\n",
                reject_credit);
        return 2;
    }
    c->reject_credit = whole_reject ? SA_CREDIT_WHOLE : (enum sa_reject_credit)credit;
    if (no_distill) c->distill_anchors = false;
    if ((st = sa_rl_job_check(&job)) < 0) return cli_fail_settings("sa-rl", st);
    struct sa_rl_report r;
    if ((st = sa_rl_job_run(&job, &r)) < 0) return cli_fail("sa-rl", st);
    print_report(&job, &r);
    return 0;
}
