/* Models to and from GGUF (see model_io.h). One list of tensor names and shapes, the one
 * model_weights_foreach walks, drives loading, checking and saving, so the three cannot drift. */
#include "model/model_io.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/kquant.h"
#include "core/log.h"
#include "model/quant.h"
#include "model/tokenizer.h"

/* ------------------------------------------------------------------------------- config */

static int hp_int(const struct gguf_file *f, const char *arch, const char *suffix, int required,
                  int def, int *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint64_t v;
    int st = gguf_get_uint(f, key, &v);
    if (st == DISR_E_NOTFOUND && !required) {
        *out = def;
        return DISR_OK;
    }
    DISR_TRY(st);
    if (v > INT32_MAX)
        return disr_fail(DISR_E_FORMAT, "%s: %s = %llu is out of range", gguf_path(f), key,
                         (unsigned long long)v);
    *out = (int)v;
    return DISR_OK;
}

static int hp_float(const struct gguf_file *f, const char *arch, const char *suffix, float def,
                    float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    double v;
    int st = gguf_get_float(f, key, &v);
    if (st == DISR_E_NOTFOUND) {
        *out = def;
        return DISR_OK;
    }
    DISR_TRY(st);
    *out = (float)v;
    return DISR_OK;
}

int model_config_from_gguf(struct model_config *c, const struct gguf_file *f) {
    memset(c, 0, sizeof *c);
    const char *arch;
    DISR_TRY(gguf_get_str(f, "general.architecture", &arch, NULL));
    if (!strcmp(arch, "llama")) {
        c->arch = MODEL_ARCH_LLAMA;
        c->rope_style = ROPE_NORMAL;
    } else if (!strcmp(arch, "qwen2")) {
        c->arch = MODEL_ARCH_QWEN2;
        c->rope_style = ROPE_NEOX;
    } else if (!strcmp(arch, "qwen3")) {
        c->arch = MODEL_ARCH_QWEN3;
        c->rope_style = ROPE_NEOX;
    } else {
        return disr_fail(DISR_E_UNSUPPORTED,
                         "%s: architecture '%s' is not supported (llama, qwen2, qwen3)",
                         gguf_path(f), arch);
    }
    DISR_TRY(hp_int(f, arch, "embedding_length", 1, 0, &c->n_embd));
    DISR_TRY(hp_int(f, arch, "block_count", 1, 0, &c->n_layer));
    DISR_TRY(hp_int(f, arch, "feed_forward_length", 1, 0, &c->n_ff));
    DISR_TRY(hp_int(f, arch, "attention.head_count", 1, 0, &c->n_head));
    DISR_TRY(hp_int(f, arch, "attention.head_count_kv", 0, c->n_head, &c->n_head_kv));
    DISR_TRY(hp_int(f, arch, "context_length", 1, 0, &c->n_ctx));
    DISR_TRY(hp_float(f, arch, "attention.layer_norm_rms_epsilon", 1e-5f, &c->norm_eps));
    DISR_TRY(hp_float(f, arch, "rope.freq_base", 10000.0f, &c->rope_base));
    /* Head size: explicit when it is not n_embd / n_head (Qwen3-0.6B: 16 heads of 128 on 1024). */
    int key_len, value_len;
    DISR_TRY(hp_int(f, arch, "attention.key_length", 0, 0, &key_len));
    DISR_TRY(hp_int(f, arch, "attention.value_length", 0, key_len, &value_len));
    if (value_len != key_len)
        return disr_fail(DISR_E_UNSUPPORTED, "%s: key length %d differs from value length %d",
                         gguf_path(f), key_len, value_len);
    if (key_len && (c->n_head <= 0 || key_len != c->n_embd / c->n_head || c->n_embd % c->n_head))
        c->head_dim = key_len;
    int64_t te = gguf_find_tensor(f, "token_embd.weight");
    if (te < 0)
        return disr_fail(DISR_E_NOTFOUND, "%s: missing tensor token_embd.weight", gguf_path(f));
    const struct gguf_tensor *t = gguf_tensor_at(f, te);
    if (t->ne[1] <= 0 || t->ne[1] > INT32_MAX)
        return disr_fail(DISR_E_FORMAT, "%s: token_embd.weight has %lld rows", gguf_path(f),
                         (long long)t->ne[1]);
    c->n_vocab = (int)t->ne[1];
    c->tied_output = gguf_find_tensor(f, "output.weight") < 0;
    c->qkv_bias = gguf_find_tensor(f, "blk.0.attn_q.bias") >= 0;
    c->qk_norm = gguf_find_tensor(f, "blk.0.attn_q_norm.weight") >= 0;
    c->rope_freqs = gguf_find_tensor(f, "rope_freqs.weight") >= 0;
    if (c->qk_norm != (c->arch == MODEL_ARCH_QWEN3))
        return disr_fail(DISR_E_UNSUPPORTED, "%s: per-head q/k norm %s for architecture %s",
                         gguf_path(f), c->qk_norm ? "present" : "missing", arch);
    int st = model_config_validate(c);
    if (st < 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", disr_last_error());
        return disr_fail(st, "%s: %s", gguf_path(f), msg);
    }
    int rope_dims;
    DISR_TRY(hp_int(f, arch, "rope.dimension_count", 0, model_head_dim(c), &rope_dims));
    if (rope_dims != model_head_dim(c))
        return disr_fail(DISR_E_UNSUPPORTED,
                         "%s: partial rotary embedding (%d of %d head dims) is not supported",
                         gguf_path(f), rope_dims, model_head_dim(c));
    return DISR_OK;
}

