#include "world/world.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/file.h"
#include "core/rng.h"
#include "world/scenario.h"

#define N_CITIES  48
#define N_COLORS  12
#define N_ANIMALS 16
#define NAME_MAX_ 16
#define TEXT_MAX  1024

/* Seed salts of the world's random streams (the seed is the world's). */
enum {
    WORLD_SALT_NAMES = 1,    /* names and entities */
    WORLD_SALT_PRETRAIN = 2, /* the pretraining text */
    WORLD_SALT_SPLIT = 3,    /* + split: each split's queries */
};

static const char *const COLORS[N_COLORS] = {"red",    "blue",   "green", "yellow",
                                             "purple", "orange", "black", "white",
                                             "pink",   "brown",  "gray",  "gold"};
static const char *const ANIMALS[N_ANIMALS] = {"cat",  "dog",  "fox",  "owl",  "bear", "wolf",
                                               "deer", "frog", "goat", "hawk", "lion", "mole",
                                               "seal", "swan", "toad", "yak"};
static const char *const FAMILY_NAMES[FAM_COUNT] = {
    "fact", "mc", "add", "read", "hop", "sort", "mchop", "readlong", "distract", "secret"};

enum attr { ATTR_CAPITAL, ATTR_COLOR, ATTR_ANIMAL, ATTR_FRIEND, ATTR_COUNT };
static const char *const ATTR_WORD[ATTR_COUNT] = {"capital", "color", "animal", "friend"};
static const char *const ATTR_WORD_UP[ATTR_COUNT] = {"Capital", "Color", "Animal", "Friend"};

struct entity {
    char name[NAME_MAX_];
    int attr[ATTR_COUNT]; /* city, color, animal index; friend entity index */
    int secret;           /* 1000..9999, never written to any training text */
};

struct world {
    struct world_config cfg;
    struct entity *ent;
    char city[N_CITIES][NAME_MAX_];
    double *cdf_all; /* pretraining exposure over all entities */
    /* Query distribution of the even (SA) / odd (test) ranks of each level's bucket: entry k is
     * rank first[h][l] + 2k. */
    double *cdf_level[2][WORLD_LEVELS];
    int first[2][WORLD_LEVELS], n_level[2][WORLD_LEVELS];
    double level_cdf[WORLD_LEVELS]; /* cumulative level_mix */
    int *alpha[ATTR_COUNT];         /* each attribute's value indices in alphabetical order */
};

const char *world_family_name(enum world_family f) {
    return (f >= 0 && f < FAM_COUNT) ? FAMILY_NAMES[f] : "?";
}

int world_family_parse(const char *name) {
    for (int f = 0; f < FAM_COUNT; f++)
        if (!strcmp(name, FAMILY_NAMES[f])) return f;
    return -1;
}

void world_config_preset(struct world_config *c, enum world_size size, uint64_t seed) {
    static const double mix[FAM_N_IN_DOMAIN] = {1.0, 1.0, 1.5, 1.0, 1.0, 1.0};
    static const double levels[WORLD_LEVELS] = {1.0, 1.0, 1.0, 1.0};
    memset(c, 0, sizeof *c);
    c->seed = seed;
    c->zipf = 0.9;
    c->query_zipf = 0.0;
    /* Fact statements are a small share: QA examples teach the same facts in the form they are
     * asked in, and under the zoo's answer-only loss a statement's every character (random
     * names included) weighs as much as an answer; at 30 % statements they took most of the
     * loss and the default agents learned almost nothing (docs/WORLD.md, "Why the
     * stream looks as it does"). */
    c->statement_frac = 0.05;
    /* A quarter of the QA examples are lookup drills: at 5000 steps of the largest agent they
     * lifted mc from its 25 % floor to 37.5 % and read from 39 to 60.5 %, at the cost of facts
     * and sums learned later (docs/WORLD.md, "Why the stream looks as it does"). */
    c->lookup_frac = 0.25;
    memcpy(c->qa_mix, mix, sizeof mix);
    memcpy(c->level_mix, levels, sizeof levels);
    switch (size) {
    case WORLD_QUICK:
        c->n_entities = 40, c->pretrain_chars = 300000;
        c->n_sa = 40, c->n_test = 30, c->n_ood = 20, c->n_anchors = 120;
        break;
    case WORLD_FULL:
        c->n_entities = 800, c->pretrain_chars = 20000000;
        c->n_sa = 1000, c->n_test = 500, c->n_ood = 300, c->n_anchors = 3000;
        break;
    default: /* 80 entities: what the 20-minute family can memorise a useful part of */
        c->n_entities = 80, c->pretrain_chars = 4000000;
        /* Anchors: three per SA query. More of them cover more of the (entity, attribute)
         * pairs whose facts SA training would otherwise overwrite (docs/SELF_AWARENESS.md,
         * "Forced-answer anchors"). */
        c->n_sa = 500, c->n_test = 200, c->n_ood = 150, c->n_anchors = 1500;
        break;
    }
}

