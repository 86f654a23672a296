/* Unit tests for model/gguf: every metadata type round-trips, tensors land where ggml expects
 * them, and damaged files (truncated anywhere, wrong magic/version/types, absurd counts, bad
 * offsets, duplicates) are refused with a message, never a crash. Also model/quant: fp16 and the
 * Q8_0 / Q4_0 block layouts for known inputs, and error bounds on random rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/rng.h"
#include "model/gguf.h"
#include "model/quant.h"

static char tmpdir[256];

static int setup_dir(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/disr_test_gguf_XXXXXX");
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

/* ------------------------------------------------------------------------- metadata types */

static void fill_all_types(struct gguf_writer *w) {
    assert_int_equal(gguf_writer_set_u8(w, "t.u8", 200), 0);
    assert_int_equal(gguf_writer_set_i8(w, "t.i8", -100), 0);
    assert_int_equal(gguf_writer_set_u16(w, "t.u16", 60000), 0);
    assert_int_equal(gguf_writer_set_i16(w, "t.i16", -30000), 0);
    assert_int_equal(gguf_writer_set_u32(w, "t.u32", 4000000000u), 0);
    assert_int_equal(gguf_writer_set_i32(w, "t.i32", -2000000000), 0);
    assert_int_equal(gguf_writer_set_f32(w, "t.f32", 3.25f), 0);
    assert_int_equal(gguf_writer_set_bool(w, "t.bool", true), 0);
    assert_int_equal(gguf_writer_set_str(w, "t.str", "héllo\nworld"), 0);
    assert_int_equal(gguf_writer_set_u64(w, "t.u64", 18000000000000000000ull), 0);
    assert_int_equal(gguf_writer_set_i64(w, "t.i64", -9000000000000000000ll), 0);
    assert_int_equal(gguf_writer_set_f64(w, "t.f64", 1.0 / 3.0), 0);
    int32_t ai[5] = {1, -2, 3, -4, 2147483647};
    float af[3] = {0.5f, -1.5f, 1e30f};
    uint8_t ab[4] = {1, 0, 1, 1};
    const char *as[3] = {"a", "", "Ġthe"};
    assert_int_equal(gguf_writer_set_arr_i32(w, "t.arr_i32", ai, 5), 0);
    assert_int_equal(gguf_writer_set_arr_f32(w, "t.arr_f32", af, 3), 0);
    assert_int_equal(gguf_writer_set_arr(w, "t.arr_bool", GGUF_TYPE_BOOL, ab, 4), 0);
    assert_int_equal(gguf_writer_set_arr_str(w, "t.arr_str", as, NULL, 3), 0);
    assert_int_equal(gguf_writer_set_arr(w, "t.arr_empty", GGUF_TYPE_UINT64, NULL, 0), 0);
}

