/* sa_rl.c: Stage 2, Self-Awareness RL by GRPO. Each step draws `prompts` (query, scenario)
 * pairs (scenarios mixed, a third each), samples `group` rollouts per prompt at temperature 1
 * from the current policy, scores them with the paper's reward, normalizes advantages within
 * each group and takes one policy-gradient step whose per-token weights also carry the k3 KL
 * penalty to the frozen SFT model (sa_grpo.h). Everything random derives from (seed, step), so
 * a run resumed from a checkpoint at step k continues exactly as the uninterrupted run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/rng.h"
#include "world/scenario.h"
#include "train/sa.h"
#include "train/sa_grpo.h"
#include "train/sa_internal.h"
#include "train/sa_pack.h"
#include "train/loop.h"
#include "train/trainer.h"

/* Seed salts, each + step: everything random in a step derives from (seed, step). */
enum {
    RL_SALT_PROMPTS = 0x41000000,  /* the step's (query, scenario) prompts */
    RL_SALT_ROLLOUTS = 0x52000000, /* the rollouts' samples */
    RL_SALT_ANCHORS = 0x53000000,  /* the anchors' answers */
};

void sa_rl_config_default(struct sa_rl_config *c) {
    *c = (struct sa_rl_config){.steps = 100,
                               .prompts = 8,
                               .group = 8,
                               .beta = 0.04f,
                               .anchors = 32,
                               .anchor_weight = 1.0f,
                               /* Greedy: replaying the reference's mode keeps its greedy
                                * answers, where temperature-1 samples (mostly wrong for a weak
                                * agent) drift them (docs/SELF_AWARENESS.md, "Forced-answer
                                * anchors"). */
                               .anchor_temperature = 0.0f,
                               .anchor_data = NULL,
                               .anchor_model = NULL,
                               /* The whole distribution holds the anchor model's forced
                                * answers better than its greedy tokens alone
                                * (docs/SELF_AWARENESS.md, "Forced-answer anchors"). */
                               .distill_anchors = true,
                               /* docs/SELF_AWARENESS.md, "The reject's text and its
                                * credit". */
                               .reject_credit = SA_CREDIT_DEPARTURE,
                               .lr = 1e-4f,
                               .warmup = 5,
                               .batch = 16,
                               .seq = 0,
                               .last = false,
                               .seed = 1234,
                               .checkpoint = NULL,
                               .checkpoint_every = 25,
                               .resume = false};
    sa_gen_config_default(&c->gen);
}

/* Where one rollout sits in the packed rows and what it earned. */
struct rollout {
    int row, off, n, n_prompt;
    float reward, adv;
    int scenario;
    bool rejected;
    int broken_at; /* byte where a broken reject left the reject text; -1 for the others */
    int departure; /* the token holding that byte (packed rollouts only); -1 for the others */
};

struct rl_state {
    const struct sa_rl_config *c;
    const struct qa_set *data;
    struct model *policy;
    struct trainer *tp, *tref;
    struct trainer *tanchor;      /* forward of the anchor model when it is not the reference */
    struct engine *eng, *eng_ref; /* rollouts from the policy; anchors from the anchor model */
    struct sa_pack pk;
    int T, n_roll, ids_cap;
    int *item, *scen;   /* per rollout */
    int *pitem, *pscen; /* per prompt */
    int *aitem, *ascen; /* per anchor */
    struct gen_result *ares;
    struct gen_result *res;
    struct rollout *ro;
    int32_t *ids;
    float *lp, *lpr; /* per micro-batch [B*T] */
    float *probs;    /* per micro-batch [B*T*V]: the anchor model's distributions (distill) */
};

