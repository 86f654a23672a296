/* rng.h: the project's only random source. xoshiro256** seeded through splitmix64, so that a
 * seed reproduces a world, a training run or a sample byte for byte on every machine. */
#ifndef CORE_RNG_H
#define CORE_RNG_H

#include <stdint.h>

struct rng {
    uint64_t s[4];
};

void rng_init(struct rng *r, uint64_t seed);
uint64_t rng_next_u64(struct rng *r);
/* Uniform integer in [0, n); n > 0. Unbiased (rejection). */
uint64_t rng_below(struct rng *r, uint64_t n);
/* Uniform float in [0, 1). */
float rng_uniform(struct rng *r);
/* Standard normal (Box-Muller). */
float rng_normal(struct rng *r);
/* Derives an independent stream from a parent seed and a label (e.g. agent index, step). */
uint64_t rng_derive_seed(uint64_t seed, uint64_t label);

#endif
