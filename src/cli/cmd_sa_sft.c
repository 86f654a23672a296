/* disr sa-sft: Self-Awareness Training stage 1 for one agent. Samples the agent's own answers
 * (cached next to the output, so a resumed run skips it), builds balanced answer / reject
 * targets for the three scenarios, fine-tunes, saves, and checks on held-out training queries
 * that the answer rate of each scenario follows its label (p̂ >= 1 - alpha). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/sa_cli.h"
#include "core/err.h"
#include "core/log.h"
#include "model/model_io.h"
#include "world/scenario.h"
#include "train/sa.h"
#include "train/sa_target.h"

/* Prints, per scenario, the label's answer rate on the check set against what the model does. */
static void print_check(const struct sa_agent_eval *before, const struct sa_agent_eval *after,
                        const struct sa_samples *all, const int *idx) {
    printf("\nheld-out check (%d SA-train queries not trained on):\n", after->n);
    printf("| scenario | label answer rate (p̂ >= 1-α) | model answer rate | agreement | precision "
           "| threshold (1-α)^0.5 |\n|---|---|---|---|---|---|\n");
    for (int s = 0; s < SCENARIO_COUNT; s++) {
        double alpha = scenario_alpha(scenario_at(s));
        int kmin = sa_min_correct(alpha, all->n_samples), lab = 0, agree = 0;
        for (int i = 0; i < after->n; i++) {
            bool l = all->n_correct[idx[i]] >= kmin;
            lab += l;
            agree += l == after->answered[s][i];
        }
        printf("| %s | %.3f | %.3f | %.3f | %.3f | %.3f |\n", scenario_name(scenario_at(s)),
               after->n ? (double)lab / after->n : 0, after->answer_rate[s],
               after->n ? (double)agree / after->n : 0, after->precision[s],
               scenario_threshold(alpha));
    }
    printf("forced-answer accuracy on the check set: %.3f before, %.3f after (%+.1f points)\n",
           before->forced_acc, after->forced_acc, 100 * (after->forced_acc - before->forced_acc));
}

