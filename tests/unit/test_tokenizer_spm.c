/* SentencePiece-style BPE (GGUF model `llama`) on a hand-made vocabulary whose answers can be
 * worked out by hand: merges by score (not by the order pairs appear), byte fallback, the
 * leading-space rule and its undoing in decode, specials, BOS/EOS keys, and clear refusals of
 * damaged or unsupported vocabularies. The Llama-3 pre-tokenizer and the `gpt-2` name on the
 * golden BPE vocabulary. (Real vocabularies: tests/e2e/tokenizer_peer.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "model/gguf.h"
#include "model/tokenizer.h"

#define N_FIXED  3
#define N_PIECES 8
/* ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then the pieces */
#define SP_TEXT "\xe2\x96\x81" /* U+2581, SentencePiece's space */
static const char *PIECES[N_PIECES] = {SP_TEXT, "a", "b", "c", SP_TEXT "a", "ab", "abc", "bc"};
static const float SCORES[N_PIECES] = {0, 0, 0, 0, -3, -2, -4, -1};
#define ID(k) (N_FIXED + 256 + (k))
enum {
    SP = ID(0),
    A = ID(1),
    B = ID(2),
    C = ID(3),
    SP_A = ID(4),
    AB = ID(5),
    ABC = ID(6),
    BC = ID(7)
};

enum damage { NONE, NO_SCORES, SHORT_SCORES, BOS_FLAG_NO_BOS, MODEL_BERT, NO_PREFIX };

/* Writes the vocabulary (damaged as asked) and loads it; returns the status. */
static int load_vocab(enum damage d, struct tokenizer **out) {
    int n = N_FIXED + 256 + N_PIECES;
    char **texts = calloc((size_t)n, sizeof *texts);
    int32_t *types = calloc((size_t)n, sizeof *types);
    float *scores = calloc((size_t)n, sizeof *scores);
    texts[0] = strdup("<unk>");
    texts[1] = strdup("<s>");
    texts[2] = strdup("</s>");
    types[0] = 2;
    types[1] = types[2] = 3;
    for (int b = 0; b < 256; b++) {
        texts[N_FIXED + b] = malloc(7);
        snprintf(texts[N_FIXED + b], 7, "<0x%02X>", b);
        types[N_FIXED + b] = 6;
    }
    for (int k = 0; k < N_PIECES; k++) {
        texts[ID(k)] = strdup(PIECES[k]);
        types[ID(k)] = 1;
        scores[ID(k)] = SCORES[k];
    }
    struct gguf_writer *w;
    assert_int_equal(gguf_writer_init(&w), 0);
    gguf_writer_set_str(w, "tokenizer.ggml.model", d == MODEL_BERT ? "bert" : "llama");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)texts, NULL,
                            (uint64_t)n);
    gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)n);
    if (d != NO_SCORES)
        gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", scores,
                                (uint64_t)(d == SHORT_SCORES ? n - 1 : n));
    if (d != BOS_FLAG_NO_BOS) gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    if (d == NO_PREFIX) gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false);
    if (d == NO_PREFIX) gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", true);
    char path[] = "/tmp/disr_test_spm_XXXXXX";
    close(mkstemp(path));
    assert_int_equal(gguf_writer_write(w, path), 0);
    gguf_writer_free(w);
    for (int i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(types);
    free(scores);
    struct gguf_file *f;
    assert_int_equal(gguf_open(&f, path), 0);
    unlink(path);
    int st = tokenizer_load_gguf(out, f);
    gguf_close(f);
    return st;
}

static void expect_ids(const struct tokenizer *t, const char *text, const int32_t *want, int n) {
    int32_t ids[64];
    int got = -1;
    assert_int_equal(tokenizer_encode(t, text, strlen(text), ids, 64, &got), 0);
    if (got != n) fail_msg("'%s': %d tokens, want %d", text, got, n);
    for (int i = 0; i < n; i++)
        if (ids[i] != want[i]) fail_msg("'%s': token %d is %d, want %d", text, i, ids[i], want[i]);
    /* ... and decoding gives the text back (without its specials). */
    char back[256];
    size_t len;
    assert_int_equal(tokenizer_decode(t, ids, got, back, sizeof back, &len), 0);
    if (!strstr(text, "<s>")) assert_string_equal(back, text);
}

