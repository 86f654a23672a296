/* The engine backend: an embedded model behind continuous batching. HTTP threads (or any
 * caller) enqueue a request and wait; one inference thread owns the engine and runs
 * engine_step over every active slot, admitting queued requests into free slots between steps
 * (llama.cpp server's update_slots loop). After each step it passes each slot's new text to the
 * request's on_text callback, so a decided reject frees its slot at once and an answer streams
 * token by token. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "model/engine.h"
#include "model/tokenizer.h"
#include "route/backend.h"
#include "route/backend_engine.h"

struct ereq {
    char *prompt;
    struct gen_params g;
    int n_prompt_tokens;
    int (*on_text)(void *ctx, const char *piece, size_t len);
    void *ctx;
    size_t emitted; /* bytes of the result text already passed to on_text */
    struct gen_output *out;
    int status;
    bool done;
    struct ereq *next;
};

struct engine_backend {
    struct backend base;
    struct model *m;
    bool own_model;
    struct engine *e;
    int max_seqs;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t work;      /* to the inference thread: a request arrived, or stop */
    pthread_cond_t done;      /* to waiting callers: some request finished */
    struct ereq *head, *tail; /* waiting for a slot */
    struct ereq **active;     /* [max_seqs]: the request in each slot, or NULL */
    int n_active;
    bool stop;
    atomic_ulong steps, slot_steps, max_batch;
};

/* Copies the per-token log probabilities when the engine kept one for every token. */
static void gen_output_set_token_logprobs(struct gen_output *out, const struct gen_result *res) {
    int n = res->n_tokens;
    out->n_token_logprob = 0;
    if (n > GEN_MAX_TOKEN_LP || n > BACKEND_MAX_TOKEN_LP) return;
    memcpy(out->token_logprob, res->token_logprob, (size_t)n * sizeof *res->token_logprob);
    memcpy(out->token_end, res->token_end, (size_t)n * sizeof *res->token_end);
    out->n_token_logprob = n;
}

/* Passes new text to the callback; finishes the request when the slot is done or the callback
 * asks to stop. Runs on the inference thread, without the lock. Returns true when finished. */
static bool slot_progress(struct engine_backend *b, int slot, struct ereq *r) {
    struct gen_result res;
    r->status = engine_slot_result(b->e, slot, &res);
    bool finished = r->status < 0 || engine_slot_done(b->e, slot);
    size_t len = strlen(res.text);
    if (r->status == DISR_OK && len > r->emitted) {
        if (r->on_text && r->on_text(r->ctx, res.text + r->emitted, len - r->emitted)) {
            r->out->stopped = true;
            finished = true;
        }
        r->emitted = len;
    }
    if (!finished) return false;
    if (r->status == DISR_OK) {
        gen_output_append(r->out, res.text, len);
        r->out->n_tokens = res.n_tokens;
        r->out->sum_logprob = res.sum_logprob;
        r->out->has_logprob = true;
        gen_output_set_token_logprobs(r->out, &res);
        r->out->truncated = r->out->truncated || res.truncated;
        r->out->n_prompt_tokens = r->n_prompt_tokens;
    }
    return true;
}

static void finish(struct engine_backend *b, int slot, struct ereq *r) {
    engine_slot_release(b->e, slot);
    pthread_mutex_lock(&b->mu);
    b->active[slot] = NULL;
    b->n_active--;
    r->done = true;
    pthread_cond_broadcast(&b->done);
    pthread_mutex_unlock(&b->mu);
}

static void *inference_loop(void *arg) {
    struct engine_backend *b = arg;
    for (;;) {
        pthread_mutex_lock(&b->mu);
        while (!b->stop && !b->head && b->n_active == 0)
            pthread_cond_wait(&b->work, &b->mu);
        if (b->stop && b->n_active == 0 && !b->head) {
            pthread_mutex_unlock(&b->mu);
            return NULL;
        }
        /* admit waiting requests into free slots */
        while (b->head && b->n_active < b->max_seqs) {
            struct ereq *r = b->head;
            int slot = engine_slot_start(b->e, r->prompt, &r->g);
            if (slot == DISR_E_STATE) break; /* all busy after all */
            b->head = r->next;
            if (!b->head) b->tail = NULL;
            if (slot < 0) {
                r->status = slot;
                r->done = true;
                pthread_cond_broadcast(&b->done);
                continue;
            }
            b->active[slot] = r;
            b->n_active++;
        }
        int n_active = b->n_active;
        pthread_mutex_unlock(&b->mu);
        if (n_active == 0) continue;

        int st = engine_step(b->e);
        atomic_fetch_add(&b->steps, 1);
        atomic_fetch_add(&b->slot_steps, (unsigned long)n_active);
        if ((unsigned long)n_active > atomic_load(&b->max_batch))
            atomic_store(&b->max_batch, (unsigned long)n_active);
        for (int s = 0; s < b->max_seqs; s++) {
            struct ereq *r = b->active[s]; /* only this thread changes active[] entries */
            if (!r) continue;
            if (st < 0) {
                r->status = st;
                finish(b, s, r);
            } else if (slot_progress(b, s, r)) {
                finish(b, s, r);
            }
        }
    }
}