int world_config_validate(const struct world_config *c) {
    if (c->n_entities < 16 || c->n_entities > 5000)
        return disr_fail(DISR_E_RANGE, "world: %d entities (16 .. 5000)", c->n_entities);
    if (!(c->zipf >= 0 && c->zipf <= 4) || !(c->query_zipf >= 0 && c->query_zipf <= 4))
        return disr_fail(DISR_E_RANGE, "world: Zipf exponents must be in [0, 4]");
    if (c->pretrain_chars < 0 || c->pretrain_chars > 2000000000L)
        return disr_fail(DISR_E_RANGE, "world: pretraining size %ld bytes", c->pretrain_chars);
    if (!(c->lookup_frac >= 0 && c->lookup_frac <= 1))
        return disr_fail(DISR_E_RANGE, "world: lookup share %g (0 .. 1)", c->lookup_frac);
    if (!(c->statement_frac >= 0 && c->statement_frac <= 1))
        return disr_fail(DISR_E_RANGE, "world: statement share must be in [0, 1]");
    double sum = 0;
    for (int f = 0; f < FAM_N_IN_DOMAIN; f++) {
        if (!(c->qa_mix[f] >= 0)) return disr_fail(DISR_E_RANGE, "world: negative family weight");
        sum += c->qa_mix[f];
    }
    if (sum <= 0 && c->statement_frac < 1)
        return disr_fail(DISR_E_RANGE, "world: every family weight is zero");
    sum = 0;
    for (int l = 0; l < WORLD_LEVELS; l++) {
        if (!(c->level_mix[l] >= 0 && c->level_mix[l] <= 1e6))
            return disr_fail(DISR_E_RANGE, "world: level %d weight %g (0 .. 1e6)", l + 1,
                             c->level_mix[l]);
        sum += c->level_mix[l];
    }
    if (!(sum > 0)) return disr_fail(DISR_E_RANGE, "world: every difficulty level weight is zero");
    if (c->n_sa < 0 || c->n_test < 0 || c->n_ood < 0 || c->n_anchors < 0 || c->n_sa > 1000000 ||
        c->n_test > 1000000 || c->n_ood > 1000000 || c->n_anchors > 1000000)
        return disr_fail(DISR_E_RANGE, "world: split sizes must be in [0, 1000000] per family");
    return DISR_OK;
}

const struct world_config *world_config_of(const struct world *w) {
    return &w->cfg;
}

/* ---- random helpers ---------------------------------------------------------------------- */

static double rng_double(struct rng *r) {
    return (double)(rng_next_u64(r) >> 11) * 0x1.0p-53;
}

static int pick(struct rng *r, int n) {
    return (int)rng_below(r, (uint64_t)n);
}

/* Index i with probability cdf-weight (binary search on a cumulative table of n entries). */
static int sample_cdf(struct rng *r, const double *cdf, int n) {
    double u = rng_double(r) * cdf[n - 1];
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* n distinct values in [0, m) with out[0] = first (the right answer), in random order of the
 * rest; returns the position the first value landed on after shuffling. */
static int options(struct rng *r, int m, int first, int *out, int n) {
    out[0] = first;
    for (int k = 1; k < n; k++) {
        int v, dup;
        do {
            v = pick(r, m);
            dup = 0;
            for (int j = 0; j < k; j++)
                dup |= out[j] == v;
        } while (dup);
        out[k] = v;
    }
    for (int k = n - 1; k > 0; k--) {
        int j = pick(r, k + 1), t = out[k];
        out[k] = out[j], out[j] = t;
    }
    for (int k = 0; k < n; k++)
        if (out[k] == first) return k;
    return 0;
}

/* ---- names --------------------------------------------------------------------------------- */

static const char CONS[] = "bdfgklmnprstvz";
static const char VOWS[] = "aeiou";

/* Entity names: three consonant-vowel syllables, sometimes a final n/r/l/s ("Bavoki",
 * "Telomar"). Read-passage names: two syllables ("Kato"), so they never collide with entities.
 * Cities: two syllables plus a suffix ("Lunaton"). */
static void make_name(struct rng *r, char *out, int syllables, const char *suffix) {
    int n = 0;
    for (int s = 0; s < syllables; s++) {
        out[n++] = CONS[pick(r, (int)sizeof CONS - 1)];
        out[n++] = VOWS[pick(r, (int)sizeof VOWS - 1)];
    }
    if (suffix) {
        size_t l = strlen(suffix);
        memcpy(out + n, suffix, l);
        n += (int)l;
    }
    out[n] = '\0';
    out[0] = (char)(out[0] - 'a' + 'A');
}

static int name_taken(char (*names)[NAME_MAX_], int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name)) return 1;
    return 0;
}

/* ---- values ------------------------------------------------------------------------------ */

static int attr_pool(const struct world *w, int a) {
    static const int sizes[ATTR_COUNT] = {N_CITIES, N_COLORS, N_ANIMALS, 0};
    return a == ATTR_FRIEND ? w->cfg.n_entities : sizes[a];
}

