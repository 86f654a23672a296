/* GGUF v3 reader and writer. The reader trusts nothing: every length is checked against what is
 * left of the file before anything is allocated, so a hostile file costs at most a few times its
 * own size in memory and is refused with a message that names the field and the offset. */
#include "model/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "core/strbuf.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "GGUF I/O assumes a little-endian host"
#endif

static const char GGUF_MAGIC[4] = {'G', 'G', 'U', 'F'};

/* ------------------------------------------------------------------------------ type tables */

static const char *const TYPE_NAMES[GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"};
static const unsigned char TYPE_SIZES[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *gguf_type_name(enum gguf_type t) {
    return (unsigned)t < GGUF_TYPE_COUNT ? TYPE_NAMES[t] : "?";
}

size_t gguf_type_size(enum gguf_type t) {
    return (unsigned)t < GGUF_TYPE_COUNT ? TYPE_SIZES[t] : 0;
}

/* ggml type ids (ggml.h): block size and bytes per block; ids that ggml retired have size 0. */
struct ggml_type_info {
    const char *name;
    int blck;
    int size;
};
static const struct ggml_type_info GGML_TYPES[] = {
    [0] = {"f32", 1, 4},         [1] = {"f16", 1, 2},         [2] = {"q4_0", 32, 18},
    [3] = {"q4_1", 32, 20},      [6] = {"q5_0", 32, 22},      [7] = {"q5_1", 32, 24},
    [8] = {"q8_0", 32, 34},      [9] = {"q8_1", 32, 36},      [10] = {"q2_k", 256, 84},
    [11] = {"q3_k", 256, 110},   [12] = {"q4_k", 256, 144},   [13] = {"q5_k", 256, 176},
    [14] = {"q6_k", 256, 210},   [15] = {"q8_k", 256, 292},   [16] = {"iq2_xxs", 256, 66},
    [17] = {"iq2_xs", 256, 74},  [18] = {"iq3_xxs", 256, 98}, [19] = {"iq1_s", 256, 50},
    [20] = {"iq4_nl", 32, 18},   [21] = {"iq3_s", 256, 110},  [22] = {"iq2_s", 256, 82},
    [23] = {"iq4_xs", 256, 136}, [24] = {"i8", 1, 1},         [25] = {"i16", 1, 2},
    [26] = {"i32", 1, 4},        [27] = {"i64", 1, 8},        [28] = {"f64", 1, 8},
    [29] = {"iq1_m", 256, 56},   [30] = {"bf16", 1, 2},       [34] = {"tq1_0", 256, 54},
    [35] = {"tq2_0", 256, 66},   [39] = {"mxfp4", 32, 17},
};
#define GGML_TYPE_COUNT ((int)(sizeof GGML_TYPES / sizeof GGML_TYPES[0]))

const char *ggml_type_name(int type) {
    return type >= 0 && type < GGML_TYPE_COUNT ? GGML_TYPES[type].name : NULL;
}
int ggml_blck_size(int type) {
    return type >= 0 && type < GGML_TYPE_COUNT ? GGML_TYPES[type].blck : 0;
}
size_t ggml_type_size(int type) {
    return type >= 0 && type < GGML_TYPE_COUNT ? (size_t)GGML_TYPES[type].size : 0;
}

/* ---------------------------------------------------------------- metadata, shared by both */

/* One KV in native form. Scalars live in `val` (memcpy'd, so any type fits); strings in str;
 * numeric arrays in arr (aligned); string arrays in strs/lens. */
struct kv {
    char *key;
    enum gguf_type type;     /* GGUF_TYPE_ARRAY for arrays */
    enum gguf_type arr_type; /* element type of arrays */
    uint64_t n;              /* array length (1 for scalars) */
    unsigned char val[8];
    char *str;
    uint64_t str_len;
    void *arr;
    char **strs;
    uint64_t *lens;
};

static void kv_clear(struct kv *kv) {
    free(kv->key);
    free(kv->str);
    free(kv->arr);
    if (kv->strs)
        for (uint64_t i = 0; i < kv->n; i++)
            free(kv->strs[i]);
    free(kv->strs);
    free(kv->lens);
    memset(kv, 0, sizeof *kv);
}

static char *dup_bytes(const void *p, size_t n) {
    char *s = malloc(n + 1);
    if (!s) return NULL;
    if (n) memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Deep copy of src's value into dst (dst->key untouched). */
static int kv_copy_value(struct kv *dst, const struct kv *src) {
    dst->type = src->type;
    dst->arr_type = src->arr_type;
    dst->n = src->n;
    memcpy(dst->val, src->val, sizeof dst->val);
    if (src->type == GGUF_TYPE_STRING) {
        dst->str = dup_bytes(src->str, src->str_len);
        dst->str_len = src->str_len;
        if (!dst->str) return disr_fail(DISR_E_NOMEM, "gguf: out of memory");
    } else if (src->type == GGUF_TYPE_ARRAY && src->arr_type == GGUF_TYPE_STRING) {
        dst->strs = calloc(src->n ? src->n : 1, sizeof *dst->strs);
        dst->lens = malloc((src->n ? src->n : 1) * sizeof *dst->lens);
        if (!dst->strs || !dst->lens) return disr_fail(DISR_E_NOMEM, "gguf: out of memory");
        for (uint64_t i = 0; i < src->n; i++) {
            dst->strs[i] = dup_bytes(src->strs[i], src->lens[i]);
            dst->lens[i] = src->lens[i];
            if (!dst->strs[i]) return disr_fail(DISR_E_NOMEM, "gguf: out of memory");
        }
    } else if (src->type == GGUF_TYPE_ARRAY) {
        size_t bytes = src->n * gguf_type_size(src->arr_type);
        dst->arr = malloc(bytes ? bytes : 1);
        if (!dst->arr) return disr_fail(DISR_E_NOMEM, "gguf: out of memory");
        if (bytes) memcpy(dst->arr, src->arr, bytes);
    }
    return DISR_OK;
}

/* String -> index hash (FNV-1a, open addressing), so duplicate checks and lookups stay linear
 * even for a hostile file with a million keys. */
struct name_index {
    int64_t *slots;
    uint64_t mask;
};

static int index_init(struct name_index *ix, uint64_t n) {
    uint64_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    ix->slots = malloc(cap * sizeof *ix->slots);
    if (!ix->slots) return disr_fail(DISR_E_NOMEM, "gguf: out of memory for %" PRIu64 " names", n);
    for (uint64_t i = 0; i < cap; i++)
        ix->slots[i] = -1;
    ix->mask = cap - 1;
    return DISR_OK;
}

typedef const char *(*name_at_fn)(const void *owner, int64_t i);

/* Returns the index holding `s`, or -1; *slot receives the slot to insert into. */
static int64_t index_find(const struct name_index *ix, const char *s, name_at_fn name_at,
                          const void *owner, uint64_t *slot) {
    if (!ix->slots) return -1;
    uint64_t h = str_hash(s) & ix->mask;
    while (ix->slots[h] >= 0) {
        if (!strcmp(name_at(owner, ix->slots[h]), s)) {
            if (slot) *slot = h;
            return ix->slots[h];
        }
        h = (h + 1) & ix->mask;
    }
    if (slot) *slot = h;
    return -1;
}

/* Typed lookup shared by file and writer getters. */
static int kv_get(const struct kv *kv, const char *key, enum gguf_type want, const char *where,
                  const struct kv **out) {
    if (!kv) return disr_fail(DISR_E_NOTFOUND, "%s: no key '%s'", where, key);
    if (kv->type != want)
        return disr_fail(DISR_E_FORMAT, "%s: key '%s' is %s, expected %s", where, key,
                         kv->type == GGUF_TYPE_ARRAY ? "an array" : gguf_type_name(kv->type),
                         gguf_type_name(want));
    *out = kv;
    return DISR_OK;
}

static void kv_format(const struct kv *kv, char *buf, size_t cap);

/* ---------------------------------------------------------------------------------- reader */

struct gguf_file {
    char *path;
    const unsigned char *base;
    size_t size;
    void *map; /* non-NULL when we own an mmap */
    size_t map_size;
    uint32_t version;
    size_t alignment;
    size_t data_offset;
    int64_t n_kv;
    struct kv *kvs;
    struct name_index kv_index;
    int64_t n_tensors;
    struct gguf_tensor *tensors;
    char (*tensor_names)[GGUF_MAX_NAME];
    struct name_index tensor_index;
};

struct cursor {
    const unsigned char *p;
    size_t size, off;
    const char *name;
};

static size_t remaining(const struct cursor *c) {
    return c->size - c->off;
}

static int rd(struct cursor *c, void *dst, size_t n, const char *what) {
    if (n > remaining(c))
        return disr_fail(DISR_E_FORMAT,
                         "%s: truncated at offset %zu reading %s (%zu bytes, %zu left)", c->name,
                         c->off, what, n, remaining(c));
    memcpy(dst, c->p + c->off, n);
    c->off += n;
    return DISR_OK;
}

static int rd_u32(struct cursor *c, uint32_t *v, const char *what) {
    return rd(c, v, 4, what);
}
static int rd_u64(struct cursor *c, uint64_t *v, const char *what) {
    return rd(c, v, 8, what);
}

/* A gguf string: u64 length + bytes. Returns a NUL-terminated copy. */
static int rd_str(struct cursor *c, char **out, uint64_t *len_out, const char *what) {
    uint64_t len;
    size_t at = c->off;
    DISR_TRY(rd_u64(c, &len, what));
    if (len > GGUF_MAX_LEN)
        return disr_fail(DISR_E_FORMAT, "%s: %s at offset %zu has absurd length %" PRIu64, c->name,
                         what, at, len);
    if (len > remaining(c))
        return disr_fail(DISR_E_FORMAT,
                         "%s: %s at offset %zu has length %" PRIu64 " beyond the end of the file",
                         c->name, what, at, len);
    *out = dup_bytes(c->p + c->off, (size_t)len);
    if (!*out) return disr_fail(DISR_E_NOMEM, "%s: out of memory reading %s", c->name, what);
    c->off += (size_t)len;
    if (len_out) *len_out = len;
    return DISR_OK;
}

static const char *kv_name_at(const void *owner, int64_t i) {
    return ((const struct gguf_file *)owner)->kvs[i].key;
}
static const char *tensor_name_at(const void *owner, int64_t i) {
    return ((const struct gguf_file *)owner)->tensor_names[i];
}

static int read_value(struct cursor *c, struct kv *kv) {
    uint32_t type;
    DISR_TRY(rd_u32(c, &type, "value type"));
    if (type >= GGUF_TYPE_COUNT)
        return disr_fail(DISR_E_FORMAT, "%s: key '%s' has unknown value type %u", c->name, kv->key,
                         type);
    kv->type = (enum gguf_type)type;
    kv->n = 1;
    if (type == GGUF_TYPE_STRING) return rd_str(c, &kv->str, &kv->str_len, "string value");
    if (type != GGUF_TYPE_ARRAY) {
        DISR_TRY(rd(c, kv->val, gguf_type_size(kv->type), "value"));
        if (type == GGUF_TYPE_BOOL) kv->val[0] = kv->val[0] != 0;
        return DISR_OK;
    }
    uint32_t et;
    uint64_t n;
    DISR_TRY(rd_u32(c, &et, "array element type"));
    if (et == GGUF_TYPE_ARRAY)
        return disr_fail(DISR_E_FORMAT, "%s: key '%s' is a nested array (not supported by ggml)",
                         c->name, kv->key);
    if (et >= GGUF_TYPE_COUNT)
        return disr_fail(DISR_E_FORMAT, "%s: key '%s' has unknown array element type %u", c->name,
                         kv->key, et);
    size_t at = c->off;
    DISR_TRY(rd_u64(c, &n, "array length"));
    kv->arr_type = (enum gguf_type)et;
    if (n > GGUF_MAX_LEN)
        return disr_fail(DISR_E_FORMAT,
                         "%s: key '%s' array at offset %zu has absurd length %" PRIu64, c->name,
                         kv->key, at, n);
    /* Each element takes at least 8 bytes (strings) or its size: check before allocating. */
    size_t min_each = et == GGUF_TYPE_STRING ? 8 : gguf_type_size(kv->arr_type);
    if (n * min_each > remaining(c))
        return disr_fail(DISR_E_FORMAT,
                         "%s: key '%s' array of %" PRIu64 " %s runs past the end of the file",
                         c->name, kv->key, n, gguf_type_name(kv->arr_type));
    kv->n = n;
    if (et == GGUF_TYPE_STRING) {
        kv->strs = calloc(n ? n : 1, sizeof *kv->strs);
        kv->lens = malloc((n ? n : 1) * sizeof *kv->lens);
        if (!kv->strs || !kv->lens) {
            kv->n = 0; /* nothing to free element-wise */
            return disr_fail(DISR_E_NOMEM, "%s: out of memory for key '%s'", c->name, kv->key);
        }
        for (uint64_t i = 0; i < n; i++) {
            int st = rd_str(c, &kv->strs[i], &kv->lens[i], "array string");
            if (st < 0) return st;
        }
        return DISR_OK;
    }
    size_t bytes = (size_t)n * min_each;
    kv->arr = malloc(bytes ? bytes : 1);
    if (!kv->arr)
        return disr_fail(DISR_E_NOMEM, "%s: out of memory for key '%s'", c->name, kv->key);
    DISR_TRY(rd(c, kv->arr, bytes, "array data"));
    if (et == GGUF_TYPE_BOOL)
        for (size_t i = 0; i < bytes; i++)
            ((unsigned char *)kv->arr)[i] = ((unsigned char *)kv->arr)[i] != 0;
    return DISR_OK;
}

static int check_name(struct cursor *c, const char *s, uint64_t len, const char *what, size_t at) {
    if (len == 0) return disr_fail(DISR_E_FORMAT, "%s: empty %s at offset %zu", c->name, what, at);
    if (strlen(s) != len)
        return disr_fail(DISR_E_FORMAT, "%s: %s at offset %zu contains a NUL byte", c->name, what,
                         at);
    return DISR_OK;
}

static int read_kvs(struct gguf_file *f, struct cursor *c, uint64_t n_kv) {
    f->kvs = calloc(n_kv ? n_kv : 1, sizeof *f->kvs);
    if (!f->kvs)
        return disr_fail(DISR_E_NOMEM, "%s: out of memory for %" PRIu64 " keys", c->name, n_kv);
    DISR_TRY(index_init(&f->kv_index, n_kv));
    for (uint64_t i = 0; i < n_kv; i++) {
        struct kv *kv = &f->kvs[i];
        size_t at = c->off;
        uint64_t len;
        DISR_TRY(rd_str(c, &kv->key, &len, "key"));
        f->n_kv = (int64_t)i + 1; /* so cleanup frees this entry */
        DISR_TRY(check_name(c, kv->key, len, "key", at));
        uint64_t slot = 0;
        int64_t prev = index_find(&f->kv_index, kv->key, kv_name_at, f, &slot);
        if (prev >= 0)
            return disr_fail(DISR_E_FORMAT,
                             "%s: duplicate key '%s' (entries %" PRId64 " and %" PRIu64 ")",
                             c->name, kv->key, prev, i);
        f->kv_index.slots[slot] = (int64_t)i;
        DISR_TRY(read_value(c, kv));
    }
    return DISR_OK;
}

static int read_tensor_infos(struct gguf_file *f, struct cursor *c, uint64_t n) {
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    f->tensor_names = calloc(n ? n : 1, sizeof *f->tensor_names);
    if (!f->tensors || !f->tensor_names)
        return disr_fail(DISR_E_NOMEM, "%s: out of memory for %" PRIu64 " tensors", c->name, n);
    DISR_TRY(index_init(&f->tensor_index, n));
    for (uint64_t i = 0; i < n; i++) {
        struct gguf_tensor *t = &f->tensors[i];
        char *name = NULL;
        uint64_t len;
        size_t at = c->off;
        DISR_TRY(rd_str(c, &name, &len, "tensor name"));
        if (len >= GGUF_MAX_NAME) {
            free(name);
            return disr_fail(DISR_E_FORMAT,
                             "%s: tensor %" PRIu64 " name at offset %zu is %" PRIu64
                             " bytes (limit %d)",
                             c->name, i, at, len, GGUF_MAX_NAME - 1);
        }
        int st = check_name(c, name, len, "tensor name", at);
        memcpy(f->tensor_names[i], name, len + 1);
        free(name);
        DISR_TRY(st);
        t->name = f->tensor_names[i];
        f->n_tensors = (int64_t)i + 1;
        uint64_t slot = 0;
        int64_t prev = index_find(&f->tensor_index, t->name, tensor_name_at, f, &slot);
        if (prev >= 0)
            return disr_fail(DISR_E_FORMAT,
                             "%s: duplicate tensor name '%s' (tensors %" PRId64 " and %" PRIu64 ")",
                             c->name, t->name, prev, i);
        f->tensor_index.slots[slot] = (int64_t)i;

        uint32_t n_dims;
        DISR_TRY(rd_u32(c, &n_dims, "tensor n_dims"));
        if (n_dims > GGUF_MAX_DIMS)
            return disr_fail(DISR_E_FORMAT, "%s: tensor '%s' has %u dimensions (at most %d)",
                             c->name, t->name, n_dims, GGUF_MAX_DIMS);
        t->n_dims = (int)n_dims;
        uint64_t nel = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) {
            uint64_t ne = 1;
            if (d < (int)n_dims) DISR_TRY(rd_u64(c, &ne, "tensor dimension"));
            if (ne > (uint64_t)INT64_MAX)
                return disr_fail(DISR_E_FORMAT, "%s: tensor '%s' dimension %d is negative", c->name,
                                 t->name, d);
            if (ne != 0 && nel > (uint64_t)INT64_MAX / ne)
                return disr_fail(DISR_E_FORMAT, "%s: tensor '%s' has an absurd element count",
                                 c->name, t->name);
            nel *= ne;
            t->ne[d] = (int64_t)ne;
        }
        uint32_t type;
        DISR_TRY(rd_u32(c, &type, "tensor type"));
        int blck = ggml_blck_size((int)type);
        if (blck == 0)
            return disr_fail(DISR_E_FORMAT, "%s: tensor '%s' has unknown ggml type %u", c->name,
                             t->name, type);
        t->type = (int)type;
        if (t->ne[0] % blck != 0)
            return disr_fail(DISR_E_FORMAT,
                             "%s: tensor '%s' (%s) row of %" PRId64
                             " is not a multiple of the block size %d",
                             c->name, t->name, ggml_type_name(t->type), t->ne[0], blck);
        uint64_t blocks = nel / (uint64_t)blck;
        if (blocks > SIZE_MAX / ggml_type_size(t->type))
            return disr_fail(DISR_E_FORMAT, "%s: tensor '%s' byte size overflows", c->name,
                             t->name);
        t->nbytes = (size_t)blocks * ggml_type_size(t->type);
        DISR_TRY(rd_u64(c, &t->offset, "tensor offset"));
    }
    return DISR_OK;
}

static int parse(struct gguf_file *f) {
    struct cursor c = {f->base, f->size, 0, f->path};
    char magic[4];
    DISR_TRY(rd(&c, magic, 4, "magic"));
    if (memcmp(magic, GGUF_MAGIC, 4))
        return disr_fail(DISR_E_FORMAT, "%s: not a GGUF file (magic %02x %02x %02x %02x)", f->path,
                         (unsigned char)magic[0], (unsigned char)magic[1], (unsigned char)magic[2],
                         (unsigned char)magic[3]);
    DISR_TRY(rd_u32(&c, &f->version, "version"));
    if (f->version < 2 || f->version > GGUF_VERSION)
        return disr_fail(DISR_E_FORMAT, "%s: GGUF version %u is not supported (2..%d)", f->path,
                         f->version, GGUF_VERSION);
    uint64_t n_tensors, n_kv;
    DISR_TRY(rd_u64(&c, &n_tensors, "tensor count"));
    DISR_TRY(rd_u64(&c, &n_kv, "metadata count"));
    /* A KV takes at least 14 bytes (8 length + 1 key byte + 4 type + 1 value), a tensor info 24. */
    if (n_kv > remaining(&c) / 14)
        return disr_fail(DISR_E_FORMAT,
                         "%s: %" PRIu64 " metadata entries cannot fit in a %zu-byte file", f->path,
                         n_kv, f->size);
    if (n_tensors > remaining(&c) / 24)
        return disr_fail(DISR_E_FORMAT, "%s: %" PRIu64 " tensors cannot fit in a %zu-byte file",
                         f->path, n_tensors, f->size);
    DISR_TRY(read_kvs(f, &c, n_kv));

    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = gguf_find_key(f, "general.alignment");
    if (ai >= 0) {
        const struct kv *kv = &f->kvs[ai];
        if (kv->type != GGUF_TYPE_UINT32)
            return disr_fail(DISR_E_FORMAT, "%s: general.alignment is %s, must be u32", f->path,
                             kv->type == GGUF_TYPE_ARRAY ? "an array" : gguf_type_name(kv->type));
        uint32_t a;
        memcpy(&a, kv->val, 4);
        if (a == 0 || (a & (a - 1)) || a > (1u << 20))
            return disr_fail(DISR_E_FORMAT, "%s: general.alignment %u is not a power of 2 <= 1 MiB",
                             f->path, a);
        f->alignment = a;
    }
    DISR_TRY(read_tensor_infos(f, &c, n_tensors));

    /* ggml seeks to the next multiple of the alignment only when there are tensors. */
    size_t data = c.off;
    if (n_tensors > 0) data = (c.off + f->alignment - 1) / f->alignment * f->alignment;
    if (data > f->size)
        return disr_fail(DISR_E_FORMAT, "%s: data section would start at %zu, past the end (%zu)",
                         f->path, data, f->size);
    f->data_offset = data;
    /* ggml's reader demands each offset be exactly the padded sum of the previous sizes. */
    uint64_t expect = 0;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        struct gguf_tensor *t = &f->tensors[i];
        if (t->offset != expect)
            return disr_fail(DISR_E_FORMAT,
                             "%s: tensor '%s' has offset %" PRIu64 ", expected %" PRIu64, f->path,
                             t->name, t->offset, expect);
        if (t->nbytes > f->size - data || t->offset > f->size - data - t->nbytes)
            return disr_fail(DISR_E_FORMAT,
                             "%s: tensor '%s' data (%zu bytes at %" PRIu64
                             ") runs past the end of the file",
                             f->path, t->name, t->nbytes, (uint64_t)data + t->offset);
        t->data = f->base + data + t->offset;
        uint64_t padded = ((uint64_t)t->nbytes + f->alignment - 1) / f->alignment * f->alignment;
        expect += padded;
    }
    return DISR_OK;
}

static int open_common(struct gguf_file **out, struct gguf_file *f) {
    int st = parse(f);
    if (st < 0) {
        gguf_close(f);
        return st;
    }
    *out = f;
    return DISR_OK;
}

int gguf_open_memory(struct gguf_file **out, const void *data, size_t size, const char *name) {
    *out = NULL;
    struct gguf_file *f = calloc(1, sizeof *f);
    if (!f) return disr_fail(DISR_E_NOMEM, "gguf: out of memory");
    f->path = strdup(name ? name : "<memory>");
    if (!f->path) {
        free(f);
        return disr_fail(DISR_E_NOMEM, "gguf: out of memory");
    }
    f->base = data;
    f->size = size;
    return open_common(out, f);
}

int gguf_open(struct gguf_file **out, const char *path) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return disr_fail(DISR_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        int e = errno;
        close(fd);
        return disr_fail(DISR_E_IO, "%s: not a regular file%s%s", path, e ? ": " : "",
                         e ? strerror(e) : "");
    }
    size_t size = (size_t)sb.st_size;
    void *map = NULL;
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return disr_fail(DISR_E_IO, "%s: cannot map %zu bytes: %s", path, size, strerror(e));
        }
    }
    close(fd);
    struct gguf_file *f = calloc(1, sizeof *f);
    char *p = strdup(path);
    if (!f || !p) {
        free(f);
        free(p);
        if (map) munmap(map, size);
        return disr_fail(DISR_E_NOMEM, "gguf: out of memory");
    }
    f->path = p;
    f->base = map;
    f->size = size;
    f->map = map;
    f->map_size = size;
    return open_common(out, f);
}

