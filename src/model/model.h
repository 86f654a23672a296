/* model.h: what a transformer *is* in this engine. The shape (struct model_config, read from
 * GGUF metadata), the weights (struct model_weights: typed matrix views, core/tensor.h, so
 * inference can run F32, F16, Q8_0 or Q4_0 rows in place), and the fixed order of the F32
 * parameter block that training uses for parameters, gradients and AdamW moments alike (llm.c
 * style: one allocation, one flat optimizer loop, one memset to zero the grads).
 *
 * Architecture: Llama / Qwen2 / Qwen3 decoder. x = embd[tok]; per layer:
 *   h = x + Wo·attn(rope(Wq·rmsnorm(x)+bq), rope(Wk·..+bk), Wv·..+bv)      (GQA, causal)
 *   (Qwen3: no biases; each head of q and k RMS-normalised with its own gains before rope,
 *   and heads may be wider than n_embd / n_head)
 *   x = h + Wdown·(silu(Wgate·rmsnorm(h)) * (Wup·rmsnorm(h)))
 * logits = Wout·rmsnorm(x); Wout = token_embd when tied. */
#ifndef MODEL_MODEL_H
#define MODEL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h" /* enum dtype, struct mat */

#define MODEL_MAX_LAYERS 64

enum model_arch { MODEL_ARCH_LLAMA = 0, MODEL_ARCH_QWEN2 = 1, MODEL_ARCH_QWEN3 = 2 };

/* NORMAL rotates adjacent pairs (2i, 2i+1) as llama.cpp does for `llama`;
 * NEOX rotates halves (i, i + d/2) as it does for `qwen2`. */
enum rope_style { ROPE_NORMAL = 0, ROPE_NEOX = 2 };

struct model_config {
    enum model_arch arch;
    int n_vocab;
    int n_embd;     /* C */
    int n_layer;    /* L */
    int n_head;     /* query heads */
    int n_head_kv;  /* key/value heads (GQA when < n_head) */
    int n_ff;       /* SwiGLU hidden size */
    int n_ctx;      /* maximum sequence length the model was trained for */
    float norm_eps; /* RMSNorm epsilon */
    float rope_base;
    enum rope_style rope_style;
    bool qkv_bias;    /* Qwen2: biases on the Q, K, V projections */
    bool tied_output; /* logits use token_embd (no separate output.weight) */
    bool qk_norm;     /* Qwen3: per-head RMSNorm of q and k (attn_q_norm, attn_k_norm) */
    int head_dim;     /* per head; 0 means n_embd / n_head (model_head_dim) */
    bool rope_freqs;  /* Llama 3.1+: per-pair rope frequency divisors (rope_freqs.weight) */
};

struct layer_weights {
    float *attn_norm;          /* [C] */
    struct mat wq, wk, wv, wo; /* [Q][C], [kv][C], [kv][C], [C][Q]; Q = n_head * head_dim,
                                  kv = n_head_kv * head_dim */
    float *bq, *bk, *bv;       /* NULL unless qkv_bias */
    float *q_norm, *k_norm;    /* [head_dim] each; NULL unless qk_norm */
    float *ffn_norm;           /* [C] */
    struct mat w_gate, w_up;   /* [F][C] */
    struct mat w_down;         /* [C][F] */
};

struct model_weights {
    struct mat token_embd; /* [V][C] */
    struct layer_weights layer[MODEL_MAX_LAYERS];
    float *output_norm; /* [C] */
    float *rope_freqs;  /* [head_dim / 2]; NULL unless config.rope_freqs */
    struct mat output;  /* [V][C]; aliases token_embd when tied */
};

static inline int model_head_dim(const struct model_config *c) {
    return c->head_dim ? c->head_dim : c->n_embd / c->n_head;
}
static inline int model_q_dim(const struct model_config *c) {
    return c->n_head * model_head_dim(c);
}
static inline int model_kv_dim(const struct model_config *c) {
    return c->n_head_kv * model_head_dim(c);
}

/* "llama", "qwen2", "qwen3". */
const char *model_arch_name(enum model_arch a);

/* Checks that a config is internally consistent and of sane size (clear message on failure). */
int model_config_validate(const struct model_config *c);

/* Number of floats in the F32 parameter block for this config. */
size_t model_param_count(const struct model_config *c);

/* Points every weight of `w` into `block` (model_param_count floats, all F32) in the canonical
 * order: token_embd; per layer attn_norm, wq, bq, wk, bk, wv, bv, wo, ffn_norm, w_gate, w_up,
 * w_down; output_norm; output (when untied). Used for params, grads and AdamW moments. */
void model_weights_point(struct model_weights *w, const struct model_config *c, float *block);

/* Visits every tensor of the canonical order with its GGUF name and its 2-D (or 1-D: rows = 1)
 * shape; lets the GGUF writer, the loader and tests share one list of names. */
struct model_tensor_ref {
    char name[64];
    float **vec;     /* for 1-D tensors (norms, biases), else NULL */
    struct mat *mat; /* for 2-D tensors, else NULL */
    int rows, cols;  /* cols is the contiguous dimension (GGUF ne[0]) */
};
typedef int (*model_tensor_visit_fn)(const struct model_tensor_ref *ref, void *ctx);
int model_weights_foreach(struct model_weights *w, const struct model_config *c,
                          model_tensor_visit_fn fn, void *ctx);

struct tokenizer;   /* model/tokenizer.h */
struct gguf_writer; /* model/gguf.h */

/* A loaded or freshly initialized model. `params` is non-NULL when every weight is F32 in the
 * canonical block (trainable); quantized models point `weights` into `mapped` file data. */
struct model {
    struct model_config config;
    struct model_weights weights;
    float *params;
    size_t n_params;
    struct tokenizer *tokenizer; /* owned; may be NULL for a bare test model */
    void *mapped;                /* mmap of the source file, or NULL */
    size_t mapped_size;
    void *owned;              /* other owned storage (e.g. converted tensors), or NULL */
    struct gguf_writer *meta; /* extra GGUF metadata (disr.*) kept from load to save; owned,
                                 may be NULL (model_io.h: model_meta) */
};

/* Allocates an F32 model and initializes it GPT-2 style (normal 0.02, residual projections
 * scaled by 1/sqrt(2L), norms to 1, biases to 0) from `seed`. Takes ownership of `tok`. */
int model_init_random(struct model **out, const struct model_config *c, struct tokenizer *tok,
                      uint64_t seed);
void model_free(struct model *m);

/* True if two configs are the same in every field. Field by field, not memcmp: a config built
 * by a designated initializer leaves its padding bytes unspecified, and memcmp would read them
 * (it did: a sanitizer build told two identical tiny models apart). */
bool model_config_equal(const struct model_config *a, const struct model_config *b);

#endif