/* Value v of attribute a: a city, color or animal index, or an entity index for a friend. */
static const char *attr_value_at(const struct world *w, int a, int v) {
    switch (a) {
    case ATTR_CAPITAL:
        return w->city[v];
    case ATTR_COLOR:
        return COLORS[v];
    case ATTR_ANIMAL:
        return ANIMALS[v];
    default:
        return w->ent[v].name;
    }
}

static const char *attr_value(const struct world *w, const struct entity *e, int a) {
    return attr_value_at(w, a, e->attr[a]);
}

/* ---- build --------------------------------------------------------------------------------- */

static double *zipf_cdf(int n, double s, int stride, int offset) {
    double *cdf = malloc((size_t)n * sizeof *cdf);
    if (!cdf) return NULL;
    double acc = 0;
    for (int i = 0; i < n; i++) {
        acc += pow((double)(i * stride + offset + 1), -s);
        cdf[i] = acc;
    }
    return cdf;
}

/* First rank of each level's bucket, and n: [0, n/8), [n/8, n/4), [n/4, n/2), [n/2, n), each at
 * least two ranks wide so both halves (even and odd ranks) have an entity of every level. */
static void level_bounds(int n, int lo[WORLD_LEVELS + 1]) {
    static const int div[WORLD_LEVELS] = {0, 8, 4, 2};
    lo[0] = 0;
    for (int l = 1; l < WORLD_LEVELS; l++) {
        int b = n / div[l];
        lo[l] = b < lo[l - 1] + 2 ? lo[l - 1] + 2 : b;
    }
    lo[WORLD_LEVELS] = n;
}

int world_rank_level(int rank, int n_entities) {
    int lo[WORLD_LEVELS + 1];
    level_bounds(n_entities, lo);
    int l = 1;
    while (l < WORLD_LEVELS && rank >= lo[l])
        l++;
    return l;
}

/* The per-half, per-level query tables: bucket l's ranks of parity h, weighted (rank+1)^-zipf. */
static int level_tables(struct world *w) {
    const struct world_config *c = &w->cfg;
    int lo[WORLD_LEVELS + 1];
    level_bounds(c->n_entities, lo);
    double acc = 0;
    for (int l = 0; l < WORLD_LEVELS; l++) {
        w->level_cdf[l] = acc += c->level_mix[l];
        for (int h = 0; h < 2; h++) {
            int first = lo[l] + ((lo[l] & 1) != h);
            int n = first < lo[l + 1] ? (lo[l + 1] - first + 1) / 2 : 0;
            w->first[h][l] = first, w->n_level[h][l] = n;
            w->cdf_level[h][l] = zipf_cdf(n, c->query_zipf, 2, first);
            if (!w->cdf_level[h][l]) return disr_fail(DISR_E_NOMEM, "world: query tables");
        }
    }
    return DISR_OK;
}

/* A level drawn from level_mix (1-based). */
static int pick_level(const struct world *w, struct rng *r) {
    return sample_cdf(r, w->level_cdf, WORLD_LEVELS) + 1;
}

/* An entity of the given level from half h (0: even ranks, SA; 1: odd ranks, tests). */
static const struct entity *pick_entity(const struct world *w, struct rng *r, int h, int level) {
    int k = sample_cdf(r, w->cdf_level[h][level - 1], w->n_level[h][level - 1]);
    return &w->ent[w->first[h][level - 1] + 2 * k];
}

/* Each attribute's value indices in alphabetical order, for mc's sorted options. Insertion
 * sort: at most a few thousand distinct values, once per world, and no qsort context needed. */
static int sort_values(struct world *w) {
    for (int a = 0; a < ATTR_COUNT; a++) {
        int m = attr_pool(w, a);
        int *order = malloc((size_t)m * sizeof *order);
        if (!order) return disr_fail(DISR_E_NOMEM, "world: value order");
        for (int i = 0; i < m; i++) {
            int j = i;
            for (; j > 0 && strcmp(attr_value_at(w, a, order[j - 1]), attr_value_at(w, a, i)) > 0;
                 j--)
                order[j] = order[j - 1];
            order[j] = i;
        }
        w->alpha[a] = order;
    }
    return DISR_OK;
}

