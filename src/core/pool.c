#include "core/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define POOL_MAX_THREADS 256

struct worker {
    struct pool *pool;
    pthread_t thread;
    int index;
};

struct pool {
    int n_threads; /* including the caller */
    struct worker *workers;

    /* The current job. fn/ctx are written by the caller before it publishes the job in
     * `state` (release) and read by a worker only after it claimed a chunk of that job. */
    pool_fn fn;
    void *ctx;
    /* job id (24 bits) | chunk count (20 bits) | next unclaimed chunk (20 bits) in one word:
     * a claim is one CAS that checks the job and the bound together, so a worker that read an
     * old job can never claim (or run) a chunk of the next one. */
    _Atomic uint64_t state;
    atomic_int n_done; /* chunks finished in the current job */
    atomic_bool stop;
    atomic_int spin_us;

    pthread_mutex_t lock; /* guards sleeping on `wake` only */
    pthread_cond_t wake;
    int n_sleeping;
};

#define STATE_BITS 20
#define STATE_MASK ((1u << STATE_BITS) - 1)
#define MAX_CHUNKS ((int)STATE_MASK)
#define JOB_MASK   0xffffffu

static uint64_t state_make(uint32_t job, uint32_t n, uint32_t next) {
    return (uint64_t)(job & JOB_MASK) << (2 * STATE_BITS) | (uint64_t)n << STATE_BITS | next;
}
static uint32_t state_job(uint64_t v) {
    return (uint32_t)(v >> (2 * STATE_BITS)) & JOB_MASK;
}

/* Claims and runs chunks of job `job` until there are none left (or another job started). The
 * caller waits for finished chunks, not for threads: a worker that is asleep or descheduled
 * (the machine is shared) never holds up a job it has not joined. */
static void run_chunks(struct pool *p, uint32_t job, int thread) {
    uint64_t v = atomic_load_explicit(&p->state, memory_order_acquire);
    for (;;) {
        uint32_t next = (uint32_t)v & STATE_MASK, n = (uint32_t)(v >> STATE_BITS) & STATE_MASK;
        if (state_job(v) != job || next >= n) return;
        if (!atomic_compare_exchange_weak_explicit(&p->state, &v, v + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        /* The job cannot change while this chunk is unfinished, so fn/ctx are this job's. */
        p->fn(p->ctx, (int)next, thread);
        atomic_fetch_add_explicit(&p->n_done, 1, memory_order_release);
        v = atomic_load_explicit(&p->state, memory_order_acquire);
    }
}

static uint32_t current_job(struct pool *p) {
    return state_job(atomic_load_explicit(&p->state, memory_order_acquire));
}

/* Waits until the job id differs from `seen`: spin for the configured time, then sleep. */
static uint32_t wait_job(struct pool *p, uint32_t seen) {
    uint32_t g = current_job(p);
    if (g != seen) return g;
    int spin_us = atomic_load_explicit(&p->spin_us, memory_order_relaxed);
    if (spin_us > 0) {
        double deadline = time_now() + spin_us * 1e-6;
        for (int i = 1;; i++) {
            cpu_relax();
            g = current_job(p);
            if (g != seen || atomic_load_explicit(&p->stop, memory_order_relaxed)) return g;
            if ((i & 255) == 0 && time_now() > deadline) break;
        }
    }
    pthread_mutex_lock(&p->lock);
    p->n_sleeping++;
    while ((g = current_job(p)) == seen && !atomic_load_explicit(&p->stop, memory_order_relaxed))
        pthread_cond_wait(&p->wake, &p->lock);
    p->n_sleeping--;
    pthread_mutex_unlock(&p->lock);
    return g;
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    struct pool *p = w->pool;
    uint32_t seen = 0;
    for (;;) {
        seen = wait_job(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
        run_chunks(p, seen, w->index);
    }
    return NULL;
}

/* The cores this process may run on: its affinity mask (taskset, cgroup cpusets), so that two
 * processes pinned to one core each do not both start a thread per core of the machine. */
int pool_default_threads(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int pool_init(struct pool **out, int n_threads) {
    *out = NULL;
    if (n_threads <= 0) n_threads = pool_default_threads();
    if (n_threads > POOL_MAX_THREADS)
        return disr_fail(DISR_E_ARG, "pool: %d threads (at most %d)", n_threads, POOL_MAX_THREADS);
    struct pool *p = calloc(1, sizeof *p);
    if (!p) return disr_fail(DISR_E_NOMEM, "pool: out of memory");
    p->n_threads = n_threads;
    atomic_init(&p->state, 0);
    atomic_init(&p->n_done, 0);
    atomic_init(&p->stop, false);
    atomic_init(&p->spin_us, 1000);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->workers) {
            pool_free(p);
            return disr_fail(DISR_E_NOMEM, "pool: out of memory");
        }
        for (int i = 0; i < n_threads - 1; i++) {
            struct worker *w = &p->workers[i];
            w->pool = p;
            w->index = i + 1;
            if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
                p->n_threads = i + 1; /* only the started ones are joined */
                pool_free(p);
                return disr_fail(DISR_E_NOMEM, "pool: cannot start thread %d of %d", i + 2,
                                 n_threads);
            }
        }
    }
    *out = p;
    return DISR_OK;
}

void pool_free(struct pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    atomic_store_explicit(&p->stop, true, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n_threads - 1 && p->workers; i++)
        pthread_join(p->workers[i].thread, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p->workers);
    free(p);
}

int pool_size(const struct pool *p) {
    return p ? p->n_threads : 1;
}

void pool_set_spin_us(struct pool *p, int spin_us) {
    if (p) atomic_store(&p->spin_us, spin_us < 0 ? 0 : spin_us);
}

struct slice_ctx {
    pool_fn fn;
    void *ctx;
    int offset;
};

static void slice_chunk(void *vctx, int chunk, int thread) {
    const struct slice_ctx *s = vctx;
    s->fn(s->ctx, s->offset + chunk, thread);
}

void pool_run(struct pool *p, int n_chunks, pool_fn fn, void *ctx) {
    if (n_chunks <= 0) return;
    /* One chunk (or no helpers): waking a worker would cost more than it saves. */
    if (!p || p->n_threads == 1 || n_chunks == 1) {
        for (int c = 0; c < n_chunks; c++)
            fn(ctx, c, 0);
        return;
    }
    if (n_chunks > MAX_CHUNKS) { /* more than the state word counts: run in slices */
        for (int off = 0; off < n_chunks; off += MAX_CHUNKS) {
            struct slice_ctx s = {fn, ctx, off};
            pool_run(p, n_chunks - off < MAX_CHUNKS ? n_chunks - off : MAX_CHUNKS, slice_chunk, &s);
        }
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->n_done, 0, memory_order_relaxed);
    uint32_t job = (current_job(p) + 1) & JOB_MASK;
    /* Publish under the lock so a worker deciding to sleep cannot miss it; signal only sleepers. */
    pthread_mutex_lock(&p->lock);
    atomic_store_explicit(&p->state, state_make(job, (uint32_t)n_chunks, 0), memory_order_release);
    if (p->n_sleeping) pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);

    run_chunks(p, job, 0);

    for (int i = 1; atomic_load_explicit(&p->n_done, memory_order_acquire) < n_chunks; i++) {
        cpu_relax();
        /* A worker holding a chunk may be descheduled: stop burning the core it needs. */
        if ((i & 1023) == 0) sched_yield();
    }
}