static int rl_longest_prompt(const struct qa_set *data, const struct tokenizer *tk, int *out) {
    int best = 0, cap = 0;
    int32_t *ids = NULL;
    char *buf = NULL;
    int st = DISR_OK;
    for (int i = 0; st >= 0 && i < data->n; i++) {
        int len = (int)strlen(data->items[i].query) + 16;
        if (len > cap) {
            cap = len * 2;
            free(ids);
            free(buf);
            ids = malloc(sizeof(int32_t) * (size_t)cap);
            buf = malloc((size_t)cap);
            if (!ids || !buf) {
                st = disr_fail(DISR_E_NOMEM, "prompt buffer");
                break;
            }
        }
        int n = 0;
        if ((st = scenario_format_prompt(buf, (size_t)cap, data->items[i].query,
                                         SCENARIO_PERFORMANCE)) < 0)
            break;
        if ((st = tokenizer_encode(tk, buf, strlen(buf), ids, cap, &n)) < 0) break;
        if (n > best) best = n;
    }
    free(ids);
    free(buf);
    *out = best;
    return st < 0 ? st : DISR_OK;
}

/* One GRPO step: rollouts, rewards, advantages, weights, accumulate, update. */
/* What rl_step adds up over a window of recent steps (the progress line and the summary). */
enum rl_stat {
    RL_STAT_REWARD = 0,                                /* reward sum */
    RL_STAT_ROLLOUTS = 1,                              /* rollouts */
    RL_STAT_ANSWERED = 2,                              /* answered, per scenario */
    RL_STAT_ASKED = RL_STAT_ANSWERED + SCENARIO_COUNT, /* rollouts per scenario */
    RL_STAT_KL = RL_STAT_ASKED + SCENARIO_COUNT,       /* KL sum over tokens */
    RL_STAT_KL_TOKENS,
    RL_STAT_SIGNAL, /* groups whose advantages are not all zero */
    RL_STAT_GROUPS,
    RL_STAT_BROKEN, /* broken rejects */
    RL_STAT_COUNT
};