int world_build(struct world **out, const struct world_config *c) {
    DISR_TRY(world_config_validate(c));
    struct world *w = calloc(1, sizeof *w);
    if (!w) return disr_fail(DISR_E_NOMEM, "world");
    w->cfg = *c;
    int n = c->n_entities;
    w->ent = calloc((size_t)n, sizeof *w->ent);
    char(*names)[NAME_MAX_] = malloc((size_t)n * NAME_MAX_);
    w->cdf_all = zipf_cdf(n, c->zipf, 1, 0);
    if (!w->ent || !names || !w->cdf_all || level_tables(w) < 0) {
        free(names);
        world_free(w);
        return disr_fail(DISR_E_NOMEM, "world of %d entities", n);
    }
    struct rng r;
    rng_init(&r, rng_derive_seed(c->seed, WORLD_SALT_NAMES));
    static const char *const suffixes[] = {"ton", "mar", "dor", "holm", "burg", "ria"};
    for (int i = 0; i < N_CITIES; i++) {
        do
            make_name(&r, w->city[i], 2, suffixes[pick(&r, 6)]);
        while (name_taken(w->city, i, w->city[i]));
    }
    for (int i = 0; i < n; i++) {
        struct entity *e = &w->ent[i];
        do {
            make_name(&r, e->name, 3, NULL);
            if (pick(&r, 3) == 0) {
                size_t l = strlen(e->name);
                e->name[l] = "nrls"[pick(&r, 4)];
                e->name[l + 1] = '\0';
            }
        } while (name_taken(names, i, e->name));
        memcpy(names[i], e->name, NAME_MAX_);
        e->attr[ATTR_CAPITAL] = pick(&r, N_CITIES);
        e->attr[ATTR_COLOR] = pick(&r, N_COLORS);
        e->attr[ATTR_ANIMAL] = pick(&r, N_ANIMALS);
        e->secret = 1000 + pick(&r, 9000);
    }
    /* A friend comes from its entity's own bucket: a two-hop question about a head entity
     * composes two head facts, so its level is its entity's. */
    int lo[WORLD_LEVELS + 1];
    level_bounds(n, lo);
    for (int i = 0; i < n; i++) {
        int l = world_rank_level(i, n) - 1, m = lo[l + 1] - lo[l];
        int f = lo[l] + pick(&r, m - 1);
        w->ent[i].attr[ATTR_FRIEND] = f >= i ? f + 1 : f;
    }
    free(names);
    int st = sort_values(w);
    if (st < 0) {
        world_free(w);
        return st;
    }
    *out = w;
    return DISR_OK;
}

void world_free(struct world *w) {
    if (!w) return;
    free(w->ent);
    free(w->cdf_all);
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < WORLD_LEVELS; l++)
            free(w->cdf_level[h][l]);
    for (int a = 0; a < ATTR_COUNT; a++)
        free(w->alpha[a]);
    free(w);
}

/* ---- queries ------------------------------------------------------------------------------- */

struct qa {
    char query[TEXT_MAX];
    char answer[64]; /* the key the grader checks */
    char shown[96];  /* the answer as the pretraining stream teaches it; "" = the key itself */
    enum grader grader;
    int level; /* difficulty, 1 .. WORLD_LEVELS */
};

/* snprintf that cannot overflow `out` silently: every template here is far below TEXT_MAX. */
static void put(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, cap, fmt, ap);
    va_end(ap);
}

/* The question stem of a fact (hop = 0) or a two-hop question (hop = 1) about entity e. */
static void question_stem(struct rng *r, char *out, size_t cap, const char *name, int a, int hop) {
    if (!hop) {
        switch (pick(r, 4)) {
        case 0:
            put(out, cap, "What is the %s of %s?", ATTR_WORD[a], name);
            break;
        case 1:
            put(out, cap, "Name the %s of %s.", ATTR_WORD[a], name);
            break;
        case 2:
            put(out, cap, "%s has which %s?", name, ATTR_WORD[a]);
            break;
        default:
            put(out, cap, "%s of %s?", ATTR_WORD_UP[a], name);
            break;
        }
    } else {
        switch (pick(r, 3)) {
        case 0:
            put(out, cap, "What is the %s of the friend of %s?", ATTR_WORD[a], name);
            break;
        case 1:
            put(out, cap, "%s's friend has which %s?", name, ATTR_WORD[a]);
            break;
        default:
            put(out, cap, "Name the %s of %s's friend.", ATTR_WORD[a], name);
            break;
        }
    }
}

/* Four options in alphabetical order, one from each quarter of the attribute's alphabetical
 * list of values, with `right` in its own quarter; returns right's position. The letter of a
 * value is then the same in every question (cat is always A), as on an exam whose options are
 * sorted: an agent that knows the value knows its letter. In the shuffled format the letter
 * must be copied from the options, which no agent of the default family learned in its budget
 * (docs/WORLD.md, "Why the stream looks as it does"). */
static int sorted_options(const struct world *w, struct rng *r, int a, int right, int *opt) {
    int m = attr_pool(w, a), k = 0;
    for (int rank = 0; rank < m; rank++)
        if (w->alpha[a][rank] == right) k = rank * 4 / m;
    for (int q = 0; q < 4; q++) {
        int lo = (q * m + 3) / 4, hi = ((q + 1) * m + 3) / 4; /* ranks whose rank*4/m == q */
        opt[q] = q == k ? right : w->alpha[a][lo + pick(r, hi - lo)];
    }
    return k;
}

/* Appends " Options: x (A), y (B), z (C), w (D)" for attribute a with correct value `right`;
 * sets the answer. */
