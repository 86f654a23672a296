#include "train/sa_job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "model/model_io.h"
#include "world/scenario.h"
#include "train/sa_target.h"

/* ---- settings ---------------------------------------------------------------------------- */

static int need_path(const char *path, const char *what) {
    return path ? DISR_OK : disr_fail(DISR_E_ARG, "%s is required", what);
}

static int need_files(const char *agent, const char *data, const char *out) {
    DISR_TRY(need_path(agent, "the agent"));
    DISR_TRY(need_path(data, "the data"));
    return need_path(out, "the output");
}

static int need_int(int v, int min, const char *what) {
    return v >= min ? DISR_OK
                    : disr_fail(DISR_E_ARG, "%s is %d, must be at least %d", what, v, min);
}

/* v >= min, or v > min when strict */
static int need_float(float v, float min, bool strict, const char *what) {
    if (strict ? v > min : v >= min) return DISR_OK;
    return disr_fail(DISR_E_ARG, "%s is %g, must be %s %g", what, (double)v,
                     strict ? "above" : "at least", (double)min);
}

/* The settings both stages share. */
static int check_common(int steps, int batch, int seq, int warmup, float lr,
                        const struct sa_gen_config *g, int checkpoint_every) {
    DISR_TRY(need_int(steps, 1, "steps"));
    DISR_TRY(need_int(batch, 1, "batch"));
    DISR_TRY(need_int(seq, 0, "seq"));
    DISR_TRY(need_int(warmup, 0, "warmup"));
    DISR_TRY(need_float(lr, 0, true, "lr"));
    DISR_TRY(need_float(g->temperature, 0, false, "temperature"));
    DISR_TRY(need_int(g->max_tokens, 1, "max tokens"));
    return need_int(checkpoint_every, 1, "checkpoint every");
}

void sa_sft_job_default(struct sa_sft_job *j, bool quick) {
    *j = (struct sa_sft_job){.distill = true, .holdout = 10};
    struct sa_sft_config *c = &j->train;
    sa_sft_config_default(c);
    /* 250 steps at 1e-3 is what the quick family's tiniest agents need to learn the reject at
     * all (30 steps at 2e-4 left them answering everything); about 10 s an agent. */
    if (quick) c->n_samples = 4, c->steps = 250, c->batch = 8, c->warmup = 3, c->lr = 1e-3f;
}

int sa_sft_job_check(const struct sa_sft_job *j) {
    const struct sa_sft_config *c = &j->train;
    DISR_TRY(need_files(j->agent, j->data, j->out));
    DISR_TRY(need_int(j->holdout, 0, "holdout"));
    DISR_TRY(need_int(c->n_samples, 1, "samples"));
    DISR_TRY(need_int(c->min_side, -1, "min side"));
    DISR_TRY(need_int(c->anchors, -1, "anchors"));
    DISR_TRY(need_float(c->anchor_weight, 0, true, "anchor weight"));
    DISR_TRY(need_float(c->reject_tail_weight, 0, false, "reject tail weight"));
    DISR_TRY(need_float(c->max_weight, 1, false, "max weight"));
    DISR_TRY(need_float(c->weight_decay, 0, false, "weight decay"));
    return check_common(c->steps, c->batch, c->seq, c->warmup, c->lr, &c->gen, c->checkpoint_every);
}

/* The checkpoint path: the one given, or OUT.ckpt. */
static const char *checkpoint_path(const char *given, const char *out, char *buf, size_t size) {
    if (given)
        snprintf(buf, size, "%s", given);
    else
        snprintf(buf, size, "%s.ckpt", out);
    return buf;
}

/* A run that did every step writes `out` and removes its checkpoint, which would only resume to
 * the same end; one stopped early keeps the checkpoint and writes nothing. */
static int save_finished(struct model *m, int steps_done, int steps, const char *out,
                         const char *checkpoint, bool *finished) {
    if (steps_done < steps) return DISR_OK;
    DISR_TRY(model_save(m, out, NULL));
    unlink(checkpoint);
    *finished = true;
    return DISR_OK;
}

/* ---- Stage 1: SFT ----------------------------------------------------------------------- */

