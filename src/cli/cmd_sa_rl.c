/* disr sa-rl: Self-Awareness Training stage 2 (GRPO) for one agent, from its SFT model. The SFT
 * model is also the frozen reference of the KL penalty. Resumable from its checkpoint. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/log.h"
#include "model/model_io.h"
#include "train/sa.h"

int cmd_sa_rl(int argc, char **argv) {
    const char *agent = NULL, *ref_path = NULL, *data_path = NULL, *out = NULL, *ckpt = NULL,
               *anchor_path = NULL, *anchor_model_path = NULL, *reject_credit = NULL;
    int last = 0, quick = 0, resume = 0, stop_after = 0, seed = 1234, threads = 1, no_distill = 0,
        whole_reject = 0, tempered = 0;
    int anchors = -1, steps = -1, prompts = -1, group = -1, batch = -1, seq = -1, warmup = -1,
        max_tok = -1, ck_every = -1;
    double lr = -1, beta = -1, temp = -1, anchor_temp = -1, anchor_weight = -1;
    const struct cli_opt opts[] = {
        {"--agent", "-m", OPT_STR, &agent, "the SFT agent to train (GGUF, all F32)"},
        {"--ref", NULL, OPT_STR, &ref_path, "reference model of the KL term (default: --agent)"},
        {"--data", "-d", OPT_STR, &data_path, "self-awareness training queries (JSONL)"},
        {"--out", "-o", OPT_STR, &out, "where to write the trained agent (GGUF)"},
        {"--last", NULL, OPT_FLAG, &last,
         "the chain's last agent: never rejects, so RL is skipped (the model is copied)"},
        {"--quick", NULL, OPT_FLAG, &quick, "tiny run for tests (6 steps of 4 prompts)"},
        {"--steps", NULL, OPT_INT, &steps, "optimizer steps (100)"},
        {"--prompts", NULL, OPT_INT, &prompts, "prompts (query x scenario) per step (8)"},
        {"--group", NULL, OPT_INT, &group, "rollouts per prompt (8)"},
        {"--beta", NULL, OPT_FLOAT, &beta, "KL penalty to the reference (0.04)"},
        {"--anchors", NULL, OPT_INT, &anchors,
         "forced-answer answers of the reference trained per step (32; keeps forced accuracy)"},
        {"--anchor-data", NULL, OPT_STR, &anchor_path,
         "queries (JSONL) the anchors draw from, e.g. the world's anchors.jsonl (default: --data)"},
        {"--anchor-weight", NULL, OPT_FLOAT, &anchor_weight, "loss weight of an anchor (1)"},
        {"--anchor-model", NULL, OPT_STR, &anchor_model_path,
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
        {"--anchor-temp", NULL, OPT_FLOAT, &anchor_temp,
         "temperature of the reference's anchor answers (0: greedy, the default)"},
        {"--lr", NULL, OPT_FLOAT, &lr, "peak learning rate (1e-4)"},
        {"--warmup", NULL, OPT_INT, &warmup, "warmup steps (5)"},
        {"--batch", NULL, OPT_INT, &batch, "rows per micro-batch (16)"},
        {"--seq", NULL, OPT_INT, &seq, "tokens per row (0: longest prompt + max tokens)"},
        {"--temp", NULL, OPT_FLOAT, &temp, "rollout temperature (1)"},
        {"--tempered", NULL, OPT_FLAG, &tempered,
         "train the tempered policy softmax(logits / --temp) that the rollouts sample, so a "
         "temperature below 1 stays on-policy (greedy answers are the same at every temperature)"},
        {"--max-tokens", NULL, OPT_INT, &max_tok, "cap on rollout tokens (32)"},
        {"--seed", NULL, OPT_INT, &seed, "seed of prompt choice and rollouts"},
        {"--threads", NULL, OPT_INT, &threads,
         "engine threads (1; 0: all cores; tiny agents run best on 1)"},
        {"--checkpoint", NULL, OPT_STR, &ckpt, "checkpoint path (default OUT.ckpt)"},
        {"--checkpoint-every", NULL, OPT_INT, &ck_every, "steps between checkpoints (25)"},
        {"--stop-after", NULL, OPT_INT, &stop_after,
         "stop after N steps, checkpointed (to test resuming)"},
        {"--resume", NULL, OPT_FLAG, &resume, "resume from the checkpoint if it exists"},
        {0}};
    int st = cli_parse(argc, argv, opts, "--agent A-sft.gguf --data SA_TRAIN.jsonl --out A-rl.gguf",
                       NULL, 0, NULL);
    if (st) return st == 1 ? 0 : st;
    if (!agent || !data_path || !out) {
        fprintf(stderr, "disr sa-rl: --agent, --data and --out are required (see --help)\n");
        return 2;
    }
    static const char *const credit_names[] = {[SA_CREDIT_WHOLE] = "whole",
                                               [SA_CREDIT_DECISION] = "decision",
                                               [SA_CREDIT_DEPARTURE] = "departure"};
    int credit = -1;
    for (int i = 0; reject_credit && i < (int)(sizeof credit_names / sizeof *credit_names); i++)
        if (!strcmp(reject_credit, credit_names[i])) credit = i;
    if (reject_credit && credit < 0) {
        fprintf(stderr, "disr sa-rl: --reject-credit is departure, decision or whole, not '%s'\n",
                reject_credit);
        return 2;
    }
    struct sa_rl_config c;
    sa_rl_config_default(&c);
    if (quick) c.steps = 6, c.prompts = 4, c.warmup = 1, c.checkpoint_every = 3;
    if (steps > 0) c.steps = steps;
    if (prompts > 0) c.prompts = prompts;
    if (group > 0) c.group = group;
    if (batch > 0) c.batch = batch;
    if (seq >= 0) c.seq = seq;
    if (warmup >= 0) c.warmup = warmup;
    if (max_tok > 0) c.gen.max_tokens = max_tok;
    if (ck_every > 0) c.checkpoint_every = ck_every;
    if (lr > 0) c.lr = (float)lr;
    if (beta >= 0) c.beta = (float)beta;
    if (anchors >= 0) c.anchors = anchors;
    if (anchor_temp >= 0) c.anchor_temperature = (float)anchor_temp;
    if (anchor_weight > 0) c.anchor_weight = (float)anchor_weight;
    if (temp >= 0) c.gen.temperature = (float)temp;
    c.seed = (uint64_t)seed;
    c.gen.seed = (uint64_t)seed;
    c.gen.n_threads = threads;
    c.resume = resume;
    c.stop_after = stop_after;
    c.last = last;
    if (no_distill) c.distill_anchors = false;
    if (credit >= 0) c.reject_credit = (enum sa_reject_credit)credit;
    if (whole_reject) c.reject_credit = SA_CREDIT_WHOLE;
    c.tempered = tempered;
    char ck_buf[4096];
    snprintf(ck_buf, sizeof ck_buf, "%s.ckpt", out);
    c.checkpoint = ckpt ? ckpt : ck_buf;

    struct model *policy = NULL, *ref = NULL, *anchor_model = NULL;
    struct qa_set data, anchor_data;
    qa_set_init(&data);
    qa_set_init(&anchor_data);
    if ((st = model_load(&policy, agent)) < 0) return cli_fail("sa-rl", st);
    if (!policy->params && !last) {
        model_free(policy);
        return cli_fail(
            "sa-rl",
            disr_fail(DISR_E_STATE, "%s is quantized: training needs an all-F32 model", agent));
    }
    if (last) {
        /* The last agent always answers: the reward of a reject is irrelevant to it, and RL on
         * correctness alone would teach it the task, which self-awareness training must not. */
        log_info("sa-rl: %s is the last agent: copied unchanged to %s", agent, out);
        st = model_save(policy, out, NULL);
        model_free(policy);
        return st < 0 ? cli_fail("sa-rl", st) : 0;
    }
    if ((st = model_load(&ref, ref_path ? ref_path : agent)) < 0) goto done;
    if ((st = qa_set_load(&data, data_path)) < 0) goto done;
    if (anchor_path && (st = qa_set_load(&anchor_data, anchor_path)) < 0) goto done;
    if (anchor_path) c.anchor_data = &anchor_data;
    if (anchor_model_path && (st = model_load(&anchor_model, anchor_model_path)) < 0) goto done;
    c.anchor_model = anchor_model;
    struct sa_rl_summary sum;
    if ((st = sa_rl_train(policy, ref, &data, &c, &sum)) < 0) goto done;
    if (sum.steps_done < c.steps) {
        printf("sa-rl: stopped after %d of %d steps; checkpoint %s (continue with --resume)\n",
               sum.steps_done, c.steps, c.checkpoint);
        goto done;
    }
    if ((st = model_save(policy, out, NULL)) < 0) goto done;
    unlink(c.checkpoint);
    printf("sa-rl: %s -> %s: %d steps, reward %.3f, answer rate P/B/C %.2f/%.2f/%.2f, KL %.4f, "
           "%.1fs\n",
           agent, out, sum.steps_done, sum.mean_reward, sum.answer_rate[0], sum.answer_rate[1],
           sum.answer_rate[2], sum.kl, sum.seconds);
done:
    model_free(policy);
    model_free(ref);
    model_free(anchor_model);
    qa_set_free(&data);
    qa_set_free(&anchor_data);
    return st < 0 ? cli_fail("sa-rl", st) : 0;
}
