#include "eval/seeds.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/file.h"
#include "world/dataset.h"

#define SEEDS_MAX  16
#define N_ALPHA    3
#define MAX_CLAIMS 8
#define MAX_AGENTS 16

static const char *const ALPHA_KEY[N_ALPHA] = {"0.2", "0.5", "0.8"};

/* The figures of one run that the table needs. */
struct seed_run {
    double util[N_ALPHA], acc[N_ALPHA], cost[N_ALPHA], oracle[N_ALPHA], oracle_acc;
    double forced[MAX_AGENTS]; /* each agent's forced accuracy in domain (NAN: not reported) */
    int n_agents, n_claims;
    int holds[MAX_CLAIMS]; /* 1, 0, or -1 when the run could not check it */
    char claim[MAX_CLAIMS][200];
};

static const cJSON *path_get(const cJSON *o, const char *const *keys, int n) {
    for (int i = 0; i < n && o; i++)
        o = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
    return o;
}

static int num_at(const cJSON *root, const char *file, double *out, int n,
                  const char *const *keys) {
    const cJSON *v = path_get(root, keys, n);
    if (!cJSON_IsNumber(v)) {
        char what[256] = "";
        for (int i = 0; i < n; i++)
            strncat(what, keys[i], sizeof what - strlen(what) - 2), strcat(what, ".");
        return disr_fail(DISR_E_FORMAT, "%s: no number at %s", file, what);
    }
    *out = v->valuedouble;
    return DISR_OK;
}

static int read_run(const char *file, struct seed_run *r) {
    cJSON *root;
    DISR_TRY(file_read_json(file, &root));
    int st = DISR_OK;
    for (int a = 0; a < N_ALPHA && st == DISR_OK; a++) {
        const char *u[] = {"tables", "test", "disr_rl", ALPHA_KEY[a], "utility"};
        const char *c[] = {"tables", "test", "disr_rl", ALPHA_KEY[a], "accuracy"};
        const char *k[] = {"tables", "test", "disr_rl", ALPHA_KEY[a], "cost"};
        const char *o[] = {"tables", "test", "oracle", ALPHA_KEY[a], "utility"};
        const char *oa[] = {"tables", "test", "oracle", ALPHA_KEY[a], "accuracy"};
        st = num_at(root, file, &r->util[a], 5, u);
        if (st == DISR_OK) st = num_at(root, file, &r->acc[a], 5, c);
        if (st == DISR_OK) st = num_at(root, file, &r->cost[a], 5, k);
        if (st == DISR_OK) st = num_at(root, file, &r->oracle[a], 5, o);
        if (st == DISR_OK) st = num_at(root, file, &r->oracle_acc, 5, oa);
    }
    /* forced accuracy: the pooled row of the in-domain level table */
    const char *all[] = {"level_accuracy", "test", "all"};
    const cJSON *row = path_get(root, all, 3), *x;
    const cJSON *n_all = cJSON_GetObjectItemCaseSensitive(row, "n_all");
    r->n_agents = 0;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(row, "correct_all")) {
        if (r->n_agents == MAX_AGENTS) break;
        r->forced[r->n_agents++] =
            cJSON_IsNumber(x) && cJSON_IsNumber(n_all) && n_all->valuedouble > 0
                ? x->valuedouble / n_all->valuedouble
                : NAN;
    }
    const cJSON *claims = cJSON_GetObjectItemCaseSensitive(root, "claims"), *c;
    r->n_claims = 0;
    cJSON_ArrayForEach(c, claims) {
        if (r->n_claims == MAX_CLAIMS) break;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "claim");
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(c, "holds");
        snprintf(r->claim[r->n_claims], sizeof r->claim[0], "%s",
                 cJSON_IsString(t) ? t->valuestring : "?");
        r->holds[r->n_claims++] = cJSON_IsBool(h) ? cJSON_IsTrue(h) : -1;
    }
    cJSON_Delete(root);
    return st;
}

/* "mean (min – max)" of x over the runs, into buf. */
static void fmt_stat(char *buf, size_t cap, const double *x, int n, double scale,
                     const char *unit) {
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(x[i])) continue;
        sum += x[i], k++;
        lo = x[i] < lo ? x[i] : lo, hi = x[i] > hi ? x[i] : hi;
    }
    if (!k) {
        snprintf(buf, cap, "–");
        return;
    }
    int digits = scale == 1 ? 3 : 1;
    snprintf(buf, cap, "%.*f%s (%.*f – %.*f)", digits, scale * sum / k, unit, digits, scale * lo,
             digits, scale * hi);
}