void gguf_close(struct gguf_file *f) {
    if (!f) return;
    for (int64_t i = 0; i < f->n_kv; i++)
        kv_clear(&f->kvs[i]);
    free(f->kvs);
    free(f->kv_index.slots);
    free(f->tensors);
    free(f->tensor_names);
    free(f->tensor_index.slots);
    if (f->map) munmap(f->map, f->map_size);
    free(f->path);
    free(f);
}

void *gguf_take_mapping(struct gguf_file *f, size_t *size) {
    void *m = f->map;
    if (size) *size = f->map_size;
    f->map = NULL;
    return m;
}

const char *gguf_path(const struct gguf_file *f) {
    return f->path;
}
uint32_t gguf_version(const struct gguf_file *f) {
    return f->version;
}
size_t gguf_alignment(const struct gguf_file *f) {
    return f->alignment;
}
size_t gguf_data_offset(const struct gguf_file *f) {
    return f->data_offset;
}
size_t gguf_file_size(const struct gguf_file *f) {
    return f->size;
}
int64_t gguf_n_kv(const struct gguf_file *f) {
    return f->n_kv;
}
int64_t gguf_find_key(const struct gguf_file *f, const char *key) {
    return index_find(&f->kv_index, key, kv_name_at, f, NULL);
}
const char *gguf_kv_key(const struct gguf_file *f, int64_t id) {
    return id >= 0 && id < f->n_kv ? f->kvs[id].key : NULL;
}
enum gguf_type gguf_kv_type(const struct gguf_file *f, int64_t id) {
    return id >= 0 && id < f->n_kv ? f->kvs[id].type : GGUF_TYPE_COUNT;
}
enum gguf_type gguf_kv_arr_type(const struct gguf_file *f, int64_t id) {
    return id >= 0 && id < f->n_kv && f->kvs[id].type == GGUF_TYPE_ARRAY ? f->kvs[id].arr_type
                                                                         : GGUF_TYPE_COUNT;
}
uint64_t gguf_kv_arr_n(const struct gguf_file *f, int64_t id) {
    return id >= 0 && id < f->n_kv ? f->kvs[id].n : 0;
}
void gguf_kv_format(const struct gguf_file *f, int64_t id, char *buf, size_t cap) {
    if (id < 0 || id >= f->n_kv) {
        snprintf(buf, cap, "?");
        return;
    }
    kv_format(&f->kvs[id], buf, cap);
}