static void mc_options(const struct world *w, struct rng *r, struct qa *q, int a, int right) {
    int opt[4];
    int k = w->cfg.mc_shuffled ? options(r, attr_pool(w, a), right, opt, 4)
                               : sorted_options(w, r, a, right, opt);
    size_t n = strlen(q->query);
    for (int i = 0; i < 4; i++) {
        put(q->query + n, sizeof q->query - n, "%s%s (%c)",
            i ? ", " : " Options: ", attr_value_at(w, a, opt[i]), 'A' + i);
        n += strlen(q->query + n);
    }
    put(q->answer, sizeof q->answer, "%c", 'A' + k);
    /* Taught as "deer (C)", the option as written: the agent names the value (the fact) and
     * then its letter, fixed by the value when the options are sorted, or to be copied from
     * the query when they are shuffled. The bare letter asks for a fact to be matched against
     * four options in one step, which no agent of the default family learned in its budget
     * (docs/WORLD.md). The grader reads the letter either way. */
    put(q->shown, sizeof q->shown, "%s (%c)", attr_value_at(w, a, right), 'A' + k);
    q->grader = GRADER_CHOICE;
}

/* A lookup drill (pretraining stream only): "Which option is deer? Options: yak (A), ...",
 * taught as "deer (C)". It is mc's second half alone, the copy of the letter that follows a
 * given value, with no fact to recall, so the copy is learned from a clean signal. */
static void gen_lookup(const struct world *w, struct rng *r, struct qa *q) {
    /* Cities, colors and animals only: entity names as values would mention the tail entities
     * as often as the head ones and flatten the stream's Zipf exposure. */
    int a = pick(r, ATTR_FRIEND), right = pick(r, attr_pool(w, a));
    put(q->query, sizeof q->query, "Which option is %s?", attr_value_at(w, a, right));
    mc_options(w, r, q, a, right);
}

static void gen_fact(const struct world *w, struct rng *r, const struct entity *e, struct qa *q) {
    int a = pick(r, ATTR_COUNT);
    question_stem(r, q->query, sizeof q->query, e->name, a, 0);
    put(q->answer, sizeof q->answer, "%s", attr_value(w, e, a));
    q->grader = GRADER_EXACT;
}

static void gen_hop(const struct world *w, struct rng *r, const struct entity *e, struct qa *q) {
    int a = pick(r, ATTR_FRIEND); /* capital, color or animal of the friend */
    question_stem(r, q->query, sizeof q->query, e->name, a, 1);
    put(q->answer, sizeof q->answer, "%s", attr_value(w, &w->ent[e->attr[ATTR_FRIEND]], a));
    q->grader = GRADER_EXACT;
}

/* mc: a fact stem with options; mchop (OOD): a two-hop stem with options. */
static void gen_mc(const struct world *w, struct rng *r, const struct entity *e, struct qa *q,
                   int hop) {
    int a = hop ? pick(r, ATTR_FRIEND) : pick(r, ATTR_COUNT);
    const struct entity *t = hop ? &w->ent[e->attr[ATTR_FRIEND]] : e;
    question_stem(r, q->query, sizeof q->query, e->name, a, hop);
    mc_options(w, r, q, a, t->attr[a]);
}

/* A number of exactly `digits` digits (1 .. 4; one digit includes 0). */
static int rand_digits(struct rng *r, int digits) {
    static const int lo[4] = {0, 10, 100, 1000}, span[4] = {10, 90, 900, 9000};
    return lo[digits - 1] + pick(r, span[digits - 1]);
}

/* Level L: the larger operand has L digits, the other 1 .. L (uniform), in either order. */
static void gen_add(struct rng *r, int level, struct qa *q) {
    int x = rand_digits(r, level), y = rand_digits(r, 1 + pick(r, level)), s = x + y;
    if (pick(r, 2)) {
        int t = x;
        x = y, y = t;
    }
    switch (pick(r, 4)) {
    case 0:
        put(q->query, sizeof q->query, "%d+%d=", x, y);
        break;
    case 1:
        put(q->query, sizeof q->query, "What is %d plus %d?", x, y);
        break;
    case 2:
        put(q->query, sizeof q->query, "Add %d and %d.", x, y);
        break;
    default:
        put(q->query, sizeof q->query, "%d + %d?", x, y);
        break;
    }
    put(q->answer, sizeof q->answer, "%d", s);
    /* Taught as a worked sum in fixed width, "0078+4165=04243": every digit of the result then
     * sits at a fixed distance from the two digits it adds, whatever the phrasing and the
     * lengths, so the agent looks them up by position instead of aligning numbers of different
     * lengths (the number grader reads the last number). */
    put(q->shown, sizeof q->shown, "%04d+%04d=%05d", x, y, s);
    q->grader = GRADER_NUMBER;
}

/* A passage about made-up people (names unlike the entities'), one to two statements each about
 * where they live, what they like, what they own, in shuffled order. */
struct passage {
    char text[TEXT_MAX];
    char people[4][NAME_MAX_];
    int n, person[8], rel[8], value[8]; /* statement k: (person, relation, value) */
};

