#include "train/zoo.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "core/rng.h"
#include "model/engine.h"
#include "model/gguf.h"
#include "model/model_io.h"
#include "model/tokenizer.h"
#include "train/corpus.h"
#include "train/train_run.h"
#include "world/dataset.h"
#include "world/score.h"

#define ZOO_N_CTX       256 /* context of every agent (the longest OOD query fits) */
#define ZOO_LADDER      5   /* sizes per preset; n agents take the last n */
#define ZOO_SCORE_BATCH 32
/* Seed salts, + the agent's index: its initial weights and its training batches. */
enum { ZOO_SALT_INIT = 100, ZOO_SALT_TRAIN = 200 };
/* Loss weight of the questions in the stream. With none, a 1 M agent after 5000 steps knew 35 %
 * of the facts; with 0.2 it knew 71.5 %, and two-hop went from 28.5 to 65 %: predicting the
 * questions teaches the entity names, while the answers still dominate the loss (0.5 was worse;
 * docs/WORLD.md, "Why the stream looks as it does"). */
#define ZOO_PROMPT_WEIGHT 0.2f

/* The ladders. Batch 8: at these sizes a step costs about the same per token whatever the
 * batch, and the tasks are learned in optimizer steps, so small batches buy more updates for the
 * same minutes. Below about 80 K parameters an agent never learns to copy (read, sort) however
 * long it trains, and above it every size learns every level given enough tokens, so the steps
 * set each agent's zone of competence: the easy levels for the cheapest, nearly all of them for
 * the dearest. The default family trains in two lanes (the largest alone on one core, the others
 * one after another on the other) within the 20-minute budget; docs/WORLD.md holds the measured
 * ladder. The quick family only has to answer some easy queries in about 30 seconds. */
static const struct zoo_size LADDER[3][ZOO_LADDER] = {
    [WORLD_QUICK] = {{16, 1, 2, 0, 300, 3e-3f},
                     {16, 2, 2, 0, 300, 3e-3f},
                     {24, 2, 2, 0, 300, 3e-3f},
                     {32, 2, 2, 0, 400, 3e-3f},
                     {48, 2, 4, 0, 600, 3e-3f}},
    [WORLD_DEFAULT] = {{32, 2, 2, 0, 6000, 3e-3f},
                       {48, 3, 4, 0, 5900, 3e-3f},
                       {64, 3, 4, 0, 6300, 3e-3f},
                       {96, 4, 4, 0, 6800, 3e-3f},
                       {128, 5, 4, 0, 10000, 3e-3f}},
    [WORLD_FULL] = {{32, 2, 2, 0, 2000, 3e-3f},
                    {64, 3, 4, 0, 2000, 3e-3f},
                    {128, 4, 4, 0, 3000, 2e-3f},
                    {256, 4, 8, 0, 4000, 1.5e-3f},
                    {384, 6, 8, 0, 5000, 1e-3f}},
};

void zoo_config_default(struct zoo_config *c, enum world_size preset) {
    *c = (struct zoo_config){
        .n_agents = 4,
        .preset = preset,
        .batch = preset == WORLD_QUICK     ? 16
                 : preset == WORLD_DEFAULT ? 8
                                           : 32,
        .seq = preset == WORLD_QUICK ? 64 : 128,
        .steps_scale = 1.0,
        .prompt_weight = ZOO_PROMPT_WEIGHT,
        .only = -1,
        .seed = 1,
    };
}

int zoo_agent_size(enum world_size preset, int i, int n, struct zoo_size *out) {
    if (preset < WORLD_QUICK || preset > WORLD_FULL)
        return disr_fail(DISR_E_ARG, "zoo: unknown preset %d", (int)preset);
    if (n < 1 || n > ZOO_LADDER || i < 0 || i >= n)
        return disr_fail(DISR_E_RANGE, "zoo: agent %d of %d (a family has 1 to %d agents)", i, n,
                         ZOO_LADDER);
    *out = LADDER[preset][ZOO_LADDER - n + i];
    /* SwiGLU hidden size ~8/3 C, a multiple of 16 (as Llama does). */
    out->n_ff = (8 * out->n_embd / 3 + 15) / 16 * 16;
    return DISR_OK;
}

