/* disr generate: text from a GGUF model, streamed as it is produced, with the speed and the
 * log-probability of the generation on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/log.h"
#include "model/engine.h"
#include "model/model_io.h"
#include "model/tokenizer.h"

int cmd_generate(int argc, char **argv) {
    const char *path = NULL, *prompt = NULL, *system = NULL, *stop = NULL, *chat_template = NULL;
    int max_tokens = 128, top_k = 0, seed = 0, threads = 0, chat = 0, quiet = 0;
    double temp = 0.8, top_p = 0.95;
    const struct cli_opt opts[] = {
        {"--model", "-m", OPT_STR, &path, "GGUF model file"},
        {"--prompt", "-p", OPT_STR, &prompt, "prompt text (raw; see --chat)"},
        {"--max-tokens", "-n", OPT_INT, &max_tokens, "tokens to generate at most (default 128)"},
        {"--temp", NULL, OPT_FLOAT, &temp, "temperature; 0 = greedy (default 0.8)"},
        {"--top-k", NULL, OPT_INT, &top_k, "keep the k most likely tokens; 0 = off (default)"},
        {"--top-p", NULL, OPT_FLOAT, &top_p, "nucleus sampling mass; 1 = off (default 0.95)"},
        {"--seed", NULL, OPT_INT, &seed, "sampling seed (default 0)"},
        {"--stop", NULL, OPT_STR, &stop, "stop after this character (e.g. a newline: $'\\n')"},
        {"--threads", "-t", OPT_INT, &threads, "compute threads (default: all cores)"},
        {"--chat", NULL, OPT_FLAG, &chat, "wrap the prompt in the model's chat template"},
        {"--system", NULL, OPT_STR, &system, "system message with --chat"},
        {"--chat-template", NULL, OPT_STR, &chat_template,
         "with --chat: a built-in template (chatml, llama3, llama2, mistral, gemma, phi3)"},
        {"--quiet", "-q", OPT_FLAG, &quiet, "no statistics on stderr"},
        {0},
    };
    int rc = cli_parse(argc, argv, opts,
                       "-m MODEL.gguf -p PROMPT [options]\n"
                       "Generates a continuation of PROMPT and prints it as it is produced.",
                       NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (chat_template) chat = 1;
    if (!path || !prompt) {
        fprintf(stderr, "disr generate: --model and --prompt are required (see --help)\n");
        return 2;
    }
    if (max_tokens < 1 || temp < 0 || top_p <= 0 || top_p > 1 || top_k < 0 || threads < 0 ||
        (stop && strlen(stop) != 1)) {
        fprintf(stderr, "disr generate: need --max-tokens >= 1, --temp >= 0, 0 < --top-p <= 1, "
                        "--top-k >= 0, --threads >= 0 and a one-character --stop\n");
        return 2;
    }
    struct model *m = NULL;
    int st = model_load_mapped(&m, path);
    if (st < 0) return cli_fail("generate", st);
    char *text = NULL;
    if (chat) {
        if (!m->tokenizer) {
            model_free(m);
            return cli_fail("generate", disr_fail(DISR_E_STATE, "%s has no tokenizer", path));
        }
        if (chat_template && (st = tokenizer_set_chat_template(m->tokenizer, chat_template)) < 0) {
            model_free(m);
            return cli_fail("generate", st);
        }
        size_t cap = strlen(prompt) + (system ? strlen(system) : 0) + 4096;
        text = malloc(cap);
        st = text ? tokenizer_apply_chat(m->tokenizer, system ? system : "", prompt, text, cap)
                  : disr_fail(DISR_E_NOMEM, "out of memory");
        if (st < 0) {
            free(text);
            model_free(m);
            return cli_fail("generate", st);
        }
    }
    struct engine *e = NULL;
    struct engine_params ep = {.max_seqs = 1, .n_threads = threads};
    st = engine_init(&e, m, &ep);
    if (st < 0) {
        free(text);
        model_free(m);
        return cli_fail("generate", st);
    }
    struct gen_params g = {.temperature = (float)temp,
                           .top_k = top_k,
                           .top_p = (float)top_p,
                           .seed = (uint64_t)seed,
                           .max_tokens = max_tokens,
                           .stop_char = stop ? stop[0] : 0};
    /* Through a slot so the text can be printed as each token arrives. */
    double t0 = time_now(), t_first = 0;
    int slot = engine_slot_start(e, text ? text : prompt, &g);
    st = slot;
    struct gen_result r = {0};
    size_t shown = 0;
    while (st >= 0 && !engine_slot_done(e, slot)) {
        st = engine_step(e);
        if (st < 0) break;
        if (t_first == 0) t_first = time_now();
        engine_slot_result(e, slot, &r);
        size_t len = strlen(r.text);
        if (len > shown) {
            fwrite(r.text + shown, 1, len - shown, stdout);
            fflush(stdout);
            shown = len;
        }
    }
    double t1 = time_now();
    if (st >= 0) {
        engine_slot_result(e, slot, &r);
        printf("\n");
        if (!quiet)
            fprintf(stderr, "[%d tokens; first after %.0f ms, then %.1f tok/s; log P = %.3f%s]\n",
                    r.n_tokens, (t_first - t0) * 1e3,
                    r.n_tokens > 1 ? (r.n_tokens - 1) / (t1 - t_first) : 0.0, (double)r.sum_logprob,
                    r.truncated ? "; stopped at the token limit" : "");
    }
    engine_free(e);
    model_free(m);
    free(text);
    return st < 0 ? cli_fail("generate", st) : 0;
}