static const struct kv *file_kv(const struct gguf_file *f, const char *key) {
    int64_t i = gguf_find_key(f, key);
    return i >= 0 ? &f->kvs[i] : NULL;
}

#define FILE_GETTER(fname, ctype, gtype)                                                           \
    int gguf_get_##fname(const struct gguf_file *f, const char *key, ctype *out) {                 \
        const struct kv *kv = NULL;                                                                \
        DISR_TRY(kv_get(file_kv(f, key), key, gtype, f->path, &kv));                               \
        memcpy(out, kv->val, sizeof *out);                                                         \
        return DISR_OK;                                                                            \
    }
FILE_GETTER(u8, uint8_t, GGUF_TYPE_UINT8)
FILE_GETTER(i8, int8_t, GGUF_TYPE_INT8)
FILE_GETTER(u16, uint16_t, GGUF_TYPE_UINT16)
FILE_GETTER(i16, int16_t, GGUF_TYPE_INT16)
FILE_GETTER(u32, uint32_t, GGUF_TYPE_UINT32)
FILE_GETTER(i32, int32_t, GGUF_TYPE_INT32)
FILE_GETTER(u64, uint64_t, GGUF_TYPE_UINT64)
FILE_GETTER(i64, int64_t, GGUF_TYPE_INT64)
FILE_GETTER(f32, float, GGUF_TYPE_FLOAT32)
FILE_GETTER(f64, double, GGUF_TYPE_FLOAT64)
#undef FILE_GETTER