/* A shallow subset: items i with (i % every == every - 1) == held (every <= 1: all items, or
 * none when held). The items point into `all`; free with subset_free only. */
static int subset_init(const struct qa_set *all, int every, int held, struct qa_set *out,
                       int **index) {
    qa_set_init(out);
    *index = NULL;
    int n = 0;
    int *idx = malloc(sizeof(int) * ((size_t)all->n + 1));
    struct qa_item *items = malloc(sizeof(struct qa_item) * ((size_t)all->n + 1));
    if (!idx || !items) {
        free(idx);
        free(items);
        return disr_fail(DISR_E_NOMEM, "subset of %d queries", all->n);
    }
    for (int i = 0; i < all->n; i++) {
        int is_held = every > 1 ? (i % every == every - 1) : 0;
        if (is_held == (held != 0)) {
            idx[n] = i;
            items[n++] = all->items[i];
        }
    }
    out->items = items;
    out->n = out->cap = n;
    *index = idx;
    return DISR_OK;
}

static void subset_free(struct qa_set *s, int *index) {
    free(s->items); /* the strings belong to the full set */
    qa_set_init(s);
    free(index);
}

/* Everything an SFT job holds while it runs. */
struct sft_run {
    struct qa_set all, train, check, anch;
    int *train_idx, *check_idx;
    struct model *m, *teacher;
    struct sa_samples smp, sub, asmp;
    struct sa_agent_eval before, after;
    struct sa_sft_config c;
    char cache[4096];
};

static void sft_run_free(struct sft_run *s) {
    free(s->sub.n_correct);
    free(s->sub.own_answer);
    free(s->sub.first_sample);
    sa_samples_free(&s->smp);
    sa_samples_free(&s->asmp);
    sa_eval_free(&s->before);
    sa_eval_free(&s->after);
    model_free(s->m);
    model_free(s->teacher);
    subset_free(&s->train, s->train_idx);
    subset_free(&s->check, s->check_idx);
    qa_set_free(&s->all);
    qa_set_free(&s->anch);
}

/* Stage 1a: the agent's own answers to every query (or the cache of a previous run). */
static int sft_sample(struct sft_run *s) {
    const struct sa_sft_config *c = &s->c;
    if (c->resume && sa_samples_load(&s->smp, s->all.n, c->n_samples, c->gen.seed, s->cache) >= 0) {
        log_info("sa-sft: reusing the sampling pass in %s", s->cache);
        return DISR_OK;
    }
    DISR_TRY(sa_sample(s->m, &s->all, c->n_samples, &c->gen, &s->smp));
    return sa_samples_save(&s->smp, c->gen.seed, s->cache);
}

/* Anchor queries: one sample each, appended after the training queries. */
static int sft_add_anchors(const struct sa_sft_job *j, struct sft_run *s, struct sa_sft_report *r) {
    int n_sa = s->train.n;
    DISR_TRY(qa_set_load(&s->anch, j->anchor_data));
    struct sa_gen_config anchor_gen = s->c.gen;
    anchor_gen.temperature = j->anchor_temp > 0 ? j->anchor_temp : 0.0f;
    DISR_TRY(sa_sample(s->m, &s->anch, 1, &anchor_gen, &s->asmp));
    struct qa_item *items =
        realloc(s->train.items, sizeof(struct qa_item) * ((size_t)(n_sa + s->anch.n) + 1));
    if (!items) return disr_fail(DISR_E_NOMEM, "anchor queries");
    memcpy(items + n_sa, s->anch.items, sizeof(struct qa_item) * (size_t)s->anch.n);
    s->train.items = items; /* the strings stay anch's, freed after train */
    s->train.n = s->train.cap = n_sa + s->anch.n;
    s->c.n_target_queries = n_sa;
    r->n_anchor_queries = s->anch.n;
    return DISR_OK;
}

/* The training subset's view of the samples; anchor-only queries (from n_sa on) replay their
 * one sample. */