static void check_all_types(const struct gguf_file *f) {
    uint8_t u8;
    int8_t i8;
    uint16_t u16;
    int16_t i16;
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    int64_t i64;
    float f32;
    double f64;
    bool b;
    const char *s;
    size_t len;
    assert_int_equal(gguf_get_u8(f, "t.u8", &u8), 0);
    assert_int_equal(u8, 200);
    assert_int_equal(gguf_get_i8(f, "t.i8", &i8), 0);
    assert_int_equal(i8, -100);
    assert_int_equal(gguf_get_u16(f, "t.u16", &u16), 0);
    assert_int_equal(u16, 60000);
    assert_int_equal(gguf_get_i16(f, "t.i16", &i16), 0);
    assert_int_equal(i16, -30000);
    assert_int_equal(gguf_get_u32(f, "t.u32", &u32), 0);
    assert_true(u32 == 4000000000u);
    assert_int_equal(gguf_get_i32(f, "t.i32", &i32), 0);
    assert_int_equal(i32, -2000000000);
    assert_int_equal(gguf_get_f32(f, "t.f32", &f32), 0);
    assert_true(f32 == 3.25f);
    assert_int_equal(gguf_get_bool(f, "t.bool", &b), 0);
    assert_true(b);
    assert_int_equal(gguf_get_str(f, "t.str", &s, &len), 0);
    assert_string_equal(s, "héllo\nworld");
    assert_int_equal(len, strlen("héllo\nworld"));
    assert_int_equal(gguf_get_u64(f, "t.u64", &u64), 0);
    assert_true(u64 == 18000000000000000000ull);
    assert_int_equal(gguf_get_i64(f, "t.i64", &i64), 0);
    assert_true(i64 == -9000000000000000000ll);
    assert_int_equal(gguf_get_f64(f, "t.f64", &f64), 0);
    assert_true(f64 == 1.0 / 3.0);
    const void *d;
    uint64_t n;
    assert_int_equal(gguf_get_arr(f, "t.arr_i32", GGUF_TYPE_INT32, &d, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(((const int32_t *)d)[1], -2);
    assert_int_equal(((const int32_t *)d)[4], 2147483647);
    assert_int_equal(gguf_get_arr(f, "t.arr_f32", GGUF_TYPE_FLOAT32, &d, &n), 0);
    assert_true(n == 3 && ((const float *)d)[2] == 1e30f);
    assert_int_equal(gguf_get_arr(f, "t.arr_bool", GGUF_TYPE_BOOL, &d, &n), 0);
    assert_true(n == 4 && ((const uint8_t *)d)[1] == 0 && ((const uint8_t *)d)[3] == 1);
    const char *const *items;
    const uint64_t *lens;
    assert_int_equal(gguf_get_arr_str(f, "t.arr_str", &items, &lens, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(items[0], "a");
    assert_string_equal(items[1], "");
    assert_string_equal(items[2], "Ġthe");
    assert_int_equal(lens[2], strlen("Ġthe"));
    assert_int_equal(gguf_get_arr(f, "t.arr_empty", GGUF_TYPE_UINT64, &d, &n), 0);
    assert_int_equal(n, 0);
    /* Lenient hyperparameter getters accept any integer / float width. */
    assert_int_equal(gguf_get_uint(f, "t.u16", &u64), 0);
    assert_int_equal(u64, 60000);
    assert_int_equal(gguf_get_uint(f, "t.i8", &u64), DISR_E_FORMAT);
    assert_int_equal(gguf_get_float(f, "t.f32", &f64), 0);
    assert_true(f64 == 3.25);
    /* Wrong type and missing key: clear statuses and messages. */
    assert_int_equal(gguf_get_u32(f, "t.i32", &u32), DISR_E_FORMAT);
    assert_non_null(strstr(disr_last_error(), "t.i32"));
    assert_int_equal(gguf_get_u32(f, "no.such.key", &u32), DISR_E_NOTFOUND);
    assert_non_null(strstr(disr_last_error(), "no.such.key"));
    assert_int_equal(gguf_get_arr(f, "t.arr_i32", GGUF_TYPE_FLOAT32, &d, &n), DISR_E_FORMAT);
}

static void test_every_metadata_type_round_trips(void **state) {
    (void)state;
    struct gguf_writer *w;
    assert_int_equal(gguf_writer_init(&w), 0);
    fill_all_types(w);
    char path[300];
    tmp_path(path, sizeof path, "types.gguf");
    assert_int_equal(gguf_writer_write(w, path), 0);
    gguf_writer_free(w);
    struct gguf_file *f;
    assert_int_equal(gguf_open(&f, path), 0);
    assert_int_equal(gguf_n_kv(f), 17);
    assert_int_equal(gguf_n_tensors(f), 0);
    check_all_types(f);
    /* Copying every KV into a new writer and writing again gives the same bytes. */
    struct gguf_writer *w2;
    assert_int_equal(gguf_writer_init(&w2), 0);
    for (int64_t i = 0; i < gguf_n_kv(f); i++)
        assert_int_equal(gguf_writer_set_kv_from(w2, f, i), 0);
    char path2[300];
    tmp_path(path2, sizeof path2, "types2.gguf");
    assert_int_equal(gguf_writer_write(w2, path2), 0);
    gguf_writer_free(w2);
    gguf_close(f);
    size_t n1, n2;
    unsigned char *a = read_all(path, &n1), *b = read_all(path2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a);
    free(b);
}

static void test_writer_replaces_and_removes_keys(void **state) {
    (void)state;
    struct gguf_writer *w;
    assert_int_equal(gguf_writer_init(&w), 0);
    gguf_writer_set_u32(w, "a", 1);
    gguf_writer_set_str(w, "b", "x");
    gguf_writer_set_f32(w, "a", 2.5f); /* replaced in place, type changes */
    assert_int_equal(gguf_writer_n_kv(w), 2);
    assert_string_equal(gguf_writer_kv_key(w, 0), "a");
    float v;
    uint32_t u;
    assert_int_equal(gguf_writer_get_f32(w, "a", &v), 0);
    assert_true(v == 2.5f);
    assert_int_equal(gguf_writer_get_u32(w, "a", &u), DISR_E_FORMAT);
    gguf_writer_remove(w, "a");
    assert_int_equal(gguf_writer_n_kv(w), 1);
    assert_int_equal(gguf_writer_get_f32(w, "a", &v), DISR_E_NOTFOUND);
    assert_int_equal(gguf_writer_set_u8(w, "", 1), DISR_E_ARG);
    gguf_writer_free(w);
}

/* -------------------------------------------------------------------------------- tensors */

static void test_tensors_are_aligned_and_exact(void **state) {
    (void)state;
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint16_t h[5] = {1, 2, 3, 4, 5};
    float q[64];
    for (int i = 0; i < 64; i++)
        q[i] = (float)i - 30;
    struct block_q8_0 qb[2];
    assert_int_equal(quantize_row(DTYPE_Q8_0, q, qb, 64), 0);
    for (int align = 32; align <= 64; align += 32) {
        struct gguf_writer *w;
        assert_int_equal(gguf_writer_init(&w), 0);
        if (align != 32) gguf_writer_set_u32(w, "general.alignment", (uint32_t)align);
        gguf_writer_set_str(w, "general.architecture", "llama");
        int64_t ne_a[2] = {3, 2}, ne_h[1] = {5}, ne_q[2] = {32, 2};
        assert_int_equal(gguf_writer_add_tensor(w, "a", DTYPE_F32, ne_a, 2, a), 0);
        assert_int_equal(gguf_writer_add_tensor(w, "h", DTYPE_F16, ne_h, 1, h), 0);
        assert_int_equal(gguf_writer_add_tensor(w, "q", DTYPE_Q8_0, ne_q, 2, qb), 0);
        /* Shape errors are the caller's: refused before anything is written. */
        int64_t ne_bad[1] = {33};
        assert_int_equal(gguf_writer_add_tensor(w, "bad", DTYPE_Q8_0, ne_bad, 1, qb), DISR_E_ARG);
        assert_int_equal(gguf_writer_add_tensor(w, "a", DTYPE_F32, ne_a, 2, a), DISR_E_ARG);
        char path[300];
        tmp_path(path, sizeof path, "tensors.gguf");
        assert_int_equal(gguf_writer_write(w, path), 0);
        gguf_writer_free(w);
        struct gguf_file *f;
        assert_int_equal(gguf_open(&f, path), 0);
        assert_int_equal(gguf_alignment(f), align);
        assert_int_equal(gguf_data_offset(f) % (size_t)align, 0);
        assert_int_equal(gguf_n_tensors(f), 3);
        const struct gguf_tensor *t = gguf_tensor_at(f, gguf_find_tensor(f, "h"));
        assert_non_null(t);
        assert_int_equal(t->type, DTYPE_F16);
        assert_int_equal(t->n_dims, 1);
        assert_int_equal(t->ne[0], 5);
        assert_int_equal(t->ne[1], 1);
        assert_int_equal(t->nbytes, 10);
        assert_int_equal(t->offset, (uint64_t)align); /* 24 bytes of "a" padded */
        assert_memory_equal(t->data, h, 10);
        t = gguf_tensor_at(f, gguf_find_tensor(f, "q"));
        assert_int_equal(t->offset, 2 * (uint64_t)align);
        assert_int_equal(t->nbytes, 68);
        assert_memory_equal(t->data, qb, 68);
        assert_int_equal(((uintptr_t)t->data) % (uintptr_t)align, 0);
        t = gguf_tensor_at(f, gguf_find_tensor(f, "a"));
        assert_int_equal(t->ne[0], 3);
        assert_int_equal(t->ne[1], 2);
        assert_memory_equal(t->data, a, 24);
        assert_int_equal(gguf_find_tensor(f, "zz"), -1);
        /* File ends exactly after the last padded tensor. */
        size_t A = (size_t)align;
        assert_int_equal(gguf_file_size(f), gguf_data_offset(f) + 2 * A + (68 + A - 1) / A * A);
        gguf_close(f);
    }
}

/* ------------------------------------------------------------------ damaged files (crafted) */

/* A tiny byte builder for hand-made files. */
struct buf {
    unsigned char b[4096];
    size_t n;
};
static void b_put(struct buf *b, const void *p, size_t n) {
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void b_u32(struct buf *b, uint32_t v) {
    b_put(b, &v, 4);
}
static void b_u64(struct buf *b, uint64_t v) {
    b_put(b, &v, 8);
}
static void b_str(struct buf *b, const char *s) {
    b_u64(b, strlen(s));
    b_put(b, s, strlen(s));
}
static void b_pad(struct buf *b, size_t a) {
    while (b->n % a)
        b->b[b->n++] = 0;
}

/* A valid file: 1 KV, 2 F32 tensors ("x" ne=[4], "y" ne=[2,2]). Fields can be overridden. */
struct craft {
    const char *magic;
    uint32_t version;
    uint64_t n_tensors, n_kv;
    const char *key2; /* second key name (NULL: only one KV) */
    uint32_t kv_type;
    uint32_t n_dims_y;
    uint32_t type_y;
    const char *name_y;
    uint64_t off_y;
    uint64_t str_len; /* 0: honest */
    int truncate_data;
};

static void craft_default(struct craft *c) {
    memset(c, 0, sizeof *c);
    c->magic = "GGUF";
    c->version = 3;
    c->n_tensors = 2;
    c->n_kv = 1;
    c->kv_type = GGUF_TYPE_STRING;
    c->n_dims_y = 2;
    c->type_y = 0;
    c->name_y = "y";
    c->off_y = 32;
}

static void craft(struct buf *b, const struct craft *c) {
    b->n = 0;
    b_put(b, c->magic, 4);
    b_u32(b, c->version);
    b_u64(b, c->n_tensors);
    b_u64(b, c->n_kv + (c->key2 ? 1 : 0));
    b_str(b, "general.architecture");
    b_u32(b, c->kv_type);
    if (c->kv_type == GGUF_TYPE_STRING) {
        b_u64(b, c->str_len ? c->str_len : 5);
        b_put(b, "llama", 5);
    } else {
        b_u32(b, 7);
    }
    if (c->key2) {
        b_str(b, c->key2);
        b_u32(b, GGUF_TYPE_UINT32);
        b_u32(b, 32);
    }
    b_str(b, "x");
    b_u32(b, 1);
    b_u64(b, 4);
    b_u32(b, 0);
    b_u64(b, 0);
    b_str(b, c->name_y);
    b_u32(b, c->n_dims_y);
    for (uint32_t d = 0; d < c->n_dims_y && d < 8; d++)
        b_u64(b, 2);
    b_u32(b, c->type_y);
    b_u64(b, c->off_y);
    b_pad(b, 32);
    float data[4] = {1, 2, 3, 4};
    b_put(b, data, 16);
    b_pad(b, 32);
    b_put(b, data, 16);
    if (c->truncate_data) b->n -= 4;
}

static int open_buf(const struct buf *b) {
    struct gguf_file *f = NULL;
    disr_clear_error();
    int st = gguf_open_memory(&f, b->b, b->n, "crafted.gguf");
    if (st == 0) {
        assert_non_null(f);
        gguf_close(f);
    } else {
        assert_null(f);
        assert_true(strlen(disr_last_error()) > 10); /* a message, not just a status */
    }
    return st;
}

static void expect_refused(const struct craft *c, const char *needle) {
    struct buf b;
    craft(&b, c);
    assert_int_equal(open_buf(&b), DISR_E_FORMAT);
    if (!strstr(disr_last_error(), needle))
        fail_msg("message '%s' lacks '%s'", disr_last_error(), needle);
}

static void test_crafted_file_is_valid(void **state) {
    (void)state;
    struct craft c;
    craft_default(&c);
    struct buf b;
    craft(&b, &c);
    assert_int_equal(open_buf(&b), 0);
}

static void test_damaged_headers_are_refused(void **state) {
    (void)state;
    struct craft c;
    craft_default(&c);
    c.magic = "GGML";
    expect_refused(&c, "not a GGUF file");
    craft_default(&c);
    c.version = 1;
    expect_refused(&c, "version 1");
    craft_default(&c);
    c.version = 0x03000000;
    expect_refused(&c, "version");
    craft_default(&c);
    c.n_kv = 1ull << 40;
    expect_refused(&c, "metadata entries cannot fit");
    craft_default(&c);
    c.n_tensors = UINT64_MAX;
    expect_refused(&c, "tensors cannot fit");
    craft_default(&c);
    c.n_tensors = 3; /* one more than present: runs into the data */
    struct buf b;
    craft(&b, &c);
    assert_int_equal(open_buf(&b), DISR_E_FORMAT);
}

static void test_damaged_metadata_is_refused(void **state) {
    (void)state;
    struct craft c;
    craft_default(&c);
    c.kv_type = 13;
    expect_refused(&c, "unknown value type 13");
    craft_default(&c);
    c.kv_type = 0xffffffffu;
    expect_refused(&c, "unknown value type");
    craft_default(&c);
    c.str_len = 1ull << 62;
    expect_refused(&c, "absurd length");
    craft_default(&c);
    c.str_len = 3000; /* plausible but past the end */
    expect_refused(&c, "beyond the end");
    craft_default(&c);
    c.key2 = "general.architecture";
    expect_refused(&c, "duplicate key");
    craft_default(&c);
    c.key2 = "general.alignment"; /* u32 32: valid */
    struct buf b;
    craft(&b, &c);
    assert_int_equal(open_buf(&b), 0);
}

static void test_damaged_tensor_infos_are_refused(void **state) {
    (void)state;
    struct craft c;
    craft_default(&c);
    c.n_dims_y = 5;
    expect_refused(&c, "5 dimensions");
    craft_default(&c);
    c.type_y = 4; /* retired ggml id */
    expect_refused(&c, "unknown ggml type 4");
    craft_default(&c);
    c.type_y = 1000;
    expect_refused(&c, "unknown ggml type");
    craft_default(&c);
    c.type_y = 8; /* Q8_0 with rows of 2: not a multiple of 32 */
    expect_refused(&c, "block size");
    craft_default(&c);
    c.name_y = "x";
    expect_refused(&c, "duplicate tensor name");
    craft_default(&c);
    c.name_y = "a_tensor_name_that_is_far_too_long_for_ggml_which_allows_63_bytes_x";
    expect_refused(&c, "limit 63");
    craft_default(&c);
    c.off_y = 16; /* misaligned */
    expect_refused(&c, "expected 32");
    craft_default(&c);
    c.off_y = 64; /* aligned but not where ggml expects */
    expect_refused(&c, "expected 32");
    craft_default(&c);
    c.off_y = UINT64_MAX - 7;
    expect_refused(&c, "offset");
    craft_default(&c);
    c.truncate_data = 1;
    expect_refused(&c, "past the end");
}

static void test_truncation_at_every_offset_is_refused(void **state) {
    (void)state;
    struct craft c;
    craft_default(&c);
    struct buf full, b;
    craft(&full, &c);
    for (size_t n = 0; n < full.n; n++) {
        memcpy(b.b, full.b, n);
        b.n = n;
        if (open_buf(&b) == 0)
            fail_msg("a file truncated to %zu of %zu bytes was accepted", n, full.n);
    }
    /* Every single-byte corruption either opens cleanly or fails with a message. */
    for (size_t i = 0; i < full.n; i++) {
        for (int v = 0; v < 256; v += 85) {
            b = full;
            b.b[i] = (unsigned char)v;
            (void)open_buf(&b);
        }
    }
}

static void test_open_missing_file(void **state) {
    (void)state;
    struct gguf_file *f;
    assert_int_equal(gguf_open(&f, "/nonexistent/x.gguf"), DISR_E_IO);
    assert_non_null(strstr(disr_last_error(), "/nonexistent/x.gguf"));
    char path[300];
    tmp_path(path, sizeof path, "empty.gguf");
    FILE *fp = fopen(path, "wb");
    fclose(fp);
    assert_int_equal(gguf_open(&f, path), DISR_E_FORMAT);
    assert_int_equal(gguf_open(&f, tmpdir), DISR_E_IO);
}

/* A failed write (here: file size limit, standing in for a full disk) leaves the old file as
 * it was and no temporary file behind. */
static void test_failed_write_keeps_old_file(void **state) {
    (void)state;
    char path[300];
    tmp_path(path, sizeof path, "keep.gguf");
    struct gguf_writer *w;
    assert_int_equal(gguf_writer_init(&w), 0);
    gguf_writer_set_str(w, "general.name", "old");
    assert_int_equal(gguf_writer_write(w, path), 0);
    size_t n_old;
    unsigned char *old = read_all(path, &n_old);

    static float big[1 << 16];
    int64_t ne[1] = {1 << 16};
    assert_int_equal(gguf_writer_add_tensor(w, "big", DTYPE_F32, ne, 1, big), 0);
    struct rlimit saved, lim;
    getrlimit(RLIMIT_FSIZE, &saved);
    lim = saved;
    lim.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
    int st = gguf_writer_write(w, path);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, SIG_DFL);
    gguf_writer_free(w);
    assert_int_equal(st, DISR_E_IO);
    assert_non_null(strstr(disr_last_error(), "nothing was changed"));
    size_t n_now;
    unsigned char *now = read_all(path, &n_now);
    assert_int_equal(n_now, n_old);
    assert_memory_equal(now, old, n_old);
    free(old);
    free(now);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp", tmpdir);
    assert_int_not_equal(system(cmd), 0);
}

/* --------------------------------------------------------------------------------- quant */

static void test_fp16_known_values_and_round_trip(void **state) {
    (void)state;
    assert_int_equal(fp32_to_fp16(1.0f), 0x3c00);
    assert_int_equal(fp32_to_fp16(-2.0f), 0xc000);
    assert_int_equal(fp32_to_fp16(0.1f), 0x2e66);
    assert_int_equal(fp32_to_fp16(65504.0f), 0x7bff);
    assert_int_equal(fp32_to_fp16(65519.0f), 0x7bff);
    assert_int_equal(fp32_to_fp16(65520.0f), 0x7c00);
    assert_int_equal(fp32_to_fp16(0x1p-24f), 0x0001);
    assert_int_equal(fp32_to_fp16(0x1p-25f), 0x0000);          /* tie to even */
    assert_int_equal(fp32_to_fp16(0x1.8p-24f), 0x0002);        /* 1.5 ulp ties to 2 */
    assert_int_equal(fp32_to_fp16(1.0f + 0x1p-11f), 0x3c00);   /* tie to even (down) */
    assert_int_equal(fp32_to_fp16(1.0f + 0x1.8p-10f), 0x3c02); /* tie to even (up) */
    assert_int_equal(fp32_to_fp16(-0.0f), 0x8000);
    assert_int_equal(fp32_to_fp16(INFINITY), 0x7c00);
    assert_int_equal(fp32_to_fp16(NAN) & 0x7e00, 0x7e00);
    /* Every finite half converts to float and back unchanged; every half-way point between two
     * consecutive halves rounds to the even one. */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        float f = fp16_to_fp32((uint16_t)h);
        assert_int_equal(fp32_to_fp16(f), h);
        if ((h & 0x7fff) < 0x7bff) {
            float g = fp16_to_fp32((uint16_t)(h + 1));
            float mid = (f + g) / 2; /* exact in float */
            uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
            if ((h & 0x8000) == ((h + 1) & 0x8000)) assert_int_equal(fp32_to_fp16(mid), even);
        }
    }
}

static void test_q8_0_known_block(void **state) {
    (void)state;
    float x[32];
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16) / 4; /* amax 4 at j = 0 */
    struct block_q8_0 b;
    assert_int_equal(quantize_row(DTYPE_Q8_0, x, &b, 32), 0);
    assert_int_equal(b.d, fp32_to_fp16(4.0f / 127.0f));
    assert_int_equal(b.qs[0], -127);
    assert_int_equal(b.qs[16], 0);
    /* x = 0.25 -> 0.25 * 127/4 = 7.9375 -> 8 */
    assert_int_equal(b.qs[17], 8);
    /* x = 0.5 -> 15.875 -> 16; x = 3.75 -> 119.0625 -> 119 */
    assert_int_equal(b.qs[18], 16);
    assert_int_equal(b.qs[31], 119);
    unsigned char raw[34];
    memcpy(raw, &b, 34);
    assert_int_equal(raw[2], (unsigned char)-127); /* qs start right after the 2-byte scale */
    float y[32];
    dequantize_row(DTYPE_Q8_0, &b, y, 32);
    float d = fp16_to_fp32(b.d);
    for (int j = 0; j < 32; j++)
        assert_true(y[j] == (float)b.qs[j] * d);
    /* All zeros: d = 0 and q = 0, no division by zero. */
    memset(x, 0, sizeof x);
    quantize_row(DTYPE_Q8_0, x, &b, 32);
    assert_int_equal(b.d, 0);
    for (int j = 0; j < 32; j++)
        assert_int_equal(b.qs[j], 0);
}

static void test_q4_0_known_block(void **state) {
    (void)state;
    float x[32];
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 8); /* max magnitude is +23 at j = 31 */
    struct block_q4_0 b;
    assert_int_equal(quantize_row(DTYPE_Q4_0, x, &b, 32), 0);
    const float d = 23.0f / -8.0f, id = 1.0f / d;
    assert_int_equal(b.d, fp32_to_fp16(d));
    for (int j = 0; j < 16; j++) {
        int lo = (int)(int8_t)(x[j] * id + 8.5f), hi = (int)(int8_t)(x[j + 16] * id + 8.5f);
        lo = lo > 15 ? 15 : lo;
        hi = hi > 15 ? 15 : hi;
        assert_int_equal(b.qs[j] & 15, lo);
        assert_int_equal(b.qs[j] >> 4, hi);
    }
    /* The extreme value maps to nibble 0 (q - 8 = -8 times a negative d). */
    assert_int_equal(b.qs[15] >> 4, 0);
    /* j = 8 is 0.0 -> nibble 8. */
    assert_int_equal(b.qs[8] & 15, 8);
    float y[32];
    dequantize_row(DTYPE_Q4_0, &b, y, 32);
    float dd = fp16_to_fp32(b.d);
    assert_true(y[31] == -8 * dd);
    assert_true(y[8] == 0.0f);
}

static void test_quant_error_bounds(void **state) {
    (void)state;
    struct rng r;
    rng_init(&r, 7);
    enum { N = 32 * 64 };
    static float x[N], y[N];
    static unsigned char q[N * 4];
    for (int i = 0; i < N; i++)
        x[i] = rng_normal(&r) * (i % 5 + 1);
    enum dtype types[] = {DTYPE_F32, DTYPE_F16, DTYPE_Q8_0, DTYPE_Q4_0};
    for (int k = 0; k < 4; k++) {
        enum dtype t = types[k];
        assert_int_equal(quantize_row(t, x, q, N), 0);
        assert_int_equal(dequantize_row(t, q, y, N), 0);
        for (int b = 0; b < N / 32; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++)
                amax = fmaxf(amax, fabsf(x[b * 32 + j]));
            for (int j = 0; j < 32; j++) {
                float e = fabsf(x[b * 32 + j] - y[b * 32 + j]);
                float bound = t == DTYPE_F32    ? 0
                              : t == DTYPE_F16  ? fabsf(x[b * 32 + j]) * 0x1p-11f
                              : t == DTYPE_Q8_0 ? amax / 127 * (0.5f + 127 * 0x1p-11f) + 1e-6f
                                                : amax / 8 * (1 + 8 * 0x1p-11f) + 1e-6f;
                if (e > bound) fail_msg("%s: error %g > bound %g", dtype_name(t), e, bound);
            }
        }
    }
    assert_int_equal(dtype_row_size(DTYPE_Q8_0, 64), 68);
    assert_int_equal(dtype_row_size(DTYPE_Q4_0, 64), 36);
    assert_int_equal(dtype_row_size(DTYPE_F16, 3), 6);
    assert_int_equal(dtype_row_size(DTYPE_Q4_0, 33), 0);
    assert_int_equal(quantize_row(DTYPE_Q4_0, x, q, 33), DISR_E_ARG);
    enum dtype t;
    assert_int_equal(dtype_parse("Q8_0", &t), 0);
    assert_int_equal(t, DTYPE_Q8_0);
    assert_int_equal(dtype_parse("q5_1", &t), DISR_E_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_metadata_type_round_trips),
        cmocka_unit_test(test_writer_replaces_and_removes_keys),
        cmocka_unit_test(test_tensors_are_aligned_and_exact),
        cmocka_unit_test(test_crafted_file_is_valid),
        cmocka_unit_test(test_damaged_headers_are_refused),
        cmocka_unit_test(test_damaged_metadata_is_refused),
        cmocka_unit_test(test_damaged_tensor_infos_are_refused),
        cmocka_unit_test(test_truncation_at_every_offset_is_refused),
        cmocka_unit_test(test_open_missing_file),
        cmocka_unit_test(test_failed_write_keeps_old_file),
        cmocka_unit_test(test_fp16_known_values_and_round_trip),
        cmocka_unit_test(test_q8_0_known_block),
        cmocka_unit_test(test_q4_0_known_block),
        cmocka_unit_test(test_quant_error_bounds),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
