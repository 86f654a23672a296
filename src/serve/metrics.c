#include "serve/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"

static const double bucket_le[METRIC_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
static const char *const error_kind[ERR_KIND_COUNT] = {"bad_request", "too_large", "auth",   "loop",
                                                       "not_found",   "backend",   "forward"};

void metrics_init(struct metrics *m) {
    memset(m, 0, sizeof *m);
}

void histogram_observe(struct histogram *h, double seconds) {
    int b = 0;
    while (b < METRIC_BUCKETS - 1 && seconds > bucket_le[b])
        b++;
    if (seconds <= bucket_le[b]) atomic_fetch_add(&h->buckets[b], 1);
    atomic_fetch_add(&h->count, 1);
    atomic_fetch_add(&h->sum_us, (unsigned long long)(seconds * 1e6));
}

static void counter(struct strbuf *b, const char *name, const char *help, const char *agent,
                    unsigned long v) {
    strbuf_printf(b, "# HELP disr_%s %s\n# TYPE disr_%s counter\ndisr_%s{agent=\"%s\"} %lu\n", name,
                  help, name, name, agent, v);
}

static void histo(struct strbuf *b, const char *name, const char *help, const char *agent,
                  const struct histogram *h) {
    strbuf_printf(b, "# HELP disr_%s %s\n# TYPE disr_%s histogram\n", name, help, name);
    unsigned long cum = 0;
    for (int i = 0; i < METRIC_BUCKETS; i++) {
        cum += atomic_load(&h->buckets[i]);
        strbuf_printf(b, "disr_%s_bucket{agent=\"%s\",le=\"%g\"} %lu\n", name, agent, bucket_le[i],
                      cum);
    }
    unsigned long count = atomic_load(&h->count);
    strbuf_printf(b, "disr_%s_bucket{agent=\"%s\",le=\"+Inf\"} %lu\n", name, agent, count);
    strbuf_printf(b, "disr_%s_sum{agent=\"%s\"} %.6f\n", name, agent,
                  atomic_load(&h->sum_us) / 1e6);
    strbuf_printf(b, "disr_%s_count{agent=\"%s\"} %lu\n", name, agent, count);
}

char *metrics_render(const struct metrics *m, const char *agent) {
    struct strbuf b = {0};
    counter(&b, "requests_total", "chat completion requests received", agent,
            atomic_load(&m->requests));
    counter(&b, "answers_total", "queries answered by this agent", agent, atomic_load(&m->answers));
    counter(&b, "rejects_total", "queries this agent rejected", agent, atomic_load(&m->rejects));
    counter(&b, "forwards_total", "forward attempts to a next agent", agent,
            atomic_load(&m->forwards));
    counter(&b, "skips_total", "next agents skipped because they failed", agent,
            atomic_load(&m->skips));
    counter(&b, "fallback_answers_total", "answered here because no next agent was reachable",
            agent, atomic_load(&m->fallbacks));
    counter(&b, "prompt_tokens_total", "prompt tokens processed", agent,
            atomic_load(&m->prompt_tokens));
    counter(&b, "completion_tokens_total", "tokens generated", agent,
            atomic_load(&m->completion_tokens));
    strbuf_printf(
        &b, "# HELP disr_errors_total requests that failed, by kind\n# TYPE disr_errors_total "
            "counter\n");
    for (int k = 0; k < ERR_KIND_COUNT; k++)
        strbuf_printf(&b, "disr_errors_total{agent=\"%s\",kind=\"%s\"} %lu\n", agent, error_kind[k],
                      atomic_load(&m->errors[k]));
    strbuf_printf(
        &b,
        "# HELP disr_requests_in_flight requests being handled\n# TYPE disr_requests_in_flight "
        "gauge\ndisr_requests_in_flight{agent=\"%s\"} %ld\n",
        agent, atomic_load(&m->in_flight));
    histo(&b, "request_seconds", "time to serve a chat completion", agent, &m->request_seconds);
    histo(&b, "decide_seconds", "time of this agent's own decision", agent, &m->decide_seconds);
    histo(&b, "forward_seconds", "time waiting for the rest of the chain", agent,
          &m->forward_seconds);
    return strbuf_take(&b);
}