/* ---------------------------------------------------------------------------------- load */

struct load_ctx {
    const struct gguf_file *f;
    int phase;     /* 0: check, 1: size owned storage, 2: fill */
    int all_f32;   /* phase 0 result */
    int copy_mats; /* no mapping to point into: matrices are copied */
    char *owned;   /* phase 2 */
    size_t owned_off;
    size_t n_used;  /* tensors the model uses */
    uint64_t bytes; /* phase 0: their bytes */
};

static size_t align64(size_t n) {
    return (n + 63) & ~(size_t)63;
}

static int load_visit(const struct model_tensor_ref *ref, void *vctx) {
    struct load_ctx *ctx = vctx;
    const struct gguf_file *f = ctx->f;
    const struct gguf_tensor *t = gguf_tensor_at(f, gguf_find_tensor(f, ref->name));
    if (ctx->phase == 0) {
        if (!t) return disr_fail(DISR_E_NOTFOUND, "%s: missing tensor %s", gguf_path(f), ref->name);
        if (t->ne[0] != ref->cols || t->ne[1] != ref->rows || t->ne[2] != 1 || t->ne[3] != 1)
            return disr_fail(DISR_E_FORMAT,
                             "%s: tensor %s has shape [%lld, %lld, %lld, %lld], expected [%d, %d]",
                             gguf_path(f), ref->name, (long long)t->ne[0], (long long)t->ne[1],
                             (long long)t->ne[2], (long long)t->ne[3], ref->cols, ref->rows);
        int ok =
            ref->vec ? (t->type == DTYPE_F32 || t->type == DTYPE_F16) : dtype_is_supported(t->type);
        if (!ok) {
            const char *tn = ggml_type_name(t->type);
            return disr_fail(DISR_E_UNSUPPORTED,
                             "%s: tensor %s has type %s, not supported for a %s", gguf_path(f),
                             ref->name, tn ? tn : "?",
                             ref->vec ? "norm/bias (f32, f16)"
                                      : "matrix (f32, f16, bf16, q8_0, q4_0, q2_k..q6_k)");
        }
        if (t->type != DTYPE_F32) ctx->all_f32 = 0;
        ctx->n_used++;
        ctx->bytes += t->nbytes;
        return DISR_OK;
    }
    size_t n = (size_t)ref->rows * (size_t)ref->cols;
    if (ctx->all_f32) { /* params block already pointed: copy the floats in */
        void *dst = ref->vec ? (void *)*ref->vec : ref->mat->data;
        memcpy(dst, t->data, n * sizeof(float));
        return DISR_OK;
    }
    if (ref->vec) {
        if (ctx->phase == 2) {
            float *dst = (float *)(ctx->owned + ctx->owned_off);
            DISR_TRY(dequantize_row((enum dtype)t->type, t->data, dst, (int64_t)n));
            *ref->vec = dst;
        }
        ctx->owned_off += align64(n * sizeof(float));
        return DISR_OK;
    }
    /* Matrices are used in place unless there is no mapping or the data is not aligned for
     * its element loads (a file with general.alignment < 4). */
    size_t need = t->type == DTYPE_F32 ? 4 : 2;
    int copy = ctx->copy_mats || ((uintptr_t)t->data % need) != 0;
    void *data = (void *)(uintptr_t)t->data;
    if (copy) {
        if (ctx->phase == 2) {
            data = ctx->owned + ctx->owned_off;
            memcpy(data, t->data, t->nbytes);
        }
        ctx->owned_off += align64(t->nbytes);
    }
    if (ctx->phase == 2) *ref->mat = (struct mat){(enum dtype)t->type, ref->rows, ref->cols, data};
    return DISR_OK;
}