static int rl_step(struct rl_state *S, int step, double stats[RL_STAT_COUNT]) {
    const struct sa_rl_config *c = S->c;
    int P = c->prompts, G = c->group, n = P * G;
    struct rng r;
    rng_init(&r, rng_derive_seed(c->seed, RL_SALT_PROMPTS + (uint64_t)step));
    int first = (int)rng_below(&r, 3);
    for (int p = 0; p < P; p++) {
        /* Scenarios in equal thirds (rotating from a random first one), queries uniform. */
        int sc = 1 + (p + first) % 3;
        int q = (int)rng_below(&r, (uint64_t)S->data->n);
        S->pitem[p] = q, S->pscen[p] = sc;
        for (int g = 0; g < G; g++)
            S->item[p * G + g] = q, S->scen[p * G + g] = sc;
    }
    DISR_TRY(
        sa_generate_groups(S->eng, S->data, S->pitem, S->pscen, P, G, &c->gen, c->gen.temperature,
                           rng_derive_seed(c->seed, RL_SALT_ROLLOUTS + (uint64_t)step), S->res));
    sa_pack_reset(&S->pk);
    float rw[1024], adv[1024];
    const struct tokenizer *tk = S->policy->tokenizer;
    char prompt[4096], resp[sizeof S->res[0].text + 2];
    for (int i = 0; i < n; i++) {
        const struct qa_item *it = &S->data->items[S->item[i]];
        double alpha = scenario_alpha((enum scenario)S->scen[i]);
        bool rej = scenario_output_rejects(S->res[i].text, S->res[i].truncated);
        bool ok =
            !rej && !S->res[i].truncated && grader_check(it->grader, it->answer, S->res[i].text);
        rw[i] = (c->last && rej) ? 0.0f : sa_reward(rej, ok, alpha);
        S->ro[i] = (struct rollout){.reward = rw[i],
                                    .scenario = S->scen[i],
                                    .rejected = rej,
                                    .broken_at = scenario_broken_reject_departure(S->res[i].text),
                                    .departure = -1};
    }
    for (int p = 0; p < P; p++)
        sa_grpo_advantages(rw + p * G, G, 1e-4f, adv + p * G);
    for (int i = 0; i < n; i++) {
        struct rollout *ro = &S->ro[i];
        ro->adv = adv[i];
        ro->n = 0;
        /* A group whose rewards are all equal carries no policy-gradient signal; leaving it out
         * keeps its tokens from diluting the informative groups' mean (DAPO's filter) and saves
         * its forward and backward passes. */
        bool informative = false;
        for (int j = (i / G) * G; j < (i / G + 1) * G; j++)
            informative |= adv[j] != 0.0f;
        if (!informative) continue;
        /* The rollout exactly as generated: its text, plus the stop '\n' unless it was cut. */
        DISR_TRY(scenario_format_prompt(prompt, sizeof prompt, S->data->items[S->item[i]].query,
                                        (enum scenario)S->scen[i]));
        snprintf(resp, sizeof resp, "%s%s", S->res[i].text, S->res[i].truncated ? "" : "\n");
        int len = 0, np = 0;
        DISR_TRY(sa_pack_encode(tk, prompt, resp, S->ids, S->ids_cap, &len, &np));
        if (len == np || len > S->T + 1)
            continue; /* nothing generated (EOS at once), or too long */
        DISR_TRY(sa_pack_add(&S->pk, S->ids, len, np, NULL, &ro->row, &ro->off));
        ro->n = len;
        ro->n_prompt = np;
        /* The token where a broken reject left the reject text: where its credit starts. */
        ro->departure = sa_pack_token_at(tk, S->ids + np, len - np, ro->broken_at);
    }
    /* Forced-answer anchors (as InstructGPT mixes pretraining into PPO): answers of the frozen
     * anchor model (the reference unless told otherwise) under the '-' slot, trained against
     * its whole next-token distribution at each answer position (distill_anchors) or against
     * the answer's tokens. Rewards only ever touch the P/B/C slots, but the reject habit they
     * build and the facts they rehearse leak into the forced-answer prompt; this keeps that
     * prompt's answers where the anchor model had them. */
    const struct qa_set *ad = c->anchor_data && c->anchor_data->n > 0 ? c->anchor_data : S->data;
    if (c->anchors > 0) {
        for (int a = 0; a < c->anchors; a++) {
            S->aitem[a] = (int)rng_below(&r, (uint64_t)ad->n);
            S->ascen[a] = SCENARIO_NONE;
        }
        DISR_TRY(sa_generate(S->eng_ref, ad, S->aitem, S->ascen, c->anchors, &c->gen,
                             c->anchor_temperature,
                             rng_derive_seed(c->seed, RL_SALT_ANCHORS + (uint64_t)step), S->ares));
        float aw[sizeof S->ares[0].text + 2];
        for (int j = 0; j < (int)(sizeof aw / sizeof aw[0]); j++)
            aw[j] = c->anchor_weight;
        for (int a = 0; a < c->anchors; a++) {
            if (S->ares[a].truncated) continue;
            DISR_TRY(scenario_format_prompt(prompt, sizeof prompt, ad->items[S->aitem[a]].query,
                                            SCENARIO_NONE));
            snprintf(resp, sizeof resp, "%s\n", S->ares[a].text);
            int len = 0, np = 0;
            DISR_TRY(sa_pack_encode(tk, prompt, resp, S->ids, S->ids_cap, &len, &np));
            if (len > S->T + 1 || len - np > (int)(sizeof aw / sizeof aw[0])) continue;
            DISR_TRY(c->distill_anchors ? sa_pack_add_distilled(&S->pk, S->ids, len, np, aw)
                                        : sa_pack_add(&S->pk, S->ids, len, np, aw, NULL, NULL));
        }
    }
    /* Micro-batches of B rows: log-probs under the policy and the reference, then weights. */
    int B = c->batch, T = S->T;
    double kl_sum = 0;
    long kl_tokens = 0;
    float loss = 0;
    for (int r0 = 0; r0 < S->pk.rows; r0 += B) {
        size_t o = (size_t)r0 * (size_t)T;
        int32_t *in = S->pk.inputs + o, *tg = S->pk.targets + o;
        float *w = S->pk.weights + o;
        DISR_TRY(trainer_token_logprobs(S->tp, in, tg, S->lp));
        DISR_TRY(trainer_token_logprobs(S->tref, in, tg, S->lpr));
        for (int i = 0; i < n; i++) {
            struct rollout *ro = &S->ro[i];
            if (ro->n == 0 || ro->row < r0 || ro->row >= r0 + B) continue;
            size_t k = (size_t)(ro->row - r0) * (size_t)T + (size_t)(ro->off + ro->n_prompt - 1);
            int nt = ro->n - ro->n_prompt;
            struct sa_credit cr = sa_grpo_credit(c->reject_credit, ro->rejected, ro->departure, nt);
            kl_sum += sa_grpo_token_weights(ro->adv, cr, S->lp + k, S->lpr + k, nt, c->beta, w + k);
            kl_tokens += nt;
        }
        /* Anchors sit after the rollouts: most micro-batches have none to distill. */
        struct tf_soft_targets soft = {.probs = S->probs, .mask = S->pk.distill + o};
        bool distill = S->probs && memchr(soft.mask, 1, (size_t)B * (size_t)T);
        if (distill && S->tanchor)
            DISR_TRY(trainer_next_token_probs(S->tanchor, in, S->probs));
        else if (distill) /* the teacher is the reference, whose forward on `in` just ran */
            trainer_last_forward_probs(S->tref, S->probs);
        DISR_TRY(trainer_accumulate_soft(S->tp, in, tg, distill ? &soft : NULL, w, &loss));
    }
    float gn = 0;
    if (S->pk.rows > 0) DISR_TRY(trainer_update(S->tp, step, &gn)); /* else: nothing to learn */
    for (int p = 0; p < P; p++) {
        bool sig = false;
        for (int g = 0; g < G; g++)
            sig |= adv[p * G + g] != 0.0f;
        stats[RL_STAT_SIGNAL] += sig;
    }
    stats[RL_STAT_GROUPS] += P;
    for (int i = 0; i < n; i++) {
        stats[RL_STAT_REWARD] += rw[i];
        stats[RL_STAT_BROKEN] += S->ro[i].broken_at >= 0;
        stats[RL_STAT_ROLLOUTS] += 1;
        stats[RL_STAT_ANSWERED + S->scen[i] - 1] += !S->ro[i].rejected;
        stats[RL_STAT_ASKED + S->scen[i] - 1] += 1;
    }
    stats[RL_STAT_KL] += kl_sum;
    stats[RL_STAT_KL_TOKENS] += (double)kl_tokens;
    return DISR_OK;
}

