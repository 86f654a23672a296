/* zoo.h: the agent family, trained from scratch on a world (`disr zoo`). K agents of sizes
 * rising ~4-5x each, costs 0.1 + 0.8 i/(K-1), each pretrained on the world's pretraining stream
 * (packed windows, no padding), saved as GGUF (with `disr.cost` in its metadata) and scored on
 * the world's in-domain and OOD test sets with world_score_engine.
 *
 * Resumable: the manifest (zoo.json) is rewritten after every finished agent, and an agent in
 * progress checkpoints every tenth of its steps, so an interrupted run continues where it
 * stopped. The manifest is what later stages read (self-awareness training, serve, eval). */
#ifndef TRAIN_ZOO_H
#define TRAIN_ZOO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "world/score.h"
#include "world/world.h"

#define ZOO_MAX_AGENTS 8
#define ZOO_MANIFEST   "zoo.json"

/* Size and training budget of one agent. */
struct zoo_size {
    int n_embd, n_layer, n_head, n_ff;
    int steps; /* optimizer steps of batch x seq tokens */
    float lr;  /* peak learning rate */
};

struct zoo_config {
    const char *world_dir; /* from `disr world` */
    const char *out_dir;   /* agents, checkpoints and the manifest */
    int n_agents;          /* 1 .. ZOO_MAX_AGENTS (default 4) */
    enum world_size preset;
    int batch, seq;      /* training micro-batch (default 8 x 128) */
    double steps_scale;  /* multiplies every agent's steps (1 = the preset) */
    float prompt_weight; /* loss weight of the stream's questions (answers and statements: 1) */
    int only;            /* train only agent `only` (-1 = all) */
    bool rescore;        /* score already trained agents again on the world's current test sets */
    int threads;         /* compute threads for training and scoring; 0 = all cores */
    uint64_t seed;
};

/* The preset: 4 agents of the given size class, its batch (8 x 128 by default), seed 1. */
void zoo_config_default(struct zoo_config *c, enum world_size preset);

/* The size of agent i of n for a preset (the last n entries of the preset's ladder). */
int zoo_agent_size(enum world_size preset, int i, int n, struct zoo_size *out);

/* One agent as recorded in the manifest. */
struct zoo_agent {
    char name[32]; /* "agent0" .. */
    char file[64]; /* GGUF file name, relative to the manifest's directory */
    struct model_config config;
    size_t n_params;
    double cost;
    int64_t train_tokens;
    int train_steps;
    double train_seconds;
    double train_tokens_per_s; /* this machine's training speed on this shape (0: not recorded) */
    float final_loss;
    struct score_result test, ood; /* forced-answer accuracy per family */
};

struct zoo_manifest {
    char world[512]; /* the world directory the family was trained on */
    int n;
    struct zoo_agent agent[ZOO_MAX_AGENTS];
};

/* Trains every agent not finished yet and writes the manifest; `out` (may be NULL) receives
 * the final manifest. */
int zoo_run(const struct zoo_config *c, struct zoo_manifest *out);

/* Reads / writes zoo.json (atomic write). Load fails with a clear message on a malformed
 * manifest; an absent file is DISR_E_NOTFOUND. */
int zoo_manifest_load(const char *path, struct zoo_manifest *m);
int zoo_manifest_save(const struct zoo_manifest *m, const char *path);

/* The agent's cost in a chain of n: 0.1 + 0.8 i/(n-1) (0.1 when n = 1). */
double zoo_cost(int i, int n);

#endif