static void make_passage(const struct world *w, struct rng *r, int n_people, int per_person,
                         struct passage *p) {
    for (int i = 0; i < n_people; i++)
        do
            make_name(r, p->people[i], 2, NULL);
        while (name_taken(p->people, i, p->people[i]));
    p->n = 0;
    for (int i = 0; i < n_people; i++) {
        int a0 = pick(r, 3);
        for (int k = 0; k < per_person; k++, p->n++) {
            p->person[p->n] = i, p->rel[p->n] = (a0 + k) % 3;
            p->value[p->n] = pick(r, attr_pool(w, p->rel[p->n]));
        }
    }
    for (int k = p->n - 1; k > 0; k--) {
        int j = pick(r, k + 1), t;
        t = p->person[k], p->person[k] = p->person[j], p->person[j] = t;
        t = p->rel[k], p->rel[k] = p->rel[j], p->rel[j] = t;
        t = p->value[k], p->value[k] = p->value[j], p->value[j] = t;
    }
    size_t n = 0;
    for (int k = 0; k < p->n; k++) {
        static const char *const fmt[3] = {"%s%s lives in %s.", "%s%s likes %s.",
                                           "%s%s owns a %s."};
        put(p->text + n, sizeof p->text - n, fmt[p->rel[k]], k ? " " : "", p->people[p->person[k]],
            attr_value_at(w, p->rel[k], p->value[k]));
        n += strlen(p->text + n);
    }
}

/* read: `level` people with one statement each; readlong (OOD): `level` people with two
 * statements each (so the question must match both the person and the relation). */
static void gen_read(const struct world *w, struct rng *r, int level, struct qa *q, int longer) {
    struct passage p;
    make_passage(w, r, level, longer ? 2 : 1, &p);
    int k = pick(r, p.n);
    static const char *const qfmt[3] = {"Where does %s live?", "What does %s like?",
                                        "What does %s own?"};
    char question[64];
    put(question, sizeof question, qfmt[p.rel[k]], p.people[p.person[k]]);
    switch (pick(r, 3)) {
    case 0:
        put(q->query, sizeof q->query, "%s %s", p.text, question);
        break;
    case 1:
        put(q->query, sizeof q->query, "Read: %s Question: %s", p.text, question);
        break;
    default:
        put(q->query, sizeof q->query, "%s Text: %s", question, p.text);
        break;
    }
    put(q->answer, sizeof q->answer, "%s", attr_value_at(w, p.rel[k], p.value[k]));
    q->grader = GRADER_EXACT;
}

/* distract (OOD): a fact question after a passage that does not answer it, e.g. "Duva lives in
 * Loguburg. Size likes gold. What is the capital of Ripasu?". Never seen as a format: the
 * passage invites read's copy, whose answer (a city, a color, an animal of someone else) has the
 * right kind and is wrong; an agent that knows the fact and is not pulled by the text answers. */
static void gen_distract(const struct world *w, struct rng *r, const struct entity *e,
                         struct qa *q) {
    int a = pick(r, ATTR_FRIEND);
    struct passage p;
    bool answers; /* a statement that happens to hold the right value: draw again */
    do {
        make_passage(w, r, 2, 1, &p);
        answers = false;
        for (int k = 0; k < p.n; k++)
            answers |= p.rel[k] == a && p.value[k] == e->attr[a];
    } while (answers);
    char stem[128];
    question_stem(r, stem, sizeof stem, e->name, a, 0);
    put(q->query, sizeof q->query, "%s %s", p.text, stem);
    put(q->answer, sizeof q->answer, "%s", attr_value(w, e, a));
    q->grader = GRADER_EXACT;
}

static int cmp_char(const void *a, const void *b) {
    return *(const char *)a - *(const char *)b;
}

/* Level 1: 3 letters, 2: 4, 3: 5-6, 4: 7-8. */
static void gen_sort(struct rng *r, int level, struct qa *q) {
    static const int lo[WORLD_LEVELS] = {3, 4, 5, 7}, span[WORLD_LEVELS] = {1, 1, 2, 2};
    int n = lo[level - 1] + pick(r, span[level - 1]);
    char letters[9], spaced[20];
    int used[26] = {0};
    for (int i = 0; i < n; i++) {
        int c;
        do
            c = pick(r, 26);
        while (used[c]);
        used[c] = 1;
        letters[i] = (char)('a' + c);
        spaced[2 * i] = letters[i], spaced[2 * i + 1] = ' ';
    }
    letters[n] = '\0', spaced[2 * n - 1] = '\0';
    switch (pick(r, 3)) {
    case 0:
        put(q->query, sizeof q->query, "Sort the letters %s.", spaced);
        break;
    case 1:
        put(q->query, sizeof q->query, "Sort: %s", letters);
        break;
    default:
        put(q->query, sizeof q->query, "Put %s in alphabetical order.", letters);
        break;
    }
    qsort(letters, (size_t)n, 1, cmp_char);
    put(q->answer, sizeof q->answer, "%s", letters);
    q->grader = GRADER_EXACT;
}

static void gen_secret(struct rng *r, const struct entity *e, struct qa *q) {
    put(q->query, sizeof q->query, "%s is the secret code of %s?", pick(r, 2) ? "What" : "Which",
        e->name);
    put(q->answer, sizeof q->answer, "%d", e->secret);
    q->grader = GRADER_NUMBER;
}

/* Families whose level is their entity's exposure bucket (the others draw a level). */
static bool family_has_entity(enum world_family f) {
    return f != FAM_ADD && f != FAM_READ && f != FAM_SORT && f != FAM_READLONG;
}