static void test_merges_by_score(void **state) {
    (void)state;
    struct tokenizer *t;
    assert_int_equal(load_vocab(NONE, &t), 0);
    assert_int_equal(tokenizer_kind(t), TOKENIZER_SPM);
    /* "▁abc": bc (-1) first, then ▁a (-3) beats abc (-4); "▁abc" itself is no token. */
    expect_ids(t, "abc", (int32_t[]){SP_A, BC}, 2);
    /* "▁ab": ab (-2) beats ▁a (-3), leaving ▁ alone. */
    expect_ids(t, "ab", (int32_t[]){SP, AB}, 2);
    /* spaces become ▁; a piece that is no token falls back to its bytes */
    expect_ids(t, "a  c", (int32_t[]){SP_A, SP, SP, C}, 4);
    expect_ids(t, "\xc3\xa9", (int32_t[]){SP, N_FIXED + 0xc3, N_FIXED + 0xa9}, 3);
    /* a special is a whole token, and the text after it gets its leading space again */
    expect_ids(t, "<s>a</s>b", (int32_t[]){1, SP_A, 2, SP, B}, 5);
    expect_ids(t, "", (int32_t[]){0}, 0);
    /* BOS by default for SentencePiece, never EOS unless asked */
    int32_t ids[8];
    int n;
    assert_true(tokenizer_add_bos(t));
    assert_int_equal(tokenizer_encode_full(t, "c", 1, true, ids, 8, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 1);
    assert_int_equal(tokenizer_encode_full(t, "c", 1, true, ids, 2, &n), DISR_E_RANGE);
    tokenizer_free(t);
}

static void test_no_space_prefix(void **state) {
    (void)state;
    struct tokenizer *t;
    assert_int_equal(load_vocab(NO_PREFIX, &t), 0);
    expect_ids(t, "abc", (int32_t[]){ABC}, 1); /* bc (-1), then abc (-4): no ▁ to merge with */
    expect_ids(t, " abc", (int32_t[]){SP_A, BC}, 2);
    int32_t ids[8];
    int n;
    assert_int_equal(tokenizer_encode_full(t, "c", 1, true, ids, 8, &n), 0);
    assert_int_equal(n, 3); /* BOS c EOS */
    assert_int_equal(ids[2], 2);
    assert_int_equal(tokenizer_encode_full(t, "c", 1, false, ids, 8, &n), 0);
    assert_int_equal(n, 2);
    tokenizer_free(t);
}

static void test_refusals(void **state) {
    (void)state;
    struct tokenizer *t = NULL;
    assert_int_equal(load_vocab(NO_SCORES, &t), DISR_E_FORMAT);
    assert_non_null(strstr(disr_last_error(), "tokenizer.ggml.scores"));
    assert_int_equal(load_vocab(SHORT_SCORES, &t), DISR_E_FORMAT);
    assert_non_null(strstr(disr_last_error(), "scores for"));
    assert_int_equal(load_vocab(BOS_FLAG_NO_BOS, &t), DISR_E_FORMAT);
    assert_non_null(strstr(disr_last_error(), "no BOS token"));
    assert_int_equal(load_vocab(MODEL_BERT, &t), DISR_E_UNSUPPORTED);
    assert_non_null(strstr(disr_last_error(), "tokenizer model 'bert' is not supported"));
    assert_null(t);
}

/* The golden qwen2 vocabulary with another pre-tokenizer name. */
static struct tokenizer *golden_with_pre(const char *pre, int *status) {
    struct gguf_file *f;
    assert_int_equal(gguf_open(&f, "tests/golden/gguf_bpe_qwen2.gguf"), 0);
    struct gguf_writer *w;
    assert_int_equal(gguf_writer_init(&w), 0);
    for (int64_t i = 0; i < gguf_n_kv(f); i++)
        assert_int_equal(gguf_writer_set_kv_from(w, f, i), 0);
    gguf_close(f);
    gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
    char path[] = "/tmp/disr_test_pre_XXXXXX";
    close(mkstemp(path));
    assert_int_equal(gguf_writer_write(w, path), 0);
    gguf_writer_free(w);
    assert_int_equal(gguf_open(&f, path), 0);
    unlink(path);
    struct tokenizer *t = NULL;
    *status = tokenizer_load_gguf(&t, f);
    gguf_close(f);
    return t;
}

static void test_llama3_and_gpt2_names(void **state) {
    (void)state;
    int st;
    struct tokenizer *t = golden_with_pre("llama-bpe", &st);
    assert_int_equal(st, 0);
    /* Digits come in groups of up to three: no token crosses offsets 3 and 6 of "1234567". */
    int32_t ids[16];
    int n;
    assert_int_equal(tokenizer_encode(t, "1234567", 7, ids, 16, &n), 0);
    size_t off = 0;
    int cuts = 0;
    for (int i = 0; i < n; i++) {
        size_t len;
        tokenizer_piece(t, ids[i], &len);
        off += len;
        cuts += off == 3 || off == 6;
    }
    assert_int_equal(off, 7);
    assert_int_equal(cuts, 2);
    assert_false(tokenizer_add_bos(t)); /* the file's add_bos_token = false beats the default */
    tokenizer_free(t);
    t = golden_with_pre("gpt-2", &st);
    assert_int_equal(st, 0);
    tokenizer_free(t);
    t = golden_with_pre("falcon", &st);
    assert_int_equal(st, DISR_E_UNSUPPORTED);
    assert_non_null(strstr(disr_last_error(), "pre-tokenizer 'falcon' is not supported"));
    assert_null(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merges_by_score),
        cmocka_unit_test(test_no_space_prefix),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_llama3_and_gpt2_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