int backend_engine_prompt(const struct model *m, const char *query, enum scenario s, char *buf,
                          size_t cap, char *stop_char) {
    const struct tokenizer *t = m->tokenizer;
    if (!t) return disr_fail(DISR_E_STATE, "engine backend: the model has no tokenizer");
    if (tokenizer_kind(t) == TOKENIZER_CHAR) {
        *stop_char = '\n'; /* built-in agents end an answer with a newline */
        return scenario_format_prompt(buf, cap, query, s);
    }
    *stop_char = 0;
    return tokenizer_apply_chat(t, scenario_system_prompt(s), query, buf, cap);
}

static int format_prompt(const struct engine_backend *b, const struct gen_request *rq, char **out,
                         char *stop_char) {
    size_t cap = strlen(rq->query) + 4096;
    char *buf = malloc(cap);
    if (!buf) return disr_fail(DISR_E_NOMEM, "engine backend: out of memory");
    int st = backend_engine_prompt(b->m, rq->query, rq->scenario, buf, cap, stop_char);
    if (st < 0) {
        free(buf);
        return st;
    }
    *out = buf;
    return DISR_OK;
}

static int engine_be_generate(struct backend *base, const struct gen_request *rq,
                              struct gen_output *out) {
    struct engine_backend *b = (struct engine_backend *)base;
    memset(out, 0, sizeof *out);
    struct ereq r = {.on_text = rq->on_text, .ctx = rq->ctx, .out = out};
    char stop = 0;
    DISR_TRY(format_prompt(b, rq, &r.prompt, &stop));
    r.g = (struct gen_params){.temperature = rq->temperature,
                              .top_k = 0,
                              .top_p = 1,
                              .seed = rq->seed,
                              .max_tokens = rq->max_tokens,
                              .stop_char = stop};
    /* prompt length for usage; a prompt the vocabulary cannot encode fails here, clearly */
    size_t plen = strlen(r.prompt);
    int32_t *ids = malloc((plen + 8) * sizeof *ids);
    int st = ids ? tokenizer_encode(b->m->tokenizer, r.prompt, plen, ids, (int)plen + 8,
                                    &r.n_prompt_tokens)
                 : disr_fail(DISR_E_NOMEM, "out of memory");
    free(ids);
    if (st < 0) {
        free(r.prompt);
        return st;
    }
    pthread_mutex_lock(&b->mu);
    if (b->stop) {
        pthread_mutex_unlock(&b->mu);
        free(r.prompt);
        return disr_fail(DISR_E_STATE, "engine backend is stopping");
    }
    if (b->tail)
        b->tail->next = &r;
    else
        b->head = &r;
    b->tail = &r;
    pthread_cond_signal(&b->work);
    while (!r.done)
        pthread_cond_wait(&b->done, &b->mu);
    pthread_mutex_unlock(&b->mu);
    free(r.prompt);
    return r.status;
}

static void engine_be_free(struct backend *base) {
    struct engine_backend *b = (struct engine_backend *)base;
    pthread_mutex_lock(&b->mu);
    b->stop = true;
    pthread_cond_signal(&b->work);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->th, NULL);
    engine_free(b->e);
    if (b->own_model) model_free(b->m);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->work);
    pthread_cond_destroy(&b->done);
    free(b->active);
    free(b);
}

static const struct backend_ops engine_ops = {"engine", engine_be_generate, engine_be_free};

int backend_engine_create(struct backend **out, struct model *m, bool take_model, int max_seqs,
                          int n_threads) {
    if (!m) return disr_fail(DISR_E_ARG, "engine backend: no model");
    if (max_seqs < 1 || max_seqs > 256)
        return disr_fail(DISR_E_RANGE, "engine backend: slots must be 1..256");
    if (n_threads <= 0) {
        /* leave a core to the HTTP threads */
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = ncpu > 1 ? (int)ncpu - 1 : 1;
    }
    struct engine_backend *b = calloc(1, sizeof *b);
    if (!b) return disr_fail(DISR_E_NOMEM, "engine backend: out of memory");
    b->base.ops = &engine_ops;
    b->m = m;
    b->max_seqs = max_seqs;
    b->active = calloc((size_t)max_seqs, sizeof *b->active);
    struct engine_params p = {.max_seqs = max_seqs, .n_ctx = 0, .n_threads = n_threads};
    int st = b->active ? engine_init(&b->e, m, &p) : disr_fail(DISR_E_NOMEM, "out of memory");
    if (st < 0) {
        free(b->active);
        free(b);
        return st;
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->work, NULL);
    pthread_cond_init(&b->done, NULL);
    if (pthread_create(&b->th, NULL, inference_loop, b)) {
        engine_free(b->e);
        free(b->active);
        free(b);
        return disr_fail(DISR_E_STATE, "engine backend: cannot start the inference thread");
    }
    b->own_model = take_model;
    *out = &b->base;
    return DISR_OK;
}

int backend_engine_stats(const struct backend *base, struct engine_backend_stats *s) {
    if (base->ops != &engine_ops) return disr_fail(DISR_E_ARG, "not an engine backend");
    const struct engine_backend *b = (const struct engine_backend *)base;
    s->steps = atomic_load(&b->steps);
    s->slot_steps = atomic_load(&b->slot_steps);
    s->max_batch = atomic_load(&b->max_batch);
    return DISR_OK;
}
