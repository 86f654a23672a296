/* disr info FILE: what a GGUF file holds (header, metadata, tensors) and, for a model file, the
 * configuration the engine reads from it. A damaged file gets one clear message and exit 1. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/err.h"
#include "model/gguf.h"
#include "model/model_io.h"
#include "model/tokenizer.h"

static void print_shape(const struct gguf_tensor *t, char *buf, size_t cap) {
    size_t o = 0;
    o += (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < (t->n_dims ? t->n_dims : 1) && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%" PRId64, d ? ", " : "", t->ne[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

int cmd_info(int argc, char **argv) {
    int no_tensors = 0, no_meta = 0;
    const struct cli_opt opts[] = {
        {"--no-tensors", NULL, OPT_FLAG, &no_tensors, "omit the tensor table"},
        {"--no-meta", NULL, OPT_FLAG, &no_meta, "omit the metadata table"},
        {0},
    };
    const char *pos[1];
    int np = 0;
    int st = cli_parse(argc, argv, opts, "FILE.gguf", pos, 1, &np);
    if (st) return st == 1 ? 0 : st;
    if (np != 1) {
        fprintf(stderr, "disr info: expected one GGUF file (see disr info --help)\n");
        return 2;
    }
    struct gguf_file *f;
    if ((st = gguf_open(&f, pos[0])) < 0) return cli_fail("info", st);
    printf("file       %s\n", pos[0]);
    printf("gguf       v%u, %zu bytes, alignment %zu, data at %zu\n", gguf_version(f),
           gguf_file_size(f), gguf_alignment(f), gguf_data_offset(f));
    printf("contents   %" PRId64 " metadata keys, %" PRId64 " tensors\n", gguf_n_kv(f),
           gguf_n_tensors(f));
    struct model_config c;
    if (model_config_from_gguf(&c, f) == 0) {
        printf("model      %s, vocab %d, embd %d, %d layers, %d heads (%d kv), ff %d, ctx %d, "
               "rope %s base %g, eps %g%s%s%s\n",
               model_arch_name(c.arch), c.n_vocab, c.n_embd, c.n_layer, c.n_head, c.n_head_kv,
               c.n_ff, c.n_ctx, c.rope_style == ROPE_NEOX ? "neox" : "normal", c.rope_base,
               c.norm_eps, c.qkv_bias ? ", qkv bias" : "", c.tied_output ? ", tied output" : "",
               c.qk_norm ? ", q/k norm" : "");
        if (c.head_dim)
            printf("           head size %d (q width %d)\n", c.head_dim, model_q_dim(&c));
    } else {
        printf("model      (not a loadable model: %s)\n", disr_last_error());
    }
    if (!no_meta) {
        printf("\n%-4s %-44s %-10s %s\n", "#", "key", "type", "value");
        for (int64_t i = 0; i < gguf_n_kv(f); i++) {
            char type[32], val[200];
            enum gguf_type t = gguf_kv_type(f, i);
            if (t == GGUF_TYPE_ARRAY)
                snprintf(type, sizeof type, "arr[%s]", gguf_type_name(gguf_kv_arr_type(f, i)));
            else
                snprintf(type, sizeof type, "%s", gguf_type_name(t));
            gguf_kv_format(f, i, val, sizeof val);
            printf("%-4" PRId64 " %-44s %-10s %s\n", i, gguf_kv_key(f, i), type, val);
        }
    }
    if (!no_tensors) {
        printf("\n%-4s %-32s %-6s %-22s %12s %12s\n", "#", "tensor", "type", "shape (ne)", "offset",
               "bytes");
        size_t total = 0;
        for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
            const struct gguf_tensor *t = gguf_tensor_at(f, i);
            char shape[96];
            print_shape(t, shape, sizeof shape);
            printf("%-4" PRId64 " %-32s %-6s %-22s %12" PRIu64 " %12zu\n", i, t->name,
                   ggml_type_name(t->type), shape, t->offset, t->nbytes);
            total += t->nbytes;
        }
        printf("total tensor bytes %zu\n", total);
    }
    /* Last, because a quantized model takes over the file mapping. */
    struct model *m;
    if (model_config_from_gguf(&c, f) == 0) {
        if (model_load_gguf(&m, f) == 0) {
            printf("\nloads ok: %s weights%s%s\n", m->params ? "f32 trainable" : "typed (mapped)",
                   m->tokenizer ? ", tokenizer " : "",
                   !m->tokenizer                                    ? ""
                   : tokenizer_kind(m->tokenizer) == TOKENIZER_CHAR ? "char"
                   : tokenizer_kind(m->tokenizer) == TOKENIZER_SPM  ? "sentencepiece"
                                                                    : "bpe");
            model_free(m);
        } else {
            printf("\ndoes not load: %s\n", disr_last_error());
        }
    }
    gguf_close(f);
    return 0;
}