int cmd_sa_sft(int argc, char **argv) {
    const char *agent = NULL, *data_path = NULL, *out = NULL, *ckpt = NULL, *cache = NULL,
               *balance = NULL, *anchor_path = NULL;
    int last = 0, quick = 0, resume = 0, stop_after = 0, seed = 1234, threads = 1, holdout = 10,
        no_distill = 0;
    struct sa_sft_config c;
    sa_sft_config_default(&c);
    int anchors = -1, samples = -1, steps = -1, batch = -1, seq = -1, warmup = -1, min_side = -1,
        max_tok = -1, ck_every = -1;
    double lr = -1, wd = -1, temp = -1, max_weight = -1, anchor_temp = 0, anchor_weight = -1,
           reject_tail = -1;
    const struct cli_opt opts[] = {
        {"--agent", "-m", OPT_STR, &agent, "the agent to train (GGUF, all F32)"},
        {"--data", "-d", OPT_STR, &data_path, "self-awareness training queries (JSONL)"},
        {"--out", "-o", OPT_STR, &out, "where to write the trained agent (GGUF)"},
        {"--last", NULL, OPT_FLAG, &last, "the chain's last agent: answer-only, never rejects"},
        {"--quick", NULL, OPT_FLAG, &quick, "tiny run for tests (4 samples, 30 steps)"},
        {"--samples", NULL, OPT_INT, &samples, "answers sampled per query (8)"},
        {"--temp", NULL, OPT_FLOAT, &temp, "sampling temperature (1)"},
        {"--max-tokens", NULL, OPT_INT, &max_tok, "cap on answer tokens (32)"},
        {"--balance", NULL, OPT_STR, &balance,
         "weight (default: every query in every scenario, sides weighted 50/50) or subsample"},
        {"--max-weight", NULL, OPT_FLOAT, &max_weight, "cap on a weighted example's weight (4)"},
        {"--min-side", NULL, OPT_INT, &min_side,
         "oversample a scenario's minority side up to N examples (default: a tenth of the queries; "
         "0: off)"},
        {"--anchors", NULL, OPT_INT, &anchors,
         "forced-answer examples replaying the agent's own samples (default: one per query)"},
        {"--anchor-data", NULL, OPT_STR, &anchor_path,
         "queries (JSONL) whose own sampled answers are the forced-answer anchors, e.g. the "
         "world's anchors.jsonl about every entity (default: the training queries)"},
        {"--anchor-temp", NULL, OPT_FLOAT, &anchor_temp,
         "temperature of the answers replayed from --anchor-data (0: greedy, the default)"},
        {"--anchor-weight", NULL, OPT_FLOAT, &anchor_weight, "loss weight of an anchor (2)"},
        {"--reject-tail-weight", NULL, OPT_FLOAT, &reject_tail,
         "loss weight of a reject's tokens after its first, whatever the balance gives the "
         "decision (4; 0: the same as the decision)"},
        {"--no-distill", NULL, OPT_FLAG, &no_distill,
         "anchors learn only the replayed answer's tokens, not the untrained agent's whole "
         "next-token distribution at each answer position"},
        {"--steps", NULL, OPT_INT, &steps, "optimizer steps (600)"},
        {"--batch", NULL, OPT_INT, &batch, "rows per step (16)"},
        {"--seq", NULL, OPT_INT, &seq, "tokens per row (0: fit the longest example, >= 128)"},
        {"--lr", NULL, OPT_FLOAT, &lr, "peak learning rate (2e-4)"},
        {"--weight-decay", NULL, OPT_FLOAT, &wd, "AdamW weight decay (0.1)"},
        {"--warmup", NULL, OPT_INT, &warmup, "warmup steps (20)"},
        {"--holdout", NULL, OPT_INT, &holdout,
         "hold out every N-th query to check the result (10; 0: none)"},
        {"--seed", NULL, OPT_INT, &seed, "seed of sampling, balancing and data order"},
        {"--threads", NULL, OPT_INT, &threads,
         "engine threads (1; 0: all cores; tiny agents run best on 1)"},
        {"--checkpoint", NULL, OPT_STR, &ckpt, "checkpoint path (default OUT.ckpt)"},
        {"--checkpoint-every", NULL, OPT_INT, &ck_every, "steps between checkpoints (100)"},
        {"--stop-after", NULL, OPT_INT, &stop_after,
         "stop after N steps, checkpointed (to test resuming)"},
        {"--resume", NULL, OPT_FLAG, &resume, "resume from the checkpoint and sample cache"},
        {"--samples-cache", NULL, OPT_STR, &cache,
         "cache of the sampling pass (default OUT.samples.jsonl)"},
        {0}};
    int st = cli_parse(argc, argv, opts, "--agent A.gguf --data SA_TRAIN.jsonl --out A-sft.gguf",
                       NULL, 0, NULL);
    if (st) return st == 1 ? 0 : st;
    if (!agent || !data_path || !out) {
        fprintf(stderr, "disr sa-sft: --agent, --data and --out are required (see --help)\n");
        return 2;
    }
    /* Quick: 250 steps at 1e-3 is what the quick family's tiniest agents need to learn the
     * reject at all (30 steps at 2e-4 left them answering everything); about 10 s an agent. */
    if (quick) c.n_samples = 4, c.steps = 250, c.batch = 8, c.warmup = 3, c.lr = 1e-3f;
    if (samples > 0) c.n_samples = samples;
    if (steps > 0) c.steps = steps;
    if (batch > 0) c.batch = batch;
    if (seq >= 0) c.seq = seq;
    if (warmup >= 0) c.warmup = warmup;
    if (min_side >= 0) c.min_side = min_side;
    if (anchors >= 0) c.anchors = anchors;
    if (anchor_weight > 0) c.anchor_weight = (float)anchor_weight;
    if (reject_tail >= 0) c.reject_tail_weight = (float)reject_tail;
    if (max_weight >= 1) c.max_weight = (float)max_weight;
    if (balance && strcmp(balance, "weight") && strcmp(balance, "subsample")) {
        fprintf(stderr, "disr sa-sft: --balance is 'weight' or 'subsample', not '%s'\n", balance);
        return 2;
    }
    if (balance) c.weighted = !strcmp(balance, "weight");
    if (lr > 0) c.lr = (float)lr;
    if (wd >= 0) c.weight_decay = (float)wd;
    if (temp >= 0) c.gen.temperature = (float)temp;
    if (max_tok > 0) c.gen.max_tokens = max_tok;
    if (ck_every > 0) c.checkpoint_every = ck_every;
    c.last = last;
    c.seed = (uint64_t)seed;
    c.gen.seed = (uint64_t)seed;
    c.gen.n_threads = threads;
    c.resume = resume;
    c.stop_after = stop_after;
    char ck_buf[4096], cache_buf[4096];
    snprintf(ck_buf, sizeof ck_buf, "%s.ckpt", out);
    snprintf(cache_buf, sizeof cache_buf, "%s.samples.jsonl", out);
    c.checkpoint = ckpt ? ckpt : ck_buf;
    if (!cache) cache = cache_buf;

    struct qa_set all, train, check, anch;
    int *train_idx = NULL, *check_idx = NULL;
    qa_set_init(&anch);
    qa_set_init(&all);
    qa_set_init(&train);
    qa_set_init(&check);
    struct model *m = NULL, *teacher = NULL;
    struct sa_samples smp = {0}, sub = {0}, asmp = {0};
    struct sa_agent_eval before = {0}, after = {0};
    if ((st = qa_set_load(&all, data_path)) < 0) return cli_fail("sa-sft", st);
    if ((st = sa_cli_subset(&all, holdout, 0, &train, &train_idx)) < 0) goto done;
    if ((st = sa_cli_subset(&all, holdout, 1, &check, &check_idx)) < 0) goto done;
    if ((st = model_load(&m, agent)) < 0) goto done;
    if (!m->params) { /* fail before the sampling pass, not after it */
        st = disr_fail(DISR_E_STATE, "%s is quantized: training needs an all-F32 model", agent);
        goto done;
    }
    log_info("sa-sft: %s, %d training queries (+%d held out), %s", agent, train.n, check.n,
             last ? "last agent: answer-only" : "answer / reject");

    /* Stage 1a: the agent's own answers (or the cache of a previous run). */
    if (!(resume && sa_samples_load(&smp, all.n, c.n_samples, c.gen.seed, cache) >= 0)) {
        if ((st = sa_sample(m, &all, c.n_samples, &c.gen, &smp)) < 0) goto done;
        if ((st = sa_samples_save(&smp, c.gen.seed, cache)) < 0) goto done;
    } else {
        log_info("sa-sft: reusing the sampling pass in %s", cache);
    }
    /* Anchor queries: one sample each, appended after the training queries. */
    int n_sa = train.n;
    if (anchor_path) {
        if ((st = qa_set_load(&anch, anchor_path)) < 0) goto done;
        struct sa_gen_config anchor_gen = c.gen;
        anchor_gen.temperature = anchor_temp > 0 ? (float)anchor_temp : 0.0f;
        if ((st = sa_sample(m, &anch, 1, &anchor_gen, &asmp)) < 0) goto done;
        struct qa_item *items =
            realloc(train.items, sizeof(struct qa_item) * ((size_t)(n_sa + anch.n) + 1));
        if (!items) {
            st = disr_fail(DISR_E_NOMEM, "anchor queries");
            goto done;
        }
        memcpy(items + n_sa, anch.items, sizeof(struct qa_item) * (size_t)anch.n);
        train.items = items; /* the strings stay anch's, freed after train */
        train.n = train.cap = n_sa + anch.n;
        c.n_target_queries = n_sa;
    }
    /* Training subset view of the samples. */
    sub.n_queries = train.n;
    sub.n_samples = smp.n_samples;
    sub.n_correct = malloc(sizeof(int) * ((size_t)train.n + 1));
    sub.own_answer = malloc(sizeof(char *) * ((size_t)train.n + 1));
    sub.first_sample = malloc(sizeof(char *) * ((size_t)train.n + 1));
    if (!sub.n_correct || !sub.own_answer || !sub.first_sample) {
        st = disr_fail(DISR_E_NOMEM, "sample subset");
        goto done;
    }
    for (int i = 0; i < train.n; i++) {
        bool anchor_only = i >= n_sa;
        sub.n_correct[i] = anchor_only ? 0 : smp.n_correct[train_idx[i]];
        sub.own_answer[i] = anchor_only ? NULL : smp.own_answer[train_idx[i]];
        sub.first_sample[i] =
            anchor_only ? asmp.first_sample[i - n_sa] : smp.first_sample[train_idx[i]];
    }
    struct sa_gen_config greedy = c.gen;
    if (check.n && (st = sa_eval_agent(m, &check, &greedy, &before)) < 0) goto done;
    /* The teacher is the agent as loaded: a second copy, since training changes m in place. */
    if (!no_distill && (st = model_load(&teacher, agent)) < 0) goto done;
    c.anchor_teacher = teacher;

    /* Stage 1b: fine-tune. */
    struct sa_sft_summary sum;
    if ((st = sa_sft_train(m, &train, &sub, &c, &sum)) < 0) goto done;
    if (sum.steps_done < c.steps) {
        printf("sa-sft: stopped after %d of %d steps; checkpoint %s (continue with --resume)\n",
               sum.steps_done, c.steps, c.checkpoint);
        goto done;
    }
    if ((st = model_save(m, out, NULL)) < 0) goto done;
    unlink(c.checkpoint); /* finished: the checkpoint would only resume to the same end */
    printf("sa-sft: %s -> %s: %d examples, %d steps, loss %.4f, %.1fs (sampling %.1fs)\n", agent,
           out, sum.n_examples, sum.steps_done, sum.final_loss, sum.seconds, smp.seconds);
    if (check.n) {
        if ((st = sa_eval_agent(m, &check, &greedy, &after)) < 0) goto done;
        print_check(&before, &after, &smp, check_idx);
    }
done:
    free(sub.n_correct);
    free(sub.own_answer);
    free(sub.first_sample);
    sa_samples_free(&smp);
    sa_samples_free(&asmp);
    sa_eval_free(&before);
    sa_eval_free(&after);
    model_free(m);
    model_free(teacher);
    sa_cli_subset_free(&train, train_idx);
    sa_cli_subset_free(&check, check_idx);
    qa_set_free(&all);
    qa_set_free(&anch);
    return st < 0 ? cli_fail("sa-sft", st) : 0;
}