int gguf_get_bool(const struct gguf_file *f, const char *key, bool *out) {
    const struct kv *kv = NULL;
    DISR_TRY(kv_get(file_kv(f, key), key, GGUF_TYPE_BOOL, f->path, &kv));
    *out = kv->val[0] != 0;
    return DISR_OK;
}

int gguf_get_str(const struct gguf_file *f, const char *key, const char **out, size_t *len) {
    const struct kv *kv = NULL;
    DISR_TRY(kv_get(file_kv(f, key), key, GGUF_TYPE_STRING, f->path, &kv));
    *out = kv->str;
    if (len) *len = (size_t)kv->str_len;
    return DISR_OK;
}

/* Scalar integer value of kv as signed 128-ish: returns 0 if not an integer type. */
static int kv_int(const struct kv *kv, int64_t *s, uint64_t *u, int *is_signed) {
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
    } v;
    memcpy(&v, kv->val, sizeof v);
    *is_signed = 1;
    switch (kv->type) {
    case GGUF_TYPE_UINT8:
        *s = v.u8;
        break;
    case GGUF_TYPE_INT8:
        *s = v.i8;
        break;
    case GGUF_TYPE_UINT16:
        *s = v.u16;
        break;
    case GGUF_TYPE_INT16:
        *s = v.i16;
        break;
    case GGUF_TYPE_UINT32:
        *s = v.u32;
        break;
    case GGUF_TYPE_INT32:
        *s = v.i32;
        break;
    case GGUF_TYPE_INT64:
        *s = v.i64;
        break;
    case GGUF_TYPE_UINT64:
        *u = v.u64;
        *is_signed = 0;
        break;
    default:
        return 0;
    }
    return 1;
}