double zoo_cost(int i, int n) {
    return n > 1 ? 0.1 + 0.8 * i / (n - 1) : 0.1;
}

/* ---- manifest -------------------------------------------------------------------------------- */

/* {"1": {"n", "correct", "accuracy"}, ...} for each level present; NULL-safe on `parent`. */
static bool levels_to_json(cJSON *parent, const struct score_levels *lv, int max_level) {
    if (max_level < 1) return true;
    cJSON *o = cJSON_AddObjectToObject(parent, "levels");
    if (!o) return false;
    for (int l = 1; l <= max_level; l++) {
        if (!lv->n[l]) continue;
        char key[8];
        snprintf(key, sizeof key, "%d", l);
        cJSON *x = cJSON_AddObjectToObject(o, key);
        if (!x || !cJSON_AddNumberToObject(x, "n", lv->n[l]) ||
            !cJSON_AddNumberToObject(x, "correct", lv->correct[l]) ||
            !cJSON_AddNumberToObject(x, "accuracy", score_level_accuracy(lv, l)))
            return false;
    }
    return true;
}

/* Reads levels_to_json's object back (absent in manifests written before levels existed). */
static void levels_from_json(const cJSON *parent, struct score_levels *lv, int *max_level) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(parent, "levels"), *x;
    cJSON_ArrayForEach(x, o) {
        int l = atoi(x->string);
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(x, "n");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(x, "correct");
        if (l < 1 || l > QA_MAX_DIFFICULTY || !cJSON_IsNumber(n) || !cJSON_IsNumber(c)) continue;
        lv->n[l] = (int)n->valuedouble, lv->correct[l] = (int)c->valuedouble;
        if (l > *max_level) *max_level = l;
    }
}

static cJSON *score_to_json(const struct score_result *r) {
    cJSON *o = cJSON_CreateObject(), *fam = cJSON_AddObjectToObject(o, "families");
    if (!o || !fam || !levels_to_json(o, &r->level, r->max_level)) goto fail;
    if (!cJSON_AddNumberToObject(o, "accuracy", r->n ? (double)r->correct / r->n : 0) ||
        !cJSON_AddNumberToObject(o, "n", r->n) ||
        !cJSON_AddNumberToObject(o, "correct", r->correct))
        goto fail;
    for (int k = 0; k < r->n_fam; k++) {
        cJSON *f = cJSON_AddObjectToObject(fam, r->fam[k].name);
        if (!f || !cJSON_AddNumberToObject(f, "n", r->fam[k].n) ||
            !cJSON_AddNumberToObject(f, "correct", r->fam[k].correct) ||
            !cJSON_AddNumberToObject(f, "accuracy",
                                     r->fam[k].n ? (double)r->fam[k].correct / r->fam[k].n : 0) ||
            !levels_to_json(f, &r->fam[k].level, r->max_level))
            goto fail;
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

int zoo_manifest_save(const struct zoo_manifest *m, const char *path) {
    cJSON *root = cJSON_CreateObject();
    cJSON *agents = cJSON_AddArrayToObject(root, "agents");
    int ok = root && agents && cJSON_AddStringToObject(root, "world", m->world);
    for (int i = 0; ok && i < m->n; i++) {
        const struct zoo_agent *a = &m->agent[i];
        const struct model_config *c = &a->config;
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddItemToArray(agents, o);
        ok = ok && cJSON_AddStringToObject(o, "name", a->name) &&
             cJSON_AddStringToObject(o, "file", a->file) &&
             cJSON_AddNumberToObject(o, "cost", a->cost) &&
             cJSON_AddNumberToObject(o, "params", (double)a->n_params) &&
             cJSON_AddNumberToObject(o, "n_vocab", c->n_vocab) &&
             cJSON_AddNumberToObject(o, "n_embd", c->n_embd) &&
             cJSON_AddNumberToObject(o, "n_layer", c->n_layer) &&
             cJSON_AddNumberToObject(o, "n_head", c->n_head) &&
             cJSON_AddNumberToObject(o, "n_ff", c->n_ff) &&
             cJSON_AddNumberToObject(o, "n_ctx", c->n_ctx) &&
             cJSON_AddNumberToObject(o, "train_tokens", (double)a->train_tokens) &&
             cJSON_AddNumberToObject(o, "train_steps", a->train_steps) &&
             cJSON_AddNumberToObject(o, "train_seconds", a->train_seconds) &&
             cJSON_AddNumberToObject(o, "train_tokens_per_s", a->train_tokens_per_s) &&
             cJSON_AddNumberToObject(o, "final_loss", a->final_loss);
        cJSON *t = ok ? score_to_json(&a->test) : NULL, *d = ok ? score_to_json(&a->ood) : NULL;
        if (t) ok = cJSON_AddItemToObject(o, "test", t);
        if (d) ok = ok && cJSON_AddItemToObject(o, "ood", d);
        ok = ok && t && d;
        if (!ok) {
            if (t && !cJSON_GetObjectItem(o, "test")) cJSON_Delete(t);
            if (d && !cJSON_GetObjectItem(o, "ood")) cJSON_Delete(d);
        }
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) return disr_fail(DISR_E_NOMEM, "zoo: encoding %s", path);
    size_t len = strlen(text);
    text[len] = '\n'; /* the buffer's NUL byte becomes the final newline */
    int st = file_write_atomic(path, text, len + 1);
    cJSON_free(text);
    return st;
}

static int get_num(const cJSON *o, const char *key, double *out, const char *path, int i) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        return disr_fail(DISR_E_FORMAT, "%s: agent %d: missing number \"%s\"", path, i, key);
    *out = v->valuedouble;
    return DISR_OK;
}

static int get_str(const cJSON *o, const char *key, char *out, size_t cap, const char *path,
                   int i) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
        return disr_fail(DISR_E_FORMAT, "%s: agent %d: missing or too long string \"%s\"", path, i,
                         key);
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return DISR_OK;
}

