/* An agent node. One request's life: read the body (bounded), check keys and hop headers,
 * decide (route/agent.c), then answer, or forward to the next reachable agent and relay its
 * answer with this hop prepended to the route. Streaming requests run the same job on a worker
 * thread that writes SSE events into a buffer the HTTP thread drains. */
#include "serve/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "route/chain.h"
#include "route/http_client.h"

struct server {
    struct server_config c;
    struct MHD_Daemon *d;
    struct metrics m;
    atomic_ulong next_id;
    atomic_int workers; /* streaming worker threads still running */
    int64_t started;
};

/* ---------------------------------------------------------------- stream buffer */

struct stream {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct strbuf data; /* everything written; the reader is at `off` */
    size_t off;
    bool done, closed;
    int refs;
};

static struct stream *stream_new(void) {
    struct stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->refs = 2; /* the worker and the HTTP response */
    return s;
}

static void stream_unref(struct stream *s) {
    pthread_mutex_lock(&s->mu);
    int left = --s->refs;
    pthread_mutex_unlock(&s->mu);
    if (left) return;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    strbuf_free(&s->data);
    free(s);
}

/* Appends an event; returns non-zero if the client has gone (the worker may stop early). */
static int stream_put(struct stream *s, const char *data, size_t n, bool done) {
    pthread_mutex_lock(&s->mu);
    int gone = s->closed;
    if (!gone && data && n) strbuf_put(&s->data, data, n); /* out of memory: the event is lost */
    if (done) s->done = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return gone;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    struct stream *s = cls;
    pthread_mutex_lock(&s->mu);
    while (s->off == s->data.n && !s->done)
        pthread_cond_wait(&s->cv, &s->mu);
    ssize_t n;
    if (s->off < s->data.n) {
        size_t k = s->data.n - s->off < max ? s->data.n - s->off : max;
        memcpy(buf, s->data.p + s->off, k);
        s->off += k;
        n = (ssize_t)k;
    } else {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void stream_closed(void *cls) {
    struct stream *s = cls;
    pthread_mutex_lock(&s->mu);
    s->closed = true;
    pthread_mutex_unlock(&s->mu);
    stream_unref(s);
}

/* ---------------------------------------------------------------- one chat job */

struct job {
    struct server *srv;
    struct chat_request req;
    int hops;        /* hops before this node */
    char path[1024]; /* agent names before this node */
    char id[48];
    int64_t created;
    struct route_trace trace;
    char content[BACKEND_TEXT_CAP];
    char finish[16];
    int prompt_tokens, completion_tokens;
    int n_logprob; /* per-token log probabilities of a local answer, when asked for */
    float token_logprob[BACKEND_MAX_TOKEN_LP];
    uint16_t token_end[BACKEND_MAX_TOKEN_LP];
    struct stream *stream; /* NULL: plain JSON reply */
    bool sent_first;
    struct api_error err; /* err.status != 0: the job failed */
};

static int job_emit(void *ctx, const char *piece, size_t len) {
    struct job *j = ctx;
    if (!j->stream) return 0;
    char tmp[BACKEND_TEXT_CAP];
    snprintf(tmp, sizeof tmp, "%.*s", (int)len, piece);
    struct chat_reply r = {.id = j->id, .model = j->req.model, .created = j->created};
    char *ev = api_chat_chunk_sse(&r, tmp, !j->sent_first, false);
    j->sent_first = true;
    int gone = ev ? stream_put(j->stream, ev, strlen(ev), false) : 0;
    free(ev);
    return gone;
}

static void job_take_local(struct job *j, const struct agent_result *r, enum hop_decision d,
                           const char *note) {
    struct server *s = j->srv;
    int h = route_trace_add(&j->trace, s->c.agent->name, d, r->latency_ms, s->c.agent->cost, note);
    j->trace.answerer = h;
    snprintf(j->content, sizeof j->content, "%s", r->gen.text);
    snprintf(j->finish, sizeof j->finish, "%s", r->gen.truncated ? "length" : "stop");
    j->n_logprob = 0; /* an answer relayed from a next agent carries none */
    if (j->req.logprobs && r->gen.has_logprob && r->gen.n_token_logprob == r->gen.n_tokens) {
        int n = r->gen.n_token_logprob;
        memcpy(j->token_logprob, r->gen.token_logprob, (size_t)n * sizeof *j->token_logprob);
        memcpy(j->token_end, r->gen.token_end, (size_t)n * sizeof *j->token_end);
        j->n_logprob = n;
    }
    j->prompt_tokens += r->gen.n_prompt_tokens;
    j->completion_tokens += r->gen.n_tokens;
    atomic_fetch_add(&s->m.prompt_tokens, (unsigned long)r->gen.n_prompt_tokens);
    atomic_fetch_add(&s->m.completion_tokens, (unsigned long)r->gen.n_tokens);
    atomic_fetch_add(&s->m.answers, 1);
    if (d == HOP_FALLBACK) atomic_fetch_add(&s->m.fallbacks, 1);
}

/* Sends the query to next[i]; on success fills j with the downstream answer and route. */
static int job_forward_to(struct job *j, const char *url) {
    struct server *s = j->srv;
    char *body = api_chat_request_json(&j->req);
    if (!body) return disr_fail(DISR_E_NOMEM, "out of memory");
    char h_hops[48], h_path[1200], h_secret[300], h_auth[300], full[1024];
    snprintf(h_hops, sizeof h_hops, "X-Disr-Hops: %d", j->hops + 1);
    snprintf(h_path, sizeof h_path, "X-Disr-Path: %s%s%s", j->path, j->path[0] ? "," : "",
             s->c.agent->name);
    const char *hdr[5] = {h_hops, h_path, NULL, NULL, NULL};
    int nh = 2;
    if (s->c.hop_secret) {
        snprintf(h_secret, sizeof h_secret, "X-Disr-Hop-Secret: %s", s->c.hop_secret);
        hdr[nh++] = h_secret;
    }
    if (s->c.n_api_keys >
        0) { /* lets a chain whose nodes share client keys work without a secret */
        snprintf(h_auth, sizeof h_auth, "Authorization: Bearer %s", s->c.api_keys[0]);
        hdr[nh++] = h_auth;
    }
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    snprintf(full, sizeof full, "%.*s%s", (int)n, url,
             strstr(url, "/chat/completions") ? "" : "/v1/chat/completions");
    struct http_options o = {.headers = hdr,
                             .connect_timeout_ms = s->c.connect_timeout_ms,
                             .timeout_ms = s->c.hop_timeout_ms};
    struct http_response resp;
    atomic_fetch_add(&s->m.forwards, 1);
    int st = http_request(full, body, strlen(body), &o, &resp);
    free(body);
    if (st < 0) return st;
    if (resp.status != 200) {
        st = disr_fail(DISR_E_NET, "HTTP %ld: %.100s", resp.status, resp.body);
    } else {
        struct route_trace down = {.answerer = -1};
        int pt = 0, ct = 0;
        st = api_parse_reply(resp.body, j->content, sizeof j->content, j->finish, sizeof j->finish,
                             &pt, &ct, &down);
        if (st == DISR_OK) {
            for (int i = 0; i < down.n; i++) {
                const struct hop *h = &down.hops[i];
                int k = route_trace_add(&j->trace, h->agent, h->decision, h->latency_ms, h->cost,
                                        h->note);
                if (i == down.answerer) j->trace.answerer = k;
            }
            j->prompt_tokens += pt;
            j->completion_tokens += ct;
        }
    }
    http_response_free(&resp);
    return st;
}

/* A node's chain: hop 0 is this node's agent, hops 1.. its next nodes (each of which answers
 * for the rest of the chain, or fails and is skipped). */
struct node_walk {
    struct job *j;
    struct agent_query q;
    struct agent_result r;
    double tf;        /* when forwarding began, 0 before */
    bool forwarded;   /* a next node answered */
    bool self_failed; /* this node's backend failed */
    char err[256];    /* the last failure, for the error reply */
};

static void node_note_error(struct node_walk *w) {
    snprintf(w->err, sizeof w->err, "%s", disr_last_error());
}

static int node_ask_self(struct node_walk *w, bool last) {
    struct job *j = w->j;
    struct server *s = j->srv;
    const struct agent *a = s->c.agent;
    double t0 = time_now();
    int st = agent_decide(a, &w->q, &w->r);
    histogram_observe(&s->m.decide_seconds, time_now() - t0);
    if (st < 0) {
        atomic_fetch_add(&s->m.errors[ERR_BACKEND], 1);
        log_warn("%s: backend failed: %s", a->name, disr_last_error());
        node_note_error(w);
        w->self_failed = true;
        if (!last)
            route_trace_add(&j->trace, a->name, HOP_SKIPPED, (time_now() - t0) * 1e3, a->cost,
                            "backend failed");
        return CHAIN_SKIP;
    }
    if (w->r.decision == HOP_ANSWER) {
        job_take_local(j, &w->r, HOP_ANSWER, "");
        return CHAIN_ANSWER;
    }
    j->prompt_tokens += w->r.gen.n_prompt_tokens;
    j->completion_tokens += w->r.gen.n_tokens;
    atomic_fetch_add(&s->m.prompt_tokens, (unsigned long)w->r.gen.n_prompt_tokens);
    atomic_fetch_add(&s->m.completion_tokens, (unsigned long)w->r.gen.n_tokens);
    atomic_fetch_add(&s->m.rejects, 1);
    if (!last) route_trace_add(&j->trace, a->name, HOP_REJECT, w->r.latency_ms, a->cost, "");
    return CHAIN_REJECT;
}

static int node_ask_next(struct node_walk *w, int k) {
    struct job *j = w->j;
    struct server *s = j->srv;
    if (k == 0) w->tf = time_now();
    if (job_forward_to(j, s->c.next[k]) == DISR_OK) {
        histogram_observe(&s->m.forward_seconds, time_now() - w->tf);
        w->forwarded = true;
        if (j->stream && j->content[0]) job_emit(j, j->content, strlen(j->content));
        return CHAIN_ANSWER;
    }
    atomic_fetch_add(&s->m.skips, 1);
    atomic_fetch_add(&s->m.errors[ERR_FORWARD], 1);
    log_warn("%s: next agent %s skipped: %s", s->c.agent->name, s->c.next[k], disr_last_error());
    route_trace_add(&j->trace, s->c.next[k], HOP_SKIPPED, 0, 0, disr_last_error());
    node_note_error(w);
    return CHAIN_SKIP;
}

static int node_ask(void *ctx, int i, bool last) {
    return i == 0 ? node_ask_self(ctx, last) : node_ask_next(ctx, i - 1);
}

/* Only this node's agent rejects, so only it is ever forced: as the last hop (no next node,
 * or the hop budget spent) or by fallback when no next node answered. */
static int node_force(void *ctx, int i, bool fallback) {
    struct node_walk *w = ctx;
    struct job *j = w->j;
    struct server *s = j->srv;
    double lat = fallback ? 0 : w->r.latency_ms;
    int st = agent_answer_forced(s->c.agent, &w->q, &w->r);
    if (st < 0) {
        node_note_error(w);
        return st;
    }
    w->r.latency_ms += lat;
    if (fallback) {
        job_take_local(j, &w->r, HOP_FALLBACK, "no next agent reachable");
    } else {
        atomic_fetch_sub(&s->m.rejects, 1);
        job_take_local(j, &w->r, s->c.n_next > 0 ? HOP_FALLBACK : HOP_ANSWER,
                       s->c.n_next > 0 ? "hop limit reached" : "");
    }
    return DISR_OK;
}

static void job_run(struct job *j) {
    struct server *s = j->srv;
    struct node_walk w = {.j = j,
                          .q = {.query = j->req.query,
                                .alpha = j->req.alpha,
                                .max_tokens = j->req.max_tokens,
                                .temperature = (float)j->req.temperature,
                                .seed = j->req.seed,
                                .on_answer_text = job_emit,
                                .ctx = j}};
    if (j->req.forced) {
        /* this agent's own forced answer: no decision, no next agent, and sampled at the
         * temperature asked (an evaluation's self-verification samples), where a chain's forced
         * answer is greedy */
        struct gen_request rq = {.query = j->req.query,
                                 .scenario = SCENARIO_NONE,
                                 .max_tokens = j->req.max_tokens,
                                 .temperature = (float)j->req.temperature,
                                 .seed = j->req.seed,
                                 .on_text = job_emit,
                                 .ctx = j};
        double t0 = time_now();
        int st = backend_generate(s->c.agent->backend, &rq, &w.r.gen);
        w.r.decision = HOP_ANSWER;
        w.r.latency_ms = (time_now() - t0) * 1e3;
        if (st == DISR_OK) {
            job_take_local(j, &w.r, HOP_ANSWER, "forced");
            return;
        }
        atomic_fetch_add(&s->m.errors[ERR_BACKEND], 1);
        api_err(&j->err, 500, "server_error", "backend_failed", "agent %s failed: %s",
                s->c.agent->name, disr_last_error());
        return;
    }
    if (j->req.decide) { /* this agent's own decision, a reject included: nothing forwarded */
        if (node_ask_self(&w, false) == CHAIN_SKIP) {
            api_err(&j->err, 500, "server_error", "backend_failed", "agent %s failed: %s",
                    s->c.agent->name, w.err);
        } else if (w.r.decision != HOP_ANSWER) {
            snprintf(j->content, sizeof j->content, "%s", w.r.gen.text);
            snprintf(j->finish, sizeof j->finish, "%s", w.r.gen.truncated ? "length" : "stop");
        }
        return;
    }
    bool can_forward = s->c.n_next > 0 && j->hops + 1 < s->c.max_hops;
    int n = 1 + (can_forward ? s->c.n_next : 0);
    static const struct chain_ops ops = {.ask = node_ask, .force = node_force};
    struct chain_outcome o;
    int st = chain_walk(n, &ops, &w, &o);
    if (w.tf > 0 && !w.forwarded) histogram_observe(&s->m.forward_seconds, time_now() - w.tf);
    if (st == DISR_OK) return;
    if (n == 1 && w.self_failed) {
        api_err(&j->err, 500, "server_error", "backend_failed", "agent %s failed: %s",
                s->c.agent->name, w.err);
        return;
    }
    atomic_fetch_add(&s->m.errors[ERR_BACKEND], 1);
    api_err(&j->err, 502, "server_error", "no_agent_available", "no agent could answer: %s", w.err);
}

static void job_free(struct job *j) {
    chat_request_free(&j->req);
    free(j);
}

/* The job's answer as the API describes it (borrows the job's strings). */
static struct chat_reply job_reply(const struct job *j) {
    return (struct chat_reply){.id = j->id,
                               .model = j->req.model,
                               .created = j->created,
                               .content = j->content,
                               .finish_reason = j->finish,
                               .prompt_tokens = j->prompt_tokens,
                               .completion_tokens = j->completion_tokens,
                               .trace = &j->trace,
                               .alpha = j->req.alpha,
                               .n_logprob = j->n_logprob,
                               .token_logprob = j->token_logprob,
                               .token_end = j->token_end};
}

static char *job_reply_json(struct job *j) {
    struct chat_reply r = job_reply(j);
    return api_chat_reply_json(&r);
}

static void *stream_worker(void *arg) {
    struct job *j = arg;
    job_run(j);
    struct chat_reply r = job_reply(j);
    if (j->err.status) {
        char *e = api_error_json(&j->err);
        if (e) {
            stream_put(j->stream, "data: ", 6, false);
            stream_put(j->stream, e, strlen(e), false);
            stream_put(j->stream, "\n\n", 2, false);
        }
        free(e);
    } else {
        char *ev = api_chat_chunk_sse(&r, NULL, !j->sent_first, true);
        if (ev) stream_put(j->stream, ev, strlen(ev), false);
        free(ev);
    }
    static const char done[] = "data: [DONE]\n\n";
    stream_put(j->stream, done, sizeof done - 1, true);
    stream_unref(j->stream);
    struct server *s = j->srv;
    job_free(j);
    atomic_fetch_sub(&s->workers, 1);
    return NULL;
}

/* ---------------------------------------------------------------- HTTP plumbing */

struct conn {
    struct strbuf body;
    bool too_large;
    bool counted;
};

static enum MHD_Result send_text(struct MHD_Connection *c, int status, const char *ctype,
                                 char *text /* owned */) {
    if (!text) {
        static const char oom[] =
            "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"code\":null}}";
        struct MHD_Response *r =
            MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Content-Type", "application/json");
        enum MHD_Result ret = MHD_queue_response(c, 500, r);
        MHD_destroy_response(r);
        return ret;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", ctype);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_error(struct server *s, struct MHD_Connection *c,
                                  const struct api_error *e, enum metric_error kind) {
    atomic_fetch_add(&s->m.errors[kind], 1);
    return send_text(c, e->status, "application/json", api_error_json(e));
}

static bool secure_eq(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

static bool client_key_ok(struct server *s, struct MHD_Connection *c) {
    if (s->c.n_api_keys == 0) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) return false;
    bool ok = false;
    for (int i = 0; i < s->c.n_api_keys; i++)
        ok |= secure_eq(h + 7, s->c.api_keys[i]);
    return ok;
}

static bool path_has(const char *path, const char *name) {
    size_t n = strlen(name);
    for (const char *p = path; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

static enum MHD_Result handle_chat(struct server *s, struct MHD_Connection *c, struct conn *cs) {
    struct api_error e = {0};
    atomic_fetch_add(&s->m.requests, 1);
    const char *h_hops = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Disr-Hops");
    const char *h_path = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Disr-Path");
    const char *h_sec = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Disr-Hop-Secret");
    bool is_hop = h_hops || h_path;
    bool hop_trusted = is_hop && (!s->c.hop_secret || (h_sec && secure_eq(h_sec, s->c.hop_secret)));
    if (is_hop && !hop_trusted) {
        api_err(&e, 403, "permission_error", "forged_hop",
                "hop headers without the right hop secret are refused");
        return send_error(s, c, &e, ERR_AUTH);
    }
    if (!(hop_trusted && s->c.hop_secret) && !client_key_ok(s, c)) {
        api_err(&e, 401, "authentication_error", "invalid_api_key",
                "missing or invalid API key (Authorization: Bearer ...)");
        return send_error(s, c, &e, ERR_AUTH);
    }
    if (cs->too_large) {
        api_err(&e, 413, "invalid_request_error", "request_too_large",
                "request body over the %zu-byte limit", s->c.max_body);
        return send_error(s, c, &e, ERR_TOO_LARGE);
    }
    struct job *j = calloc(1, sizeof *j);
    if (!j) return send_text(c, 500, "application/json", NULL);
    j->srv = s;
    j->trace.answerer = -1;
    if (hop_trusted) {
        char *end = NULL;
        long hops = h_hops ? strtol(h_hops, &end, 10) : 0;
        if ((h_hops && (end == h_hops || *end)) || hops < 0 || hops > 1000 ||
            (h_path && strlen(h_path) >= sizeof j->path)) {
            free(j);
            api_err(&e, 400, "invalid_request_error", "bad_hop_header",
                    "malformed X-Disr-Hops/Path");
            return send_error(s, c, &e, ERR_BAD_REQUEST);
        }
        j->hops = (int)hops;
        snprintf(j->path, sizeof j->path, "%s", h_path ? h_path : "");
        if (path_has(j->path, s->c.agent->name) || j->hops >= s->c.max_hops) {
            free(j);
            api_err(&e, 508, "invalid_request_error", "loop_detected",
                    "agent %s is already on this query's path, or the hop limit is reached",
                    s->c.agent->name);
            return send_error(s, c, &e, ERR_LOOP);
        }
    }
    int st = api_parse_chat(cs->body.p, cs->body.n, &s->c.limits, &j->req, &e);
    if (st) {
        free(j);
        return send_error(s, c, &e,
                          e.status == 404   ? ERR_NOT_FOUND
                          : e.status == 413 ? ERR_TOO_LARGE
                                            : ERR_BAD_REQUEST);
    }
    snprintf(j->id, sizeof j->id, "chatcmpl-%llx-%lx", (unsigned long long)s->started,
             atomic_fetch_add(&s->next_id, 1));
    j->created = (int64_t)time(NULL);
    double t0 = time_now();
    atomic_fetch_add(&s->m.in_flight, 1);
    if (!j->req.stream) {
        job_run(j);
        enum MHD_Result ret;
        if (j->err.status) {
            ret = send_text(c, j->err.status, "application/json", api_error_json(&j->err));
        } else {
            ret = send_text(c, 200, "application/json", job_reply_json(j));
        }
        histogram_observe(&s->m.request_seconds, time_now() - t0);
        atomic_fetch_sub(&s->m.in_flight, 1);
        job_free(j);
        return ret;
    }
    /* The worker may finish and free j before the response is made: keep the stream here
     * (it holds a reference for the response). */
    struct stream *stream = j->stream = stream_new();
    pthread_t th;
    atomic_fetch_add(&s->workers, 1);
    if (!j->stream || pthread_create(&th, NULL, stream_worker, j)) {
        atomic_fetch_sub(&s->workers, 1);
        free(j->stream);
        job_free(j);
        atomic_fetch_sub(&s->m.in_flight, 1);
        return send_text(c, 500, "application/json", NULL);
    }
    pthread_detach(th);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read,
                                                               stream, stream_closed);
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    /* streamed requests are counted when they start; their duration is the decision's */
    histogram_observe(&s->m.request_seconds, time_now() - t0);
    atomic_fetch_sub(&s->m.in_flight, 1);
    return ret;
}

static char *health_json(struct server *s) {
    char *buf = malloc(512 + 1100);
    if (!buf) return NULL;
    int n = snprintf(buf, 512,
                     "{\"status\":\"ok\",\"agent\":\"%s\",\"cost\":%g,\"mode\":\"%s\",\"backend\":"
                     "\"%s\",\"next\":[",
                     s->c.agent->name, s->c.agent->cost, agent_mode_name(s->c.agent->mode),
                     s->c.agent->backend->ops->kind);
    for (int i = 0; i < s->c.n_next && n < 1500; i++)
        n += snprintf(buf + n, (size_t)(1600 - n), "%s\"%.200s\"", i ? "," : "", s->c.next[i]);
    snprintf(buf + n, (size_t)(1612 - n), "]}");
    return buf;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    (void)version;
    struct server *s = cls;
    struct conn *cs = *con_cls;
    if (!cs) {
        cs = calloc(1, sizeof *cs);
        if (!cs) return MHD_NO;
        *con_cls = cs;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->c.max_body) {
            struct api_error e;
            atomic_fetch_add(&s->m.requests, 1);
            api_err(&e, 413, "invalid_request_error", "request_too_large",
                    "request body over the %zu-byte limit", s->c.max_body);
            return send_error(s, c, &e, ERR_TOO_LARGE);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (cs->too_large || cs->body.n + n > s->c.max_body) {
            cs->too_large = true;
            return MHD_YES;
        }
        return strbuf_put(&cs->body, upload, n) == DISR_OK ? MHD_YES : MHD_NO;
    }
    struct api_error e;
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/health") && get)
        return send_text(c, 200, "application/json", health_json(s));
    if (!strcmp(url, "/metrics") && get)
        return send_text(c, 200, "text/plain; version=0.0.4",
                         metrics_render(&s->m, s->c.agent->name));
    if (!strcmp(url, "/v1/models") && get) {
        if (!client_key_ok(s, c)) {
            api_err(&e, 401, "authentication_error", "invalid_api_key",
                    "missing or invalid API key");
            return send_error(s, c, &e, ERR_AUTH);
        }
        return send_text(c, 200, "application/json", api_models_json(s->c.agent->name));
    }
    if (!strcmp(url, "/v1/chat/completions") || !strcmp(url, "/chat/completions")) {
        if (post) return handle_chat(s, c, cs);
        api_err(&e, 405, "invalid_request_error", "method_not_allowed", "use POST");
        return send_error(s, c, &e, ERR_NOT_FOUND);
    }
    api_err(&e, 404, "invalid_request_error", "not_found", "no such endpoint: %.100s %.200s",
            method, url);
    return send_error(s, c, &e, ERR_NOT_FOUND);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)c, (void)toe;
    struct conn *cs = *con_cls;
    if (!cs) return;
    strbuf_free(&cs->body);
    free(cs);
    *con_cls = NULL;
}

int server_start(struct server **out, const struct server_config *c) {
    if (!c->agent || !c->agent->backend) return disr_fail(DISR_E_ARG, "server: no agent");
    if (c->port < 0 || c->port > 65535)
        return disr_fail(DISR_E_RANGE, "port %d out of range", c->port);
    if (strchr(c->agent->name, ',') || !c->agent->name[0])
        return disr_fail(DISR_E_ARG, "agent name must be non-empty and contain no comma");
    struct server *s = calloc(1, sizeof *s);
    if (!s) return disr_fail(DISR_E_NOMEM, "server: out of memory");
    s->c = *c;
    if (!s->c.max_body) s->c.max_body = 1 << 20;
    if (!s->c.max_hops) s->c.max_hops = 8;
    if (!s->c.hop_timeout_ms) s->c.hop_timeout_ms = 30000;
    if (!s->c.connect_timeout_ms) s->c.connect_timeout_ms = 500;
    if (!s->c.max_connections) s->c.max_connections = 1024;
    if (!s->c.conn_timeout_s) s->c.conn_timeout_s = 10;
    metrics_init(&s->m);
    s->started = (int64_t)time(NULL);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    const char *host = c->host ? c->host : "127.0.0.1";
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        free(s);
        return disr_fail(DISR_E_ARG, "host '%s' is not an IPv4 address", host);
    }
    s->d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->c.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)s->c.conn_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!s->d) {
        free(s);
        return disr_fail(DISR_E_NET, "cannot listen on %s:%d (port in use?)", host, c->port);
    }
    *out = s;
    return DISR_OK;
}

int server_port(const struct server *s) {
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : -1;
}

const struct metrics *server_metrics(const struct server *s) {
    return &s->m;
}

void server_stop(struct server *s) {
    if (!s) return;
    MHD_stop_daemon(s->d);
    /* closed connections make the workers' clients "gone"; they finish their current step */
    while (atomic_load(&s->workers) > 0) {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    free(s);
}