static void rl_progress_text(const struct sa_rl_summary *o, char *buf, size_t cap) {
    snprintf(buf, cap,
             "reward %.3f  answer P/B/C %.2f/%.2f/%.2f  KL %.4f  groups with signal %.2f  "
             "broken rejects %.3f",
             o->mean_reward, o->answer_rate[0], o->answer_rate[1], o->answer_rate[2], o->kl,
             o->signal, o->broken);
}

/* The RL run as the training loop sees it: the state, and a window of recent steps' stats. */
struct rl_loop {
    struct rl_state *S;
    struct model *ref;
    struct sa_rl_summary *out;
    double win[RL_STAT_COUNT];
    int win_steps;
};

/* The engines sample from the policy as resumed. */
static int rl_begin(void *ctx, int start) {
    struct rl_loop *x = ctx;
    struct rl_state *S = x->S;
    const struct sa_rl_config *c = S->c;
    (void)start;
    DISR_TRY(sa_engine_init(S->policy, &c->gen, &S->eng));
    if (c->anchors > 0)
        DISR_TRY(sa_engine_init(c->anchor_model ? c->anchor_model : x->ref, &c->gen, &S->eng_ref));
    return DISR_OK;
}

static int rl_loop_step(void *ctx, int step) {
    struct rl_loop *x = ctx;
    if (x->win_steps == 10) memset(x->win, 0, sizeof x->win), x->win_steps = 0;
    DISR_TRY(rl_step(x->S, step, x->win));
    x->win_steps++;
    const double *w = x->win;
    struct sa_rl_summary *out = x->out;
    out->mean_reward = (float)(w[RL_STAT_REWARD] / (w[RL_STAT_ROLLOUTS] + 1e-9));
    for (int s = 0; s < SCENARIO_COUNT; s++)
        out->answer_rate[s] = (float)(w[RL_STAT_ANSWERED + s] / (w[RL_STAT_ASKED + s] + 1e-9));
    out->kl = (float)(w[RL_STAT_KL] / (w[RL_STAT_KL_TOKENS] + 1e-9));
    out->signal = (float)(w[RL_STAT_SIGNAL] / (w[RL_STAT_GROUPS] + 1e-9));
    out->broken = (float)(w[RL_STAT_BROKEN] / (w[RL_STAT_ROLLOUTS] + 1e-9));
    return DISR_OK;
}

