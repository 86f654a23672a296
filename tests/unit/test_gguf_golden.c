/* Golden cross-check: tests/golden/gguf_types.gguf was written by an independent stdlib-only
 * Python implementation (tests/golden/gguf_reference.py write-types). We must read every value
 * it wrote, of every metadata type, and its tensors where it put them. (The other direction,
 * Python parsing files we write, runs in tests/e2e/gguf.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "core/err.h"
#include "model/gguf.h"
#include "model/quant.h"

#define FIXTURE "tests/golden/gguf_types.gguf"

static void test_reads_python_written_file(void **state) {
    (void)state;
    struct gguf_file *f;
    int st = gguf_open(&f, FIXTURE);
    if (st) fail_msg("%s", disr_last_error());
    assert_int_equal(gguf_n_kv(f), 26);
    assert_int_equal(gguf_n_tensors(f), 3);
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
    assert_int_equal(gguf_get_u8(f, "golden.u8", &u8), 0);
    assert_int_equal(u8, 250);
    assert_int_equal(gguf_get_i8(f, "golden.i8", &i8), 0);
    assert_int_equal(i8, -7);
    assert_int_equal(gguf_get_u16(f, "golden.u16", &u16), 0);
    assert_int_equal(u16, 65535);
    assert_int_equal(gguf_get_i16(f, "golden.i16", &i16), 0);
    assert_int_equal(i16, -32768);
    assert_int_equal(gguf_get_u32(f, "golden.u32", &u32), 0);
    assert_true(u32 == 4294967295u);
    assert_int_equal(gguf_get_i32(f, "golden.i32", &i32), 0);
    assert_int_equal(i32, -123456789);
    assert_int_equal(gguf_get_f32(f, "golden.f32", &f32), 0);
    assert_true(f32 == 0.15625f);
    assert_int_equal(gguf_get_bool(f, "golden.bool", &b), 0);
    assert_true(b);
    assert_int_equal(gguf_get_str(f, "golden.str", &s, NULL), 0);
    assert_string_equal(s, "ünïcode ✓\n");
    assert_int_equal(gguf_get_u64(f, "golden.u64", &u64), 0);
    assert_true(u64 == UINT64_MAX - 1);
    assert_int_equal(gguf_get_i64(f, "golden.i64", &i64), 0);
    assert_true(i64 == INT64_MIN);
    assert_int_equal(gguf_get_f64(f, "golden.f64", &f64), 0);
    assert_true(f64 == 2.5e-300);

    const void *d;
    uint64_t n;
    assert_int_equal(gguf_get_arr(f, "golden.arr_u8", GGUF_TYPE_UINT8, &d, &n), 0);
    assert_true(n == 3 && ((const uint8_t *)d)[2] == 255);
    assert_int_equal(gguf_get_arr(f, "golden.arr_i8", GGUF_TYPE_INT8, &d, &n), 0);
    assert_true(n == 2 && ((const int8_t *)d)[0] == -128);
    assert_int_equal(gguf_get_arr(f, "golden.arr_u16", GGUF_TYPE_UINT16, &d, &n), 0);
    assert_true(n == 2 && ((const uint16_t *)d)[1] == 65535);
    assert_int_equal(gguf_get_arr(f, "golden.arr_i16", GGUF_TYPE_INT16, &d, &n), 0);
    assert_true(n == 2 && ((const int16_t *)d)[0] == -2);
    assert_int_equal(gguf_get_arr(f, "golden.arr_u32", GGUF_TYPE_UINT32, &d, &n), 0);
    assert_true(n == 4 && ((const uint32_t *)d)[3] == 4000000000u);
    assert_int_equal(gguf_get_arr(f, "golden.arr_i32", GGUF_TYPE_INT32, &d, &n), 0);
    assert_true(n == 3 && ((const int32_t *)d)[0] == -1);
    assert_int_equal(gguf_get_arr(f, "golden.arr_f32", GGUF_TYPE_FLOAT32, &d, &n), 0);
    assert_true(n == 2 && ((const float *)d)[1] == -0.25f);
    assert_int_equal(gguf_get_arr(f, "golden.arr_bool", GGUF_TYPE_BOOL, &d, &n), 0);
    assert_true(n == 3 && ((const uint8_t *)d)[0] == 0 && ((const uint8_t *)d)[2] == 1);
    assert_int_equal(gguf_get_arr(f, "golden.arr_u64", GGUF_TYPE_UINT64, &d, &n), 0);
    assert_true(n == 1 && ((const uint64_t *)d)[0] == (1ull << 63));
    assert_int_equal(gguf_get_arr(f, "golden.arr_i64", GGUF_TYPE_INT64, &d, &n), 0);
    assert_true(n == 1 && ((const int64_t *)d)[0] == -5);
    assert_int_equal(gguf_get_arr(f, "golden.arr_f64", GGUF_TYPE_FLOAT64, &d, &n), 0);
    assert_true(n == 2 && ((const double *)d)[0] == 0.1 && ((const double *)d)[1] == -1e100);
    assert_int_equal(gguf_get_arr(f, "golden.arr_empty", GGUF_TYPE_UINT32, &d, &n), 0);
    assert_int_equal(n, 0);
    const char *const *items;
    const uint64_t *lens;
    assert_int_equal(gguf_get_arr_str(f, "golden.arr_str", &items, &lens, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(items[0], "alpha");
    assert_int_equal(lens[1], 0);
    assert_string_equal(items[2], "Ġγ");

    const struct gguf_tensor *t = gguf_tensor_at(f, gguf_find_tensor(f, "golden.f32"));
    assert_non_null(t);
    assert_int_equal(t->offset, 0);
    assert_int_equal(t->ne[0], 3);
    assert_int_equal(t->ne[1], 2);
    const float *fv = t->data;
    assert_true(fv[2] == 3.5f && fv[5] == 65504.0f);
    t = gguf_tensor_at(f, gguf_find_tensor(f, "golden.f16"));
    assert_int_equal(t->offset, 32);
    float h[5];
    dequantize_row(DTYPE_F16, t->data, h, 5);
    assert_true(h[0] == 1.0f && h[1] == -2.0f && h[3] == 65504.0f);
    assert_true(h[4] == 0x1p-14f);
    t = gguf_tensor_at(f, gguf_find_tensor(f, "golden.i32"));
    assert_int_equal(t->type, 26); /* I32: listed even though the engine does not compute with it */
    assert_int_equal(t->n_dims, 3);
    assert_int_equal(t->ne[2], 2);
    assert_int_equal(t->offset, 64);
    assert_int_equal(((const int32_t *)t->data)[3], INT32_MIN);
    gguf_close(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_python_written_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
