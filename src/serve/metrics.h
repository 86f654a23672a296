/* metrics.h: an agent node's counters and latency histograms, lock-free (atomics), rendered in
 * the Prometheus text format for GET /metrics. Names are prefixed `disr_`. */
#ifndef SERVE_METRICS_H
#define SERVE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>

enum metric_error {
    ERR_BAD_REQUEST = 0, /* invalid JSON, wrong types, bad values */
    ERR_TOO_LARGE,       /* body over the limit */
    ERR_AUTH,            /* missing/wrong API key or hop secret */
    ERR_LOOP,            /* this agent already on the path, or too many hops */
    ERR_NOT_FOUND,       /* unknown path or model */
    ERR_BACKEND,         /* the model failed */
    ERR_FORWARD,         /* a next agent was unreachable, slow or failed (it was skipped) */
    ERR_KIND_COUNT
};

#define METRIC_BUCKETS 15
struct histogram {
    atomic_ulong buckets[METRIC_BUCKETS]; /* cumulative counts are computed when rendering */
    atomic_ulong count;
    atomic_ullong sum_us;
};

struct metrics {
    atomic_ulong requests;  /* chat completions received (valid or not) */
    atomic_ulong answers;   /* answered by this agent (including fallbacks) */
    atomic_ulong rejects;   /* rejected by this agent */
    atomic_ulong forwards;  /* sent on to a next agent (each attempt) */
    atomic_ulong skips;     /* next agents skipped because they failed */
    atomic_ulong fallbacks; /* answered here because no next agent was reachable */
    atomic_ulong errors[ERR_KIND_COUNT];
    atomic_ulong prompt_tokens, completion_tokens;
    atomic_long in_flight;
    struct histogram request_seconds; /* whole request, including downstream */
    struct histogram decide_seconds;  /* this agent's own decision/answer */
    struct histogram forward_seconds; /* waiting for the downstream chain */
};

void metrics_init(struct metrics *m);
void histogram_observe(struct histogram *h, double seconds);
/* Prometheus text (malloc'd); `agent` is added as a label. */
char *metrics_render(const struct metrics *m, const char *agent);

#endif