static int score_from_json(const cJSON *o, struct score_result *r, const char *path, int i) {
    memset(r, 0, sizeof *r);
    const cJSON *fam = cJSON_GetObjectItemCaseSensitive(o, "families"), *f;
    if (!cJSON_IsObject(fam))
        return disr_fail(DISR_E_FORMAT, "%s: agent %d: scores lack \"families\"", path, i);
    cJSON_ArrayForEach(f, fam) {
        if (r->n_fam == SCORE_MAX_FAMILIES) break;
        struct score_family *sf = &r->fam[r->n_fam++];
        double n = 0, c = 0;
        DISR_TRY(get_num(f, "n", &n, path, i));
        DISR_TRY(get_num(f, "correct", &c, path, i));
        snprintf(sf->name, sizeof sf->name, "%s", f->string);
        sf->n = (int)n, sf->correct = (int)c;
        r->n += sf->n, r->correct += sf->correct;
        levels_from_json(f, &sf->level, &r->max_level);
    }
    levels_from_json(o, &r->level, &r->max_level);
    return DISR_OK;
}

static int manifest_parse(cJSON *root, struct zoo_manifest *m, const char *path) {
    const cJSON *agents = cJSON_GetObjectItemCaseSensitive(root, "agents"), *o;
    const cJSON *world = cJSON_GetObjectItemCaseSensitive(root, "world");
    if (!cJSON_IsArray(agents) || !cJSON_IsString(world))
        return disr_fail(DISR_E_FORMAT, "%s: not a zoo manifest (needs \"world\" and \"agents\")",
                         path);
    snprintf(m->world, sizeof m->world, "%s", world->valuestring);
    cJSON_ArrayForEach(o, agents) {
        int i = m->n;
        if (i == ZOO_MAX_AGENTS)
            return disr_fail(DISR_E_RANGE, "%s: more than %d agents", path, ZOO_MAX_AGENTS);
        struct zoo_agent *a = &m->agent[i];
        double v[12] = {0};
        static const char *const keys[12] = {
            "cost", "params", "n_vocab",      "n_embd",      "n_layer",       "n_head",
            "n_ff", "n_ctx",  "train_tokens", "train_steps", "train_seconds", "final_loss"};
        DISR_TRY(get_str(o, "name", a->name, sizeof a->name, path, i));
        DISR_TRY(get_str(o, "file", a->file, sizeof a->file, path, i));
        for (int k = 0; k < 12; k++)
            DISR_TRY(get_num(o, keys[k], &v[k], path, i));
        a->cost = v[0], a->n_params = (size_t)v[1];
        a->config = (struct model_config){
            .arch = MODEL_ARCH_LLAMA,
            .n_vocab = (int)v[2],
            .n_embd = (int)v[3],
            .n_layer = (int)v[4],
            .n_head = (int)v[5],
            .n_head_kv = (int)v[5],
            .n_ff = (int)v[6],
            .n_ctx = (int)v[7],
            .norm_eps = 1e-5f,
            .rope_base = 10000.0f,
            .rope_style = ROPE_NORMAL,
            .tied_output = true,
        };
        a->train_tokens = (int64_t)v[8], a->train_steps = (int)v[9];
        a->train_seconds = v[10], a->final_loss = (float)v[11];
        const cJSON *tps = cJSON_GetObjectItemCaseSensitive(o, "train_tokens_per_s");
        a->train_tokens_per_s = cJSON_IsNumber(tps) ? tps->valuedouble : 0;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "test");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "ood");
        if (!cJSON_IsObject(t) || !cJSON_IsObject(d))
            return disr_fail(DISR_E_FORMAT, "%s: agent %d: missing \"test\" or \"ood\"", path, i);
        DISR_TRY(score_from_json(t, &a->test, path, i));
        DISR_TRY(score_from_json(d, &a->ood, path, i));
        m->n++;
    }
    return DISR_OK;
}