/* One query of family f about entity e, of difficulty `level` (families with an entity take
 * their entity's level, whatever `level` says). */
static void gen_query(const struct world *w, struct rng *r, enum world_family f,
                      const struct entity *e, int level, struct qa *q) {
    q->shown[0] = '\0';
    q->level =
        family_has_entity(f) ? world_rank_level((int)(e - w->ent), w->cfg.n_entities) : level;
    switch (f) {
    case FAM_FACT:
        gen_fact(w, r, e, q);
        break;
    case FAM_MC:
        gen_mc(w, r, e, q, 0);
        break;
    case FAM_ADD:
        gen_add(r, level, q);
        break;
    case FAM_READ:
        gen_read(w, r, level, q, 0);
        break;
    case FAM_HOP:
        gen_hop(w, r, e, q);
        break;
    case FAM_SORT:
        gen_sort(r, level, q);
        break;
    case FAM_MCHOP:
        gen_mc(w, r, e, q, 1);
        break;
    case FAM_READLONG:
        gen_read(w, r, level, q, 1);
        break;
    case FAM_DISTRACT:
        gen_distract(w, r, e, q);
        break;
    default:
        gen_secret(r, e, q);
        break;
    }
}

/* ---- pretraining stream ---------------------------------------------------------------------- */

static void gen_statement(const struct world *w, struct rng *r, const struct entity *e, char *out,
                          size_t cap) {
    int a = pick(r, ATTR_COUNT);
    const char *v = attr_value(w, e, a);
    switch (pick(r, 3)) {
    case 0:
        put(out, cap, "The %s of %s is %s.\n", ATTR_WORD[a], e->name, v);
        break;
    case 1:
        put(out, cap, "%s's %s is %s.\n", e->name, ATTR_WORD[a], v);
        break;
    default:
        put(out, cap, "%s has the %s %s.\n", e->name, ATTR_WORD[a], v);
        break;
    }
}

int world_pretrain_text(const struct world *w, char **text, size_t *len) {
    const struct world_config *c = &w->cfg;
    size_t cap = (size_t)c->pretrain_chars + 2 * TEXT_MAX + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) return disr_fail(DISR_E_NOMEM, "pretraining stream of %ld bytes", c->pretrain_chars);
    double mix_cdf[FAM_N_IN_DOMAIN], acc = 0;
    for (int f = 0; f < FAM_N_IN_DOMAIN; f++)
        mix_cdf[f] = acc += c->qa_mix[f];
    struct rng r;
    rng_init(&r, rng_derive_seed(c->seed, WORLD_SALT_PRETRAIN));
    struct qa q;
    while (n < (size_t)c->pretrain_chars) {
        const struct entity *e = &w->ent[sample_cdf(&r, w->cdf_all, c->n_entities)];
        if (acc <= 0 || rng_double(&r) < c->statement_frac) {
            gen_statement(w, &r, e, buf + n, cap - n);
        } else {
            if (rng_double(&r) < c->lookup_frac) {
                q.shown[0] = '\0';
                gen_lookup(w, &r, &q);
            } else {
                enum world_family f = (enum world_family)sample_cdf(&r, mix_cdf, FAM_N_IN_DOMAIN);
                gen_query(w, &r, f, e, pick_level(w, &r), &q);
            }
            int m = scenario_format_prompt(buf + n, cap - n, q.query, SCENARIO_NONE);
            if (m < 0) {
                free(buf);
                return m;
            }
            put(buf + n + m, cap - n - (size_t)m, "%s\n", q.shown[0] ? q.shown : q.answer);
        }
        n += strlen(buf + n);
    }
    buf[n] = '\0';
    *text = buf, *len = n;
    return DISR_OK;
}

/* ---- splits ------------------------------------------------------------------------------------
 */

int world_split(const struct world *w, enum world_split split, struct qa_set *out) {
    static const char *const prefix[4] = {"sa", "test", "ood", "anchor"};
    if (split < WORLD_SPLIT_SA_TRAIN || split > WORLD_SPLIT_ANCHORS)
        return disr_fail(DISR_E_ARG, "world: unknown split %d", (int)split);
    const struct world_config *c = &w->cfg;
    int per = split == WORLD_SPLIT_TEST      ? c->n_test
              : split == WORLD_SPLIT_OOD     ? c->n_ood
              : split == WORLD_SPLIT_ANCHORS ? c->n_anchors
                                             : c->n_sa;
    int f0 = split == WORLD_SPLIT_OOD ? FAM_N_IN_DOMAIN : 0;
    int nf = split == WORLD_SPLIT_OOD ? FAM_COUNT - FAM_N_IN_DOMAIN : FAM_N_IN_DOMAIN;
    int half = split == WORLD_SPLIT_SA_TRAIN ? 0 : 1; /* SA: even ranks; tests: odd ranks */
    struct rng r;
    rng_init(&r, rng_derive_seed(c->seed, WORLD_SALT_SPLIT + (uint64_t)split));
    struct qa q;
    char id[32];
    /* Families interleave (item i is family i mod nf), so any prefix of a split is balanced. */
    for (int i = 0; i < per * nf; i++) {
        enum world_family f = (enum world_family)(f0 + i % nf);
        /* Anchors follow the pretraining exposure; the other splits draw the level first. */
        int level = pick_level(w, &r);
        const struct entity *e = split == WORLD_SPLIT_ANCHORS
                                     ? &w->ent[sample_cdf(&r, w->cdf_all, c->n_entities)]
                                     : pick_entity(w, &r, half, level);
        gen_query(w, &r, f, e, level, &q);
        snprintf(id, sizeof id, "%s-%06d", prefix[split], i);
        DISR_TRY(qa_set_add(out, id, world_family_name(f), q.query, q.answer, q.grader));
        out->items[out->n - 1].difficulty = q.level;
    }
    return DISR_OK;
}

