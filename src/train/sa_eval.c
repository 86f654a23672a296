/* sa_eval.c: the generation side of self-awareness training (everything that runs the engine):
 * sampling the agent's own answers (Stage 1's competence estimate) and the greedy per-scenario
 * evaluation the report and the SFT check use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "model/engine.h"
#include "world/scenario.h"
#include "train/sa.h"
#include "train/sa_internal.h"

/* Prompts for n items under one scenario each (scen[i]), in one malloc'd block. */
static int make_prompts(const struct qa_set *data, const int *item, const int *scen, int n,
                        char ***out) {
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += strlen(data->items[item[i]].query) + 16;
    char **p = malloc(sizeof(char *) * (size_t)n + total);
    if (!p) return disr_fail(DISR_E_NOMEM, "prompts: %d of %zu bytes", n, total);
    char *buf = (char *)(p + n);
    for (int i = 0; i < n; i++) {
        size_t cap = strlen(data->items[item[i]].query) + 16;
        int len =
            scenario_format_prompt(buf, cap, data->items[item[i]].query, (enum scenario)scen[i]);
        if (len < 0) {
            free(p);
            return len;
        }
        p[i] = buf;
        buf += len + 1;
    }
    *out = p;
    return DISR_OK;
}

int sa_engine_init(struct model *m, const struct sa_gen_config *g, struct engine **e) {
    struct engine_params ep = {
        .max_seqs = g->max_seqs > 0 ? g->max_seqs : 32, .n_ctx = 0, .n_threads = g->n_threads};
    return engine_init(e, m, &ep);
}

/* Sampling of one answer line: full distribution at `temperature`, up to g->max_tokens. */
static struct gen_params sa_gen_params(const struct sa_gen_config *g, float temperature,
                                       uint64_t seed) {
    return (struct gen_params){.temperature = temperature,
                               .top_k = 0,
                               .top_p = 1.0f,
                               .seed = seed,
                               .max_tokens = g->max_tokens,
                               .stop_char = '\n'};
}

int sa_generate(struct engine *e, const struct qa_set *data, const int *item, const int *scen,
                int n, const struct sa_gen_config *g, float temperature, uint64_t seed,
                struct gen_result *res) {
    char **prompts = NULL;
    DISR_TRY(make_prompts(data, item, scen, n, &prompts));
    struct gen_params gp = sa_gen_params(g, temperature, seed);
    int st = engine_generate_batch(e, n, (const char *const *)prompts, &gp, res);
    free(prompts);
    return st;
}

int sa_generate_groups(struct engine *e, const struct qa_set *data, const int *item,
                       const int *scen, int n, int group, const struct sa_gen_config *g,
                       float temperature, uint64_t seed, struct gen_result *res) {
    char **prompts = NULL;
    DISR_TRY(make_prompts(data, item, scen, n, &prompts));
    struct gen_params gp = sa_gen_params(g, temperature, seed);
    int st = engine_generate_groups(e, n, (const char *const *)prompts, group, &gp, res);
    free(prompts);
    return st;
}

