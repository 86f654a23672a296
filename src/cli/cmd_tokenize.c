/* disr tokenize: the token ids of text under a GGUF file's tokenizer (the file may hold only a
 * vocabulary), one output line per input line or for a whole file; --decode goes back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/err.h"
#include "model/gguf.h"
#include "model/tokenizer.h"

struct tok_opts {
    int raw, pieces, decode;
};

/* Bytes of a whole UTF-8 character at p (1..4), or 0 when p starts no valid one. */
static size_t utf8_char_len(const unsigned char *p, size_t left) {
    size_t n = p[0] < 0x80         ? 1
               : (p[0] >> 5) == 6  ? 2
               : (p[0] >> 4) == 14 ? 3
               : (p[0] >> 3) == 30 ? 4
                                   : 0;
    if (!n || n > left) return 0;
    for (size_t k = 1; k < n; k++)
        if ((p[k] & 0xc0) != 0x80) return 0;
    return n;
}

/* id:'piece', with control characters and bytes that are no whole character (a byte token,
 * a piece of a character) escaped. */
static void print_piece(const struct tokenizer *t, int32_t id) {
    size_t len;
    const unsigned char *p = (const unsigned char *)tokenizer_piece(t, id, &len);
    printf("%d:'", id);
    for (size_t i = 0; i < len;) {
        size_t n = utf8_char_len(p + i, len - i);
        if (n > 1) {
            fwrite(p + i, 1, n, stdout);
        } else if (p[i] == '\n') {
            fputs("\\n", stdout);
        } else if (p[i] == '\t') {
            fputs("\\t", stdout);
        } else if (n == 0 || p[i] < 32 || p[i] == 127) {
            printf("\\x%02x", p[i]);
        } else {
            putchar(p[i]);
        }
        i += n ? n : 1;
    }
    putchar('\'');
}

static int encode_one(const struct tokenizer *t, const char *text, size_t len,
                      const struct tok_opts *o) {
    int cap = (int)(len < 1 << 28 ? len : 1 << 28) + 4, n = 0;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) return disr_fail(DISR_E_NOMEM, "out of memory for %zu bytes", len);
    int st = o->raw ? tokenizer_encode(t, text, len, ids, cap, &n)
                    : tokenizer_encode_full(t, text, len, true, ids, cap, &n);
    for (int i = 0; st >= 0 && i < n; i++) {
        if (i) putchar(' ');
        if (o->pieces)
            print_piece(t, ids[i]);
        else
            printf("%d", ids[i]);
    }
    if (st >= 0) putchar('\n');
    free(ids);
    return st;
}

/* A line of ids -> its text. */
static int decode_one(const struct tokenizer *t, char *line) {
    size_t cap_ids = strlen(line) / 2 + 2, n = 0;
    int32_t *ids = malloc(cap_ids * sizeof *ids);
    if (!ids) return disr_fail(DISR_E_NOMEM, "out of memory");
    int st = DISR_OK;
    for (char *s = line, *end; st >= 0; s = end) {
        while (*s == ' ' || *s == '\t' || *s == '\r')
            s++;
        if (!*s) break;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v >= tokenizer_n_vocab(t))
            st = disr_fail(DISR_E_ARG, "'%.20s' is not a token id of this vocabulary", s);
        else
            ids[n++] = (int32_t)v;
    }
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        tokenizer_piece(t, ids[i], &len);
        cap += len;
    }
    char *text = st >= 0 ? malloc(cap + 1) : NULL;
    size_t len = 0;
    if (st >= 0 && !text) st = disr_fail(DISR_E_NOMEM, "out of memory");
    if (st >= 0) st = tokenizer_decode(t, ids, (int)n, text, cap + 1, &len);
    if (st >= 0) {
        fwrite(text, 1, len, stdout);
        putchar('\n');
    }
    free(text);
    free(ids);
    return st;
}

static int run(const struct tokenizer *t, FILE *in, int whole, const struct tok_opts *o) {
    char *line = NULL;
    size_t cap = 0;
    int st = DISR_OK;
    if (whole) {
        size_t n = 0;
        char buf[65536];
        for (size_t k; st >= 0 && (k = fread(buf, 1, sizeof buf, in)) > 0;) {
            char *grown = realloc(line, n + k + 1);
            if (!grown)
                st = disr_fail(DISR_E_NOMEM, "out of memory");
            else {
                line = grown;
                memcpy(line + n, buf, k);
                n += k;
            }
        }
        if (st >= 0 && ferror(in)) st = disr_fail(DISR_E_IO, "reading the input failed");
        if (st >= 0) st = encode_one(t, line ? line : "", n, o);
        free(line);
        return st;
    }
    for (ssize_t k; st >= 0 && (k = getline(&line, &cap, in)) >= 0;) {
        if (k > 0 && line[k - 1] == '\n') line[--k] = '\0';
        st = o->decode ? decode_one(t, line) : encode_one(t, line, (size_t)k, o);
    }
    if (st >= 0 && ferror(in)) st = disr_fail(DISR_E_IO, "reading the input failed");
    free(line);
    return st;
}

int cmd_tokenize(int argc, char **argv) {
    const char *path = NULL, *file = NULL;
    int whole = 0;
    struct tok_opts o = {0};
    const struct cli_opt opts[] = {
        {"--model", "-m", OPT_STR, &path,
         "GGUF file with a tokenizer (a vocabulary alone will do)"},
        {"--file", "-f", OPT_STR, &file, "read this file instead of standard input"},
        {"--whole", NULL, OPT_FLAG, &whole, "encode the whole input as one text (one line of ids)"},
        {"--raw", NULL, OPT_FLAG, &o.raw, "no BOS/EOS even where the file's keys ask for them"},
        {"--pieces", NULL, OPT_FLAG, &o.pieces, "print id:'piece' pairs (for people)"},
        {"--decode", NULL, OPT_FLAG, &o.decode, "each input line is ids: print their text"},
        {0},
    };
    int rc = cli_parse(argc, argv, opts,
                       "-m FILE.gguf [--file TEXT] [options]\n"
                       "Prints the token ids of each input line (space-separated, one output line "
                       "per input line),\nwith BOS/EOS as the file's tokenizer.ggml.add_bos_token "
                       "/ add_eos_token say.",
                       NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (!path) {
        fprintf(stderr, "disr tokenize: --model is required (see --help)\n");
        return 2;
    }
    if (o.decode && (whole || o.pieces)) {
        fprintf(stderr, "disr tokenize: --decode reads lines of ids; no --whole or --pieces\n");
        return 2;
    }
    struct gguf_file *f = NULL;
    struct tokenizer *t = NULL;
    int st = gguf_open(&f, path);
    if (st >= 0) st = tokenizer_load_gguf(&t, f);
    gguf_close(f);
    if (st < 0) return cli_fail("tokenize", st);
    FILE *in = file ? fopen(file, "rb") : stdin;
    if (!in) {
        tokenizer_free(t);
        return cli_fail("tokenize", disr_fail(DISR_E_IO, "cannot open %s", file));
    }
    st = run(t, in, whole, &o);
    if (file) fclose(in);
    tokenizer_free(t);
    return st < 0 ? cli_fail("tokenize", st) : 0;
}
