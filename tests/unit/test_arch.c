/* Architectures of hub models: qwen3's and Llama 3's forward passes against an independent
 * PyTorch reference (tests/golden/arch_reference.py: per-head q/k RMSNorm, heads wider than
 * n_embd / n_head, NEOX rope, tied output; rope_freqs scaling, GQA 4:1, untied output), on the
 * prefill and the decode path, in F32 and Q8_0; qwen3 saves and loads bit-identically; llama files
 * with the keys Llama 3 / Mistral / TinyLlama carry (rope base, GQA, untied output, explicit head
 * size equal to n_embd / n_head) load; other architectures and inconsistent files are refused by
 * name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "model/engine.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/model_io.h"
#include "model/transformer.h"
#include "engine_logits.h"

#define FIXTURE        "tests/golden/qwen3_tiny.gguf"
#define LLAMA3_FIXTURE "tests/golden/llama3_tiny.gguf"

static double max_rel(const float *got, const float *want, int n) {
    double scale = 0, err = 0;
    for (int i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    for (int i = 0; i < n; i++)
        err = fmax(err, fabs(got[i] - want[i]));
    return err / scale;
}

/* The fixture file, its tokens and the reference logits ([T][V]). */
struct golden {
    struct gguf_file *f;
    const int32_t *tok;
    const float *want;
    int T;
};

static struct golden golden_open_file(const char *path) {
    struct golden g;
    if (gguf_open(&g.f, path)) fail_msg("%s", disr_last_error());
    const struct gguf_tensor *tt = gguf_tensor_at(g.f, gguf_find_tensor(g.f, "golden.tokens"));
    const struct gguf_tensor *lt = gguf_tensor_at(g.f, gguf_find_tensor(g.f, "golden.logits"));
    assert_non_null(tt);
    assert_non_null(lt);
    g.tok = tt->data;
    g.want = lt->data;
    g.T = (int)tt->ne[0];
    return g;
}

static struct golden golden_open(void) {
    return golden_open_file(FIXTURE);
}

/* Both golden models, prefill and decode, against the reference logits. */
static void check_golden(const char *path, struct model **out) {
    struct golden g = golden_open_file(path);
    struct model *m;
    if (model_load_gguf(&m, g.f)) fail_msg("%s", disr_last_error());
    const int V = m->config.n_vocab;
    float *got = malloc(sizeof(float) * (size_t)g.T * V);
    for (int decode = 0; decode < 2; decode++) {
        engine_logits(m, g.tok, g.T, decode, got);
        double e = max_rel(got, g.want, g.T * V);
        print_message("%s %s: max error %.2g of the largest logit\n", path,
                      decode ? "decode" : "prefill", e);
        assert_true(e < 2e-5);
    }
    free(got);
    gguf_close(g.f);
    *out = m;
}

static void test_qwen3_matches_pytorch(void **state) {
    (void)state;
    struct model *m;
    check_golden(FIXTURE, &m);
    const struct model_config *c = &m->config;
    assert_int_equal(c->arch, MODEL_ARCH_QWEN3);
    assert_true(c->qk_norm && c->tied_output && !c->qkv_bias && !c->rope_freqs);
    assert_int_equal(model_head_dim(c), 16);
    assert_int_equal(model_q_dim(c), 64); /* wider than n_embd = 32 */
    assert_int_equal(c->rope_style, ROPE_NEOX);
    /* training does not cover this shape: refused with a message, not run wrong */
    struct transformer *tf;
    assert_int_equal(transformer_init(&tf, c, 1, 8, 1), DISR_E_UNSUPPORTED);
    model_free(m);
}

/* Llama 3.1/3.2: rope_freqs.weight divides each pair's angle (GQA 4:1, untied output). */
static void test_llama3_rope_scaling_matches_pytorch(void **state) {
    (void)state;
    struct model *m;
    check_golden(LLAMA3_FIXTURE, &m);
    const struct model_config *c = &m->config;
    assert_int_equal(c->arch, MODEL_ARCH_LLAMA);
    assert_true(c->rope_freqs && !c->tied_output && !c->qk_norm);
    assert_int_equal(c->rope_style, ROPE_NORMAL);
    assert_int_equal(c->n_head / c->n_head_kv, 4);
    assert_true(m->weights.rope_freqs[0] == 1.0f && m->weights.rope_freqs[3] == 32.0f);
    /* a damaged factor is refused */
    char dir[] = "/tmp/disr_arch_XXXXXX", p[64];
    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof p, "%s/z.gguf", dir);
    m->weights.rope_freqs[2] = 0.0f;
    assert_int_equal(model_save(m, p, NULL), 0);
    struct model *z = NULL;
    assert_int_equal(model_load(&z, p), DISR_E_FORMAT);
    assert_non_null(strstr(disr_last_error(), "rope_freqs.weight[2] = 0 is not a positive"));
    remove(p);
    rmdir(dir);
    model_free(m);
}

