/* Training checkpoints: one GGUF file holding the model (as model_save writes it, so
 * model_load reads it like any model) plus the AdamW moments as two extra 1-D F32 tensors in
 * the canonical parameter order and the step count as metadata. One file written atomically,
 * so a crash leaves either the previous checkpoint or the new one, never a mix of the two. */
#include <string.h>

#include "core/err.h"
#include "model/gguf.h"
#include "model/model_io.h"
#include "train/trainer_internal.h"

#define CKPT_M    "disr.opt.adam_m"
#define CKPT_V    "disr.opt.adam_v"
#define CKPT_STEP "disr.train.step"

struct ckpt_ctx {
    const struct trainer *t;
    int step;
};

static int add_optimizer_state(struct gguf_writer *w, void *vctx) {
    const struct ckpt_ctx *ctx = vctx;
    const struct trainer *t = ctx->t;
    int64_t ne[1] = {(int64_t)t->m->n_params};
    DISR_TRY(gguf_writer_set_u32(w, CKPT_STEP, (uint32_t)ctx->step));
    DISR_TRY(gguf_writer_add_tensor(w, CKPT_M, DTYPE_F32, ne, 1, t->mom_m));
    DISR_TRY(gguf_writer_add_tensor(w, CKPT_V, DTYPE_F32, ne, 1, t->mom_v));
    return DISR_OK;
}

int trainer_save_checkpoint(const struct trainer *t, const char *path, int step) {
    DISR_TRY(trainer_check_learns(t, "checkpoint"));
    if (t->n_micro != 0)
        return disr_fail(DISR_E_STATE, "checkpoint %s: %d micro-batches not yet applied", path,
                         t->n_micro);
    if (step < 0) return disr_fail(DISR_E_ARG, "checkpoint %s: negative step", path);
    struct ckpt_ctx ctx = {t, step};
    struct model_save_opts o = {.type = DTYPE_F32, .extra = add_optimizer_state, .extra_ctx = &ctx};
    return model_save(t->m, path, &o);
}

static int same_shape(const struct model_config *a, const struct model_config *b) {
    return a->arch == b->arch && a->n_vocab == b->n_vocab && a->n_embd == b->n_embd &&
           a->n_layer == b->n_layer && a->n_head == b->n_head && a->n_head_kv == b->n_head_kv &&
           a->n_ff == b->n_ff && a->qkv_bias == b->qkv_bias && a->tied_output == b->tied_output &&
           a->rope_style == b->rope_style;
}

static int read_moment(const struct gguf_file *f, const char *path, const char *name, float *dst,
                       size_t n) {
    int64_t id = gguf_find_tensor(f, name);
    if (id < 0) return disr_fail(DISR_E_NOTFOUND, "checkpoint %s: no tensor %s", path, name);
    const struct gguf_tensor *ti = gguf_tensor_at(f, id);
    if (ti->type != DTYPE_F32 || ti->n_dims != 1 || (size_t)ti->ne[0] != n)
        return disr_fail(DISR_E_FORMAT, "checkpoint %s: %s is not F32[%zu]", path, name, n);
    memcpy(dst, ti->data, n * sizeof(float));
    return DISR_OK;
}

int trainer_resume(struct trainer *t, const char *path, int *step) {
    DISR_TRY(trainer_check_learns(t, "resume"));
    struct model *saved = NULL;
    struct gguf_file *f = NULL;
    int st = model_load(&saved, path);
    if (st >= 0 && (!saved->params || !same_shape(&saved->config, &t->m->config) ||
                    saved->n_params != t->m->n_params))
        st = disr_fail(DISR_E_STATE, "checkpoint %s: its model does not match the one training",
                       path);
    if (st >= 0) st = gguf_open(&f, path);
    uint32_t s = 0;
    if (st >= 0 && gguf_get_u32(f, CKPT_STEP, &s) < 0)
        st = disr_fail(DISR_E_NOTFOUND, "checkpoint %s: no %s (a model, not a checkpoint?)", path,
                       CKPT_STEP);
    size_t n = t->m->n_params;
    if (st >= 0) st = read_moment(f, path, CKPT_M, t->mom_m, n);
    if (st >= 0) st = read_moment(f, path, CKPT_V, t->mom_v, n);
    if (st >= 0) {
        memcpy(t->m->params, saved->params, n * sizeof(float));
        memset(t->grads, 0, n * sizeof(float));
        t->n_micro = 0;
        *step = (int)s;
    }
    gguf_close(f);
    model_free(saved);
    return st;
}
