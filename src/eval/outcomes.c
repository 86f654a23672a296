#include "eval/outcomes.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/strbuf.h"
#include "core/file.h"
#include "core/rng.h"
#include "world/scenario.h"
#include "world/dataset.h"

double outcome_default_cost(int agent, int n_agents) {
    if (n_agents <= 1) return 0.1;
    return 0.1 + 0.8 * (double)agent / (double)(n_agents - 1);
}

const char *outcome_split_name(enum out_split s) {
    static const char *const names[] = {"train", "test", "ood"};
    return (s >= 0 && s < OUT_N_SPLIT) ? names[s] : "?";
}

int outcome_split_parse(const char *name) {
    for (int s = 0; s < OUT_N_SPLIT; s++)
        if (!strcmp(name, outcome_split_name((enum out_split)s))) return s;
    return -1;
}

static char *dup_str(const char *s) {
    return strdup(s ? s : "");
}

static void cell_reset(struct outcome_cell *c) {
    memset(c, 0, sizeof *c);
    memset(c->decide, OUT_UNKNOWN, sizeof c->decide);
}

int outcome_table_init(struct outcome_table *t, int n_agents) {
    memset(t, 0, sizeof *t);
    if (n_agents < 1 || n_agents > OUT_MAX_AGENTS)
        return disr_fail(DISR_E_ARG, "outcome table: %d agents (1..%d allowed)", n_agents,
                         OUT_MAX_AGENTS);
    t->n_agents = n_agents;
    for (int i = 0; i < n_agents; i++)
        t->cost[i] = outcome_default_cost(i, n_agents);
    return DISR_OK;
}

void outcome_table_free(struct outcome_table *t) {
    for (int qi = 0; qi < t->n_queries; qi++) {
        struct outcome_query *q = &t->q[qi];
        free(q->id), free(q->family), free(q->query), free(q->answer), free(q->grader);
        for (int a = 0; a < t->n_agents; a++)
            free(outcome_at(t, qi, a)->forced);
    }
    for (int a = 0; a < OUT_MAX_AGENTS; a++)
        free(t->agent_name[a]);
    free(t->q);
    free(t->cell);
    memset(t, 0, sizeof *t);
}

int outcome_table_add_query(struct outcome_table *t, const char *id, const char *family,
                            const char *query, const char *answer, const char *grader,
                            enum out_split split) {
    if (split < 0 || split >= OUT_N_SPLIT) return disr_fail(DISR_E_ARG, "bad split %d", split);
    if (t->n_queries == t->cap_queries) {
        int cap = t->cap_queries ? 2 * t->cap_queries : 256;
        struct outcome_query *nq = realloc(t->q, (size_t)cap * sizeof *nq);
        if (!nq) return disr_fail(DISR_E_NOMEM, "outcome table: %d queries", cap);
        t->q = nq;
        struct outcome_cell *nc = realloc(t->cell, (size_t)cap * t->n_agents * sizeof *nc);
        if (!nc) return disr_fail(DISR_E_NOMEM, "outcome table: %d queries", cap);
        t->cell = nc;
        t->cap_queries = cap;
    }
    int qi = t->n_queries;
    struct outcome_query *q = &t->q[qi];
    q->id = dup_str(id), q->family = dup_str(family), q->query = dup_str(query);
    q->answer = dup_str(answer), q->grader = dup_str(grader);
    q->split = split;
    q->difficulty = 0;
    for (int a = 0; a < t->n_agents; a++) {
        cell_reset(outcome_at(t, qi, a));
        outcome_at(t, qi, a)->forced = dup_str("");
    }
    t->n_queries++;
    if (!q->id || !q->family || !q->query || !q->answer || !q->grader)
        return disr_fail(DISR_E_NOMEM, "outcome table: query strings");
    return qi;
}

int outcome_cell_set_forced(struct outcome_cell *c, const char *forced) {
    char *s = dup_str(forced);
    if (!s) return disr_fail(DISR_E_NOMEM, "forced answer");
    free(c->forced);
    c->forced = s;
    return DISR_OK;
}

int outcome_count_split(const struct outcome_table *t, enum out_split split) {
    int n = 0;
    for (int qi = 0; qi < t->n_queries; qi++)
        n += t->q[qi].split == split;
    return n;
}