/* Save -> load -> save of a qwen3 model gives the same bytes; quantized to Q8_0 it still tracks
 * the reference (the q/k norms stay F32; rows of 32 are too short for the K types, which
 * test_kquant and the real-shape e2e cover). */
static void test_qwen3_round_trip_and_quantized(void **state) {
    (void)state;
    struct golden g = golden_open();
    struct model *m;
    assert_int_equal(model_load_gguf(&m, g.f), 0);
    char dir[] = "/tmp/disr_arch_XXXXXX", a[64], b[64], q[64];
    assert_non_null(mkdtemp(dir));
    snprintf(a, sizeof a, "%s/a.gguf", dir);
    snprintf(b, sizeof b, "%s/b.gguf", dir);
    snprintf(q, sizeof q, "%s/q.gguf", dir);
    assert_int_equal(model_save(m, a, NULL), 0);
    struct model *m2;
    assert_int_equal(model_load(&m2, a), 0);
    assert_true(model_config_equal(&m->config, &m2->config));
    assert_int_equal(model_save(m2, b, NULL), 0);
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int ca, cb;
    do {
        ca = fgetc(fa), cb = fgetc(fb);
        assert_int_equal(ca, cb);
    } while (ca != EOF);
    fclose(fa);
    fclose(fb);
    const int V = m->config.n_vocab;
    float *got = malloc(sizeof(float) * (size_t)g.T * V);
    const char *types[] = {"q8_0"};
    const double bound[] = {0.03};
    for (int i = 0; i < 1; i++) {
        struct quant_recipe r;
        assert_int_equal(quant_recipe_parse(types[i], &r), 0);
        assert_int_equal(model_quantize_recipe(a, q, &r), 0);
        struct model *mq;
        if (model_load(&mq, q)) fail_msg("%s", disr_last_error());
        engine_logits(mq, g.tok, g.T, 0, got);
        double e = max_rel(got, g.want, g.T * V);
        print_message("qwen3 %s: max error %.3f of the largest logit\n", types[i], e);
        assert_true(e < bound[i]);
        model_free(mq);
    }
    free(got);
    remove(a), remove(b), remove(q), rmdir(dir);
    model_free(m2);
    model_free(m);
    gguf_close(g.f);
}

/* A llama / qwen2 / qwen3 header in memory with the given keys changed, for the refusals. */
static int write_variant(const char *path, const char *arch, int drop_q_norm, int key_len,
                         int value_len) {
    struct gguf_file *f;
    DISR_TRY(gguf_open(&f, FIXTURE));
    struct gguf_writer *w;
    int st = gguf_writer_init(&w);
    for (int64_t i = 0; st >= 0 && i < gguf_n_kv(f); i++) {
        const char *key = gguf_kv_key(f, i);
        if (!strncmp(key, "qwen3.", 6)) {
            /* re-key the hyperparameters under the architecture being tried */
            char k2[128];
            snprintf(k2, sizeof k2, "%s.%s", arch, key + 6);
            uint64_t u;
            double d;
            if (gguf_get_uint(f, key, &u) == 0) {
                if (!strcmp(key + 6, "attention.key_length")) u = (uint64_t)key_len;
                if (!strcmp(key + 6, "attention.value_length")) u = (uint64_t)value_len;
                st = gguf_writer_set_u32(w, k2, (uint32_t)u);
            } else if (gguf_get_float(f, key, &d) == 0) {
                st = gguf_writer_set_f32(w, k2, (float)d);
            }
        } else if (!strcmp(key, "general.architecture")) {
            st = gguf_writer_set_str(w, key, arch);
        } else {
            st = gguf_writer_set_kv_from(w, f, i);
        }
    }
    for (int64_t i = 0; st >= 0 && i < gguf_n_tensors(f); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(f, i);
        if (drop_q_norm && (strstr(t->name, "attn_q_norm") || strstr(t->name, "attn_k_norm")))
            continue;
        st = gguf_writer_add_tensor(w, t->name, t->type, t->ne, t->n_dims, t->data);
    }
    if (st >= 0) st = gguf_writer_write(w, path);
    gguf_writer_free(w);
    gguf_close(f);
    return st;
}