static void rl_describe(void *ctx, int step, bool final, char *buf, size_t cap) {
    (void)step, (void) final;
    rl_progress_text(((struct rl_loop *)ctx)->out, buf, cap);
}

int sa_rl_train(struct model *policy, struct model *ref, const struct qa_set *data,
                const struct sa_rl_config *c, struct sa_rl_summary *out) {
    *out = (struct sa_rl_summary){0};
    if (!policy->tokenizer) return disr_fail(DISR_E_STATE, "RL: the model has no tokenizer");
    if (c->anchor_model && !c->anchor_model->tokenizer)
        return disr_fail(DISR_E_STATE, "RL: the anchor model has no tokenizer");
    if (c->anchor_model && c->distill_anchors &&
        !model_config_equal(&c->anchor_model->config, &policy->config))
        return disr_fail(DISR_E_ARG, "RL: distilling needs an anchor model of the policy's shape");
    if (data->n < 1) return disr_fail(DISR_E_ARG, "RL: no training query");
    if (c->prompts < 1 || c->group < 2 || c->prompts * c->group > 1024 || c->batch < 1 ||
        c->steps < 1)
        return disr_fail(DISR_E_ARG, "RL: %d prompts x %d rollouts (2..1024 in all), batch %d",
                         c->prompts, c->group, c->batch);
    if (!model_config_equal(&policy->config, &ref->config))
        return disr_fail(DISR_E_ARG, "RL: the reference model's shape differs from the policy's");
    double t0 = time_now();
    struct rl_state S = {.c = c, .data = data, .policy = policy};
    int longest = 0;
    int st = rl_longest_prompt(data, policy->tokenizer, &longest);
    int n_ctx = policy->config.n_ctx;
    S.T = c->seq > 0 ? c->seq : longest + c->gen.max_tokens + 1;
    if (S.T < 64) S.T = 64 < n_ctx ? 64 : n_ctx;
    if (S.T > n_ctx) S.T = n_ctx;
    if (st >= 0 && longest + 2 > S.T + 1)
        st = disr_fail(DISR_E_RANGE, "RL: a prompt of %d tokens does not fit a row of %d", longest,
                       S.T);
    S.n_roll = c->prompts * c->group;
    if (c->anchors < 0 || c->anchors > 1024)
        return disr_fail(DISR_E_ARG, "RL: %d anchors per step (0..1024)", c->anchors);
    int cap_rows = (S.n_roll + c->anchors + c->batch - 1) / c->batch * c->batch;
    struct train_config tc;
    train_config_default(&tc);
    tc.batch = c->batch;
    tc.seq = S.T;
    tc.accum = 1;
    tc.steps = c->steps;
    tc.lr = c->lr;
    tc.warmup = c->warmup;
    tc.weight_decay = 0.0f; /* stay near the SFT model: the KL term is the only pull */
    tc.seed = c->seed;
    if (c->tempered) tc.logit_temperature = c->gen.temperature;
    S.item = malloc(sizeof(int) * (size_t)S.n_roll);
    S.scen = malloc(sizeof(int) * (size_t)S.n_roll);
    S.pitem = malloc(sizeof(int) * (size_t)c->prompts);
    S.pscen = malloc(sizeof(int) * (size_t)c->prompts);
    S.aitem = malloc(sizeof(int) * ((size_t)c->anchors + 1));
    S.ascen = malloc(sizeof(int) * ((size_t)c->anchors + 1));
    S.ares = malloc(sizeof(struct gen_result) * ((size_t)c->anchors + 1));
    S.res = malloc(sizeof(struct gen_result) * (size_t)S.n_roll);
    S.ro = malloc(sizeof(struct rollout) * (size_t)S.n_roll);
    S.ids_cap = longest + 16 + (int)sizeof S.res[0].text;
    S.ids = malloc(sizeof(int32_t) * (size_t)S.ids_cap);
    S.lp = malloc(sizeof(float) * (size_t)c->batch * (size_t)S.T);
    S.lpr = malloc(sizeof(float) * (size_t)c->batch * (size_t)S.T);
    if (st >= 0 && (!S.item || !S.scen || !S.pitem || !S.pscen || !S.aitem || !S.ascen || !S.ares ||
                    !S.res || !S.ro || !S.ids || !S.lp || !S.lpr))
        st = disr_fail(DISR_E_NOMEM, "RL buffers for %d rollouts", S.n_roll);
    if (st >= 0) st = trainer_init(&S.tp, policy, &tc);
    if (st >= 0) st = trainer_init_frozen(&S.tref, ref, &tc);
    if (st >= 0 && c->distill_anchors && c->anchors > 0) {
        S.probs =
            malloc(sizeof(float) * (size_t)c->batch * (size_t)S.T * (size_t)policy->config.n_vocab);
        if (!S.probs) st = disr_fail(DISR_E_NOMEM, "RL distillation buffer");
        if (st >= 0 && c->anchor_model) st = trainer_init_frozen(&S.tanchor, c->anchor_model, &tc);
    }
    if (st >= 0) st = sa_pack_init(&S.pk, S.T, cap_rows, tokenizer_eos(policy->tokenizer));
    struct rl_loop x = {.S = &S, .ref = ref, .out = out};
    struct train_loop l = {.trainer = S.tp,
                           .steps = c->steps,
                           .label = "sa-rl",
                           .checkpoint = c->checkpoint,
                           .checkpoint_every = c->checkpoint_every,
                           .resume = c->resume,
                           .stop_at = c->stop_after,
                           .begin = rl_begin,
                           .step = rl_loop_step,
                           .describe = rl_describe};
    struct train_loop_result lr = {0};
    if (st >= 0) st = train_loop_run(&l, &x, &lr);
    out->steps_done = lr.end_step;
    out->seconds = time_now() - t0;
    engine_free(S.eng);
    engine_free(S.eng_ref);
    trainer_free(S.tp);
    trainer_free(S.tref);
    trainer_free(S.tanchor);
    free(S.probs);
    sa_pack_free(&S.pk);
    free(S.item);
    free(S.scen);
    free(S.pitem);
    free(S.pscen);
    free(S.aitem);
    free(S.ascen);
    free(S.ares);
    free(S.res);
    free(S.ro);
    free(S.ids);
    free(S.lp);
    free(S.lpr);
    return st < 0 ? st : DISR_OK;
}