int outcome_has_variant(const struct outcome_table *t, enum out_variant v) {
    if (t->n_queries == 0) return 0;
    int decided = 0;
    for (int qi = 0; qi < t->n_queries; qi++) {
        if (t->q[qi].split == OUT_SPLIT_TRAIN) continue; /* routes are only taken on tests */
        decided = 1;
        for (int a = 0; a + 1 < t->n_agents; a++)
            for (int s = 0; s < OUT_N_SCEN; s++)
                if (outcome_at(t, qi, a)->decide[v][s] == OUT_UNKNOWN) return 0;
    }
    return decided;
}

/* ---- JSONL ---------------------------------------------------------------------------------- */

static const char *const variant_key[OUT_N_VARIANT][2] = {{"sft_answer", "sft_correct"},
                                                          {"rl_answer", "rl_correct"}};

/* A score that was not recorded (NAN) is written as null, never as a number. */
static void add_score(cJSON *o, const char *key, float x) {
    if (isnan(x))
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, x);
}

int outcome_agent_has_score(const struct outcome_table *t, int a, int verify) {
    for (int qi = 0; qi < t->n_queries; qi++) {
        const struct outcome_cell *c = outcome_at(t, qi, a);
        if (isnan(verify ? c->verify : c->conf)) return 0;
    }
    return 1;
}

static cJSON *line_json(const struct outcome_table *t, int qi, int a) {
    const struct outcome_query *q = &t->q[qi];
    const struct outcome_cell *c = outcome_at(t, qi, a);
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "qid", q->id);
    cJSON_AddStringToObject(o, "split", outcome_split_name(q->split));
    cJSON_AddStringToObject(o, "family", q->family);
    cJSON_AddStringToObject(o, "query", q->query);
    cJSON_AddStringToObject(o, "answer", q->answer);
    cJSON_AddStringToObject(o, "grader", q->grader);
    /* only a real level is written: a user's data set without levels stays as it was */
    if (q->difficulty > 0) cJSON_AddNumberToObject(o, "difficulty", q->difficulty);
    cJSON_AddNumberToObject(o, "agent", a);
    if (t->agent_name[a]) cJSON_AddStringToObject(o, "name", t->agent_name[a]);
    cJSON_AddNumberToObject(o, "cost", t->cost[a]);
    cJSON_AddStringToObject(o, "forced", c->forced ? c->forced : "");
    cJSON_AddBoolToObject(o, "correct", c->correct);
    add_score(o, "conf", c->conf);
    add_score(o, "verify", c->verify);
    cJSON_AddNumberToObject(o, "t_answer", c->t_answer);
    cJSON_AddNumberToObject(o, "t_reject", c->t_reject);
    for (int v = 0; v < OUT_N_VARIANT; v++) {
        int any = 0;
        for (int s = 0; s < OUT_N_SCEN; s++)
            any |= c->decide[v][s] != OUT_UNKNOWN;
        if (!any) continue;
        cJSON *ans = cJSON_AddArrayToObject(o, variant_key[v][0]);
        cJSON *cor = cJSON_AddArrayToObject(o, variant_key[v][1]);
        for (int s = 0; s < OUT_N_SCEN; s++) {
            int known = c->decide[v][s] != OUT_UNKNOWN;
            cJSON_AddItemToArray(ans,
                                 known ? cJSON_CreateNumber(c->decide[v][s]) : cJSON_CreateNull());
            cJSON_AddItemToArray(cor, known ? cJSON_CreateNumber(c->dcorrect[v][s])
                                            : cJSON_CreateNull());
        }
    }
    return o;
}

int outcome_table_save(const struct outcome_table *t, const char *path) {
    /* built in memory and written atomically: a full disk never leaves half a table */
    struct strbuf b = {0};
    int st = DISR_OK;
    for (int qi = 0; qi < t->n_queries && st == DISR_OK; qi++)
        for (int a = 0; a < t->n_agents && st == DISR_OK; a++) {
            cJSON *o = line_json(t, qi, a);
            char *s = o ? cJSON_PrintUnformatted(o) : NULL;
            if (!s)
                st = disr_fail(DISR_E_NOMEM, "%s: building line", path);
            else
                st = strbuf_printf(&b, "%s\n", s);
            free(s);
            cJSON_Delete(o);
        }
    if (st == DISR_OK) st = file_write_atomic(path, b.p ? b.p : "", b.n);
    strbuf_free(&b);
    return st;
}