static void expect_refused(const char *path, const char *needle) {
    struct model *m = NULL;
    int st = model_load(&m, path);
    assert_true(st < 0);
    assert_null(m);
    if (!strstr(disr_last_error(), needle))
        fail_msg("message '%s' lacks '%s'", disr_last_error(), needle);
}

static void test_architectures_accepted_and_refused(void **state) {
    (void)state;
    char dir[] = "/tmp/disr_arch_XXXXXX", p[64];
    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof p, "%s/v.gguf", dir);
    /* other architectures: refused by name */
    const char *others[] = {"gemma2", "phi3", "mistral3", "deepseek2"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(write_variant(p, others[i], 0, 16, 16), 0);
        char needle[64];
        snprintf(needle, sizeof needle, "architecture '%s' is not supported", others[i]);
        expect_refused(p, needle);
    }
    /* qwen3 without its q/k norms, llama with them: refused */
    assert_int_equal(write_variant(p, "qwen3", 1, 16, 16), 0);
    expect_refused(p, "per-head q/k norm missing");
    assert_int_equal(write_variant(p, "llama", 0, 16, 16), 0);
    expect_refused(p, "per-head q/k norm present");
    /* different key and value head sizes */
    assert_int_equal(write_variant(p, "qwen3", 0, 16, 8), 0);
    expect_refused(p, "key length 16 differs from value length 8");
    /* head size n_embd / n_head written explicitly (as converters do): the plain shape; here the
     * rotary dimension (16) then exceeds it, refused clearly */
    assert_int_equal(write_variant(p, "llama", 1, 8, 8), 0);
    expect_refused(p, "partial rotary embedding (16 of 8 head dims)");
    /* the same with the real head size loads (llama with wide heads), GQA, tied, base 1e6 */
    assert_int_equal(write_variant(p, "llama", 1, 16, 16), 0);
    struct model *m;
    if (model_load(&m, p)) fail_msg("%s", disr_last_error());
    assert_int_equal(m->config.arch, MODEL_ARCH_LLAMA);
    assert_int_equal(m->config.rope_style, ROPE_NORMAL);
    assert_int_equal(model_head_dim(&m->config), 16);
    assert_int_equal(m->config.n_head_kv, 2);
    assert_true(m->config.rope_base == 1e6f);
    model_free(m);
    remove(p);
    rmdir(dir);
}

/* For inference the F32 file is used in place too; a file whose weights exceed the memory the
 * process may use is refused before they are touched. */
static void test_mapped_load_and_memory_limit(void **state) {
    (void)state;
    struct model *m;
    if (model_load_mapped(&m, FIXTURE)) fail_msg("%s", disr_last_error());
    assert_null(m->params);
    assert_non_null(m->mapped);
    const char *wq = m->weights.layer[1].wq.data;
    assert_true(wq >= (char *)m->mapped && wq < (char *)m->mapped + m->mapped_size);
    assert_int_equal(m->weights.layer[1].wq.type, DTYPE_F32);
    struct golden g = golden_open();
    float *got = malloc(sizeof(float) * (size_t)g.T * m->config.n_vocab);
    engine_logits(m, g.tok, g.T, 0, got);
    assert_true(max_rel(got, g.want, g.T * m->config.n_vocab) < 2e-5);
    free(got);
    gguf_close(g.f);
    model_free(m);
    assert_true(model_mem_available() > (1u << 20)); /* this machine: something is known */
    setenv("DISR_MEM_AVAILABLE", "0", 1);            /* 0: the limit is unknown, no check */
    assert_int_equal(model_load(&m, FIXTURE), 0);
    model_free(m);
    setenv("DISR_MEM_AVAILABLE", "50000", 1); /* bytes; the weights are about 98 000 */
    m = (struct model *)1;
    assert_int_equal(model_load_mapped(&m, FIXTURE), DISR_E_NOMEM);
    assert_null(m);
    assert_non_null(strstr(disr_last_error(), "do not fit in memory (0.0 MiB available"));
    unsetenv("DISR_MEM_AVAILABLE");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen3_matches_pytorch),
        cmocka_unit_test(test_llama3_rope_scaling_matches_pytorch),
        cmocka_unit_test(test_qwen3_round_trip_and_quantized),
        cmocka_unit_test(test_architectures_accepted_and_refused),
        cmocka_unit_test(test_mapped_load_and_memory_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