int sa_sample(struct model *m, const struct qa_set *data, int n_samples,
              const struct sa_gen_config *g, struct sa_samples *out) {
    if (n_samples < 1 || n_samples > 1024)
        return disr_fail(DISR_E_ARG, "samples per query must be 1..1024, got %d", n_samples);
    DISR_TRY(sa_samples_alloc(out, data->n, n_samples));
    struct engine *e = NULL;
    int st = sa_engine_init(m, g, &e);
    if (st < 0) {
        sa_samples_free(out);
        return st;
    }
    /* Chunks of whole queries keep the progress line alive and memory flat. */
    int per_chunk = 256 / n_samples > 0 ? 256 / n_samples : 1;
    int cap = per_chunk * n_samples;
    int *item = malloc(sizeof(int) * (size_t)cap), *scen = calloc((size_t)cap, sizeof(int));
    struct gen_result *res = malloc(sizeof(struct gen_result) * (size_t)cap);
    if (!item || !scen || !res) st = disr_fail(DISR_E_NOMEM, "sampling buffers");
    struct progress pr;
    progress_init(&pr, "sa-sample", data->n);
    double t0 = time_now();
    long total_correct = 0, tokens = 0;
    for (int q0 = 0; st >= 0 && q0 < data->n; q0 += per_chunk) {
        int nq = data->n - q0 < per_chunk ? data->n - q0 : per_chunk;
        for (int i = 0; i < nq; i++)
            item[i] = q0 + i;
        st = sa_generate_groups(e, data, item, scen, nq, n_samples, g, g->temperature,
                                g->seed + (uint64_t)q0 * (uint64_t)n_samples, res);
        for (int i = 0; st >= 0 && i < nq * n_samples; i++) {
            int q = q0 + i / n_samples;
            const struct qa_item *it = &data->items[q];
            tokens += res[i].n_tokens;
            if (i % n_samples == 0 && !res[i].truncated &&
                !(out->first_sample[q] = strdup(res[i].text)))
                st = disr_fail(DISR_E_NOMEM, "sample text");
            if (res[i].truncated || !grader_check(it->grader, it->answer, res[i].text)) continue;
            out->n_correct[q]++;
            total_correct++;
            if (!out->own_answer[q] && !(out->own_answer[q] = strdup(res[i].text)))
                st = disr_fail(DISR_E_NOMEM, "sample text");
        }
        char extra[96];
        snprintf(extra, sizeof extra, "p̂ mean %.3f  %.0f tok/s",
                 (double)total_correct / ((double)(q0 + nq) * n_samples),
                 tokens / (time_now() - t0 + 1e-9));
        progress_update(&pr, q0 + nq, extra);
    }
    if (st >= 0) {
        char extra[64];
        snprintf(extra, sizeof extra, "p̂ mean %.3f",
                 data->n ? (double)total_correct / ((double)data->n * n_samples) : 0.0);
        progress_finish(&pr, data->n, extra);
    }
    out->seconds = time_now() - t0;
    free(item);
    free(scen);
    free(res);
    engine_free(e);
    if (st < 0) sa_samples_free(out);
    return st;
}

int sa_eval_agent(struct model *m, const struct qa_set *data, const struct sa_gen_config *g,
                  struct sa_agent_eval *out) {
    *out = (struct sa_agent_eval){.n = data->n};
    int st = DISR_OK;
    size_t n = (size_t)data->n + 1;
    out->forced_correct = calloc(n, sizeof(bool));
    for (int s = 0; s < SCENARIO_COUNT; s++) {
        out->answered[s] = calloc(n, sizeof(bool));
        out->correct[s] = calloc(n, sizeof(bool));
        if (!out->answered[s] || !out->correct[s]) st = DISR_E_NOMEM;
    }
    if (st < 0 || !out->forced_correct) {
        sa_eval_free(out);
        return disr_fail(DISR_E_NOMEM, "evaluation of %d queries", data->n);
    }
    struct engine *e = NULL;
    if ((st = sa_engine_init(m, g, &e)) < 0) {
        sa_eval_free(out);
        return st;
    }
    /* Every query under its four prompts (forced, P, B, C), greedy, in chunks. */
    enum { CHUNK = 64 };
    int item[CHUNK * 4], scen[CHUNK * 4];
    struct gen_result *res = malloc(sizeof(struct gen_result) * CHUNK * 4);
    if (!res) st = disr_fail(DISR_E_NOMEM, "evaluation buffers");
    struct progress pr;
    progress_init(&pr, "sa-eval", data->n);
    for (int q0 = 0; st >= 0 && q0 < data->n; q0 += CHUNK) {
        int nq = data->n - q0 < CHUNK ? data->n - q0 : CHUNK;
        for (int i = 0; i < nq * 4; i++)
            item[i] = q0 + i / 4, scen[i] = i % 4;
        st = sa_generate(e, data, item, scen, nq * 4, g, 0.0f, g->seed, res);
        for (int i = 0; st >= 0 && i < nq * 4; i++) {
            const struct qa_item *it = &data->items[item[i]];
            bool ok = !res[i].truncated && grader_check(it->grader, it->answer, res[i].text);
            if (scen[i] == SCENARIO_NONE) {
                out->forced_correct[item[i]] = ok;
            } else {
                bool answered = !scenario_output_rejects(res[i].text, res[i].truncated);
                out->answered[scen[i] - 1][item[i]] = answered;
                out->n_broken[scen[i] - 1] += answered && scenario_is_broken_reject(res[i].text);
                out->correct[scen[i] - 1][item[i]] = answered && ok;
            }
        }
        progress_update(&pr, q0 + nq, "");
    }
    if (st >= 0) progress_finish(&pr, data->n, "");
    free(res);
    engine_free(e);
    if (st < 0) {
        sa_eval_free(out);
        return st;
    }
    sa_eval_summarize(out);
    return DISR_OK;
}
