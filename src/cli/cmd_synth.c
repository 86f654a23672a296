/* disr synth OUT.gguf --shape NAME: a random-weight model with the hyperparameters of a
 * published model (or explicit ones), a vocabulary taken from any GGUF file (or the char
 * vocabulary), saved in any of our types. No real weights are needed to check that a model of
 * that architecture and size loads, generates, serves and how fast it decodes. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/log.h"
#include "model/gguf.h"
#include "model/model_io.h"
#include "model/tokenizer.h"

/* The published configurations (config.json of each model): the context written is 4096, not
 * the model's full one (a limit, not a shape: the KV cache a server reserves follows it). */
static const struct {
    const char *name;
    struct model_config c;
} SHAPES[] = {
    {"qwen2.5-0.5b",
     {.arch = MODEL_ARCH_QWEN2,
      .n_vocab = 151936,
      .n_embd = 896,
      .n_layer = 24,
      .n_head = 14,
      .n_head_kv = 2,
      .n_ff = 4864,
      .n_ctx = 4096,
      .norm_eps = 1e-6f,
      .rope_base = 1e6f,
      .rope_style = ROPE_NEOX,
      .qkv_bias = true,
      .tied_output = true}},
    {"llama-3.2-1b",
     {.arch = MODEL_ARCH_LLAMA,
      .n_vocab = 128256,
      .n_embd = 2048,
      .n_layer = 16,
      .n_head = 32,
      .n_head_kv = 8,
      .n_ff = 8192,
      .n_ctx = 4096,
      .norm_eps = 1e-5f,
      .rope_base = 5e5f,
      .rope_style = ROPE_NORMAL,
      .tied_output = true,
      .rope_freqs = true}},
    {"qwen3-0.6b",
     {.arch = MODEL_ARCH_QWEN3,
      .n_vocab = 151936,
      .n_embd = 1024,
      .n_layer = 28,
      .n_head = 16,
      .n_head_kv = 8,
      .n_ff = 3072,
      .n_ctx = 4096,
      .norm_eps = 1e-6f,
      .rope_base = 1e6f,
      .rope_style = ROPE_NEOX,
      .tied_output = true,
      .qk_norm = true,
      .head_dim = 128}},
};
#define N_SHAPES (sizeof SHAPES / sizeof SHAPES[0])

static int find_shape(const char *name, struct model_config *c) {
    for (size_t i = 0; i < N_SHAPES; i++)
        if (!strcasecmp(name, SHAPES[i].name)) {
            *c = SHAPES[i].c;
            return DISR_OK;
        }
    return disr_fail(DISR_E_ARG, "unknown shape '%s' (qwen2.5-0.5b, llama-3.2-1b, qwen3-0.6b)",
                     name);
}

/* Llama 3.1/3.2's rope scaling (factor 32, low / high frequency factors 1 and 4, original
 * context 8192) as the per-pair divisors convert_hf_to_gguf writes to rope_freqs.weight. */
static void llama3_rope_factors(float *out, int head_dim, float base) {
    const double factor = 32, low = 1, high = 4, orig = 8192;
    for (int i = 0; i < head_dim / 2; i++) {
        double wavelen = 2 * M_PI * pow(base, 2.0 * i / head_dim);
        double smooth = (orig / wavelen - low) / (high - low);
        out[i] = wavelen < orig / high  ? 1.0f
                 : wavelen > orig / low ? (float)factor
                                        : (float)(1 / ((1 - smooth) / factor + smooth));
    }
}

static int load_vocab(const char *path, struct tokenizer **tok) {
    if (!path) return tokenizer_init_char(tok, "", 0);
    struct gguf_file *f;
    DISR_TRY(gguf_open(&f, path));
    int st = tokenizer_load_gguf(tok, f);
    gguf_close(f);
    return st;
}

