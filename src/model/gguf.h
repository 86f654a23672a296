/* gguf.h: GGUF v3 files, read and written. Owns the byte format only (header, metadata KVs,
 * tensor infos, aligned data section); what the tensors *mean* is model_io's business.
 *
 * Reader: gguf_open() maps the file and validates everything before returning (magic, version,
 * counts against the file size, string/array lengths, duplicate keys and tensor names, n_dims,
 * known tensor types, block-size divisibility, offsets exactly as ggml's reader demands and
 * within the file). After a successful open, every getter is safe: metadata is copied into
 * native, aligned storage (strings NUL-terminated), tensor data points into the mapping.
 *
 * Writer: collect KVs and tensors, then gguf_writer_write() writes the file in the order and
 * alignment llama.cpp expects, to a temporary file that is fsync'ed and renamed over `path`, so
 * a failure (full disk) never leaves a half-written file behind. */
#ifndef MODEL_GGUF_H
#define MODEL_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GGUF_VERSION           3
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS          4
#define GGUF_MAX_NAME          64         /* tensor names are < 64 bytes (ggml's GGML_MAX_NAME) */
#define GGUF_MAX_LEN           (1u << 30) /* longest string / array we accept */

enum gguf_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT = 13,
};

/* "u8", "str", "arr", ... ("?" for an unknown id). */
const char *gguf_type_name(enum gguf_type t);
/* Byte size of one scalar of type t (0 for STRING / ARRAY / unknown). */
size_t gguf_type_size(enum gguf_type t);

/* ---------------------------------------------------------------------------------- reader */

struct gguf_file;

/* Maps and validates `path`. On failure *out is NULL and the message names the file and the
 * offending field (DISR_E_IO: cannot open; DISR_E_FORMAT: malformed; DISR_E_UNSUPPORTED:
 * well-formed but a type we cannot handle). */
int gguf_open(struct gguf_file **out, const char *path);
/* Same on a caller's buffer (not copied: it must outlive the gguf_file). Used by the fuzzer and
 * tests. `name` is only used in messages. */
int gguf_open_memory(struct gguf_file **out, const void *data, size_t size, const char *name);
void gguf_close(struct gguf_file *f);

/* Hands the mapping over to the caller (who munmap()s it later); tensor data pointers stay
 * valid after gguf_close(). NULL for memory-opened files. */
void *gguf_take_mapping(struct gguf_file *f, size_t *size);

const char *gguf_path(const struct gguf_file *f);
uint32_t gguf_version(const struct gguf_file *f);
size_t gguf_alignment(const struct gguf_file *f);
size_t gguf_data_offset(const struct gguf_file *f); /* file offset of the data section */
size_t gguf_file_size(const struct gguf_file *f);

/* Metadata, by index (0 .. n_kv-1, in file order) or by key. */
int64_t gguf_n_kv(const struct gguf_file *f);
int64_t gguf_find_key(const struct gguf_file *f, const char *key); /* -1 if absent */
const char *gguf_kv_key(const struct gguf_file *f, int64_t id);
enum gguf_type gguf_kv_type(const struct gguf_file *f, int64_t id);     /* ARRAY for arrays */
enum gguf_type gguf_kv_arr_type(const struct gguf_file *f, int64_t id); /* element type */
uint64_t gguf_kv_arr_n(const struct gguf_file *f, int64_t id);
/* Writes a short human-readable rendering of the value (arrays elided after a few items). */
void gguf_kv_format(const struct gguf_file *f, int64_t id, char *buf, size_t cap);

/* Typed getters by key: DISR_E_NOTFOUND if the key is absent (message names it), DISR_E_FORMAT
 * if it has another type. */
int gguf_get_u8(const struct gguf_file *f, const char *key, uint8_t *out);
int gguf_get_i8(const struct gguf_file *f, const char *key, int8_t *out);
int gguf_get_u16(const struct gguf_file *f, const char *key, uint16_t *out);
int gguf_get_i16(const struct gguf_file *f, const char *key, int16_t *out);
int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out);
int gguf_get_i32(const struct gguf_file *f, const char *key, int32_t *out);
int gguf_get_u64(const struct gguf_file *f, const char *key, uint64_t *out);
int gguf_get_i64(const struct gguf_file *f, const char *key, int64_t *out);
int gguf_get_f32(const struct gguf_file *f, const char *key, float *out);
int gguf_get_f64(const struct gguf_file *f, const char *key, double *out);
int gguf_get_bool(const struct gguf_file *f, const char *key, bool *out);
/* NUL-terminated (the file's bytes; *len may be NULL). Valid until gguf_close. */
int gguf_get_str(const struct gguf_file *f, const char *key, const char **out, size_t *len);
/* Lenient integer / float getters for hyperparameters: any integer type (value must be >= 0
 * for get_uint), any float type. Real writers use u32 where the spec says u64. */
int gguf_get_uint(const struct gguf_file *f, const char *key, uint64_t *out);
int gguf_get_float(const struct gguf_file *f, const char *key, double *out);
/* Arrays. Numeric: native, aligned copy of `n` elements of `elem` type (DISR_E_FORMAT if the
 * key is not an array of that type). Strings: items[i] NUL-terminated, lens[i] its byte length. */
