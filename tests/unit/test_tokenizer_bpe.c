/* Byte-level BPE against an independent reference: tests/golden/gguf_bpe_fixture.py trained a
 * small vocabulary, wrote it as GGUF (pre-tokenizer qwen2 and gpt2) and encoded 35 strings with
 * Python's `re` + GPT-2's bpe() (and 300 random strings); we must produce the same ids, decode them
 * back to the text, and keep everything through a GGUF save/load. Also the char tokenizer's GGUF
 * form and ChatML. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "model/gguf.h"
#include "model/tokenizer.h"

#define DIR "tests/golden/"

static char *slurp(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    s[fread(s, 1, (size_t)n, fp)] = '\0';
    fclose(fp);
    return s;
}

static struct tokenizer *load(const char *path) {
    struct gguf_file *f;
    if (gguf_open(&f, path)) fail_msg("%s", disr_last_error());
    struct tokenizer *t;
    if (tokenizer_load_gguf(&t, f)) fail_msg("%s", disr_last_error());
    gguf_close(f);
    return t;
}

/* Encodes every case and compares with the reference ids; checks decoding. */
static void check_cases(const struct tokenizer *t, const char *which) {
    char *js = slurp(DIR "gguf_bpe_cases.json");
    assert_non_null(js);
    cJSON *root = cJSON_Parse(js);
    assert_non_null(root);
    assert_int_equal(cJSON_GetObjectItem(root, "n_vocab")->valueint, tokenizer_n_vocab(t));
    cJSON *cases = cJSON_GetObjectItem(root, "cases");
    int n_cases = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        cJSON *want = cJSON_GetObjectItem(c, which);
        int32_t ids[512];
        int n = -1;
        if (tokenizer_encode(t, text, strlen(text), ids, 512, &n))
            fail_msg("%s: '%s': %s", which, text, disr_last_error());
        int ok = n == cJSON_GetArraySize(want);
        for (int i = 0; ok && i < n; i++)
            ok = ids[i] == cJSON_GetArrayItem(want, i)->valueint;
        if (!ok) {
            fprintf(stderr, "%s mismatch for '%s'\n got:", which, text);
            for (int i = 0; i < n; i++)
                fprintf(stderr, " %d", ids[i]);
            fprintf(stderr, "\nwant:");
            cJSON *w;
            cJSON_ArrayForEach(w, want) fprintf(stderr, " %d", w->valueint);
            fprintf(stderr, "\n");
            fail();
        }
        /* Pieces concatenate back to the text, except control tokens (which decode to ""). */
        if (!strstr(text, "<|")) {
            char back[1024];
            size_t o = 0;
            for (int i = 0; i < n; i++) {
                size_t len;
                const char *p = tokenizer_piece(t, ids[i], &len);
                memcpy(back + o, p, len);
                o += len;
            }
            assert_int_equal(o, strlen(text));
            assert_memory_equal(back, text, o);
        }
        n_cases++;
    }
    assert_int_equal(n_cases, 335); /* 35 hand-picked + 300 random strings */
    cJSON_Delete(root);
    free(js);
}

static void test_qwen2_matches_reference(void **state) {
    (void)state;
    struct tokenizer *t = load(DIR "gguf_bpe_qwen2.gguf");
    assert_int_equal(tokenizer_kind(t), TOKENIZER_BPE);
    check_cases(t, "qwen2");
    tokenizer_free(t);
}

static void test_gpt2_matches_reference(void **state) {
    (void)state;
    struct tokenizer *t = load(DIR "gguf_bpe_gpt2.gguf");
    check_cases(t, "gpt2");
    tokenizer_free(t);
}

