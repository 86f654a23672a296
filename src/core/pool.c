#include "core/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
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

    /* The current job. Written by the caller before `generation` is bumped (release), read by
     * workers after they observe the bump (acquire). */
    pool_fn fn;
    void *ctx;
    int n_chunks;
    atomic_int next_chunk;
    atomic_int n_finished; /* workers done with the current generation */

    atomic_uint generation; /* bumped once per job */
    atomic_bool stop;
    atomic_int spin_us;

    pthread_mutex_t lock; /* guards sleeping on `wake` only */
    pthread_cond_t wake;
    int n_sleeping;
};

static void run_chunks(struct pool *p, int thread) {
    int n = p->n_chunks;
    for (;;) {
        int c = atomic_fetch_add_explicit(&p->next_chunk, 1, memory_order_relaxed);
        if (c >= n) break;
        p->fn(p->ctx, c, thread);
    }
}

/* Waits until the generation differs from `seen`: spin for the configured time, then sleep. */
static unsigned wait_generation(struct pool *p, unsigned seen) {
    unsigned g = atomic_load_explicit(&p->generation, memory_order_acquire);
    if (g != seen) return g;
    int spin_us = atomic_load_explicit(&p->spin_us, memory_order_relaxed);
    if (spin_us > 0) {
        double deadline = time_now() + spin_us * 1e-6;
        for (int i = 1;; i++) {
            cpu_relax();
            g = atomic_load_explicit(&p->generation, memory_order_acquire);
            if (g != seen || atomic_load_explicit(&p->stop, memory_order_relaxed)) return g;
            if ((i & 255) == 0 && time_now() > deadline) break;
        }
    }
    pthread_mutex_lock(&p->lock);
    p->n_sleeping++;
    while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
           !atomic_load_explicit(&p->stop, memory_order_relaxed))
        pthread_cond_wait(&p->wake, &p->lock);
    p->n_sleeping--;
    pthread_mutex_unlock(&p->lock);
    return g;
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    struct pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_generation(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
        run_chunks(p, w->index);
        atomic_fetch_add_explicit(&p->n_finished, 1, memory_order_release);
    }
    return NULL;
}

int pool_init(struct pool **out, int n_threads) {
    *out = NULL;
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    if (n_threads > POOL_MAX_THREADS)
        return disr_fail(DISR_E_ARG, "pool: %d threads (at most %d)", n_threads, POOL_MAX_THREADS);
    struct pool *p = calloc(1, sizeof *p);
    if (!p) return disr_fail(DISR_E_NOMEM, "pool: out of memory");
    p->n_threads = n_threads;
    atomic_init(&p->next_chunk, 0);
    atomic_init(&p->n_finished, 0);
    atomic_init(&p->generation, 0);
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

void pool_run(struct pool *p, int n_chunks, pool_fn fn, void *ctx) {
    if (n_chunks <= 0) return;
    /* One chunk (or no helpers): waking a worker would cost more than it saves. */
    if (!p || p->n_threads == 1 || n_chunks == 1) {
        for (int c = 0; c < n_chunks; c++)
            fn(ctx, c, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n_chunks = n_chunks;
    atomic_store_explicit(&p->next_chunk, 0, memory_order_relaxed);
    atomic_store_explicit(&p->n_finished, 0, memory_order_relaxed);
    /* Bump under the lock so a worker deciding to sleep cannot miss it; signal only sleepers. */
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    if (p->n_sleeping) pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);

    run_chunks(p, 0);

    int n_workers = p->n_threads - 1;
    for (int i = 1; atomic_load_explicit(&p->n_finished, memory_order_acquire) < n_workers; i++) {
        cpu_relax();
        /* A worker may be descheduled (the machine is shared): stop burning its core. */
        if ((i & 4095) == 0) sched_yield();
    }
}