static int sft_subset_samples(struct sft_run *s, int n_sa) {
    struct sa_samples *sub = &s->sub;
    const struct qa_set *train = &s->train;
    sub->n_queries = train->n;
    sub->n_samples = s->smp.n_samples;
    sub->n_correct = malloc(sizeof(int) * ((size_t)train->n + 1));
    sub->own_answer = malloc(sizeof(char *) * ((size_t)train->n + 1));
    sub->first_sample = malloc(sizeof(char *) * ((size_t)train->n + 1));
    if (!sub->n_correct || !sub->own_answer || !sub->first_sample)
        return disr_fail(DISR_E_NOMEM, "sample subset");
    for (int i = 0; i < train->n; i++) {
        bool anchor_only = i >= n_sa;
        int k = anchor_only ? 0 : s->train_idx[i];
        sub->n_correct[i] = anchor_only ? 0 : s->smp.n_correct[k];
        sub->own_answer[i] = anchor_only ? NULL : s->smp.own_answer[k];
        sub->first_sample[i] =
            anchor_only ? s->asmp.first_sample[i - n_sa] : s->smp.first_sample[k];
    }
    return DISR_OK;
}

/* Per scenario, the label's answer rate on the check set against what the model does. */
static void sft_report_check(const struct sft_run *s, struct sa_sft_report *r) {
    const struct sa_agent_eval *after = &s->after;
    for (int sc = 0; sc < SCENARIO_COUNT; sc++) {
        double alpha = scenario_alpha(scenario_at(sc));
        int kmin = sa_min_correct(alpha, s->smp.n_samples), lab = 0, agree = 0;
        for (int i = 0; i < after->n; i++) {
            bool l = s->smp.n_correct[s->check_idx[i]] >= kmin;
            lab += l;
            agree += l == after->answered[sc][i];
        }
        r->label_rate[sc] = after->n ? (double)lab / after->n : 0;
        r->agreement[sc] = after->n ? (double)agree / after->n : 0;
        r->answer_rate[sc] = after->answer_rate[sc];
        r->precision[sc] = after->precision[sc];
    }
    r->forced_before = s->before.forced_acc;
    r->forced_after = after->forced_acc;
}

static int sft_run(const struct sa_sft_job *j, struct sft_run *s, struct sa_sft_report *r) {
    struct sa_sft_config *c = &s->c;
    DISR_TRY(qa_set_load(&s->all, j->data));
    DISR_TRY(subset_init(&s->all, j->holdout, 0, &s->train, &s->train_idx));
    DISR_TRY(subset_init(&s->all, j->holdout, 1, &s->check, &s->check_idx));
    r->n_train = s->train.n;
    r->n_check = s->check.n;
    DISR_TRY(model_load(&s->m, j->agent));
    if (!s->m->params) /* fail before the sampling pass, not after it */
        return disr_fail(DISR_E_STATE, "%s is quantized: training needs an all-F32 model",
                         j->agent);
    log_info("sa-sft: %s, %d training queries (+%d held out), %s", j->agent, s->train.n, s->check.n,
             c->last ? "last agent: answer-only" : "answer / reject");
    DISR_TRY(sft_sample(s));
    r->sample_seconds = s->smp.seconds;
    int n_sa = s->train.n;
    if (j->anchor_data) DISR_TRY(sft_add_anchors(j, s, r));
    DISR_TRY(sft_subset_samples(s, n_sa));
    if (s->check.n) DISR_TRY(sa_eval_agent(s->m, &s->check, &c->gen, &s->before));
    /* The teacher is the agent as loaded: a second copy, since training changes m in place. */
    if (j->distill) DISR_TRY(model_load(&s->teacher, j->agent));
    c->anchor_teacher = s->teacher;

    /* Stage 1b: fine-tune. */
    DISR_TRY(sa_sft_train(s->m, &s->train, &s->sub, c, &r->train));
    DISR_TRY(
        save_finished(s->m, r->train.steps_done, c->steps, j->out, c->checkpoint, &r->finished));
    if (!r->finished || !s->check.n) return DISR_OK;
    DISR_TRY(sa_eval_agent(s->m, &s->check, &c->gen, &s->after));
    sft_report_check(s, r);
    return DISR_OK;
}

