/* world.h: the built-in synthetic world, generated deterministically from a seed: the same seed
 * and config give the same files byte for byte on every machine (all randomness comes from
 * core/rng through per-split derived seeds, so one split's size never changes another split).
 *
 * The world is a set of entities with pronounceable names ("Bavoki"), each with a capital city,
 * a color, an animal and a friend (another entity). Entity i has exposure rank i: in the
 * pretraining stream it is mentioned with probability ~ (i+1)^-zipf, so head facts are learned
 * early and tail facts late or never; which ones a given agent knows is idiosyncratic, which is
 * what self-routing exploits. Even-ranked entities serve the self-awareness training queries,
 * odd-ranked ones the test sets (disjoint, same exposure profile, all seen in pretraining).
 *
 * In-domain families, several phrasings each: fact, mc (4 options, answer a letter), add (1-4
 * digits), read (copy the answer from a passage in the query), hop (attribute of the friend),
 * sort (3-8 letters).
 *
 * Every query has a difficulty level, 1 (easy) to WORLD_LEVELS (hard), so each agent of a family
 * has a zone of competence: the queries a small agent declines are harder ones a larger agent
 * solves. Entity families take the level of their entity's exposure bucket (ranks [0, N/8),
 * [N/8, N/4), [N/4, N/2), [N/2, N): head facts are seen often, tail facts rarely; a friend is
 * always in its entity's bucket, so a two-hop question is as hard as its entity); add takes the
 * digits of its larger operand, sort its letters (3, 4, 5-6, 7-8), read the statements in its
 * passage (1-4), readlong the people in its passage (1-4, two statements each). Out-of-domain
 * families, never seen as formats: mchop (multiple choice over two-hop questions), readlong
 * (passages with two attributes per person and more people), distract (a fact question after a
 * passage that does not answer it), and secret (an attribute that never appears anywhere: nobody
 * can answer, so it shows what rejecting saves). */
#ifndef WORLD_WORLD_H
#define WORLD_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "world/dataset.h"

/* File names inside a world directory (written by world_write, read by the zoo and eval). */
#define WORLD_FILE_PRETRAIN "pretrain.txt"
#define WORLD_FILE_SA_TRAIN "sa_train.jsonl"
#define WORLD_FILE_TEST     "test.jsonl"
#define WORLD_FILE_OOD      "ood.jsonl"
#define WORLD_FILE_ANCHORS  "anchors.jsonl"
#define WORLD_FILE_META     "world.json"

enum world_family {
    FAM_FACT,
    FAM_MC,
    FAM_ADD,
    FAM_READ,
    FAM_HOP,
    FAM_SORT, /* in-domain */
    FAM_MCHOP,
    FAM_READLONG,
    FAM_DISTRACT,
    FAM_SECRET, /* out-of-domain */
    FAM_COUNT
};
#define FAM_N_IN_DOMAIN 6

#define WORLD_LEVELS 4 /* difficulty levels 1 .. WORLD_LEVELS */

/* ANCHORS: in-domain queries over all entities at their pretraining exposure, for the
 * self-awareness SFT's forced-answer anchors (it replays the agent's own answers to them and
 * never reads their keys), so fine-tuning on the SA entities does not overwrite what the agent
 * knows of the others (docs/SELF_AWARENESS.md, "Forced-answer anchors"). */
enum world_split {
    WORLD_SPLIT_SA_TRAIN = 0,
    WORLD_SPLIT_TEST = 1,
    WORLD_SPLIT_OOD = 2,
    WORLD_SPLIT_ANCHORS = 3
};

enum world_size { WORLD_QUICK = 0, WORLD_DEFAULT = 1, WORLD_FULL = 2 };

struct world_config {
    uint64_t seed;
    int n_entities;        /* 16 .. 5000 (each difficulty level needs entities in both halves) */
    double zipf;           /* exposure exponent of entities in pretraining (~0.9) */
    double query_zipf;     /* entity distribution of SA / test queries (0 = uniform) */
    long pretrain_chars;   /* size of the pretraining stream, in bytes (= char tokens) */
    double statement_frac; /* share of the stream that is fact statements (rest: QA examples) */
    double lookup_frac;    /* share of the QA examples that are lookup drills (stream only) */
    int mc_shuffled;       /* 0: mc options sorted, one per alphabetical quarter (the default);
                              1: four random values in random order (see docs/WORLD.md) */
    double qa_mix[FAM_N_IN_DOMAIN]; /* relative weight of each in-domain family in the stream */
    double level_mix[WORLD_LEVELS]; /* relative weight of each difficulty level in the query
                                       splits and in the stream's add, read and sort examples */
    int n_sa;                       /* self-awareness training queries per in-domain family */
    int n_test;                     /* in-domain test queries per family */
    int n_ood;                      /* out-of-domain test queries per family */
    int n_anchors; /* anchor queries per in-domain family, about every entity: what SA training
                      replays so the agent keeps what it knew (docs/SELF_AWARENESS.md) */
};

/* The presets: quick (tests, ~1 minute family), default (the 20-minute family), full. */
void world_config_preset(struct world_config *c, enum world_size size, uint64_t seed);
int world_config_validate(const struct world_config *c);

/* "fact", "mc", ...; and the reverse (-1 if unknown). */
const char *world_family_name(enum world_family f);
int world_family_parse(const char *name);

/* Difficulty level (1 .. WORLD_LEVELS) of the entity of exposure rank `rank` in a world of n
 * entities: its bucket, [0, n/8), [n/8, n/4), [n/4, n/2), [n/2, n) (at least two ranks each). */
int world_rank_level(int rank, int n_entities);

struct world;

int world_build(struct world **out, const struct world_config *c);
void world_free(struct world *w);
const struct world_config *world_config_of(const struct world *w);

/* The pretraining stream: fact statements (one per line) and QA examples in the built-in
 * agent's prompt format with the scenario slot '-' ("[-] Q: <query>\n[-] A: <answer>\n"), mixed,
 * about cfg.pretrain_chars bytes. *text is malloc'd and NUL-terminated. */
int world_pretrain_text(const struct world *w, char **text, size_t *len);

/* One split as graded queries, appended to an initialized set. */
int world_split(const struct world *w, enum world_split split, struct qa_set *out);

/* Writes every file of the world into dir (created if missing). */
int world_write(const struct world *w, const char *dir);

#endif