int gguf_get_uint(const struct gguf_file *f, const char *key, uint64_t *out) {
    const struct kv *kv = file_kv(f, key);
    if (!kv) return disr_fail(DISR_E_NOTFOUND, "%s: no key '%s'", f->path, key);
    int64_t s = 0;
    uint64_t u = 0;
    int is_signed;
    if (!kv_int(kv, &s, &u, &is_signed))
        return disr_fail(DISR_E_FORMAT, "%s: key '%s' is %s, expected an integer", f->path, key,
                         kv->type == GGUF_TYPE_ARRAY ? "an array" : gguf_type_name(kv->type));
    if (is_signed && s < 0)
        return disr_fail(DISR_E_FORMAT, "%s: key '%s' is negative (%" PRId64 ")", f->path, key, s);
    *out = is_signed ? (uint64_t)s : u;
    return DISR_OK;
}

int gguf_get_float(const struct gguf_file *f, const char *key, double *out) {
    const struct kv *kv = file_kv(f, key);
    if (!kv) return disr_fail(DISR_E_NOTFOUND, "%s: no key '%s'", f->path, key);
    if (kv->type == GGUF_TYPE_FLOAT32) {
        float v;
        memcpy(&v, kv->val, 4);
        *out = v;
    } else if (kv->type == GGUF_TYPE_FLOAT64) {
        memcpy(out, kv->val, 8);
    } else {
        return disr_fail(DISR_E_FORMAT, "%s: key '%s' is %s, expected a float", f->path, key,
                         kv->type == GGUF_TYPE_ARRAY ? "an array" : gguf_type_name(kv->type));
    }
    return DISR_OK;
}

static int arr_check(const struct kv *kv, const char *where, const char *key, enum gguf_type elem) {
    if (!kv) return disr_fail(DISR_E_NOTFOUND, "%s: no key '%s'", where, key);
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != elem)
        return disr_fail(DISR_E_FORMAT, "%s: key '%s' is not an array of %s", where, key,
                         gguf_type_name(elem));
    return DISR_OK;
}

int gguf_get_arr(const struct gguf_file *f, const char *key, enum gguf_type elem, const void **data,
                 uint64_t *n) {
    const struct kv *kv = file_kv(f, key);
    if (elem == GGUF_TYPE_STRING || elem == GGUF_TYPE_ARRAY)
        return disr_fail(DISR_E_ARG, "gguf_get_arr: use gguf_get_arr_str for strings");
    DISR_TRY(arr_check(kv, f->path, key, elem));
    *data = kv->arr;
    *n = kv->n;
    return DISR_OK;
}

int gguf_get_arr_str(const struct gguf_file *f, const char *key, const char *const **items,
                     const uint64_t **lens, uint64_t *n) {
    const struct kv *kv = file_kv(f, key);
    DISR_TRY(arr_check(kv, f->path, key, GGUF_TYPE_STRING));
    *items = (const char *const *)kv->strs;
    if (lens) *lens = kv->lens;
    *n = kv->n;
    return DISR_OK;
}