static void write_md(FILE *md, const struct seed_run *r, const int *seeds, int n) {
    fprintf(md, "# DiSRouter over %d world seeds\n\nSeeds:", n);
    for (int i = 0; i < n; i++)
        fprintf(md, " %d", seeds[i]);
    fprintf(md, ". Each cell: mean over the seeds (min – max).\n\n");
    fprintf(md, "| in domain | α = 0.2 | α = 0.5 | α = 0.8 |\n|---|---|---|---|\n");
    const char *label[4] = {"DiSRouter (+RL) utility", "accuracy", "cost", "% of Oracle utility"};
    for (int row = 0; row < 4; row++) {
        fprintf(md, "| %s |", label[row]);
        for (int a = 0; a < N_ALPHA; a++) {
            double x[SEEDS_MAX];
            for (int i = 0; i < n; i++)
                x[i] = row == 0   ? r[i].util[a]
                       : row == 1 ? r[i].acc[a]
                       : row == 2 ? r[i].cost[a]
                                  : (r[i].oracle[a] > 0 ? r[i].util[a] / r[i].oracle[a] : NAN);
            char cell[64];
            fmt_stat(cell, sizeof cell, x, n, row == 3 ? 100 : 1, row == 3 ? " %" : "");
            fprintf(md, " %s |", cell);
        }
        fprintf(md, "\n");
    }
    double x[SEEDS_MAX] = {0};
    char cell[64];
    for (int i = 0; i < n; i++)
        x[i] = r[i].oracle_acc;
    fmt_stat(cell, sizeof cell, x, n, 100, " %");
    fprintf(md, "\nOracle accuracy in domain: %s.\n\nForced accuracy in domain per agent:", cell);
    for (int a = 0; a < r[0].n_agents; a++) {
        for (int i = 0; i < n; i++)
            x[i] = a < r[i].n_agents ? r[i].forced[a] : NAN;
        fmt_stat(cell, sizeof cell, x, n, 100, " %");
        fprintf(md, "%s agent%d %s", a ? ";" : "", a, cell);
    }
    fprintf(md, ".\n\n## The paper's claims, per seed\n\n| claim |");
    for (int i = 0; i < n; i++)
        fprintf(md, " seed %d |", seeds[i]);
    fprintf(md, "\n|---|");
    for (int i = 0; i < n; i++)
        fprintf(md, "---|");
    fprintf(md, "\n");
    for (int c = 0; c < r[0].n_claims; c++) {
        fprintf(md, "| %s |", r[0].claim[c]);
        for (int i = 0; i < n; i++) {
            int h = c < r[i].n_claims ? r[i].holds[c] : -1;
            fprintf(md, " %s |", h == 1 ? "holds" : h == 0 ? "**fails**" : "not checked");
        }
        fprintf(md, "\n");
    }
    fprintf(md, "\nEach seed's report.md gives the numbers behind every cell.\n");
}

static int write_json(const char *path, const struct seed_run *r, const int *seeds, int n) {
    cJSON *root = cJSON_CreateObject(), *runs = cJSON_AddArrayToObject(root, "runs");
    for (int i = 0; root && runs && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(runs, o);
        cJSON_AddNumberToObject(o, "seed", seeds[i]);
        cJSON_AddItemToObject(o, "utility", cJSON_CreateDoubleArray(r[i].util, N_ALPHA));
        cJSON_AddItemToObject(o, "oracle_utility", cJSON_CreateDoubleArray(r[i].oracle, N_ALPHA));
        cJSON_AddItemToObject(o, "forced_accuracy",
                              cJSON_CreateDoubleArray(r[i].forced, r[i].n_agents));
        cJSON *h = cJSON_AddArrayToObject(o, "claims_hold");
        for (int c = 0; c < r[i].n_claims; c++)
            cJSON_AddItemToArray(h, r[i].holds[c] < 0 ? cJSON_CreateNull()
                                                      : cJSON_CreateBool(r[i].holds[c]));
    }
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) return disr_fail(DISR_E_NOMEM, "seeds: encoding %s", path);
    int st = file_write_atomic(path, text, strlen(text));
    cJSON_free(text);
    return st;
}

int seeds_report(const char *const *summaries, const int *seeds, int n, FILE *md,
                 const char *json_path) {
    if (n < 1 || n > SEEDS_MAX)
        return disr_fail(DISR_E_RANGE, "seeds: %d runs (1 .. %d)", n, SEEDS_MAX);
    struct seed_run *r = calloc((size_t)n, sizeof *r);
    if (!r) return disr_fail(DISR_E_NOMEM, "seeds");
    int st = DISR_OK;
    for (int i = 0; i < n && st == DISR_OK; i++)
        st = read_run(summaries[i], &r[i]);
    if (st == DISR_OK) write_md(md, r, seeds, n);
    if (st == DISR_OK && json_path) st = write_json(json_path, r, seeds, n);
    free(r);
    return st;
}
