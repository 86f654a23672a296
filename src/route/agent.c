#include "route/agent.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "route/chain.h"

const char *agent_mode_name(enum agent_mode m) {
    switch (m) {
    case AGENT_TRAINED:
        return "trained";
    case AGENT_CONFIDENCE:
        return "confidence";
    case AGENT_ALWAYS:
        return "always";
    }
    return "?";
}

int agent_mode_parse(const char *s) {
    for (int m = AGENT_TRAINED; m <= AGENT_ALWAYS; m++)
        if (!strcmp(s, agent_mode_name((enum agent_mode)m))) return m;
    return -1;
}

static const char *const hop_names[] = {"answer", "reject", "skipped", "fallback"};

const char *hop_decision_name(enum hop_decision d) {
    return (d >= HOP_ANSWER && d <= HOP_FALLBACK) ? hop_names[d] : "?";
}

int hop_decision_parse(const char *s) {
    for (int d = HOP_ANSWER; d <= HOP_FALLBACK; d++)
        if (!strcmp(s, hop_names[d])) return d;
    return -1;
}

/* Trained mode watches the output as it grows: while it is a proper prefix of the reject text
 * nothing is known; once it contains the whole reject text it is a reject (stop generating);
 * once it departs from it, it is an answer, and from then on pieces go to the caller. */
struct prefix_watch {
    const struct agent_query *q;
    char seen[64];
    size_t n_seen;
    int decided; /* 0 undecided, 1 answer, 2 reject */
};

static int watch_text(void *ctx, const char *piece, size_t len) {
    struct prefix_watch *w = ctx;
    if (w->decided == 1)
        return w->q->on_answer_text ? w->q->on_answer_text(w->q->ctx, piece, len) : 0;
    if (w->decided == 2) return 1;
    size_t take = len < sizeof w->seen - 1 - w->n_seen ? len : sizeof w->seen - 1 - w->n_seen;
    memcpy(w->seen + w->n_seen, piece, take);
    w->n_seen += take;
    w->seen[w->n_seen] = '\0';
    enum reject_state st = scenario_reject_state(w->seen);
    if (st == REJECT_STATE_PENDING && take == len) return 0; /* undecided */
    if (st == REJECT_STATE_REJECT) {
        w->decided = 2;
        return 1;
    }
    w->decided = 1;
    if (!w->q->on_answer_text) return 0;
    int stop = w->q->on_answer_text(w->q->ctx, w->seen, w->n_seen);
    if (!stop && take < len) stop = w->q->on_answer_text(w->q->ctx, piece + take, len - take);
    return stop;
}

static int gen_forced(const struct agent *a, const struct agent_query *q, struct agent_result *out,
                      int (*cb)(void *, const char *, size_t), void *ctx) {
    struct gen_request rq = {.query = q->query,
                             .scenario = SCENARIO_NONE,
                             .max_tokens = q->max_tokens,
                             .temperature = 0,
                             .seed = q->seed,
                             .on_text = cb,
                             .ctx = ctx};
    return backend_generate(a->backend, &rq, &out->gen);
}

int agent_answer_forced(const struct agent *a, const struct agent_query *q,
                        struct agent_result *out) {
    double t0 = time_now();
    out->confidence = -1;
    DISR_TRY(gen_forced(a, q, out, q->on_answer_text, q->ctx));
    out->decision = HOP_ANSWER;
    out->latency_ms = (time_now() - t0) * 1e3;
    return DISR_OK;
}