int64_t gguf_n_tensors(const struct gguf_file *f) {
    return f->n_tensors;
}
int64_t gguf_find_tensor(const struct gguf_file *f, const char *name) {
    return index_find(&f->tensor_index, name, tensor_name_at, f, NULL);
}
const struct gguf_tensor *gguf_tensor_at(const struct gguf_file *f, int64_t id) {
    return id >= 0 && id < f->n_tensors ? &f->tensors[id] : NULL;
}

/* ------------------------------------------------------------------------------ formatting */

static size_t fmt_str(char *buf, size_t cap, const char *s, uint64_t len, size_t max) {
    size_t o = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int k_ = snprintf(o < cap ? buf + o : NULL, o < cap ? cap - o : 0, __VA_ARGS__);           \
        if (k_ > 0) o += (size_t)k_;                                                               \
    } while (0)
    PUT("\"");
    for (uint64_t i = 0; i < len && i < max; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            PUT("\\%c", ch);
        else if (ch == '\n')
            PUT("\\n");
        else if (ch < 32 || ch == 127)
            PUT("\\x%02x", ch);
        else
            PUT("%c", ch);
    }
    PUT(len > max ? "\"..." : "\"");
#undef PUT
    return o;
}

static size_t fmt_scalar(char *buf, size_t cap, enum gguf_type t, const void *p) {
    union {
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
    } v;
    memset(&v, 0, sizeof v);
    memcpy(&v, p, gguf_type_size(t));
    int k = 0;
    switch (t) {
    case GGUF_TYPE_UINT8:
        k = snprintf(buf, cap, "%u", v.u8);
        break;
    case GGUF_TYPE_INT8:
        k = snprintf(buf, cap, "%d", v.i8);
        break;
    case GGUF_TYPE_UINT16:
        k = snprintf(buf, cap, "%u", v.u16);
        break;
    case GGUF_TYPE_INT16:
        k = snprintf(buf, cap, "%d", v.i16);
        break;
    case GGUF_TYPE_UINT32:
        k = snprintf(buf, cap, "%" PRIu32, v.u32);
        break;
    case GGUF_TYPE_INT32:
        k = snprintf(buf, cap, "%" PRId32, v.i32);
        break;
    case GGUF_TYPE_UINT64:
        k = snprintf(buf, cap, "%" PRIu64, v.u64);
        break;
    case GGUF_TYPE_INT64:
        k = snprintf(buf, cap, "%" PRId64, v.i64);
        break;
    case GGUF_TYPE_FLOAT32:
        k = snprintf(buf, cap, "%.9g", v.f32);
        break;
    case GGUF_TYPE_FLOAT64:
        k = snprintf(buf, cap, "%.17g", v.f64);
        break;
    case GGUF_TYPE_BOOL:
        k = snprintf(buf, cap, "%s", v.u8 ? "true" : "false");
        break;
    default:
        k = snprintf(buf, cap, "?");
        break;
    }
    return k > 0 ? (size_t)k : 0;
}

static void kv_format(const struct kv *kv, char *buf, size_t cap) {
    if (cap == 0) return;
    buf[0] = '\0';
    if (kv->type == GGUF_TYPE_STRING) {
        fmt_str(buf, cap, kv->str, kv->str_len, 60);
        return;
    }
    if (kv->type != GGUF_TYPE_ARRAY) {
        fmt_scalar(buf, cap, kv->type, kv->val);
        return;
    }
    size_t o = 0;
    int k = snprintf(buf, cap, "[%s x %" PRIu64 "] ", gguf_type_name(kv->arr_type), kv->n);
    if (k > 0) o = (size_t)k;
    size_t es = gguf_type_size(kv->arr_type);
    for (uint64_t i = 0; i < kv->n && i < 6 && o + 1 < cap; i++) {
        if (i) o += (size_t)snprintf(buf + o, cap - o, ", ");
        if (o + 1 >= cap) break;
        if (kv->arr_type == GGUF_TYPE_STRING)
            o += fmt_str(buf + o, cap - o, kv->strs[i], kv->lens[i], 20);
        else
            o += fmt_scalar(buf + o, cap - o, kv->arr_type, (const char *)kv->arr + i * es);
    }
    if (kv->n > 6 && o + 1 < cap) snprintf(buf + o, cap - o, ", ...");
    buf[cap - 1] = '\0';
}

/* ---------------------------------------------------------------------------------- writer */

struct wtensor {
    char name[GGUF_MAX_NAME];
    int type;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    size_t nbytes;
    const void *data;
    void *owned;
};

struct gguf_writer {
    struct kv *kvs;
    int n_kv, cap_kv;
    struct wtensor *tensors;
    int n_tensors, cap_tensors;
};

int gguf_writer_init(struct gguf_writer **out) {
    *out = calloc(1, sizeof **out);
    return *out ? DISR_OK : disr_fail(DISR_E_NOMEM, "gguf: out of memory");
}

void gguf_writer_free(struct gguf_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n_kv; i++)
        kv_clear(&w->kvs[i]);
    free(w->kvs);
    for (int i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].owned);
    free(w->tensors);
    free(w);
}

static struct kv *writer_find(const struct gguf_writer *w, const char *key) {
    for (int i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kvs[i].key, key)) return &w->kvs[i];
    return NULL;
}

/* Returns a cleared slot for `key` (existing position if set before). */
static int writer_slot(struct gguf_writer *w, const char *key, struct kv **out) {
    if (!key || !key[0]) return disr_fail(DISR_E_ARG, "gguf writer: empty key");
    if (strlen(key) > 65535) return disr_fail(DISR_E_ARG, "gguf writer: key too long");
    struct kv *kv = writer_find(w, key);
    if (kv) {
        char *k = kv->key;
        kv->key = NULL;
        kv_clear(kv);
        kv->key = k;
        *out = kv;
        return DISR_OK;
    }
    if (w->n_kv == w->cap_kv) {
        int cap = w->cap_kv ? 2 * w->cap_kv : 16;
        struct kv *nk = realloc(w->kvs, (size_t)cap * sizeof *nk);
        if (!nk) return disr_fail(DISR_E_NOMEM, "gguf writer: out of memory");
        w->kvs = nk;
        w->cap_kv = cap;
    }
    kv = &w->kvs[w->n_kv];
    memset(kv, 0, sizeof *kv);
    kv->key = strdup(key);
    if (!kv->key) return disr_fail(DISR_E_NOMEM, "gguf writer: out of memory");
    w->n_kv++;
    *out = kv;
    return DISR_OK;
}

static int set_scalar(struct gguf_writer *w, const char *key, enum gguf_type t, const void *v) {
    struct kv *kv;
    DISR_TRY(writer_slot(w, key, &kv));
    kv->type = t;
    kv->n = 1;
    memcpy(kv->val, v, gguf_type_size(t));
    return DISR_OK;
}