/* ---- files -------------------------------------------------------------------------------------
 */

static int join(char *out, size_t cap, const char *dir, const char *file) {
    int n = snprintf(out, cap, "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= cap) return disr_fail(DISR_E_ARG, "path too long: %s/%s", dir, file);
    return DISR_OK;
}

/* world.json: the config and the entity table (for eval's easy/hard split and for people). */
static int write_meta(const struct world *w, const char *path) {
    const struct world_config *c = &w->cfg;
    cJSON *root = cJSON_CreateObject(), *cfg = cJSON_AddObjectToObject(root, "config");
    cJSON *ents = cJSON_AddArrayToObject(root, "entities");
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
    int ok = root && cfg && ents && cJSON_AddStringToObject(cfg, "seed", seed) &&
             cJSON_AddNumberToObject(cfg, "n_entities", c->n_entities) &&
             cJSON_AddNumberToObject(cfg, "zipf", c->zipf) &&
             cJSON_AddNumberToObject(cfg, "query_zipf", c->query_zipf) &&
             cJSON_AddNumberToObject(cfg, "pretrain_chars", (double)c->pretrain_chars) &&
             cJSON_AddNumberToObject(cfg, "statement_frac", c->statement_frac) &&
             cJSON_AddNumberToObject(cfg, "lookup_frac", c->lookup_frac) &&
             cJSON_AddStringToObject(cfg, "mc_options", c->mc_shuffled ? "shuffled" : "sorted") &&
             cJSON_AddNumberToObject(cfg, "n_sa", c->n_sa) &&
             cJSON_AddNumberToObject(cfg, "n_test", c->n_test) &&
             cJSON_AddNumberToObject(cfg, "n_ood", c->n_ood) &&
             cJSON_AddNumberToObject(cfg, "n_anchors", c->n_anchors);
    cJSON *mix = ok ? cJSON_AddArrayToObject(cfg, "level_mix") : NULL;
    ok = ok && mix;
    for (int l = 0; ok && l < WORLD_LEVELS; l++)
        ok = cJSON_AddItemToArray(mix, cJSON_CreateNumber(c->level_mix[l]));
    for (int i = 0; ok && i < c->n_entities; i++) {
        const struct entity *e = &w->ent[i];
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddItemToArray(ents, o) && cJSON_AddStringToObject(o, "name", e->name) &&
             cJSON_AddNumberToObject(o, "rank", i) &&
             cJSON_AddNumberToObject(o, "level", world_rank_level(i, c->n_entities)) &&
             cJSON_AddStringToObject(o, "split", i % 2 ? "test" : "sa_train");
        for (int a = 0; ok && a < ATTR_COUNT; a++)
            ok = cJSON_AddStringToObject(o, ATTR_WORD[a], attr_value(w, e, a)) != NULL;
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) return disr_fail(DISR_E_NOMEM, "encoding %s", path);
    size_t len = strlen(text);
    text[len] = '\n'; /* cJSON_Print's buffer has room for its NUL: reuse it for a final newline */
    int st = file_write_atomic(path, text, len + 1);
    cJSON_free(text);
    return st;
}

int world_write(const struct world *w, const char *dir) {
    static const char *const files[] = {WORLD_FILE_SA_TRAIN, WORLD_FILE_TEST, WORLD_FILE_OOD,
                                        WORLD_FILE_ANCHORS}; /* in enum world_split order */
    char path[4096];
    DISR_TRY(file_mkdir_p(dir));
    char *text;
    size_t len;
    DISR_TRY(world_pretrain_text(w, &text, &len));
    int st = join(path, sizeof path, dir, WORLD_FILE_PRETRAIN);
    if (st == DISR_OK) st = file_write_atomic(path, text, len);
    free(text);
    DISR_TRY(st);
    for (int s = 0; s < (int)(sizeof files / sizeof files[0]); s++) {
        struct qa_set set;
        qa_set_init(&set);
        st = world_split(w, (enum world_split)s, &set);
        if (st == DISR_OK) st = join(path, sizeof path, dir, files[s]);
        if (st == DISR_OK) st = qa_set_save(&set, path);
        qa_set_free(&set);
        DISR_TRY(st);
    }
    DISR_TRY(join(path, sizeof path, dir, WORLD_FILE_META));
    return write_meta(w, path);
}
