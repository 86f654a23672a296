/* disr quantize IN OUT --type T: converts a GGUF model's weight matrices (what llama-quantize
 * does for the types we support); metadata and other tensors are copied unchanged. */
#include <stdio.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/log.h"
#include "model/model_io.h"

int cmd_quantize(int argc, char **argv) {
    const char *type_s = "q8_0";
    const struct cli_opt opts[] = {
        {"--type", "-t", OPT_STR, &type_s,
         "target type: q8_0 (default), q4_0, q2_k, q3_k, q4_k, q4_k_m (llama.cpp's mix), q5_k, "
         "q6_k, bf16, f16 or f32"},
        {0},
    };
    const char *pos[2];
    int np = 0;
    int st = cli_parse(argc, argv, opts, "IN.gguf OUT.gguf [--type TYPE]", pos, 2, &np);
    if (st) return st == 1 ? 0 : st;
    if (np != 2) {
        fprintf(stderr, "disr quantize: expected IN and OUT files (see disr quantize --help)\n");
        return 2;
    }
    struct quant_recipe r;
    if ((st = quant_recipe_parse(type_s, &r)) < 0) return cli_fail("quantize", st);
    double t0 = time_now();
    if ((st = model_quantize_recipe(pos[0], pos[1], &r)) < 0) return cli_fail("quantize", st);
    printf("%s -> %s (%s) in %.2f s\n", pos[0], pos[1], quant_recipe_name(&r), time_now() - t0);
    return 0;
}