/* qid -> query index, open addressing; only the loader needs it. */
struct qid_map {
    int *slot; /* query index or -1 */
    size_t cap;
};

static int map_grow(struct qid_map *m, const struct outcome_table *t) {
    size_t cap = m->cap ? 2 * m->cap : 1024;
    int *slot = malloc(cap * sizeof *slot);
    if (!slot) return disr_fail(DISR_E_NOMEM, "qid map");
    for (size_t i = 0; i < cap; i++)
        slot[i] = -1;
    for (int qi = 0; qi < t->n_queries; qi++) {
        size_t h = str_hash(t->q[qi].id) & (cap - 1);
        while (slot[h] >= 0)
            h = (h + 1) & (cap - 1);
        slot[h] = qi;
    }
    free(m->slot);
    m->slot = slot, m->cap = cap;
    return DISR_OK;
}

/* Returns the slot where `id` is or would go. */
static size_t map_find(const struct qid_map *m, const struct outcome_table *t, const char *id) {
    size_t h = str_hash(id) & (m->cap - 1);
    while (m->slot[h] >= 0 && strcmp(t->q[m->slot[h]].id, id))
        h = (h + 1) & (m->cap - 1);
    return h;
}

static const char *get_str(const cJSON *o, const char *key, int required, const char *path,
                           long line, int *st) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v)) return v->valuestring;
    if (v && !cJSON_IsNull(v))
        *st = disr_fail(DISR_E_FORMAT, "%s:%ld: \"%s\" must be a string", path, line, key);
    else if (required)
        *st = disr_fail(DISR_E_FORMAT, "%s:%ld: missing \"%s\"", path, line, key);
    return "";
}

static double get_num(const cJSON *o, const char *key, double lo, double hi, double dflt,
                      int required, const char *path, long line, int *st) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    double x = dflt;
    if (cJSON_IsNumber(v))
        x = v->valuedouble;
    else if (cJSON_IsBool(v))
        x = cJSON_IsTrue(v);
    else if (v || required) {
        *st = disr_fail(DISR_E_FORMAT, "%s:%ld: \"%s\" %s", path, line, key,
                        v ? "must be a number" : "is missing");
        return dflt;
    } else {
        return dflt; /* optional and absent */
    }
    if (!(x >= lo && x <= hi)) {
        *st = disr_fail(DISR_E_FORMAT, "%s:%ld: \"%s\" = %g is outside [%g, %g]", path, line, key,
                        x, lo, hi);
        return dflt;
    }
    return x;
}

static float get_score(const cJSON *o, const char *key, const char *path, long line, int *st) {
    if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, key))) return NAN;
    return (float)get_num(o, key, 0, 1, 0, 0, path, line, st);
}

/* Reads a 3-entry 0/1/null array into dst (OUT_UNKNOWN for null). */
static int get_triplet(const cJSON *o, const char *key, int8_t dst[OUT_N_SCEN], const char *path,
                       long line) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    for (int s = 0; s < OUT_N_SCEN; s++)
        dst[s] = OUT_UNKNOWN;
    if (!v || cJSON_IsNull(v)) return DISR_OK;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != OUT_N_SCEN)
        return disr_fail(DISR_E_FORMAT, "%s:%ld: \"%s\" must be an array of %d entries", path, line,
                         key, OUT_N_SCEN);
    for (int s = 0; s < OUT_N_SCEN; s++) {
        const cJSON *e = cJSON_GetArrayItem(v, s);
        if (cJSON_IsNull(e)) continue;
        double x = cJSON_IsBool(e) ? cJSON_IsTrue(e) : cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (x != 0 && x != 1)
            return disr_fail(DISR_E_FORMAT, "%s:%ld: \"%s\"[%d] must be 0, 1 or null", path, line,
                             key, s);
        dst[s] = (int8_t)x;
    }
    return DISR_OK;
}

/* A parsed line waiting for the agent count to be known. */
struct pending {
    int qi, agent;
    double cost;
    char *name;
    struct outcome_cell cell;
};

