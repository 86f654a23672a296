/* Unit tests for model/model_io: a model saved and loaded back is bit-identical (every tensor,
 * the config, the tokenizer, the disr.* metadata) and re-saving gives the same file; quantized
 * saves load as typed views close to the original; checkpoints carry extra tensors/keys; and
 * files that do not describe a valid model are refused with a message naming the problem. */
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
#include "model/gguf.h"
#include "model/model_io.h"
#include "model/quant.h"
#include "model/tokenizer.h"

static char tmpdir[256];

static int setup_dir(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/disr_test_gguf_model_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void tmp_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, fp);
    fclose(fp);
    return b;
}

static struct model_config tiny_config(enum model_arch arch) {
    struct model_config c = {
        .arch = arch,
        .n_embd = 64,
        .n_layer = 2,
        .n_head = 4,
        .n_head_kv = arch == MODEL_ARCH_QWEN2 ? 2 : 4,
        .n_ff = 96,
        .n_ctx = 128,
        .norm_eps = 1e-5f,
        .rope_base = 10000.0f,
        .rope_style = arch == MODEL_ARCH_QWEN2 ? ROPE_NEOX : ROPE_NORMAL,
        .qkv_bias = arch == MODEL_ARCH_QWEN2,
        .tied_output = arch == MODEL_ARCH_LLAMA,
    };
    return c;
}

static struct model *tiny_model(enum model_arch arch, uint64_t seed) {
    struct tokenizer *tok;
    const char corpus[] = "héllo wörld\t";
    assert_int_equal(tokenizer_init_char(&tok, corpus, sizeof corpus - 1), 0);
    struct model_config c = tiny_config(arch);
    c.n_vocab = tokenizer_n_vocab(tok);
    struct model *m;
    assert_int_equal(model_init_random(&m, &c, tok, seed), 0);
    /* Biases are zero after init: make them distinctive so a mix-up would show. */
    if (c.qkv_bias)
        for (int l = 0; l < c.n_layer; l++)
            for (int i = 0; i < c.n_embd; i++)
                m->weights.layer[l].bq[i] = 0.001f * (float)(i + l);
    return m;
}

static void assert_same_config(const struct model_config *a, const struct model_config *b) {
    assert_int_equal(a->arch, b->arch);
    assert_int_equal(a->n_vocab, b->n_vocab);
    assert_int_equal(a->n_embd, b->n_embd);
    assert_int_equal(a->n_layer, b->n_layer);
    assert_int_equal(a->n_head, b->n_head);
    assert_int_equal(a->n_head_kv, b->n_head_kv);
    assert_int_equal(a->n_ff, b->n_ff);
    assert_int_equal(a->n_ctx, b->n_ctx);
    assert_true(a->norm_eps == b->norm_eps);
    assert_true(a->rope_base == b->rope_base);
    assert_int_equal(a->rope_style, b->rope_style);
    assert_int_equal(a->qkv_bias, b->qkv_bias);
    assert_int_equal(a->tied_output, b->tied_output);
}