static int meta_keep(const char *key) {
    return (!strncmp(key, "disr.", 5) && strcmp(key, "disr.tokenizer") != 0) ||
           !strcmp(key, "general.name");
}

/* First line of /proc/meminfo-style `key` in file `path`, in bytes (kB lines), or a plain
 * number file (cgroup); 0 if absent. */
static uint64_t read_mem_value(const char *path, const char *key) {
    FILE *fp = fopen(path, "r");
    if (!fp) return 0;
    char line[256];
    uint64_t v = 0;
    while (fgets(line, sizeof line, fp)) {
        unsigned long long x;
        if (!key) {
            if (sscanf(line, "%llu", &x) == 1) v = x; /* "max" leaves 0: no limit */
            break;
        }
        if (!strncmp(line, key, strlen(key)) && sscanf(line + strlen(key), " %llu", &x) == 1) {
            v = (uint64_t)x * 1024;
            break;
        }
    }
    fclose(fp);
    return v;
}

uint64_t model_mem_available(void) {
    const char *env = getenv("DISR_MEM_AVAILABLE");
    if (env && *env) return (uint64_t)strtoull(env, NULL, 10);
    uint64_t avail = read_mem_value("/proc/meminfo", "MemAvailable:");
    uint64_t max = read_mem_value("/sys/fs/cgroup/memory.max", NULL);
    uint64_t cur = read_mem_value("/sys/fs/cgroup/memory.current", NULL);
    if (max && max > cur && (!avail || max - cur < avail)) avail = max - cur;
    return avail;
}

static int check_fits(const struct gguf_file *f, uint64_t bytes) {
    uint64_t avail = model_mem_available();
    if (avail && bytes > avail)
        return disr_fail(DISR_E_NOMEM,
                         "%s: the weights (%.1f MiB) do not fit in memory (%.1f MiB available to "
                         "this process)",
                         gguf_path(f), (double)bytes / 1048576.0, (double)avail / 1048576.0);
    return DISR_OK;
}

static int load_gguf(struct model **out, struct gguf_file *f, int mapped_only);

int model_load_gguf(struct model **out, struct gguf_file *f) {
    return load_gguf(out, f, 0);
}

int model_load_gguf_mapped(struct model **out, struct gguf_file *f) {
    return load_gguf(out, f, 1);
}