static int parse_line(const cJSON *o, struct outcome_table *t, struct qid_map *map,
                      struct pending *p, const char *path, long line) {
    int st = DISR_OK;
    const char *qid = get_str(o, "qid", 1, path, line, &st);
    const char *split_s = get_str(o, "split", 1, path, line, &st);
    const char *family = get_str(o, "family", 0, path, line, &st);
    const char *query = get_str(o, "query", 0, path, line, &st);
    const char *answer = get_str(o, "answer", 0, path, line, &st);
    const char *grader = get_str(o, "grader", 0, path, line, &st);
    const char *name = get_str(o, "name", 0, path, line, &st);
    const char *forced = get_str(o, "forced", 0, path, line, &st);
    p->agent = (int)get_num(o, "agent", 0, OUT_MAX_AGENTS - 1, 0, 1, path, line, &st);
    double level = get_num(o, "difficulty", 0, QA_MAX_DIFFICULTY, 0, 0, path, line, &st);
    p->cost = get_num(o, "cost", 0, 1e9, -1, 0, path, line, &st);
    cell_reset(&p->cell);
    p->cell.correct = (uint8_t)get_num(o, "correct", 0, 1, 0, 1, path, line, &st);
    p->cell.conf = get_score(o, "conf", path, line, &st);
    p->cell.verify = get_score(o, "verify", path, line, &st);
    p->cell.t_answer = (float)get_num(o, "t_answer", 0, 1e6, 0, 0, path, line, &st);
    p->cell.t_reject = (float)get_num(o, "t_reject", 0, 1e6, 0, 0, path, line, &st);
    if (st) return st;
    if (!qid[0]) return disr_fail(DISR_E_FORMAT, "%s:%ld: empty \"qid\"", path, line);
    if (cJSON_GetObjectItemCaseSensitive(o, "agent")->valuedouble != (double)p->agent)
        return disr_fail(DISR_E_FORMAT, "%s:%ld: \"agent\" must be a whole number", path, line);
    if (level != floor(level))
        return disr_fail(DISR_E_FORMAT, "%s:%ld: \"difficulty\" must be a whole number", path,
                         line);
    int split = outcome_split_parse(split_s);
    if (split < 0)
        return disr_fail(DISR_E_FORMAT, "%s:%ld: split \"%s\" (train, test or ood)", path, line,
                         split_s);
    for (int v = 0; v < OUT_N_VARIANT; v++) {
        int8_t cor[OUT_N_SCEN];
        DISR_TRY(get_triplet(o, variant_key[v][0], p->cell.decide[v], path, line));
        DISR_TRY(get_triplet(o, variant_key[v][1], cor, path, line));
        for (int s = 0; s < OUT_N_SCEN; s++) {
            if (p->cell.decide[v][s] == OUT_ANSWER && cor[s] == OUT_UNKNOWN)
                return disr_fail(DISR_E_FORMAT, "%s:%ld: \"%s\"[%d] answers but \"%s\" is null",
                                 path, line, variant_key[v][0], s, variant_key[v][1]);
            p->cell.dcorrect[v][s] = p->cell.decide[v][s] == OUT_ANSWER && cor[s] == 1;
        }
    }
    if ((size_t)t->n_queries * 2 >= map->cap) DISR_TRY(map_grow(map, t));
    size_t h = map_find(map, t, qid);
    if (map->slot[h] < 0) {
        int qi = outcome_table_add_query(t, qid, family, query, answer, grader, split);
        if (qi < 0) return qi;
        map->slot[h] = qi;
        t->q[qi].difficulty = (int)level;
    } else if ((int)t->q[map->slot[h]].split != split) {
        return disr_fail(DISR_E_FORMAT, "%s:%ld: query %s appears in two splits", path, line, qid);
    } else if (t->q[map->slot[h]].difficulty != (int)level) {
        return disr_fail(DISR_E_FORMAT, "%s:%ld: query %s has difficulty %d here and %d before",
                         path, line, qid, (int)level, t->q[map->slot[h]].difficulty);
    }
    p->qi = map->slot[h];
    p->cell.forced = dup_str(forced);
    p->name = name[0] ? dup_str(name) : NULL;
    if (!p->cell.forced) return disr_fail(DISR_E_NOMEM, "%s: forced answer", path);
    return DISR_OK;
}