#define WRITER_SETTER(fname, ctype, gtype)                                                         \
    int gguf_writer_set_##fname(struct gguf_writer *w, const char *key, ctype v) {                 \
        return set_scalar(w, key, gtype, &v);                                                      \
    }
WRITER_SETTER(u8, uint8_t, GGUF_TYPE_UINT8)
WRITER_SETTER(i8, int8_t, GGUF_TYPE_INT8)
WRITER_SETTER(u16, uint16_t, GGUF_TYPE_UINT16)
WRITER_SETTER(i16, int16_t, GGUF_TYPE_INT16)
WRITER_SETTER(u32, uint32_t, GGUF_TYPE_UINT32)
WRITER_SETTER(i32, int32_t, GGUF_TYPE_INT32)
WRITER_SETTER(u64, uint64_t, GGUF_TYPE_UINT64)
WRITER_SETTER(i64, int64_t, GGUF_TYPE_INT64)
WRITER_SETTER(f32, float, GGUF_TYPE_FLOAT32)
WRITER_SETTER(f64, double, GGUF_TYPE_FLOAT64)
#undef WRITER_SETTER

int gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    return set_scalar(w, key, GGUF_TYPE_BOOL, &b);
}

int gguf_writer_set_strn(struct gguf_writer *w, const char *key, const char *v, size_t len) {
    if (len > GGUF_MAX_LEN)
        return disr_fail(DISR_E_ARG, "gguf writer: string for '%s' too long", key);
    struct kv *kv;
    DISR_TRY(writer_slot(w, key, &kv));
    kv->type = GGUF_TYPE_STRING;
    kv->n = 1;
    kv->str = dup_bytes(v, len);
    kv->str_len = len;
    return kv->str ? DISR_OK : disr_fail(DISR_E_NOMEM, "gguf writer: out of memory");
}

int gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v) {
    return gguf_writer_set_strn(w, key, v, strlen(v));
}

int gguf_writer_set_arr(struct gguf_writer *w, const char *key, enum gguf_type elem,
                        const void *data, uint64_t n) {
    size_t es = gguf_type_size(elem);
    if (es == 0)
        return disr_fail(DISR_E_ARG, "gguf writer: array '%s' of %s is not numeric", key,
                         gguf_type_name(elem));
    if (n > GGUF_MAX_LEN) return disr_fail(DISR_E_ARG, "gguf writer: array '%s' too long", key);
    struct kv tmp = {0};
    tmp.type = GGUF_TYPE_ARRAY;
    tmp.arr_type = elem;
    tmp.n = n;
    tmp.arr = (void *)data;
    struct kv *kv;
    DISR_TRY(writer_slot(w, key, &kv));
    return kv_copy_value(kv, &tmp);
}

int gguf_writer_set_arr_i32(struct gguf_writer *w, const char *key, const int32_t *v, uint64_t n) {
    return gguf_writer_set_arr(w, key, GGUF_TYPE_INT32, v, n);
}
int gguf_writer_set_arr_f32(struct gguf_writer *w, const char *key, const float *v, uint64_t n) {
    return gguf_writer_set_arr(w, key, GGUF_TYPE_FLOAT32, v, n);
}

int gguf_writer_set_arr_str(struct gguf_writer *w, const char *key, const char *const *v,
                            const size_t *lens, uint64_t n) {
    if (n > GGUF_MAX_LEN) return disr_fail(DISR_E_ARG, "gguf writer: array '%s' too long", key);
    struct kv *kv;
    DISR_TRY(writer_slot(w, key, &kv));
    kv->type = GGUF_TYPE_ARRAY;
    kv->arr_type = GGUF_TYPE_STRING;
    kv->strs = calloc(n ? n : 1, sizeof *kv->strs);
    kv->lens = malloc((n ? n : 1) * sizeof *kv->lens);
    if (!kv->strs || !kv->lens) return disr_fail(DISR_E_NOMEM, "gguf writer: out of memory");
    kv->n = n;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = lens ? lens[i] : strlen(v[i]);
        kv->strs[i] = dup_bytes(v[i], len);
        kv->lens[i] = len;
        if (!kv->strs[i]) return disr_fail(DISR_E_NOMEM, "gguf writer: out of memory");
    }
    return DISR_OK;
}

int gguf_writer_set_kv_from(struct gguf_writer *w, const struct gguf_file *f, int64_t id) {
    if (id < 0 || id >= f->n_kv) return disr_fail(DISR_E_ARG, "gguf writer: no KV %" PRId64, id);
    struct kv *kv;
    DISR_TRY(writer_slot(w, f->kvs[id].key, &kv));
    return kv_copy_value(kv, &f->kvs[id]);
}

int gguf_writer_set_all_from(struct gguf_writer *w, const struct gguf_writer *src) {
    for (int i = 0; i < src->n_kv; i++) {
        struct kv *kv;
        DISR_TRY(writer_slot(w, src->kvs[i].key, &kv));
        DISR_TRY(kv_copy_value(kv, &src->kvs[i]));
    }
    return DISR_OK;
}

int gguf_writer_remove(struct gguf_writer *w, const char *key) {
    struct kv *kv = writer_find(w, key);
    if (!kv) return DISR_OK;
    int i = (int)(kv - w->kvs);
    kv_clear(kv);
    memmove(&w->kvs[i], &w->kvs[i + 1], (size_t)(w->n_kv - i - 1) * sizeof *w->kvs);
    w->n_kv--;
    return DISR_OK;
}

int gguf_writer_n_kv(const struct gguf_writer *w) {
    return w->n_kv;
}
const char *gguf_writer_kv_key(const struct gguf_writer *w, int id) {
    return id >= 0 && id < w->n_kv ? w->kvs[id].key : NULL;
}

#define WRITER_GETTER(fname, ctype, gtype)                                                         \
    int gguf_writer_get_##fname(const struct gguf_writer *w, const char *key, ctype *out) {        \
        const struct kv *kv = NULL;                                                                \
        DISR_TRY(kv_get(writer_find(w, key), key, gtype, "gguf writer", &kv));                     \
        memcpy(out, kv->val, sizeof *out);                                                         \
        return DISR_OK;                                                                            \
    }
WRITER_GETTER(u32, uint32_t, GGUF_TYPE_UINT32)
WRITER_GETTER(u64, uint64_t, GGUF_TYPE_UINT64)
WRITER_GETTER(i64, int64_t, GGUF_TYPE_INT64)
WRITER_GETTER(f32, float, GGUF_TYPE_FLOAT32)
WRITER_GETTER(f64, double, GGUF_TYPE_FLOAT64)
#undef WRITER_GETTER

int gguf_writer_get_str(const struct gguf_writer *w, const char *key, const char **out) {
    const struct kv *kv = NULL;
    DISR_TRY(kv_get(writer_find(w, key), key, GGUF_TYPE_STRING, "gguf writer", &kv));
    *out = kv->str;
    return DISR_OK;
}

