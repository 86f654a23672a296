/* disr template: the prompt a chat template makes of a conversation: the model file's own
 * template, a built-in one by name, or a template file; for people checking what their model is
 * sent, and for the test against the reference renderer. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/file.h"
#include "model/chat_template.h"
#include "model/gguf.h"
#include "model/tokenizer.h"

/* [{"role": ..., "content": ...}, ...] -> messages pointing into the JSON. */
static int read_messages(const char *path, cJSON **root, struct chat_message **out, int *n) {
    DISR_TRY(file_read_json(path, root));
    int k = cJSON_IsArray(*root) ? cJSON_GetArraySize(*root) : -1;
    *out = calloc(k > 0 ? (size_t)k : 1, sizeof **out);
    if (!*out) return disr_fail(DISR_E_NOMEM, "out of memory");
    if (k < 0) return disr_fail(DISR_E_FORMAT, "%s: not a JSON list of messages", path);
    for (int i = 0; i < k; i++) {
        const cJSON *m = cJSON_GetArrayItem(*root, i);
        const cJSON *role = cJSON_GetObjectItem(m, "role"),
                    *content = cJSON_GetObjectItem(m, "content");
        if (!cJSON_IsString(role) || !cJSON_IsString(content))
            return disr_fail(DISR_E_FORMAT, "%s: message %d needs string role and content", path,
                             i);
        (*out)[i] = (struct chat_message){role->valuestring, content->valuestring};
    }
    *n = k;
    return DISR_OK;
}

struct template_opts {
    const char *model, *name, *file, *messages, *system, *user, *bos, *eos;
    int no_gen, source;
};

/* With -m: the file's template (or the named built-in) and its BOS/EOS texts. */
static int render_model(const struct template_opts *o, const struct chat_message *m, int n,
                        char **out) {
    struct tokenizer *t = NULL;
    struct gguf_file *f = NULL;
    int st = gguf_open(&f, o->model);
    if (st >= 0) st = tokenizer_load_gguf(&t, f);
    gguf_close(f);
    if (st >= 0 && o->name) st = tokenizer_set_chat_template(t, o->name);
    if (st >= 0) st = tokenizer_render_chat(t, m, n, !o->no_gen, out);
    tokenizer_free(t);
    return st;
}

/* Without -m: a built-in or a file, with --bos / --eos as the token texts. */
static int render_source(const struct template_opts *o, const struct chat_message *m, int n,
                         char **out) {
    char *src = NULL;
    size_t len;
    const char *text = o->name ? chat_template_builtin(o->name) : NULL;
    if (o->file) {
        DISR_TRY(file_read_all(o->file, &src, &len));
        text = src;
    } else if (!text) {
        return disr_fail(DISR_E_ARG, "unknown chat template '%s' (built-in: %s)", o->name,
                         chat_template_builtin_names());
    }
    struct chat_template *ct = NULL;
    int st = DISR_OK;
    if (o->source)
        fputs(text, stdout);
    else
        st = chat_template_parse(&ct, text);
    if (st >= 0 && ct) st = chat_template_render(ct, m, n, !o->no_gen, o->bos, o->eos, out);
    chat_template_free(ct);
    free(src);
    return st;
}

int cmd_template(int argc, char **argv) {
    struct template_opts o = {0};
    const struct cli_opt opts[] = {
        {"--model", "-m", OPT_STR, &o.model, "GGUF file: its tokenizer.chat_template and BOS/EOS"},
        {"--chat-template", NULL, OPT_STR, &o.name, "a built-in template instead (see --help)"},
        {"--template-file", NULL, OPT_STR, &o.file, "a Jinja template file instead"},
        {"--messages", NULL, OPT_STR, &o.messages, "JSON file: [{\"role\":..,\"content\":..},..]"},
        {"--system", NULL, OPT_STR, &o.system, "a system message (without --messages)"},
        {"--prompt", "-p", OPT_STR, &o.user, "a user message (without --messages)"},
        {"--bos", NULL, OPT_STR, &o.bos, "bos_token text (without -m)"},
        {"--eos", NULL, OPT_STR, &o.eos, "eos_token text (without -m)"},
        {"--no-generation-prompt", NULL, OPT_FLAG, &o.no_gen, "do not open the assistant turn"},
        {"--source", NULL, OPT_FLAG, &o.source, "print the named built-in (or file) template"},
        {0},
    };
    char usage[512];
    snprintf(usage, sizeof usage,
             "(-m MODEL.gguf | --chat-template NAME | --template-file T) (--messages M.json | -p "
             "TEXT [--system S])\nPrints the prompt the chat template makes (no newline added). "
             "Built-in templates: %s.",
             chat_template_builtin_names());
    int rc = cli_parse(argc, argv, opts, usage, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if ((!o.model && !o.name && !o.file) || (o.model && (o.file || o.bos || o.eos || o.source))) {
        fprintf(stderr, "disr template: give -m [--chat-template NAME], or --chat-template / "
                        "--template-file [--bos --eos]\n");
        return 2;
    }
    cJSON *root = NULL;
    struct chat_message *m = NULL, pair[2];
    int n = 0, st = DISR_OK;
    if (o.messages) {
        st = read_messages(o.messages, &root, &m, &n);
    } else if (!o.source) {
        if (!o.user) {
            fprintf(stderr, "disr template: give --messages or --prompt\n");
            return 2;
        }
        if (o.system) pair[n++] = (struct chat_message){"system", o.system};
        pair[n++] = (struct chat_message){"user", o.user};
    }
    char *out = NULL;
    if (st >= 0)
        st = o.model ? render_model(&o, m ? m : pair, n, &out)
                     : render_source(&o, m ? m : pair, n, &out);
    if (out) fputs(out, stdout);
    free(out);
    free(m);
    cJSON_Delete(root);
    return st < 0 ? cli_fail("template", st) : 0;
}