int outcome_table_load(struct outcome_table *t, const char *path) {
    /* Queries are added while reading with a provisional single agent (cells unused); the real
     * agent count is only known at the end, when the cells are laid out. */
    memset(t, 0, sizeof *t);
    t->n_agents = 1;
    FILE *f = fopen(path, "r");
    if (!f) return disr_fail(DISR_E_IO, "%s: %s", path, strerror(errno));
    struct qid_map map = {0};
    struct pending *pend = NULL;
    size_t n_pend = 0, cap_pend = 0;
    char *buf = NULL;
    size_t bufcap = 0;
    long line = 0;
    int st = DISR_OK, max_agent = -1;
    ssize_t len;
    while (st == DISR_OK && (len = getline(&buf, &bufcap, f)) >= 0) {
        line++;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            buf[--len] = '\0';
        if (len == 0) continue;
        cJSON *o = cJSON_ParseWithLength(buf, (size_t)len);
        if (!o || !cJSON_IsObject(o)) {
            st = disr_fail(DISR_E_FORMAT, "%s:%ld: not a JSON object", path, line);
            cJSON_Delete(o);
            break;
        }
        if (n_pend == cap_pend) {
            size_t cap = cap_pend ? 2 * cap_pend : 1024;
            struct pending *np = realloc(pend, cap * sizeof *np);
            if (!np) {
                st = disr_fail(DISR_E_NOMEM, "%s: %zu lines", path, cap);
                cJSON_Delete(o);
                break;
            }
            pend = np, cap_pend = cap;
        }
        struct pending *p = &pend[n_pend];
        memset(p, 0, sizeof *p);
        st = parse_line(o, t, &map, p, path, line);
        cJSON_Delete(o);
        n_pend++; /* even on failure, so its strings are freed below */
        if (st == DISR_OK && p->agent > max_agent) max_agent = p->agent;
    }
    if (st == DISR_OK && ferror(f)) st = disr_fail(DISR_E_IO, "%s: read error", path);
    fclose(f);
    free(buf);
    free(map.slot);
    if (st == DISR_OK && n_pend == 0) st = disr_fail(DISR_E_FORMAT, "%s: no records", path);

    /* Provisional cells (one per query) hold only empty forced strings: drop them. */
    for (int qi = 0; qi < t->n_queries; qi++)
        free(t->cell[qi].forced);
    free(t->cell);
    t->cell = NULL;
    int k = max_agent + 1;
    if (st == DISR_OK) {
        t->n_agents = k;
        t->cell = calloc((size_t)t->n_queries * k, sizeof *t->cell);
        if (!t->cell) st = disr_fail(DISR_E_NOMEM, "%s: %d x %d cells", path, t->n_queries, k);
        for (int a = 0; a < k; a++)
            t->cost[a] = -1;
    }
    if (st == DISR_OK)
        for (size_t i = 0; i < n_pend && st == DISR_OK; i++) {
            struct pending *p = &pend[i];
            struct outcome_cell *c = outcome_at(t, p->qi, p->agent);
            if (c->forced) {
                st = disr_fail(DISR_E_FORMAT, "%s: query %s has two lines for agent %d", path,
                               t->q[p->qi].id, p->agent);
                break;
            }
            *c = p->cell;
            p->cell.forced = NULL;
            double cost = p->cost >= 0 ? p->cost : outcome_default_cost(p->agent, k);
            if (t->cost[p->agent] < 0)
                t->cost[p->agent] = cost;
            else if (fabs(t->cost[p->agent] - cost) > 1e-9)
                st = disr_fail(DISR_E_FORMAT, "%s: agent %d has costs %g and %g", path, p->agent,
                               t->cost[p->agent], cost);
            if (p->name && !t->agent_name[p->agent])
                t->agent_name[p->agent] = p->name, p->name = NULL;
        }
    if (st == DISR_OK)
        for (int qi = 0; qi < t->n_queries && st == DISR_OK; qi++)
            for (int a = 0; a < k; a++)
                if (!outcome_at(t, qi, a)->forced) {
                    st = disr_fail(DISR_E_FORMAT, "%s: query %s has no line for agent %d", path,
                                   t->q[qi].id, a);
                    break;
                }
    for (size_t i = 0; i < n_pend; i++)
        free(pend[i].cell.forced), free(pend[i].name);
    free(pend);
    if (st != DISR_OK) {
        if (!t->cell) t->n_agents = 0; /* no cells to free (cells partly filled is fine) */
        outcome_table_free(t);
    }
    return st;
}