static void round_trip(enum model_arch arch) {
    struct model *m = tiny_model(arch, 11);
    assert_int_equal(gguf_writer_set_f32(model_meta(m), "disr.agent.cost", 0.37f), 0);
    assert_int_equal(gguf_writer_set_u64(model_meta(m), "disr.train.tokens", 123456789ull), 0);
    char p1[300], p2[300];
    tmp_path(p1, sizeof p1, "rt1.gguf");
    tmp_path(p2, sizeof p2, "rt2.gguf");
    struct model_save_opts opts = {.type = DTYPE_F32, .name = "agent-1"};
    assert_int_equal(model_save(m, p1, &opts), 0);

    struct model *b;
    assert_int_equal(model_load(&b, p1), 0);
    assert_same_config(&m->config, &b->config);
    assert_non_null(b->params);
    assert_int_equal(b->n_params, m->n_params);
    assert_memory_equal(b->params, m->params, m->n_params * sizeof(float));
    assert_int_equal(b->weights.output.data == b->weights.token_embd.data,
                     arch == MODEL_ARCH_LLAMA);
    /* Tokenizer: same kind, ids, pieces. */
    assert_non_null(b->tokenizer);
    assert_int_equal(tokenizer_kind(b->tokenizer), TOKENIZER_CHAR);
    assert_int_equal(tokenizer_n_vocab(b->tokenizer), tokenizer_n_vocab(m->tokenizer));
    assert_int_equal(tokenizer_bos(b->tokenizer), tokenizer_bos(m->tokenizer));
    assert_int_equal(tokenizer_eos(b->tokenizer), tokenizer_eos(m->tokenizer));
    for (int i = 0; i < tokenizer_n_vocab(m->tokenizer); i++) {
        size_t la, lb;
        const char *pa = tokenizer_piece(m->tokenizer, i, &la);
        const char *pb = tokenizer_piece(b->tokenizer, i, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(pa, pb, la);
    }
    int32_t ia[64], ib[64];
    int na, nb;
    const char text[] = "hello wörld";
    assert_int_equal(tokenizer_encode(m->tokenizer, text, strlen(text), ia, 64, &na), 0);
    assert_int_equal(tokenizer_encode(b->tokenizer, text, strlen(text), ib, 64, &nb), 0);
    assert_int_equal(na, nb);
    assert_memory_equal(ia, ib, (size_t)na * 4);
    /* Metadata survives, including a name set at save time. */
    float cost;
    uint64_t tokens;
    const char *name;
    assert_int_equal(gguf_writer_get_f32(b->meta, "disr.agent.cost", &cost), 0);
    assert_true(cost == 0.37f);
    assert_int_equal(gguf_writer_get_u64(b->meta, "disr.train.tokens", &tokens), 0);
    assert_true(tokens == 123456789ull);
    assert_int_equal(gguf_writer_get_str(b->meta, "general.name", &name), 0);
    assert_string_equal(name, "agent-1");
    /* Re-saving the loaded model gives the very same bytes. */
    assert_int_equal(model_save(b, p2, NULL), 0);
    size_t n1, n2;
    unsigned char *a1 = read_all(p1, &n1), *a2 = read_all(p2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a1, a2, n1);
    free(a1);
    free(a2);
    /* The file has the llama.cpp keys. */
    struct gguf_file *f;
    assert_int_equal(gguf_open(&f, p1), 0);
    const char *arch_s;
    assert_int_equal(gguf_get_str(f, "general.architecture", &arch_s, NULL), 0);
    assert_string_equal(arch_s, arch == MODEL_ARCH_QWEN2 ? "qwen2" : "llama");
    char key[64];
    uint32_t v;
    snprintf(key, sizeof key, "%s.attention.head_count_kv", arch_s);
    assert_int_equal(gguf_get_u32(f, key, &v), 0);
    assert_int_equal(v, m->config.n_head_kv);
    const char *const *toks;
    uint64_t nt;
    assert_int_equal(gguf_get_arr_str(f, "tokenizer.ggml.tokens", &toks, NULL, &nt), 0);
    /* Space and newline are written in GPT-2's alphabet. */
    int sp = 0, nl = 0;
    for (uint64_t i = 0; i < nt; i++) {
        sp += !strcmp(toks[i], "Ġ");
        nl += !strcmp(toks[i], "Ċ");
    }
    assert_int_equal(sp, 1);
    assert_int_equal(nl, 1);
    gguf_close(f);
    model_free(b);
    model_free(m);
}

static void test_llama_round_trip_is_bit_identical(void **state) {
    (void)state;
    round_trip(MODEL_ARCH_LLAMA);
}

static void test_qwen2_round_trip_is_bit_identical(void **state) {
    (void)state;
    round_trip(MODEL_ARCH_QWEN2);
}

struct ckpt {
    float *moments;
    int64_t n;
};

static int add_checkpoint(struct gguf_writer *w, void *vctx) {
    struct ckpt *c = vctx;
    DISR_TRY(gguf_writer_set_u32(w, "disr.train.step", 42));
    int64_t ne[1] = {c->n};
    return gguf_writer_add_tensor(w, "opt.adam_m", DTYPE_F32, ne, 1, c->moments);
}

static int failing_hook(struct gguf_writer *w, void *ctx) {
    (void)w, (void)ctx;
    return disr_fail(DISR_E_STATE, "hook says no");
}

static void test_checkpoint_extras(void **state) {
    (void)state;
    struct model *m = tiny_model(MODEL_ARCH_LLAMA, 3);
    struct ckpt c = {calloc(m->n_params, sizeof(float)), (int64_t)m->n_params};
    for (size_t i = 0; i < m->n_params; i++)
        c.moments[i] = (float)i;
    char p[300];
    tmp_path(p, sizeof p, "ckpt.gguf");
    struct model_save_opts opts = {.type = DTYPE_F32, .extra = add_checkpoint, .extra_ctx = &c};
    assert_int_equal(model_save(m, p, &opts), 0);
    struct gguf_file *f;
    assert_int_equal(gguf_open(&f, p), 0);
    uint32_t step;
    assert_int_equal(gguf_get_u32(f, "disr.train.step", &step), 0);
    assert_int_equal(step, 42);
    const struct gguf_tensor *t = gguf_tensor_at(f, gguf_find_tensor(f, "opt.adam_m"));
    assert_non_null(t);
    assert_memory_equal(t->data, c.moments, m->n_params * sizeof(float));
    /* The model still loads from a checkpoint (extra tensors are ignored), from the file or
     * from memory, with the same parameters. */
    struct model *b;
    assert_int_equal(model_load_gguf(&b, f), 0);
    assert_memory_equal(b->params, m->params, m->n_params * sizeof(float));
    model_free(b);
    gguf_close(f);
    /* A failing hook fails the save and leaves no file. */
    tmp_path(p, sizeof p, "ckpt_bad.gguf");
    struct model_save_opts bad = {.type = DTYPE_F32, .extra = failing_hook};
    assert_int_equal(model_save(m, p, &bad), DISR_E_STATE);
    assert_int_not_equal(access(p, F_OK), 0);
    free(c.moments);
    model_free(m);
}

static void test_quantized_saves_load_as_views(void **state) {
    (void)state;
    struct model *m = tiny_model(MODEL_ARCH_QWEN2, 5);
    enum dtype types[] = {DTYPE_F16, DTYPE_Q8_0, DTYPE_Q4_0};
    for (int k = 0; k < 3; k++) {
        char p[300];
        tmp_path(p, sizeof p, "quant.gguf");
        struct model_save_opts opts = {.type = types[k]};
        assert_int_equal(model_save(m, p, &opts), 0);
        struct model *q;
        assert_int_equal(model_load(&q, p), 0);
        assert_null(q->params); /* not trainable */
        assert_non_null(q->mapped);
        assert_int_equal(q->weights.layer[1].w_up.type, types[k]);
        assert_int_equal(q->weights.token_embd.type,
                         types[k] == DTYPE_Q4_0 ? DTYPE_Q8_0 : types[k]);
        /* Norms and biases are F32 and exact. */
        assert_memory_equal(q->weights.layer[1].ffn_norm, m->weights.layer[1].ffn_norm, 64 * 4);
        assert_memory_equal(q->weights.layer[1].bq, m->weights.layer[1].bq, 64 * 4);
        /* Matrices dequantize close to the original. */
        const struct mat *qm = &q->weights.layer[0].wq;
        float row[64];
        double err = 0, ref = 0;
        for (int r = 0; r < qm->rows; r++) {
            dequantize_row(qm->type,
                           (const char *)qm->data + dtype_row_size(qm->type, 64) * (size_t)r, row,
                           64);
            for (int j = 0; j < 64; j++) {
                float x = ((float *)m->weights.layer[0].wq.data)[r * 64 + j];
                err += (row[j] - x) * (row[j] - x);
                ref += x * x;
            }
        }
        double rel = sqrt(err / ref);
        double limit = types[k] == DTYPE_F16 ? 1e-3 : types[k] == DTYPE_Q8_0 ? 0.01 : 0.12;
        if (rel > limit) fail_msg("%s: relative error %g > %g", dtype_name(types[k]), rel, limit);
        /* The file says what it is. */
        struct gguf_file *f;
        assert_int_equal(gguf_open(&f, p), 0);
        uint32_t ft;
        assert_int_equal(gguf_get_u32(f, "general.file_type", &ft), 0);
        assert_int_equal(ft, types[k] == DTYPE_F16 ? 1 : types[k] == DTYPE_Q8_0 ? 7 : 2);
        /* Loading from memory copies instead of mapping: same data. */
        struct model *qm2;
        size_t n;
        unsigned char *bytes = read_all(p, &n);
        struct gguf_file *fm;
        assert_int_equal(gguf_open_memory(&fm, bytes, n, "mem"), 0);
        assert_int_equal(model_load_gguf(&qm2, fm), 0);
        gguf_close(fm);
        free(bytes); /* the model must not point into the buffer */
        assert_null(qm2->mapped);
        assert_memory_equal(qm2->weights.layer[1].w_down.data, q->weights.layer[1].w_down.data,
                            dtype_row_size(types[k], 96) * 64);
        model_free(qm2);
        gguf_close(f);
        model_free(q);
    }
    model_free(m);
}

static void test_model_quantize_matches_save(void **state) {
    (void)state;
    struct model *m = tiny_model(MODEL_ARCH_LLAMA, 9);
    char pf[300], pq[300], ps[300];
    tmp_path(pf, sizeof pf, "f32.gguf");
    tmp_path(pq, sizeof pq, "q.gguf");
    tmp_path(ps, sizeof ps, "s.gguf");
    assert_int_equal(model_save(m, pf, NULL), 0);
    assert_int_equal(model_quantize(pf, pq, DTYPE_Q8_0), 0);
    struct model_save_opts opts = {.type = DTYPE_Q8_0};
    assert_int_equal(model_save(m, ps, &opts), 0);
    struct gguf_file *a, *b;
    assert_int_equal(gguf_open(&a, pq), 0);
    assert_int_equal(gguf_open(&b, ps), 0);
    assert_int_equal(gguf_n_tensors(a), gguf_n_tensors(b));
    for (int64_t i = 0; i < gguf_n_tensors(a); i++) {
        const struct gguf_tensor *ta = gguf_tensor_at(a, i);
        const struct gguf_tensor *tb = gguf_tensor_at(b, gguf_find_tensor(b, ta->name));
        assert_non_null(tb);
        assert_int_equal(ta->type, tb->type);
        assert_int_equal(ta->nbytes, tb->nbytes);
        assert_memory_equal(ta->data, tb->data, ta->nbytes);
    }
    uint32_t qv;
    assert_int_equal(gguf_get_u32(a, "general.quantization_version", &qv), 0);
    assert_int_equal(qv, 2);
    gguf_close(a);
    gguf_close(b);
    /* Back to F32 from Q8_0 works and loads as a trainable model. */
    assert_int_equal(model_quantize(pq, pf, DTYPE_F32), 0);
    struct model *back;
    assert_int_equal(model_load(&back, pf), 0);
    assert_non_null(back->params);
    model_free(back);
    model_free(m);
}

/* Writes a model file by hand through the writer, with one thing wrong. */
enum breakage {
    OK_FILE,
    WRONG_SHAPE,
    MISSING,
    BAD_ARCH,
    F16_NORM,
    Q_NORM,
    BAD_TOKEN,
    PARTIAL_ROPE
};

static int write_variant(const char *path, enum breakage b) {
    struct model *m = tiny_model(MODEL_ARCH_LLAMA, 1);
    struct model_save_opts opts = {.type = DTYPE_F32};
    int st = model_save(m, path, &opts);
    model_free(m);
    if (st < 0 || b == OK_FILE) return st;
    struct gguf_file *f;
    DISR_TRY(gguf_open(&f, path));
    struct gguf_writer *w;
    gguf_writer_init(&w);
    for (int64_t i = 0; i < gguf_n_kv(f); i++)
        gguf_writer_set_kv_from(w, f, i);
    if (b == BAD_ARCH) gguf_writer_set_str(w, "general.architecture", "mamba");
    if (b == PARTIAL_ROPE) gguf_writer_set_u32(w, "llama.rope.dimension_count", 8);
    if (b == BAD_TOKEN) {
        const char *toks[3] = {"<s>", "ab", "c"};
        int32_t types[3] = {3, 1, 1};
        gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 3);
        gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, 3);
    }
    static uint16_t h[1024];
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(f, i);
        int64_t ne[2] = {t->ne[0], t->ne[1]};
        if (b == MISSING && !strcmp(t->name, "blk.1.ffn_up.weight")) continue;
        if (b == WRONG_SHAPE && !strcmp(t->name, "blk.1.ffn_up.weight")) {
            ne[0] = t->ne[1];
            ne[1] = t->ne[0];
        }
        if ((b == F16_NORM || b == Q_NORM) && !strcmp(t->name, "blk.0.ffn_norm.weight")) {
            quantize_row(b == F16_NORM ? DTYPE_F16 : DTYPE_Q8_0, t->data, h, t->ne[0]);
            gguf_writer_add_tensor(w, t->name, b == F16_NORM ? DTYPE_F16 : DTYPE_Q8_0, ne, 1, h);
            continue;
        }
        gguf_writer_add_tensor(w, t->name, t->type, ne, t->n_dims, t->data);
    }
    char tmp[320];
    snprintf(tmp, sizeof tmp, "%s.v", path);
    st = gguf_writer_write(w, tmp);
    gguf_writer_free(w);
    gguf_close(f);
    if (st == 0) st = rename(tmp, path);
    return st;
}