int cmd_synth(int argc, char **argv) {
    const char *shape = "qwen2.5-0.5b", *vocab = NULL, *type_s = "f32";
    int layers = 0, embd = 0, heads = 0, kv_heads = 0, head_dim = -1, ff = 0, n_vocab = 0, ctx = 0,
        seed = 1;
    double scale = 4.0;
    const struct cli_opt opts[] = {
        {"--shape", "-s", OPT_STR, &shape, "qwen2.5-0.5b (default), llama-3.2-1b or qwen3-0.6b"},
        {"--vocab", NULL, OPT_STR, &vocab,
         "take the tokenizer of this GGUF file (default: the char vocabulary)"},
        {"--type", "-t", OPT_STR, &type_s, "weight type, as disr quantize --type (default f32)"},
        {"--layers", NULL, OPT_INT, &layers, "override: number of layers"},
        {"--embd", NULL, OPT_INT, &embd, "override: embedding size"},
        {"--heads", NULL, OPT_INT, &heads, "override: query heads"},
        {"--kv-heads", NULL, OPT_INT, &kv_heads, "override: key/value heads"},
        {"--head-dim", NULL, OPT_INT, &head_dim, "override: head size (0: embd / heads)"},
        {"--ff", NULL, OPT_INT, &ff, "override: feed-forward size"},
        {"--n-vocab", NULL, OPT_INT, &n_vocab, "override: embedding rows"},
        {"--ctx", NULL, OPT_INT, &ctx, "context length written (default 4096)"},
        {"--seed", NULL, OPT_INT, &seed, "weights seed (default 1)"},
        {"--scale", NULL, OPT_FLOAT, &scale,
         "multiply the GPT-2 initialisation (std 0.02) by this (default 4: peaked logits)"},
        {0},
    };
    const char *pos[1];
    int np = 0;
    int st = cli_parse(argc, argv, opts, "OUT.gguf [--shape NAME] [--vocab FILE.gguf] [--type T]",
                       pos, 1, &np);
    if (st) return st == 1 ? 0 : st;
    if (np != 1) {
        fprintf(stderr, "disr synth: expected the output file (see disr synth --help)\n");
        return 2;
    }
    struct model_config c;
    struct quant_recipe r;
    if ((st = find_shape(shape, &c)) < 0 || (st = quant_recipe_parse(type_s, &r)) < 0)
        return cli_fail("synth", st);
#define OVERRIDE(field, v)                                                                         \
    if (v > 0) c.field = v
    OVERRIDE(n_layer, layers);
    OVERRIDE(n_embd, embd);
    OVERRIDE(n_head, heads);
    OVERRIDE(n_head_kv, kv_heads);
    OVERRIDE(n_ff, ff);
    OVERRIDE(n_vocab, n_vocab);
    OVERRIDE(n_ctx, ctx);
#undef OVERRIDE
    if (head_dim >= 0) c.head_dim = head_dim;
    struct tokenizer *tok;
    if ((st = load_vocab(vocab, &tok)) < 0) return cli_fail("synth", st);
    const int n_tok = tokenizer_n_vocab(tok);
    if (n_tok > c.n_vocab) c.n_vocab = n_tok;
    double t0 = time_now();
    struct model *m;
    if ((st = model_init_random(&m, &c, tok, (uint64_t)seed)) < 0) return cli_fail("synth", st);
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] *= (float)scale;
    if (c.rope_freqs) llama3_rope_factors(m->weights.rope_freqs, model_head_dim(&c), c.rope_base);
    /* One type: converted while saving. The Q4_K_M mix: F32 first, then through the quantizer. */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.f32-%d", pos[0], (int)getpid());
    int direct = !r.q4_k_m;
    struct model_save_opts so = {.type = direct ? r.type : DTYPE_F32, .name = shape};
    st = model_save(m, direct ? pos[0] : tmp, &so);
    model_free(m);
    if (st >= 0 && !direct) st = model_quantize_recipe(tmp, pos[0], &r);
    if (!direct) unlink(tmp);
    if (st < 0) return cli_fail("synth", st);
    printf("%s: %s, %s, %d layers, embd %d, %d heads (%d kv) of %d, ff %d, vocab %d (%d tokens), "
           "%s, in %.1f s\n",
           pos[0], shape, model_arch_name(c.arch), c.n_layer, c.n_embd, c.n_head, c.n_head_kv,
           model_head_dim(&c), c.n_ff, c.n_vocab, n_tok, quant_recipe_name(&r), time_now() - t0);
    return 0;
}