int sa_sft_job_run(const struct sa_sft_job *j, struct sa_sft_report *r) {
    *r = (struct sa_sft_report){0};
    DISR_TRY(sa_sft_job_check(j));
    struct sft_run s = {.c = j->train};
    qa_set_init(&s.all);
    qa_set_init(&s.train);
    qa_set_init(&s.check);
    qa_set_init(&s.anch);
    s.c.gen.seed = s.c.seed;
    s.c.checkpoint = checkpoint_path(s.c.checkpoint, j->out, r->checkpoint, sizeof r->checkpoint);
    snprintf(s.cache, sizeof s.cache, "%s.samples.jsonl", j->out);
    if (j->samples_cache) snprintf(s.cache, sizeof s.cache, "%s", j->samples_cache);
    int st = sft_run(j, &s, r);
    sft_run_free(&s);
    return st;
}

/* ---- Stage 2: RL (GRPO) ----------------------------------------------------------------- */

void sa_rl_job_default(struct sa_rl_job *j, bool quick) {
    *j = (struct sa_rl_job){0};
    struct sa_rl_config *c = &j->train;
    sa_rl_config_default(c);
    if (quick) c->steps = 6, c->prompts = 4, c->warmup = 1, c->checkpoint_every = 3;
}

int sa_rl_job_check(const struct sa_rl_job *j) {
    const struct sa_rl_config *c = &j->train;
    DISR_TRY(need_files(j->agent, j->data, j->out));
    DISR_TRY(need_int(c->prompts, 1, "prompts"));
    DISR_TRY(need_int(c->group, 1, "group"));
    DISR_TRY(need_float(c->beta, 0, false, "beta"));
    DISR_TRY(need_int(c->anchors, 0, "anchors"));
    DISR_TRY(need_float(c->anchor_weight, 0, true, "anchor weight"));
    DISR_TRY(need_float(c->anchor_temperature, 0, false, "anchor temperature"));
    return check_common(c->steps, c->batch, c->seq, c->warmup, c->lr, &c->gen, c->checkpoint_every);
}

struct rl_run {
    struct model *policy, *ref, *anchor_model;
    struct qa_set data, anchor_data;
    struct sa_rl_config c;
};

static int rl_run(const struct sa_rl_job *j, struct rl_run *s, struct sa_rl_report *r) {
    struct sa_rl_config *c = &s->c;
    DISR_TRY(model_load(&s->policy, j->agent));
    if (!s->policy->params && !c->last)
        return disr_fail(DISR_E_STATE, "%s is quantized: training needs an all-F32 model",
                         j->agent);
    if (c->last) {
        /* The last agent always answers: the reward of a reject is irrelevant to it, and RL on
         * correctness alone would teach it the task, which self-awareness training must not. */
        log_info("sa-rl: %s is the last agent: copied unchanged to %s", j->agent, j->out);
        DISR_TRY(model_save(s->policy, j->out, NULL));
        r->copied = r->finished = true;
        return DISR_OK;
    }
    DISR_TRY(model_load(&s->ref, j->ref ? j->ref : j->agent));
    DISR_TRY(qa_set_load(&s->data, j->data));
    if (j->anchor_data) {
        DISR_TRY(qa_set_load(&s->anchor_data, j->anchor_data));
        c->anchor_data = &s->anchor_data;
    }
    if (j->anchor_model) DISR_TRY(model_load(&s->anchor_model, j->anchor_model));
    c->anchor_model = s->anchor_model;
    DISR_TRY(sa_rl_train(s->policy, s->ref, &s->data, c, &r->train));
    return save_finished(s->policy, r->train.steps_done, c->steps, j->out, c->checkpoint,
                         &r->finished);
}

int sa_rl_job_run(const struct sa_rl_job *j, struct sa_rl_report *r) {
    *r = (struct sa_rl_report){0};
    DISR_TRY(sa_rl_job_check(j));
    struct rl_run s = {.c = j->train};
    qa_set_init(&s.data);
    qa_set_init(&s.anchor_data);
    s.c.gen.seed = s.c.seed;
    s.c.anchor_data = NULL;
    s.c.anchor_model = NULL;
    s.c.checkpoint = checkpoint_path(s.c.checkpoint, j->out, r->checkpoint, sizeof r->checkpoint);
    int st = rl_run(j, &s, r);
    model_free(s.policy);
    model_free(s.ref);
    model_free(s.anchor_model);
    qa_set_free(&s.data);
    qa_set_free(&s.anchor_data);
    return st;
}