static int add_tensor(struct gguf_writer *w, const char *name, int type, const int64_t *ne,
                      int n_dims, const void *data, void *owned) {
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len >= GGUF_MAX_NAME)
        return disr_fail(DISR_E_ARG, "gguf writer: tensor name '%s' must be 1..%d bytes",
                         name ? name : "", GGUF_MAX_NAME - 1);
    int blck = ggml_blck_size(type);
    if (blck == 0)
        return disr_fail(DISR_E_ARG, "gguf writer: tensor '%s' has unknown type %d", name, type);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return disr_fail(DISR_E_ARG, "gguf writer: tensor '%s' has %d dimensions", name, n_dims);
    uint64_t nel = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 0 || (ne[d] && nel > (uint64_t)INT64_MAX / (uint64_t)ne[d]))
            return disr_fail(DISR_E_ARG, "gguf writer: tensor '%s' has a bad shape", name);
        nel *= (uint64_t)ne[d];
    }
    if (ne[0] % blck)
        return disr_fail(DISR_E_ARG,
                         "gguf writer: tensor '%s' row %" PRId64 " is not a multiple of %d (%s)",
                         name, ne[0], blck, ggml_type_name(type));
    for (int i = 0; i < w->n_tensors; i++)
        if (!strcmp(w->tensors[i].name, name))
            return disr_fail(DISR_E_ARG, "gguf writer: duplicate tensor '%s'", name);
    size_t nbytes = (size_t)(nel / (uint64_t)blck) * ggml_type_size(type);
    if (nbytes && !data) return disr_fail(DISR_E_ARG, "gguf writer: tensor '%s' has no data", name);
    if (w->n_tensors == w->cap_tensors) {
        int cap = w->cap_tensors ? 2 * w->cap_tensors : 64;
        struct wtensor *nt = realloc(w->tensors, (size_t)cap * sizeof *nt);
        if (!nt) return disr_fail(DISR_E_NOMEM, "gguf writer: out of memory");
        w->tensors = nt;
        w->cap_tensors = cap;
    }
    struct wtensor *t = &w->tensors[w->n_tensors++];
    memset(t, 0, sizeof *t);
    memcpy(t->name, name, len + 1);
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = d < n_dims ? ne[d] : 1;
    t->nbytes = nbytes;
    t->data = data;
    t->owned = owned;
    return DISR_OK;
}

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, int type, const int64_t *ne,
                           int n_dims, const void *data) {
    return add_tensor(w, name, type, ne, n_dims, data, NULL);
}

int gguf_writer_add_tensor_owned(struct gguf_writer *w, const char *name, int type,
                                 const int64_t *ne, int n_dims, void *data) {
    int st = add_tensor(w, name, type, ne, n_dims, data, data);
    if (st < 0) free(data);
    return st;
}

int gguf_writer_n_tensors(const struct gguf_writer *w) {
    return w->n_tensors;
}

/* Buffered output that remembers the first error, so the serialization code reads straight. */
struct out {
    FILE *fp;
    int err; /* errno of the first failure */
    uint64_t off;
};

static void put(struct out *o, const void *p, size_t n) {
    if (o->err || n == 0) return;
    if (fwrite(p, 1, n, o->fp) != n) o->err = errno ? errno : EIO;
    o->off += n;
}
static void put_u32(struct out *o, uint32_t v) {
    put(o, &v, 4);
}
static void put_u64(struct out *o, uint64_t v) {
    put(o, &v, 8);
}
static void put_str(struct out *o, const char *s, uint64_t len) {
    put_u64(o, len);
    put(o, s, (size_t)len);
}
static void put_pad(struct out *o, size_t align) {
    static const unsigned char zeros[64];
    size_t pad = (size_t)((align - o->off % align) % align);
    while (pad > 0) {
        size_t k = pad < sizeof zeros ? pad : sizeof zeros;
        put(o, zeros, k);
        pad -= k;
    }
}

static void put_kv(struct out *o, const struct kv *kv) {
    put_str(o, kv->key, strlen(kv->key));
    put_u32(o, (uint32_t)kv->type);
    if (kv->type == GGUF_TYPE_STRING) {
        put_str(o, kv->str, kv->str_len);
    } else if (kv->type == GGUF_TYPE_ARRAY) {
        put_u32(o, (uint32_t)kv->arr_type);
        put_u64(o, kv->n);
        if (kv->arr_type == GGUF_TYPE_STRING)
            for (uint64_t i = 0; i < kv->n; i++)
                put_str(o, kv->strs[i], kv->lens[i]);
        else
            put(o, kv->arr, (size_t)kv->n * gguf_type_size(kv->arr_type));
    } else {
        put(o, kv->val, gguf_type_size(kv->type));
    }
}

static size_t writer_alignment(const struct gguf_writer *w, int *bad) {
    const struct kv *kv = writer_find(w, "general.alignment");
    *bad = 0;
    if (!kv) return GGUF_DEFAULT_ALIGNMENT;
    uint32_t a = 0;
    if (kv->type == GGUF_TYPE_UINT32) memcpy(&a, kv->val, 4);
    if (a == 0 || (a & (a - 1)) || a > (1u << 20)) *bad = 1;
    return a;
}

int gguf_writer_write(const struct gguf_writer *w, const char *path) {
    int bad;
    size_t align = writer_alignment(w, &bad);
    if (bad) return disr_fail(DISR_E_ARG, "%s: general.alignment must be a u32 power of 2", path);

    struct file_atomic fa;
    DISR_TRY(file_atomic_begin(&fa, path));
    struct out o = {fa.f, 0, 0};
    put(&o, GGUF_MAGIC, 4);
    put_u32(&o, GGUF_VERSION);
    put_u64(&o, (uint64_t)w->n_tensors);
    put_u64(&o, (uint64_t)w->n_kv);
    for (int i = 0; i < w->n_kv; i++)
        put_kv(&o, &w->kvs[i]);
    uint64_t off = 0;
    for (int i = 0; i < w->n_tensors; i++) {
        const struct wtensor *t = &w->tensors[i];
        put_str(&o, t->name, strlen(t->name));
        put_u32(&o, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++)
            put_u64(&o, (uint64_t)t->ne[d]);
        put_u32(&o, (uint32_t)t->type);
        put_u64(&o, off);
        off += (t->nbytes + align - 1) / align * align;
    }
    if (w->n_tensors > 0) put_pad(&o, align);
    for (int i = 0; i < w->n_tensors; i++) {
        put(&o, w->tensors[i].data, w->tensors[i].nbytes);
        put_pad(&o, align);
    }
    return file_atomic_commit(&fa, o.err);
}