int zoo_manifest_load(const char *path, struct zoo_manifest *m) {
    memset(m, 0, sizeof *m);
    if (access(path, F_OK) != 0) return disr_fail(DISR_E_NOTFOUND, "%s: no such manifest", path);
    cJSON *root;
    DISR_TRY(file_read_json(path, &root));
    int st = manifest_parse(root, m, path);
    cJSON_Delete(root);
    if (st < 0) memset(m, 0, sizeof *m);
    return st;
}

/* ---- training -------------------------------------------------------------------------------- */

static int path_join(char *out, size_t cap, const char *dir, const char *file) {
    int n = snprintf(out, cap, "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= cap) return disr_fail(DISR_E_ARG, "path too long: %s/%s", dir, file);
    return DISR_OK;
}

/* Everything an agent's training needs that is shared by the family. */
struct zoo_data {
    struct corpus *corpus; /* the pretraining stream, tokenized */
    struct qa_set test, ood;
};

static int score_agent(struct model *m, const struct zoo_data *d, int threads,
                       struct zoo_agent *a) {
    struct engine *e;
    struct engine_params ep = {.max_seqs = ZOO_SCORE_BATCH, .n_ctx = 0, .n_threads = threads};
    DISR_TRY(engine_init(&e, m, &ep));
    struct progress p;
    char label[48];
    snprintf(label, sizeof label, "%s score", a->name);
    progress_init(&p, label, d->test.n + d->ood.n);
    int st = world_score_engine(e, &d->test, ZOO_SCORE_BATCH, SCORE_MAX_TOKENS, &a->test, NULL,
                                NULL, NULL);
    if (st == DISR_OK) progress_update(&p, d->test.n, NULL);
    if (st == DISR_OK)
        st = world_score_engine(e, &d->ood, ZOO_SCORE_BATCH, SCORE_MAX_TOKENS, &a->ood, NULL, NULL,
                                NULL);
    if (st == DISR_OK) progress_finish(&p, d->test.n + d->ood.n, NULL);
    engine_free(e);
    return st;
}

/* Does the manifest already hold a finished agent i with this shape and budget? */
static bool agent_done(const struct zoo_manifest *man, const struct zoo_agent *want,
                       const char *dir) {
    for (int k = 0; k < man->n; k++) {
        const struct zoo_agent *a = &man->agent[k];
        if (strcmp(a->name, want->name) || a->config.n_embd != want->config.n_embd ||
            a->config.n_layer != want->config.n_layer || a->train_steps != want->train_steps ||
            a->train_tokens != want->train_tokens)
            continue;
        char path[4096];
        return path_join(path, sizeof path, dir, a->file) == DISR_OK && access(path, R_OK) == 0;
    }
    return false;
}

static void manifest_put(struct zoo_manifest *man, const struct zoo_agent *a) {
    int k = 0;
    while (k < man->n && strcmp(man->agent[k].name, a->name))
        k++;
    if (k == man->n) man->n++;
    man->agent[k] = *a;
    /* keep the manifest ordered by name (agent0, agent1, ...: by cost) */
    for (int i = k; i > 0 && strcmp(man->agent[i - 1].name, man->agent[i].name) > 0; i--) {
        struct zoo_agent t = man->agent[i];
        man->agent[i] = man->agent[i - 1], man->agent[i - 1] = t;
    }
}

/* Records a finished agent in the manifest file. Agents may train in separate processes side by
 * side (`disr zoo --lanes`), each rewriting zoo.json: under an exclusive lock, the file is read
 * again and this agent merged into it, so no process overwrites another's agent. */
static int manifest_record(struct zoo_manifest *man, const struct zoo_agent *a,
                           const char *man_path) {
    char lock_path[4200];
    snprintf(lock_path, sizeof lock_path, "%s.lock", man_path);
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return disr_fail(DISR_E_IO, "zoo: cannot open %s", lock_path);
    while (flock(fd, LOCK_EX) < 0)
        if (errno != EINTR) {
            close(fd);
            return disr_fail(DISR_E_IO, "zoo: cannot lock %s", lock_path);
        }
    struct zoo_manifest *disk = malloc(sizeof *disk);
    int st = disk ? zoo_manifest_load(man_path, disk) : disr_fail(DISR_E_NOMEM, "zoo: manifest");
    if (st == DISR_E_NOTFOUND) st = DISR_OK, disk->n = 0;
    if (st == DISR_OK) /* agents another process finished meanwhile */
        for (int k = 0; k < disk->n; k++) {
            bool known = false;
            for (int j = 0; j < man->n; j++)
                known |= !strcmp(man->agent[j].name, disk->agent[k].name);
            if (!known) manifest_put(man, &disk->agent[k]);
        }
    free(disk);
    manifest_put(man, a);
    if (st == DISR_OK) st = zoo_manifest_save(man, man_path);
    flock(fd, LOCK_UN);
    close(fd);
    return st;
}

static int train_agent(const struct zoo_config *c, const struct zoo_data *d, int i,
                       const struct zoo_size *sz, struct zoo_agent *a) {
    char path[4096], ckpt[4096], ckpt_opt[4200];
    DISR_TRY(path_join(path, sizeof path, c->out_dir, a->file));
    char ckname[96];
    snprintf(ckname, sizeof ckname, "%s.ckpt.gguf", a->name);
    DISR_TRY(path_join(ckpt, sizeof ckpt, c->out_dir, ckname));
    snprintf(ckpt_opt, sizeof ckpt_opt, "%s.opt", ckpt);

    struct tokenizer *tok;
    DISR_TRY(tokenizer_init_char(&tok, d->corpus->text, d->corpus->text_len));
    a->config.n_vocab = tokenizer_n_vocab(tok);
    struct model *m;
    DISR_TRY(model_init_random(&m, &a->config, tok,
                               rng_derive_seed(c->seed, ZOO_SALT_INIT + (uint64_t)i)));
    a->n_params = m->n_params;

    struct train_config tc;
    train_config_default(&tc);
    tc.batch = c->batch, tc.seq = c->seq, tc.steps = a->train_steps, tc.lr = sz->lr;
    tc.seed = rng_derive_seed(c->seed, ZOO_SALT_TRAIN + (uint64_t)i);
    tc.threads = c->threads;
    struct train_run_opts o = {.checkpoint = ckpt,
                               .checkpoint_every =
                                   a->train_steps / 10 > 0 ? a->train_steps / 10 : 1,
                               .resume = true,
                               .label = a->name};
    struct train_run_result r;
    log_info("zoo: %s: %zu parameters (C %d, L %d, H %d, F %d), %d steps of %d x %d tokens",
             a->name, m->n_params, a->config.n_embd, a->config.n_layer, a->config.n_head,
             a->config.n_ff, a->train_steps, c->batch, c->seq);
    int st = train_run(m, d->corpus, &tc, &o, &r);
    if (st == DISR_OK) {
        /* seconds of this call: a resumed agent reports only its last part */
        a->train_seconds = r.seconds;
        a->train_tokens_per_s = r.tokens_per_s;
        a->final_loss = r.final_loss;
        struct gguf_writer *meta = model_meta(m);
        if (!meta) st = disr_fail(DISR_E_NOMEM, "zoo: metadata");
        if (st == DISR_OK) st = gguf_writer_set_f32(meta, "disr.cost", (float)a->cost);
        char gname[64];
        snprintf(gname, sizeof gname, "disr-%s", a->name);
        struct model_save_opts so = {.type = DTYPE_F32, .name = gname};
        if (st == DISR_OK) st = model_save(m, path, &so);
    }
    if (st == DISR_OK) st = score_agent(m, d, c->threads, a);
    model_free(m);
    if (st == DISR_OK) {
        remove(ckpt);
        remove(ckpt_opt);
    }
    return st;
}

/* Scores a finished agent of the manifest again (its training record is kept): for test sets
 * that changed after the family was trained. */
static int rescore_agent(const struct zoo_config *c, const struct zoo_data *d,
                         struct zoo_manifest *man, const char *name) {
    struct zoo_agent *a = NULL;
    for (int k = 0; k < man->n && !a; k++)
        if (!strcmp(man->agent[k].name, name)) a = &man->agent[k];
    if (!a) return disr_fail(DISR_E_STATE, "zoo: %s is not in the manifest", name);
    char path[4096];
    DISR_TRY(path_join(path, sizeof path, c->out_dir, a->file));
    struct model *m;
    DISR_TRY(model_load(&m, path));
    log_info("zoo: %s already trained, scoring it again", a->name);
    struct zoo_agent scored = *a;
    int st = score_agent(m, d, c->threads, &scored);
    model_free(m);
    if (st == DISR_OK) *a = scored;
    return st;
}

static int load_data(const struct zoo_config *c, struct zoo_data *d) {
    char path[4096];
    qa_set_init(&d->test);
    qa_set_init(&d->ood);
    DISR_TRY(path_join(path, sizeof path, c->world_dir, WORLD_FILE_PRETRAIN));
    /* Answers (and statements) carry full weight; the questions a fraction (docs/WORLD.md). */
    DISR_TRY(corpus_load(&d->corpus, path, true));
    d->corpus->prompt_weight = c->prompt_weight;
    struct tokenizer *tok;
    DISR_TRY(tokenizer_init_char(&tok, d->corpus->text, d->corpus->text_len));
    int st = corpus_tokenize(d->corpus, tok);
    tokenizer_free(tok);
    DISR_TRY(st);
    DISR_TRY(path_join(path, sizeof path, c->world_dir, WORLD_FILE_TEST));
    DISR_TRY(qa_set_load(&d->test, path));
    DISR_TRY(path_join(path, sizeof path, c->world_dir, WORLD_FILE_OOD));
    return qa_set_load(&d->ood, path);
}

static void log_summary(const struct zoo_manifest *man) {
    log_info("zoo: %-8s %9s %5s %8s %6s %6s", "agent", "params", "cost", "train s", "test", "ood");
    for (int k = 0; k < man->n; k++) {
        const struct zoo_agent *a = &man->agent[k];
        log_info("zoo: %-8s %9zu %5.2f %8.1f %6.3f %6.3f", a->name, a->n_params, a->cost,
                 a->train_seconds, score_accuracy(&a->test, NULL), score_accuracy(&a->ood, NULL));
    }
}

int zoo_run(const struct zoo_config *c, struct zoo_manifest *out) {
    if (!c->world_dir || !c->out_dir) return disr_fail(DISR_E_ARG, "zoo: world and out needed");
    if (c->n_agents < 1 || c->n_agents > ZOO_LADDER)
        return disr_fail(DISR_E_RANGE, "zoo: %d agents (1 .. %d)", c->n_agents, ZOO_LADDER);
    if (c->only >= c->n_agents)
        return disr_fail(DISR_E_RANGE, "zoo: agent %d of %d", c->only, c->n_agents);
    if (c->batch < 1 || c->seq < 2 || c->seq > ZOO_N_CTX || !(c->steps_scale > 0))
        return disr_fail(DISR_E_RANGE, "zoo: batch %d, seq %d (2 .. %d), steps scale %g", c->batch,
                         c->seq, ZOO_N_CTX, c->steps_scale);
    DISR_TRY(file_mkdir_p(c->out_dir));
    char man_path[4096];
    DISR_TRY(path_join(man_path, sizeof man_path, c->out_dir, ZOO_MANIFEST));
    struct zoo_manifest *man = calloc(1, sizeof *man);
    struct zoo_data d = {0};
    if (!man) return disr_fail(DISR_E_NOMEM, "zoo: manifest");
    int st = zoo_manifest_load(man_path, man);
    if (st == DISR_E_NOTFOUND) st = DISR_OK;
    if (st == DISR_OK && man->n > 0 && strcmp(man->world, c->world_dir))
        log_warn("zoo: %s was trained on %s; agents whose shape and budget match are kept",
                 man_path, man->world);
    snprintf(man->world, sizeof man->world, "%s", c->world_dir);
    if (st == DISR_OK) st = load_data(c, &d);
    double t0 = time_now();
    for (int i = 0; st == DISR_OK && i < c->n_agents; i++) {
        if (c->only >= 0 && i != c->only) continue;
        struct zoo_size sz;
        if ((st = zoo_agent_size(c->preset, i, c->n_agents, &sz)) < 0) break;
        struct zoo_agent a = {0};
        snprintf(a.name, sizeof a.name, "agent%d", i);
        snprintf(a.file, sizeof a.file, "agent%d.gguf", i);
        a.cost = zoo_cost(i, c->n_agents);
        a.train_steps = (int)(sz.steps * c->steps_scale + 0.5);
        if (a.train_steps < 1) a.train_steps = 1;
        a.train_tokens = (int64_t)a.train_steps * c->batch * c->seq;
        a.config = (struct model_config){
            .arch = MODEL_ARCH_LLAMA,
            .n_embd = sz.n_embd,
            .n_layer = sz.n_layer,
            .n_head = sz.n_head,
            .n_head_kv = sz.n_head,
            .n_ff = sz.n_ff,
            .n_ctx = ZOO_N_CTX,
            .norm_eps = 1e-5f,
            .rope_base = 10000.0f,
            .rope_style = ROPE_NORMAL,
            .qkv_bias = false,
            .tied_output = true,
        };
        if (agent_done(man, &a, c->out_dir)) {
            if (c->rescore) {
                if ((st = rescore_agent(c, &d, man, a.name)) < 0) break;
                st = zoo_manifest_save(man, man_path);
                continue;
            }
            log_info("zoo: %s already trained (%s), skipping", a.name, man_path);
            continue;
        }
        if ((st = train_agent(c, &d, i, &sz, &a)) < 0) break;
        if ((st = manifest_record(man, &a, man_path)) < 0) break;
        log_info("zoo: %s done: test %.3f, ood %.3f (%.0fs so far)", a.name,
                 score_accuracy(&a.test, NULL), score_accuracy(&a.ood, NULL), time_now() - t0);
    }
    if (st == DISR_OK) log_summary(man);
    if (st == DISR_OK && out) *out = *man;
    corpus_free(d.corpus);
    qa_set_free(&d.test);
    qa_set_free(&d.ood);
    free(man);
    return st;
}