int gguf_get_arr(const struct gguf_file *f, const char *key, enum gguf_type elem, const void **data,
                 uint64_t *n);
int gguf_get_arr_str(const struct gguf_file *f, const char *key, const char *const **items,
                     const uint64_t **lens, uint64_t *n);

/* Tensors. */
struct gguf_tensor {
    const char *name;
    int type;                  /* ggml type id (enum dtype for the ones we compute with) */
    int n_dims;                /* 0..4 */
    int64_t ne[GGUF_MAX_DIMS]; /* innermost first; 1 beyond n_dims */
    uint64_t offset;           /* relative to the data section */
    size_t nbytes;
    const void *data; /* into the mapping; aligned to gguf_alignment() */
};
int64_t gguf_n_tensors(const struct gguf_file *f);
int64_t gguf_find_tensor(const struct gguf_file *f, const char *name); /* -1 if absent */
const struct gguf_tensor *gguf_tensor_at(const struct gguf_file *f, int64_t id);

/* ggml tensor types: name ("f32", "q8_0", ...; NULL if not a known ggml type), elements per
 * block and bytes per block (0 if unknown). Covers every ggml type id so files with K-quants
 * can at least be listed; the engine computes with F32/F16/Q8_0/Q4_0 only. */
const char *ggml_type_name(int type);
int ggml_blck_size(int type);
size_t ggml_type_size(int type);

/* ---------------------------------------------------------------------------------- writer */

struct gguf_writer;

int gguf_writer_init(struct gguf_writer **out);
void gguf_writer_free(struct gguf_writer *w);

/* Setting a key that is already set replaces its value (type may change), keeping its
 * position. Keys must be non-empty. Values are copied. */
int gguf_writer_set_u8(struct gguf_writer *w, const char *key, uint8_t v);
int gguf_writer_set_i8(struct gguf_writer *w, const char *key, int8_t v);
int gguf_writer_set_u16(struct gguf_writer *w, const char *key, uint16_t v);
int gguf_writer_set_i16(struct gguf_writer *w, const char *key, int16_t v);
int gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v);
int gguf_writer_set_u64(struct gguf_writer *w, const char *key, uint64_t v);
int gguf_writer_set_i64(struct gguf_writer *w, const char *key, int64_t v);
int gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v);
int gguf_writer_set_f64(struct gguf_writer *w, const char *key, double v);
int gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v);
int gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v);
int gguf_writer_set_strn(struct gguf_writer *w, const char *key, const char *v, size_t len);
/* Numeric array of n elements of type elem (native layout). */
int gguf_writer_set_arr(struct gguf_writer *w, const char *key, enum gguf_type elem,
                        const void *data, uint64_t n);
int gguf_writer_set_arr_i32(struct gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
int gguf_writer_set_arr_f32(struct gguf_writer *w, const char *key, const float *v, uint64_t n);
/* lens may be NULL (then strlen). */
int gguf_writer_set_arr_str(struct gguf_writer *w, const char *key, const char *const *v,
                            const size_t *lens, uint64_t n);
/* Copies key `id` of a file (any type) into the writer. */
int gguf_writer_set_kv_from(struct gguf_writer *w, const struct gguf_file *f, int64_t id);
/* Copies every KV of `src` (in its order) into w. */
int gguf_writer_set_all_from(struct gguf_writer *w, const struct gguf_writer *src);
int gguf_writer_remove(struct gguf_writer *w, const char *key); /* no-op if absent */

/* Reads back what a writer holds (same contract as the file getters). */
int gguf_writer_n_kv(const struct gguf_writer *w);
const char *gguf_writer_kv_key(const struct gguf_writer *w, int id);
int gguf_writer_get_u32(const struct gguf_writer *w, const char *key, uint32_t *out);
int gguf_writer_get_u64(const struct gguf_writer *w, const char *key, uint64_t *out);
int gguf_writer_get_i64(const struct gguf_writer *w, const char *key, int64_t *out);
int gguf_writer_get_f32(const struct gguf_writer *w, const char *key, float *out);
int gguf_writer_get_f64(const struct gguf_writer *w, const char *key, double *out);
int gguf_writer_get_str(const struct gguf_writer *w, const char *key, const char **out);

/* Adds a tensor; ne[0] is the contiguous dimension and must be a multiple of the type's block
 * size. `data` (ggml_type_size(type) * n_elements / blck bytes) is BORROWED: it must stay valid
 * until gguf_writer_write or gguf_writer_free. The _owned variant takes a malloc'ed buffer and
 * frees it with the writer. Tensors are written in the order they are added. */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, int type, const int64_t *ne,
                           int n_dims, const void *data);
int gguf_writer_add_tensor_owned(struct gguf_writer *w, const char *name, int type,
                                 const int64_t *ne, int n_dims, void *data);
int gguf_writer_n_tensors(const struct gguf_writer *w);

/* Writes the file (alignment = general.alignment if set as u32, else 32). Temp file in the same
 * directory, fsync, rename: on any failure (DISR_E_IO, "disk full" for ENOSPC) `path` is left
 * untouched and the temp file removed. */
int gguf_writer_write(const struct gguf_writer *w, const char *path);

#endif
