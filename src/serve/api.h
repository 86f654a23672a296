/* api.h: the OpenAI-compatible wire format of an agent node, apart from any socket: parsing and
 * validating a chat-completion request (the part the fuzzer attacks), OpenAI-style error
 * objects, the response and its server-sent-event chunks, and the `disr` route object that
 * travels back along the chain. */
#ifndef SERVE_API_H
#define SERVE_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "route/agent.h"

struct api_limits {
    size_t max_query;   /* bytes of the user text; default 16 KiB */
    int max_tokens;     /* largest max_tokens accepted; default 1024 */
    int default_tokens; /* when the request gives none; default 64 */
};

/* An OpenAI-style error: HTTP status, `type`, `code` and a human message. */
struct api_error {
    int status;
    const char *type; /* "invalid_request_error", "authentication_error", ... */
    const char *code; /* "invalid_json", "model_not_found", ... */
    char message[256];
};
/* Fills `e` and returns `status` (so `return api_err(e, 400, ...)` reads naturally). */
int api_err(struct api_error *e, int status, const char *type, const char *code, const char *fmt,
            ...) __attribute__((format(printf, 5, 6)));
/* {"error":{"message":..,"type":..,"code":..}}; malloc'd. */
char *api_error_json(const struct api_error *e);

struct chat_request {
    char *query;    /* text of the last user message (owned) */
    char model[96]; /* as sent (echoed back) */
    double alpha;   /* from "disr":{"alpha"}, else the model alias, else 0.5 */
    bool stream;
    bool include_usage; /* stream_options.include_usage */
    int max_tokens;
    double temperature;
    uint64_t seed;
    bool forced;   /* model "disr-forced": this node's own forced answer, no decision, no hop */
    bool decide;   /* model "disr-decide": this node's own decision under alpha, no hop */
    bool logprobs; /* "logprobs": true: per-token log probabilities of a local answer */
};

/* The model alias that asks a node for its own agent's forced answer (what `disr eval` records
 * of each agent over HTTP). */
#define API_MODEL_FORCED "disr-forced"
/* ... and for its own agent's decision under the request's scenario, a reject included (the
 * answer, or the reject text with the route's decision "reject"), never forwarded. */
#define API_MODEL_DECIDE "disr-decide"

/* Parses and validates a request body. On failure returns a negative status with `err` filled
 * (status 400/404/413...). Never reads past body[len]; body need not be NUL-terminated. */
int api_parse_chat(const char *body, size_t len, const struct api_limits *lim,
                   struct chat_request *out, struct api_error *err);
void chat_request_free(struct chat_request *r);

/* Re-encodes a request for the next agent (always non-streaming, alpha made explicit). */
char *api_chat_request_json(const struct chat_request *r);

/* The `disr` object: {"alpha","scenario","route":[{"agent","decision","latency_ms","cost",
 * "note"}],"answerer","cost","hops"}. Returned as cJSON* (opaque void* here to keep cJSON out of
 * the header); api_trace_parse reads it back (from a downstream agent's reply). */
void *api_trace_json(const struct route_trace *t, double alpha);
int api_trace_parse(const void *disr_json, struct route_trace *t);

struct chat_reply {
    const char *id; /* "chatcmpl-..." */
    const char *model;
    int64_t created;
    const char *content;
    const char *finish_reason; /* "stop" / "length" */
    int prompt_tokens, completion_tokens;
    const struct route_trace *trace;
    double alpha;
    /* choices[0].logprobs: n_logprob entries (token i = content[token_end[i-1]..token_end[i]]),
     * or null when n_logprob is 0 */
    int n_logprob;
    const float *token_logprob;
    const uint16_t *token_end;
};
/* A complete chat.completion object (malloc'd). */
char *api_chat_reply_json(const struct chat_reply *r);
/* One SSE event "data: {chat.completion.chunk}\n\n" (malloc'd): role/content delta, or (when
 * final) the finish_reason with usage and the route. */
char *api_chat_chunk_sse(const struct chat_reply *r, const char *delta, bool first, bool final);

/* Parses a downstream chat.completion: content, finish reason, usage and the route. */
int api_parse_reply(const char *body, char *content, size_t cap, char *finish, size_t fcap,
                    int *prompt_tokens, int *completion_tokens, struct route_trace *t);

/* {"object":"list","data":[{"id":"disr-performance",...},...]} (malloc'd). */
char *api_models_json(const char *agent_name);

#endif