static void test_bpe_survives_save_and_load(void **state) {
    (void)state;
    struct tokenizer *t = load(DIR "gguf_bpe_qwen2.gguf");
    struct gguf_writer *w;
    assert_int_equal(gguf_writer_init(&w), 0);
    assert_int_equal(tokenizer_save_gguf(t, w), 0);
    char path[] = "/tmp/disr_test_bpe_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    assert_int_equal(gguf_writer_write(w, path), 0);
    gguf_writer_free(w);
    struct tokenizer *b = load(path);
    unlink(path);
    assert_int_equal(tokenizer_n_vocab(b), tokenizer_n_vocab(t));
    assert_int_equal(tokenizer_bos(b), tokenizer_bos(t));
    assert_int_equal(tokenizer_eos(b), tokenizer_eos(t));
    check_cases(b, "qwen2");
    tokenizer_free(b);
    /* ChatML: specials in the template encode as single tokens. */
    char buf[256];
    assert_int_equal(tokenizer_apply_chat(t, "Be brief.", "hi", buf, sizeof buf), 0);
    assert_string_equal(buf, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi"
                             "<|im_end|>\n<|im_start|>assistant\n");
    int32_t ids[64];
    int n;
    assert_int_equal(tokenizer_encode(t, buf, strlen(buf), ids, 64, &n), 0);
    int n_start = 0;
    for (int i = 0; i < n; i++) {
        size_t len;
        tokenizer_piece(t, ids[i], &len);
        n_start += len == 0; /* control tokens */
    }
    assert_int_equal(n_start, 5); /* 3 x <|im_start|>, 2 x <|im_end|> */
    assert_int_equal(tokenizer_apply_chat(t, NULL, "hi", buf, sizeof buf), 0);
    assert_string_equal(buf, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    assert_int_equal(tokenizer_apply_chat(t, "s", "hi", buf, 10), DISR_E_RANGE);
    /* Too small an output array is an error, not an overflow. */
    assert_int_equal(tokenizer_encode(t, "hello world", 11, ids, 2, &n), DISR_E_RANGE);
    tokenizer_free(t);
}

static void test_invalid_utf8_is_encoded_bytewise(void **state) {
    (void)state;
    struct tokenizer *t = load(DIR "gguf_bpe_qwen2.gguf");
    const char text[] = "ok \xff\xfe broken \xe6\x97 end\xc3";
    int32_t ids[64];
    int n;
    assert_int_equal(tokenizer_encode(t, text, sizeof text - 1, ids, 64, &n), 0);
    char back[64];
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *p = tokenizer_piece(t, ids[i], &len);
        memcpy(back + o, p, len);
        o += len;
    }
    assert_int_equal(o, sizeof text - 1);
    assert_memory_equal(back, text, o);
    tokenizer_free(t);
}

/* One 256 KiB "word" (no spaces): merging is O(n log n), so this takes milliseconds; the
 * pieces still concatenate back to the input. */
static void test_long_word_is_fast_and_exact(void **state) {
    (void)state;
    struct tokenizer *t = load(DIR "gguf_bpe_qwen2.gguf");
    size_t n = 1 << 18;
    char *text = malloc(n);
    for (size_t i = 0; i < n; i++)
        text[i] = "theatrehello"[i % 12];
    int32_t *ids = malloc(n * sizeof *ids);
    int k;
    assert_int_equal(tokenizer_encode(t, text, n, ids, (int)n, &k), 0);
    assert_true(k > 0 && (size_t)k < n); /* some merges happened */
    size_t o = 0;
    for (int i = 0; i < k; i++) {
        size_t len;
        const char *p = tokenizer_piece(t, ids[i], &len);
        assert_memory_equal(p, text + o, len);
        o += len;
    }
    assert_int_equal(o, n);
    free(ids);
    free(text);
    tokenizer_free(t);
}

static void test_char_tokenizer_chat_is_plain(void **state) {
    (void)state;
    struct tokenizer *t;
    assert_int_equal(tokenizer_init_char(&t, "abc", 3), 0);
    char buf[64];
    assert_int_equal(tokenizer_apply_chat(t, "ignored", "Q: 1+1?\nA:", buf, sizeof buf), 0);
    assert_string_equal(buf, "Q: 1+1?\nA:");
    assert_int_equal(tokenizer_apply_chat(t, NULL, "Q: 1+1?\nA:", buf, 5), DISR_E_RANGE);
    tokenizer_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen2_matches_reference),
        cmocka_unit_test(test_gpt2_matches_reference),
        cmocka_unit_test(test_bpe_survives_save_and_load),
        cmocka_unit_test(test_invalid_utf8_is_encoded_bytewise),
        cmocka_unit_test(test_long_word_is_fast_and_exact),
        cmocka_unit_test(test_char_tokenizer_chat_is_plain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