static int load_gguf(struct model **out, struct gguf_file *f, int mapped_only) {
    *out = NULL;
    struct model *m = calloc(1, sizeof *m);
    if (!m) return disr_fail(DISR_E_NOMEM, "model: out of memory");
    int st = model_config_from_gguf(&m->config, f);
    if (st < 0) goto fail;
    const struct model_config *c = &m->config;
    struct load_ctx ctx = {.f = f, .phase = 0, .all_f32 = 1};
    struct model_weights scratch;
    memset(&scratch, 0, sizeof scratch);
    /* Phase 0 needs weights to visit; `scratch` stays unused there. */
    if ((st = model_weights_foreach(&scratch, c, load_visit, &ctx)) < 0) goto fail;
    if ((st = check_fits(f, ctx.bytes)) < 0) goto fail;
    if (mapped_only) ctx.all_f32 = 0; /* nothing copied into a trainable block */
    if (ctx.all_f32) {
        m->n_params = model_param_count(c);
        m->params = malloc(m->n_params * sizeof(float));
        if (!m->params) {
            st = disr_fail(DISR_E_NOMEM, "model: cannot allocate %zu parameters", m->n_params);
            goto fail;
        }
        model_weights_point(&m->weights, c, m->params);
        ctx.phase = 2;
        if ((st = model_weights_foreach(&m->weights, c, load_visit, &ctx)) < 0) goto fail;
    } else {
        m->mapped = gguf_take_mapping(f, &m->mapped_size);
        ctx.copy_mats = m->mapped == NULL;
        ctx.phase = 1;
        if ((st = model_weights_foreach(&scratch, c, load_visit, &ctx)) < 0) goto fail;
        m->owned = aligned_alloc(64, ctx.owned_off ? ctx.owned_off : 64);
        if (!m->owned) {
            st = disr_fail(DISR_E_NOMEM, "model: cannot allocate %zu bytes", ctx.owned_off);
            goto fail;
        }
        ctx.owned = m->owned;
        ctx.owned_off = 0;
        ctx.phase = 2;
        if ((st = model_weights_foreach(&m->weights, c, load_visit, &ctx)) < 0) goto fail;
        if (c->tied_output) m->weights.output = m->weights.token_embd;
    }
    for (int i = 0; c->rope_freqs && i < model_head_dim(c) / 2; i++)
        if (!(m->weights.rope_freqs[i] > 0 && m->weights.rope_freqs[i] < 1e30f)) {
            st = disr_fail(DISR_E_FORMAT, "%s: rope_freqs.weight[%d] = %g is not a positive factor",
                           gguf_path(f), i, m->weights.rope_freqs[i]);
            goto fail;
        }
    if ((size_t)gguf_n_tensors(f) > ctx.n_used)
        log_debug("%s: %lld tensors not used by the model (e.g. optimizer state)", gguf_path(f),
                  (long long)(gguf_n_tensors(f) - (int64_t)ctx.n_used));
    if (gguf_find_key(f, "tokenizer.ggml.model") >= 0) {
        if ((st = tokenizer_load_gguf(&m->tokenizer, f)) < 0) goto fail;
        if (tokenizer_n_vocab(m->tokenizer) > c->n_vocab) {
            st = disr_fail(DISR_E_FORMAT, "%s: tokenizer has %d tokens but the model only %d",
                           gguf_path(f), tokenizer_n_vocab(m->tokenizer), c->n_vocab);
            goto fail;
        }
    }
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        if (!meta_keep(gguf_kv_key(f, i))) continue;
        struct gguf_writer *meta = model_meta(m);
        if (!meta) {
            st = disr_fail(DISR_E_NOMEM, "model: out of memory");
            goto fail;
        }
        if ((st = gguf_writer_set_kv_from(meta, f, i)) < 0) goto fail;
    }
    *out = m;
    return DISR_OK;
fail:
    model_free(m);
    return st;
}

static int load_path(struct model **out, const char *path, int mapped_only) {
    *out = NULL;
    struct gguf_file *f;
    DISR_TRY(gguf_open(&f, path));
    int st = load_gguf(out, f, mapped_only);
    gguf_close(f);
    return st;
}

int model_load(struct model **out, const char *path) {
    return load_path(out, path, 0);
}

int model_load_mapped(struct model **out, const char *path) {
    return load_path(out, path, 1);
}

struct gguf_writer *model_meta(struct model *m) {
    if (!m->meta && gguf_writer_init(&m->meta) < 0) return NULL;
    return m->meta;
}

/* ---------------------------------------------------------------------------------- save */

static const struct {
    const char *name;
    enum dtype type;
    int q4_k_m;
    uint32_t file_type; /* llama_ftype */
} RECIPES[] = {
    {"f32", DTYPE_F32, 0, 0},    {"f16", DTYPE_F16, 0, 1},    {"bf16", DTYPE_BF16, 0, 32},
    {"q8_0", DTYPE_Q8_0, 0, 7},  {"q4_0", DTYPE_Q4_0, 0, 2},  {"q2_k", DTYPE_Q2_K, 0, 10},
    {"q3_k", DTYPE_Q3_K, 0, 11}, {"q4_k", DTYPE_Q4_K, 0, 14}, {"q4_k_m", DTYPE_Q4_K, 1, 15},
    {"q5_k", DTYPE_Q5_K, 0, 16}, {"q6_k", DTYPE_Q6_K, 0, 18},
};
#define N_RECIPES (sizeof RECIPES / sizeof RECIPES[0])

