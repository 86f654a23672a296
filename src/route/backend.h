/* backend.h: where an agent's words come from. A backend turns (query, scenario) into text and,
 * when it can, the log probability of that text. Three kinds behind one small vtable:
 *  - engine:   an embedded GGUF model (route/backend_engine.c), continuous batching inside;
 *  - remote:   an OpenAI-compatible server (llama.cpp server, vLLM, Ollama) asked with the
 *              scenario system prompt;
 *  - scripted: answers from a rule table, with delays and failures, for tests and benchmarks.
 * The scenario decides the prompt: SCENARIO_NONE is the forced-answer prompt (answer, no
 * self-assessment), used by the `confidence` and `always` modes and by fallback answers. */
#ifndef ROUTE_BACKEND_H
#define ROUTE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "world/scenario.h"

#define BACKEND_TEXT_CAP     4096
#define BACKEND_MAX_TOKEN_LP 1024

struct gen_request {
    const char *query;
    enum scenario scenario;
    int max_tokens;
    float temperature; /* 0 = greedy */
    uint64_t seed;
    /* Called with each new piece of output as it is produced (may be NULL). Returning non-zero
     * stops the generation early (a decided reject needs no more tokens). */
    int (*on_text)(void *ctx, const char *piece, size_t len);
    void *ctx;
};

struct gen_output {
    char text[BACKEND_TEXT_CAP]; /* NUL-terminated */
    int n_prompt_tokens;
    int n_tokens;
    double sum_logprob; /* valid when has_logprob */
    bool has_logprob;
    bool stopped;   /* on_text asked to stop */
    bool truncated; /* hit max_tokens or capacity */
    /* Per-token log probabilities when the backend gives them (n_token_logprob = n_tokens, and
     * they sum to sum_logprob), else n_token_logprob = 0. Token i's piece ends at token_end[i]
     * in text. */
    int n_token_logprob;
    float token_logprob[BACKEND_MAX_TOKEN_LP];
    uint16_t token_end[BACKEND_MAX_TOKEN_LP];
};

struct backend;
struct backend_ops {
    const char *kind;
    int (*generate)(struct backend *b, const struct gen_request *rq, struct gen_output *out);
    void (*free)(struct backend *b);
};
/* Every backend struct starts with this, so a pointer to it is a pointer to the backend. */
struct backend {
    const struct backend_ops *ops;
};

static inline int backend_generate(struct backend *b, const struct gen_request *rq,
                                   struct gen_output *out) {
    return b->ops->generate(b, rq, out);
}
void backend_free(struct backend *b);

/* Appends `len` bytes of `piece` to out->text (truncating at capacity, setting truncated). */
void gen_output_append(struct gen_output *out, const char *piece, size_t len);

/* --- scripted ------------------------------------------------------------------------------
 * Rules are tried in order; the first whose `contains` occurs in the query (empty = any) and
 * whose scenario matches (-1 = any) decides. Under a scenario the agent replies `reply`; under
 * SCENARIO_NONE (forced answer) it replies `answer` (default: `reply` unless that is a reject,
 * else "unknown"). `p` is the probability reported for the forced answer (sum_logprob =
 * log p). `delay_ms` sleeps before the first token; `fail` makes the call fail (DISR_E_STATE). A
 * query no rule matches gets "unknown" with p = 0.5. Replies are emitted word by word. */
struct script_rule {
    const char *contains;
    int scenario; /* enum scenario, or -1 for any */
    const char *reply;
    const char *answer; /* NULL = from reply */
    double p;
    int delay_ms;
    bool fail;
};
int backend_scripted_create(struct backend **out);
int backend_scripted_add(struct backend *b, const struct script_rule *r);
/* Rules from a JSONL file: {"contains":"..","scenario":"balance","reply":"..","answer":"..",
 * "p":0.9,"delay_ms":0,"fail":false}; every field optional. Blank lines and '#' lines skipped. */
int backend_scripted_load(struct backend *b, const char *path);

/* --- remote --------------------------------------------------------------------------------
 * `url` is the server's base (".../v1" or the full ".../v1/chat/completions"); `model` is sent
 * as the model name; `api_key` (may be NULL) as a bearer token. Asks for logprobs so the
 * confidence mode works where the server supports them. */
int backend_remote_create(struct backend **out, const char *url, const char *model,
                          const char *api_key, int timeout_ms);
/* Reads a chat.completion reply into out (appended to what it holds): choices[0].message.content
 * (a string, else DISR_E_FORMAT naming `url`), finish_reason "length" as truncated, usage, and
 * choices[0].logprobs.content[].logprob when every entry has a number (has_logprob; otherwise
 * the answer has no probability, never a partial sum). */
int backend_remote_parse(const char *url, const char *body, struct gen_output *out);

#endif