/* ---- synthetic world ------------------------------------------------------------------------ */

void outcome_synth_defaults(struct outcome_synth_config *c) {
    memset(c, 0, sizeof *c);
    c->n_agents = 4;
    c->n_train = 2000, c->n_test = 1000, c->n_ood = 500;
    c->sharpness = 8.0;
    c->idio_sd = 1.5;
    c->conf_noise = 0.15;
    c->sft_noise = 0.25, c->rl_noise = 0.08;
    c->ood_shift = 0.2;
    c->feature_signal = 1;
    c->seed = 1;
}

static double clamp01(double x) {
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

int outcome_table_synth(struct outcome_table *t, const struct outcome_synth_config *c) {
    static const char *const families[] = {"fact", "mc", "add", "read", "hop", "sort"};
    static const double family_base[] = {0.5, 0.4, 0.3, 0.1, 0.7, 0.45};
    static const char *const syll[] = {"ka", "ro", "mi", "te", "zu", "lo", "na", "vi"};
    DISR_TRY(outcome_table_init(t, c->n_agents));
    struct rng r;
    rng_init(&r, c->seed);
    int total = c->n_train + c->n_test + c->n_ood;
    for (int n = 0; n < total; n++) {
        enum out_split split = n < c->n_train               ? OUT_SPLIT_TRAIN
                               : n < c->n_train + c->n_test ? OUT_SPLIT_TEST
                                                            : OUT_SPLIT_OOD;
        int fam = (int)rng_below(&r, 6);
        double d = clamp01(family_base[fam] + 0.35 * (rng_uniform(&r) - 0.5) * 2);
        if (split == OUT_SPLIT_OOD) d = clamp01(d + c->ood_shift);
        char query[160], id[32], name[16];
        int pos = 0;
        for (int s = 0; s < 3; s++)
            pos += snprintf(name + pos, sizeof name - (size_t)pos, "%s", syll[rng_below(&r, 8)]);
        if (c->feature_signal)
            snprintf(query, sizeof query, "%s %s level%d about %s",
                     split == OUT_SPLIT_OOD ? "ood" : "q", families[fam], (int)(d * 4.999), name);
        else
            snprintf(query, sizeof query, "%s %s %s", name, syll[rng_below(&r, 8)],
                     syll[rng_below(&r, 8)]);
        snprintf(id, sizeof id, "%s%d", outcome_split_name(split), n);
        int qi = outcome_table_add_query(t, id, c->feature_signal ? families[fam] : "synthetic",
                                         query, "x", "exact", split);
        if (qi < 0) {
            outcome_table_free(t);
            return qi;
        }
        /* four levels over d, so the per-level report has something to show */
        t->q[qi].difficulty = d >= 0.75 ? 4 : 1 + (int)(d * 4);
        for (int a = 0; a < c->n_agents; a++) {
            struct outcome_cell *cell = outcome_at(t, qi, a);
            double skill = c->n_agents > 1 ? 0.15 + 0.8 * a / (c->n_agents - 1) : 0.5;
            double z = c->sharpness * (skill - d) + c->idio_sd * rng_normal(&r);
            double p = 1.0 / (1.0 + exp(-z));
            cell->correct = rng_uniform(&r) < p;
            cell->conf = (float)clamp01(p + c->conf_noise * rng_normal(&r));
            int agree = 0;
            for (int k = 0; k < 8; k++)
                agree += rng_uniform(&r) < p;
            cell->verify = (float)agree / 8.0f;
            cell->t_answer = (float)(0.01 * (1 << a));
            cell->t_reject = cell->t_answer * 0.2f;
            for (int v = 0; v < OUT_N_VARIANT; v++) {
                double sd = v == OUT_SFT ? c->sft_noise : c->rl_noise;
                for (int s = 0; s < OUT_N_SCEN; s++) {
                    double th = scenario_threshold(scenario_alpha((enum scenario)(s + 1)));
                    int ans = p + sd * rng_normal(&r) > th;
                    cell->decide[v][s] = (int8_t)(ans ? OUT_ANSWER : OUT_REJECT);
                    cell->dcorrect[v][s] = (uint8_t)(ans && cell->correct);
                }
            }
        }
    }
    return DISR_OK;
}