static void expect_load_error(enum breakage b, int status, const char *needle) {
    char p[300];
    tmp_path(p, sizeof p, "variant.gguf");
    assert_int_equal(write_variant(p, b), 0);
    struct model *m = (struct model *)1;
    disr_clear_error();
    assert_int_equal(model_load(&m, p), status);
    assert_null(m);
    if (!strstr(disr_last_error(), needle)) fail_msg("'%s' lacks '%s'", disr_last_error(), needle);
}

static void test_invalid_models_are_refused(void **state) {
    (void)state;
    expect_load_error(WRONG_SHAPE, DISR_E_FORMAT, "blk.1.ffn_up.weight has shape [96, 64");
    expect_load_error(MISSING, DISR_E_NOTFOUND, "missing tensor blk.1.ffn_up.weight");
    expect_load_error(BAD_ARCH, DISR_E_UNSUPPORTED, "architecture 'mamba'");
    expect_load_error(Q_NORM, DISR_E_UNSUPPORTED, "blk.0.ffn_norm.weight has type q8_0");
    expect_load_error(BAD_TOKEN, DISR_E_FORMAT, "char token 1");
    expect_load_error(PARTIAL_ROPE, DISR_E_UNSUPPORTED, "partial rotary");
    /* An F16 norm is converted to F32 on load. */
    char p[300];
    tmp_path(p, sizeof p, "variant.gguf");
    assert_int_equal(write_variant(p, F16_NORM), 0);
    struct model *m;
    assert_int_equal(model_load(&m, p), 0);
    assert_null(m->params);
    assert_int_equal(m->weights.layer[0].wq.type, DTYPE_F32);
    assert_true(m->weights.layer[0].ffn_norm[3] == 1.0f);
    model_free(m);
    /* A file that is not GGUF at all. */
    FILE *fp = fopen(p, "wb");
    fputs("not a model", fp);
    fclose(fp);
    assert_int_equal(model_load(&m, p), DISR_E_FORMAT);
    /* Saving refuses an inconsistent architecture. */
    struct model *q = tiny_model(MODEL_ARCH_QWEN2, 2);
    q->config.rope_style = ROPE_NORMAL;
    assert_int_equal(model_save(q, p, NULL), DISR_E_ARG);
    model_free(q);
}