int agent_decide(const struct agent *a, const struct agent_query *q, struct agent_result *out) {
    if (!q->query || q->alpha < 0 || q->alpha > 1)
        return disr_fail(DISR_E_ARG, "agent %s: query missing or alpha outside [0, 1]", a->name);
    double t0 = time_now();
    out->confidence = -1;
    switch (a->mode) {
    case AGENT_ALWAYS:
        return agent_answer_forced(a, q, out);
    case AGENT_CONFIDENCE: {
        /* the whole answer is needed for its probability, so nothing streams before the end */
        DISR_TRY(gen_forced(a, q, out, NULL, NULL));
        if (!out->gen.has_logprob)
            return disr_fail(DISR_E_UNSUPPORTED,
                             "agent %s: backend gives no log probabilities (confidence mode)",
                             a->name);
        out->confidence = exp(out->gen.sum_logprob);
        out->decision = out->confidence > scenario_threshold(q->alpha) ? HOP_ANSWER : HOP_REJECT;
        if (out->decision == HOP_ANSWER && q->on_answer_text && out->gen.text[0])
            q->on_answer_text(q->ctx, out->gen.text, strlen(out->gen.text));
        break;
    }
    case AGENT_TRAINED: {
        struct prefix_watch w = {.q = q};
        struct gen_request rq = {.query = q->query,
                                 .scenario = scenario_from_alpha(q->alpha),
                                 .max_tokens = q->max_tokens,
                                 .temperature = q->temperature,
                                 .seed = q->seed,
                                 .on_text = watch_text,
                                 .ctx = &w};
        DISR_TRY(backend_generate(a->backend, &rq, &out->gen));
        out->decision =
            scenario_output_rejects(out->gen.text, out->gen.truncated) ? HOP_REJECT : HOP_ANSWER;
        /* a short answer that never left the reject prefix ("I don") was never flushed */
        if (out->decision == HOP_ANSWER && w.decided == 0 && q->on_answer_text && w.n_seen)
            q->on_answer_text(q->ctx, w.seen, w.n_seen);
        break;
    }
    default:
        return disr_fail(DISR_E_ARG, "agent %s: unknown mode %d", a->name, (int)a->mode);
    }
    out->latency_ms = (time_now() - t0) * 1e3;
    return DISR_OK;
}

int route_trace_add(struct route_trace *t, const char *agent, enum hop_decision d,
                    double latency_ms, double cost, const char *note) {
    if (t->n >= ROUTE_MAX_HOPS) return -1;
    struct hop *h = &t->hops[t->n];
    snprintf(h->agent, sizeof h->agent, "%s", agent ? agent : "");
    h->decision = d;
    h->latency_ms = latency_ms;
    h->cost = cost;
    snprintf(h->note, sizeof h->note, "%s", note ? note : "");
    return t->n++;
}

static void chain_finish(struct chain_result *out, const struct agent *a, int idx,
                         const struct agent_result *r, enum hop_decision d) {
    int h = route_trace_add(&out->trace, a->name, d, r->latency_ms, a->cost,
                            d == HOP_FALLBACK ? "no later agent reachable" : "");
    out->trace.answerer = h;
    snprintf(out->answer, sizeof out->answer, "%s", r->gen.text);
    out->cost = a->cost;
    out->answerer = idx;
    out->n_tokens += r->gen.n_tokens;
}

/* The in-process chain: hop i is agents[i], asked directly. */
struct run_walk {
    struct agent *const *agents;
    const struct agent_query *q;
    struct chain_result *out;
    struct agent_result r;
};

static int run_ask(void *ctx, int i, bool last) {
    struct run_walk *w = ctx;
    const struct agent *a = w->agents[i];
    if (agent_decide(a, w->q, &w->r) < 0) {
        route_trace_add(&w->out->trace, a->name, HOP_SKIPPED, 0, a->cost, disr_last_error());
        return CHAIN_SKIP;
    }
    if (w->r.decision == HOP_ANSWER) {
        chain_finish(w->out, a, i, &w->r, HOP_ANSWER);
        return CHAIN_ANSWER;
    }
    if (!last) { /* the last agent's reject becomes its forced answer, one hop */
        w->out->n_tokens += w->r.gen.n_tokens;
        route_trace_add(&w->out->trace, a->name, HOP_REJECT, w->r.latency_ms, a->cost, "");
    }
    return CHAIN_REJECT;
}

static int run_force(void *ctx, int i, bool fallback) {
    struct run_walk *w = ctx;
    const struct agent *a = w->agents[i];
    double lat = fallback ? 0 : w->r.latency_ms; /* the last agent's time to reject counts */
    int st = agent_answer_forced(a, w->q, &w->r);
    if (st < 0) {
        if (!fallback)
            route_trace_add(&w->out->trace, a->name, HOP_SKIPPED, 0, a->cost, disr_last_error());
        return st;
    }
    w->r.latency_ms += lat;
    chain_finish(w->out, a, i, &w->r, fallback ? HOP_FALLBACK : HOP_ANSWER);
    return DISR_OK;
}

int chain_run(struct agent *const *agents, int n, const struct agent_query *q,
              struct chain_result *out) {
    memset(out, 0, sizeof *out);
    out->trace.answerer = -1;
    out->answerer = -1;
    struct run_walk w = {.agents = agents, .q = q, .out = out};
    static const struct chain_ops ops = {.ask = run_ask, .force = run_force};
    struct chain_outcome o;
    return chain_walk(n, &ops, &w, &o);
}
