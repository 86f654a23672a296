/* model_io.h: models to and from GGUF files. Owns the mapping between struct model and the
 * `llama` / `qwen2` GGUF conventions (hyperparameter keys, tensor names and shapes, tokenizer
 * metadata), so a file we save runs in llama.cpp and a real Qwen2.5 / Llama GGUF runs here.
 *
 * Loading: an all-F32 file is copied into one trainable parameter block (model->params);
 * otherwise matrices stay in the file mapping (F32/F16/Q8_0/Q4_0 per tensor) and norms/biases
 * are converted to F32 in model->owned. Every tensor's shape is checked against the config.
 * Tensors the model does not use (e.g. optimizer state in a checkpoint) are ignored.
 *
 * Extra metadata: keys under `disr.` (and general.name) are carried in model->meta from load to
 * save and can be set with the gguf_writer_set_* calls on model_meta(m). */
#ifndef MODEL_MODEL_IO_H
#define MODEL_MODEL_IO_H

#include "model/gguf.h"
#include "model/model.h"

/* Loads `path`. Clear message on any problem (missing key/tensor, wrong shape, unsupported
 * architecture or tensor type, weights larger than the memory the process may use). An all-F32
 * file is copied into a trainable parameter block; every other file's matrices are used in
 * place from the mapping (pages are read when first touched). */
int model_load(struct model **out, const char *path);
/* For inference only: every matrix used in place, F32 ones too (m->params stays NULL). */
int model_load_mapped(struct model **out, const char *path);

/* Bytes this process may still allocate or map without swapping: MemAvailable, capped by the
 * cgroup's memory.max - memory.current; env DISR_MEM_AVAILABLE (bytes) overrides it (tests). 0 when
 * unknown (no check). Loading refuses weights that do not fit before touching them. */
uint64_t model_mem_available(void);
/* Loads from an open file. The file stays the caller's; when the model needs the file data in
 * place it takes over the mapping (gguf_take_mapping), or copies the data for a file opened
 * from memory. */
int model_load_gguf(struct model **out, struct gguf_file *f);
int model_load_gguf_mapped(struct model **out, struct gguf_file *f);

/* Reads the config only (no tensors needed beyond shape checks of token_embd / output). */
int model_config_from_gguf(struct model_config *c, const struct gguf_file *f);

/* A hook that adds metadata or tensors to the file being written (checkpoints: AdamW moments,
 * step count). Tensors it adds with gguf_writer_add_tensor must stay valid until model_save
 * returns. */
typedef int (*model_save_hook)(struct gguf_writer *w, void *ctx);

struct model_save_opts {
    enum dtype type;       /* type of 2-D weight matrices (F32 default; norms/biases stay F32).
                              With Q4_0, token_embd/output are kept at Q8_0, with a K type the
                              output (token_embd when tied) is Q6_K, as llama.cpp does; a matrix
                              whose rows do not fit the block size falls back (quant_target). */
    const char *name;      /* general.name (NULL: the model's meta, else "disr") */
    model_save_hook extra; /* may be NULL */
    void *extra_ctx;
};

/* Writes the model (opts may be NULL: F32, no extras) atomically (see gguf_writer_write).
 * The architecture must match the RoPE style llama.cpp uses for it: llama = NORMAL,
 * qwen2 = NEOX with QKV biases. */
int model_save(const struct model *m, const char *path, const struct model_save_opts *opts);

/* The model's extra metadata (created empty on first use; NULL only when out of memory). */
struct gguf_writer *model_meta(struct model *m);

/* Converts any GGUF model file to `type` (what `disr quantize` does): 2-D `.weight` matrices
 * (not norms) are converted from any type we read; everything else, and all metadata, is
 * copied as is; general.file_type and general.quantization_version are updated. */
int model_quantize(const char *in_path, const char *out_path, enum dtype type);

/* What `disr quantize --type` names: one element type for the matrices, or llama.cpp's Q4_K_M
 * mix (Q4_K; Q6_K for the output and for attn_v / ffn_down of the first and last eighth of the
 * layers and every third between). */
struct quant_recipe {
    enum dtype type;
    int q4_k_m;
};
/* "f32", "f16", "bf16", "q8_0", "q4_0", "q2_k" .. "q6_k" or "q4_k_m". */
int quant_recipe_parse(const char *s, struct quant_recipe *out);
const char *quant_recipe_name(const struct quant_recipe *r);
/* The type tensor `name` (a matrix with rows of `cols`; `layer` its block index or -1, of
 * n_layer; `tied` when the embedding is also the output) gets under a recipe. Rows that do not
 * fill the type's blocks fall back: a K type to Q8_0, Q4_0/Q8_0 to F16. */
enum dtype quant_target(const struct quant_recipe *r, const char *name, int64_t cols, int layer,
                        int n_layer, int tied);
int model_quantize_recipe(const char *in_path, const char *out_path, const struct quant_recipe *r);

#endif