int quant_recipe_parse(const char *s, struct quant_recipe *out) {
    for (size_t i = 0; i < N_RECIPES; i++)
        if (!strcasecmp(s, RECIPES[i].name)) {
            *out = (struct quant_recipe){RECIPES[i].type, RECIPES[i].q4_k_m};
            return DISR_OK;
        }
    return disr_fail(DISR_E_ARG,
                     "unknown type '%s' (expected f32, f16, bf16, q8_0, q4_0, q2_k, q3_k, q4_k, "
                     "q4_k_m, q5_k or q6_k)",
                     s);
}

static int recipe_index(const struct quant_recipe *r) {
    for (size_t i = 0; i < N_RECIPES; i++)
        if (RECIPES[i].type == r->type && RECIPES[i].q4_k_m == r->q4_k_m) return (int)i;
    return -1;
}

const char *quant_recipe_name(const struct quant_recipe *r) {
    int i = recipe_index(r);
    return i < 0 ? "?" : RECIPES[i].name;
}

static uint32_t file_type_of(const struct quant_recipe *r) {
    int i = recipe_index(r);
    return i < 0 ? 0 : RECIPES[i].file_type;
}

/* llama.cpp's use_more_bits: the first and last eighth of the layers and every third between. */
static int more_bits(int layer, int n_layer) {
    return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

static int name_is(const char *name, const char *suffix) {
    size_t n = strlen(name), k = strlen(suffix);
    return n >= k && !strcmp(name + n - k, suffix);
}

enum dtype quant_target(const struct quant_recipe *r, const char *name, int64_t cols, int layer,
                        int n_layer, int tied) {
    enum dtype want = r->type;
    int is_output = !strcmp(name, "output.weight") || (tied && !strcmp(name, "token_embd.weight"));
    if (want == DTYPE_Q4_0 &&
        (!strcmp(name, "token_embd.weight") || !strcmp(name, "output.weight")))
        want = DTYPE_Q8_0;
    else if (kquant_is_ktype(want) && is_output)
        want = DTYPE_Q6_K;
    else if (r->q4_k_m && layer >= 0 &&
             (name_is(name, ".attn_v.weight") || name_is(name, ".ffn_down.weight")) &&
             more_bits(layer, n_layer))
        want = DTYPE_Q6_K;
    if (cols % dtype_block_size(want) != 0) want = kquant_is_ktype(want) ? DTYPE_Q8_0 : DTYPE_F16;
    if (cols % dtype_block_size(want) != 0) want = DTYPE_F16;
    return want;
}

/* The block index of a "blk.N." tensor name, -1 otherwise. */
static int layer_of(const char *name) {
    int l, n = 0;
    return sscanf(name, "blk.%d.%n", &l, &n) == 1 && n > 0 ? l : -1;
}

/* Converts rows x cols of `src_type` data to `dst` type into a new buffer (*out, malloc'ed). */
static int convert_matrix(const void *src, enum dtype src_type, int64_t rows, int64_t cols,
                          enum dtype dst, void **out) {
    *out = NULL;
    size_t in_row = dtype_row_size(src_type, cols), out_row = dtype_row_size(dst, cols);
    char *buf = malloc((size_t)rows * out_row + 1);
    float *tmp = malloc((size_t)cols * sizeof(float));
    if (!buf || !tmp) {
        free(buf);
        free(tmp);
        return disr_fail(DISR_E_NOMEM, "model: out of memory converting a %lldx%lld matrix",
                         (long long)rows, (long long)cols);
    }
    for (int64_t r = 0; r < rows; r++) {
        dequantize_row(src_type, (const char *)src + (size_t)r * in_row, tmp, cols);
        quantize_row(dst, tmp, buf + (size_t)r * out_row, cols);
    }
    free(tmp);
    *out = buf;
    return DISR_OK;
}

struct save_ctx {
    struct gguf_writer *w;
    struct quant_recipe recipe;
    int n_layer, tied;
};

static int save_visit(const struct model_tensor_ref *ref, void *vctx) {
    struct save_ctx *ctx = vctx;
    if (ref->vec) {
        int64_t ne[1] = {ref->cols};
        return gguf_writer_add_tensor(ctx->w, ref->name, DTYPE_F32, ne, 1, *ref->vec);
    }
    int64_t ne[2] = {ref->cols, ref->rows};
    const struct mat *mt = ref->mat;
    enum dtype target = quant_target(&ctx->recipe, ref->name, ref->cols, layer_of(ref->name),
                                     ctx->n_layer, ctx->tied);
    if (mt->type == target)
        return gguf_writer_add_tensor(ctx->w, ref->name, target, ne, 2, mt->data);
    void *buf;
    DISR_TRY(convert_matrix(mt->data, mt->type, ref->rows, ref->cols, target, &buf));
    return gguf_writer_add_tensor_owned(ctx->w, ref->name, target, ne, 2, buf);
}

static int set_hparams(struct gguf_writer *w, const struct model_config *c) {
    const char *a = model_arch_name(c->arch);
    char key[128];
#define SET_U32(suffix, v)                                                                         \
    do {                                                                                           \
        snprintf(key, sizeof key, "%s.%s", a, suffix);                                             \
        DISR_TRY(gguf_writer_set_u32(w, key, (uint32_t)(v)));                                      \
    } while (0)
#define SET_F32(suffix, v)                                                                         \
    do {                                                                                           \
        snprintf(key, sizeof key, "%s.%s", a, suffix);                                             \
        DISR_TRY(gguf_writer_set_f32(w, key, (v)));                                                \
    } while (0)
    SET_U32("context_length", c->n_ctx);
    SET_U32("embedding_length", c->n_embd);
    SET_U32("block_count", c->n_layer);
    SET_U32("feed_forward_length", c->n_ff);
    SET_U32("attention.head_count", c->n_head);
    SET_U32("attention.head_count_kv", c->n_head_kv);
    SET_U32("rope.dimension_count", model_head_dim(c));
    if (c->head_dim || c->arch == MODEL_ARCH_QWEN3) {
        SET_U32("attention.key_length", model_head_dim(c));
        SET_U32("attention.value_length", model_head_dim(c));
    }
    SET_U32("vocab_size", c->n_vocab);
    SET_F32("rope.freq_base", c->rope_base);
    SET_F32("attention.layer_norm_rms_epsilon", c->norm_eps);
#undef SET_U32
#undef SET_F32
    return DISR_OK;
}

int model_save(const struct model *m, const char *path, const struct model_save_opts *opts) {
    static const struct model_save_opts defaults = {.type = DTYPE_F32};
    if (!opts) opts = &defaults;
    const struct model_config *c = &m->config;
    DISR_TRY(model_config_validate(c));
    if (!dtype_is_supported(opts->type))
        return disr_fail(DISR_E_ARG, "model_save: unsupported type %d", (int)opts->type);
    const struct quant_recipe recipe = {opts->type, 0};
    /* llama.cpp picks the RoPE pairing from the architecture name alone. */
    if (c->arch == MODEL_ARCH_LLAMA && c->rope_style != ROPE_NORMAL)
        return disr_fail(DISR_E_ARG, "model_save: a llama model must use NORMAL RoPE");
    if (c->arch == MODEL_ARCH_QWEN2 && (c->rope_style != ROPE_NEOX || !c->qkv_bias))
        return disr_fail(DISR_E_ARG, "model_save: a qwen2 model must use NEOX RoPE and QKV biases");
    if ((c->arch == MODEL_ARCH_QWEN3) != c->qk_norm ||
        (c->arch == MODEL_ARCH_QWEN3 && (c->rope_style != ROPE_NEOX || c->qkv_bias)))
        return disr_fail(DISR_E_ARG, "model_save: a qwen3 model (and only it) has per-head q/k "
                                     "norms, NEOX RoPE and no QKV biases");
    if (m->tokenizer && tokenizer_n_vocab(m->tokenizer) > c->n_vocab)
        return disr_fail(DISR_E_ARG, "model_save: tokenizer has %d tokens, model %d",
                         tokenizer_n_vocab(m->tokenizer), c->n_vocab);
    struct gguf_writer *w;
    DISR_TRY(gguf_writer_init(&w));
    const char *name = opts->name;
    if (!name && m->meta && gguf_writer_get_str(m->meta, "general.name", &name) < 0) name = NULL;
    int st;
    if ((st = gguf_writer_set_str(w, "general.architecture", model_arch_name(c->arch))) < 0 ||
        (st = gguf_writer_set_str(w, "general.name", name ? name : "disr")) < 0 ||
        (st = gguf_writer_set_u32(w, "general.file_type", file_type_of(&recipe))) < 0)
        goto done;
    if (dtype_block_size(opts->type) > 1)
        if ((st = gguf_writer_set_u32(w, "general.quantization_version", 2)) < 0) goto done;
    if ((st = set_hparams(w, c)) < 0) goto done;
    if (m->tokenizer && (st = tokenizer_save_gguf(m->tokenizer, w)) < 0) goto done;
    if (m->meta) {
        /* Extra metadata goes after ours; general.name was handled above. */
        struct gguf_writer *tmp;
        if ((st = gguf_writer_init(&tmp)) < 0) goto done;
        st = gguf_writer_set_all_from(tmp, m->meta);
        if (st >= 0) st = gguf_writer_remove(tmp, "general.name");
        if (st >= 0) st = gguf_writer_set_all_from(w, tmp);
        gguf_writer_free(tmp);
        if (st < 0) goto done;
    }
    struct save_ctx ctx = {w, recipe, c->n_layer, c->tied_output};
    /* foreach takes non-const weights; save only reads them. */
    if ((st = model_weights_foreach((struct model_weights *)&m->weights, c, save_visit, &ctx)) < 0)
        goto done;
    if (opts->extra && (st = opts->extra(w, opts->extra_ctx)) < 0) goto done;
    st = gguf_writer_write(w, path);
done:
    gguf_writer_free(w);
    return st;
}

/* ------------------------------------------------------------------------------ quantize */

static int is_weight_matrix(const struct gguf_tensor *t) {
    size_t n = strlen(t->name);
    return n > 7 && !strcmp(t->name + n - 7, ".weight") && !strstr(t->name, "norm") &&
           t->n_dims == 2 && t->ne[1] > 1 && dtype_is_supported(t->type);
}

int model_quantize(const char *in_path, const char *out_path, enum dtype type) {
    const struct quant_recipe r = {type, 0};
    return model_quantize_recipe(in_path, out_path, &r);
}

int model_quantize_recipe(const char *in_path, const char *out_path, const struct quant_recipe *r) {
    if (!dtype_is_supported(r->type) || recipe_index(r) < 0)
        return disr_fail(DISR_E_ARG, "quantize: unsupported type %d", (int)r->type);
    struct gguf_file *f;
    DISR_TRY(gguf_open(&f, in_path));
    struct gguf_writer *w = NULL;
    int st = gguf_writer_init(&w);
    for (int64_t i = 0; st >= 0 && i < gguf_n_kv(f); i++)
        st = gguf_writer_set_kv_from(w, f, i);
    if (st < 0) goto done;
    if ((st = gguf_writer_set_u32(w, "general.file_type", file_type_of(r))) < 0) goto done;
    if (dtype_block_size(r->type) > 1)
        if ((st = gguf_writer_set_u32(w, "general.quantization_version", 2)) < 0) goto done;
    int n_layer = 0, tied = gguf_find_tensor(f, "output.weight") < 0;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        int l = layer_of(gguf_tensor_at(f, i)->name);
        if (l + 1 > n_layer) n_layer = l + 1;
    }
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(f, i);
        if (!is_weight_matrix(t)) {
            st = gguf_writer_add_tensor(w, t->name, t->type, t->ne, t->n_dims ? t->n_dims : 1,
                                        t->data);
        } else {
            enum dtype target =
                quant_target(r, t->name, t->ne[0], layer_of(t->name), n_layer, tied);
            if (t->type == (int)target) {
                st = gguf_writer_add_tensor(w, t->name, t->type, t->ne, 2, t->data);
            } else {
                void *buf;
                st = convert_matrix(t->data, (enum dtype)t->type, t->ne[1], t->ne[0], target, &buf);
                if (st >= 0) st = gguf_writer_add_tensor_owned(w, t->name, target, t->ne, 2, buf);
            }
        }
        if (st < 0) goto done;
    }
    st = gguf_writer_write(w, out_path);
done:
    gguf_writer_free(w);
    gguf_close(f);
    return st;
}
