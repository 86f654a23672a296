/* pool.h: the one persistent compute thread pool. A job is `n_chunks` independent pieces of
 * work; the caller and the workers claim chunks from an atomic counter until none are left, so
 * a slower core simply takes fewer chunks (the two vCPUs here run at different speeds, fixed
 * halves lose). Between jobs the workers spin briefly and then sleep on a condition variable:
 * a decode step issues ~100 jobs a few microseconds apart, and waking a sleeping thread for each
 * one costs more than the job (the libgomp passive-wait collapse seen on this machine).
 *
 * One caller at a time: pool_run is not reentrant and must not be called from inside a job. */
#ifndef CORE_POOL_H
#define CORE_POOL_H

struct pool;

/* fn(ctx, chunk, thread): chunk in [0, n_chunks), thread in [0, pool_size) (0 = the caller), so
 * a job can index per-thread scratch without locking. */
typedef void (*pool_fn)(void *ctx, int chunk, int thread);

/* n_threads counts the caller; 0 = pool_default_threads(). Fails only on resource exhaustion. */
int pool_init(struct pool **out, int n_threads);
/* Cores in this process's affinity mask (every online core when it cannot be read). */
int pool_default_threads(void);
void pool_free(struct pool *p);
int pool_size(const struct pool *p);

/* Runs fn over every chunk and returns when all are done. A NULL pool runs them inline. */
void pool_run(struct pool *p, int n_chunks, pool_fn fn, void *ctx);

/* How long idle workers spin before sleeping, in microseconds (default 1000). 0 = sleep at once
 * (for a server that wants to leave the core to I/O between bursts). */
void pool_set_spin_us(struct pool *p, int spin_us);

#endif