/* A config whose padding bytes hold `garbage`: only its fields are set. */
static void fill_config(struct model_config *x, unsigned char garbage) {
    memset(x, garbage, sizeof *x);
    x->arch = MODEL_ARCH_LLAMA, x->n_vocab = 50, x->n_embd = 32, x->n_layer = 2, x->n_head = 4;
    x->n_head_kv = 2, x->n_ff = 64, x->n_ctx = 96, x->norm_eps = 1e-5f, x->rope_base = 1e4f;
    x->rope_style = ROPE_NORMAL, x->qkv_bias = false, x->tied_output = true;
    x->qk_norm = false, x->head_dim = 0, x->rope_freqs = false;
}

/* Configs compare field by field: padding bytes do not count, every field does. */
static void test_model_config_equal(void **state) {
    (void)state;
    struct model_config a, b;
    fill_config(&a, 0x00);
    fill_config(&b, 0xa5);
    assert_true(model_config_equal(&a, &b));
    b.n_ctx = 64;
    assert_false(model_config_equal(&a, &b));
    b.n_ctx = a.n_ctx, b.tied_output = false;
    assert_false(model_config_equal(&a, &b));
    b.tied_output = true, b.rope_base = 1e6f;
    assert_false(model_config_equal(&a, &b));
    b.rope_base = a.rope_base, b.head_dim = 16;
    assert_false(model_config_equal(&a, &b));
    b.head_dim = 8; /* = n_embd / n_head: the same shape */
    assert_true(model_config_equal(&a, &b));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_round_trip_is_bit_identical),
        cmocka_unit_test(test_qwen2_round_trip_is_bit_identical),
        cmocka_unit_test(test_checkpoint_extras),
        cmocka_unit_test(test_model_config_equal),
        cmocka_unit_test(test_quantized_saves_load_as_views),
        cmocka_unit_test(test_model_quantize_matches_save),
        cmocka_unit_test(test_invalid_models_are_refused),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
