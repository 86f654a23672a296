/* disr sa-report: how self-aware a family of agents is on held-out queries. Per agent and
 * scenario: answer rate, precision of the answered queries against the paper's threshold
 * (1 - alpha)^0.5, self-assessment F1 (reject <=> the forced answer would be wrong) and the
 * forced-answer accuracy against the untrained base; then the chain of the agents in order,
 * in process: accuracy, cost and utility = accuracy - alpha * cost per scenario. With
 * --compare (e.g. the SFT agents when --agents are the RL ones) both chains side by side; with
 * --queries each agent's outcome on each query, to see which queries one version drops. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sa_cli.h"
#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "model/model_io.h"
#include "world/scenario.h"
#include "train/sa.h"

#define MAX_AGENTS 16

/* Evaluates each model of a comma list; names[] point into `list` (modified). */
static int eval_list(char *list, const struct qa_set *data, const struct sa_gen_config *g,
                     char **names, struct sa_agent_eval *ev, int *n) {
    *n = sa_cli_split(list, names, MAX_AGENTS);
    if (*n <= 0)
        return disr_fail(DISR_E_ARG, "expected 1..%d comma-separated GGUF files", MAX_AGENTS);
    for (int i = 0; i < *n; i++) {
        struct model *m = NULL;
        DISR_TRY(model_load(&m, names[i]));
        int st = sa_eval_agent(m, data, g, &ev[i]);
        model_free(m);
        if (st < 0) return st;
    }
    return DISR_OK;
}

static cJSON *eval_json(const char *name, const struct sa_agent_eval *e,
                        const struct sa_agent_eval *base) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "agent", name);
    cJSON_AddNumberToObject(o, "forced_accuracy", e->forced_acc);
    cJSON_AddStringToObject(o, "f1_truth", base ? "base" : "own");
    if (base) cJSON_AddNumberToObject(o, "base_forced_accuracy", base->forced_acc);
    for (int s = 0; s < SCENARIO_COUNT; s++) {
        cJSON *so = cJSON_AddObjectToObject(o, scenario_name(scenario_at(s)));
        double alpha = scenario_alpha(scenario_at(s));
        cJSON_AddNumberToObject(so, "alpha", alpha);
        cJSON_AddNumberToObject(so, "answer_rate", e->answer_rate[s]);
        cJSON_AddNumberToObject(so, "precision", e->precision[s]);
        cJSON_AddNumberToObject(so, "answered", e->n_answered[s]);
        cJSON_AddNumberToObject(so, "answered_right", e->n_answered_right[s]);
        cJSON_AddItemToObject(
            so, "precision_95",
            cJSON_CreateDoubleArray((double[]){e->precision_lo[s], e->precision_hi[s]}, 2));
        cJSON_AddNumberToObject(so, "threshold", scenario_threshold(alpha));
        cJSON_AddNumberToObject(so, "f1", e->f1[s]);
        cJSON_AddNumberToObject(so, "broken_rejects", e->n_broken[s]);
        cJSON_AddNumberToObject(so, "reward", e->reward[s]);
    }
    return o;
}

/* What the agent did with one query under scenario index s (0..2). */
static const char *query_outcome(const struct sa_agent_eval *e, int s, int i) {
    return !e->answered[s][i] ? "reject" : e->correct[s][i] ? "right" : "wrong";
}

/* Appends one JSONL line per query for each agent of a set, so a reader can see which queries
 * a trained version dropped or took up against another (the aggregates hide that). */
static int queries_append(FILE *f, const char *set, char **names, const struct sa_agent_eval *ev,
                          int n_agents, const struct qa_set *data) {
    for (int a = 0; a < n_agents; a++)
        for (int i = 0; i < ev[a].n; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "set", set);
            cJSON_AddStringToObject(o, "agent", names[a]);
            cJSON_AddStringToObject(o, "id", data->items[i].id);
            cJSON_AddStringToObject(o, "family", data->items[i].family);
            cJSON_AddBoolToObject(o, "forced_right", ev[a].forced_correct[i]);
            for (int s = 0; s < SCENARIO_COUNT; s++)
                cJSON_AddStringToObject(o, scenario_name(scenario_at(s)),
                                        query_outcome(&ev[a], s, i));
            char *line = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            if (!line) return disr_fail(DISR_E_NOMEM, "per-query record");
            fprintf(f, "%s\n", line);
            free(line);
        }
    return DISR_OK;
}

static int write_queries(const char *path, const struct qa_set *data, char **an,
                         const struct sa_agent_eval *ae, int na, char **cn,
                         const struct sa_agent_eval *ce, int nc, char **bn,
                         const struct sa_agent_eval *be, int nb) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return disr_fail(DISR_E_NOMEM, "per-query records");
    int st = queries_append(f, "agents", an, ae, na, data);
    if (st >= 0) st = queries_append(f, "compare", cn, ce, nc, data);
    if (st >= 0) st = queries_append(f, "base", bn, be, nb, data);
    fclose(f);
    if (st >= 0) st = file_write_atomic(path, text, len);
    free(text);
    return st;
}

static void print_chain(const char *label, const struct sa_agent_eval *ev, int k,
                        const double *costs, cJSON *arr) {
    double share[MAX_AGENTS];
    for (int s = SCENARIO_PERFORMANCE; s <= SCENARIO_COST; s++) {
        struct sa_chain_result r = {.share = share};
        sa_chain_eval(ev, k, costs, s, &r);
        printf("| %s | %s (α=%.1f) | %.3f | %.3f | **%.3f** | ", label,
               scenario_name((enum scenario)s), scenario_alpha((enum scenario)s), r.accuracy,
               r.cost, r.utility);
        for (int a = 0; a < k; a++)
            printf("%s%.2f", a ? " / " : "", share[a]);
        printf(" |\n");
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "set", label);
        cJSON_AddStringToObject(o, "scenario", scenario_name((enum scenario)s));
        cJSON_AddNumberToObject(o, "accuracy", r.accuracy);
        cJSON_AddNumberToObject(o, "cost", r.cost);
        cJSON_AddNumberToObject(o, "utility", r.utility);
        cJSON_AddItemToObject(o, "share", cJSON_CreateDoubleArray(share, k));
        cJSON_AddItemToArray(arr, o);
    }
}

int cmd_sa_report(int argc, char **argv) {
    const char *agents = NULL, *base = NULL, *compare = NULL, *data_path = NULL, *costs_s = NULL,
               *json_path = NULL, *queries_path = NULL;
    int threads = 1, max_tok = -1, limit = 0;
    const struct cli_opt opts[] = {
        {"--agents", "-a", OPT_STR, &agents, "trained agents in chain order, comma-separated"},
        {"--base", NULL, OPT_STR, &base, "the same agents before training (forced accuracy)"},
        {"--compare", NULL, OPT_STR, &compare,
         "another trained set to compare (e.g. the SFT agents)"},
        {"--data", "-d", OPT_STR, &data_path, "held-out queries (JSONL)"},
        {"--costs", NULL, OPT_STR, &costs_s, "agent costs (default 0.1 .. 0.9 evenly)"},
        {"--limit", NULL, OPT_INT, &limit, "use only the first N queries (0: all)"},
        {"--max-tokens", NULL, OPT_INT, &max_tok, "cap on answer tokens (32)"},
        {"--threads", NULL, OPT_INT, &threads,
         "engine threads (1; 0: all cores; tiny agents run best on 1)"},
        {"--json", NULL, OPT_STR, &json_path, "also write the figures as JSON"},
        {"--queries", NULL, OPT_STR, &queries_path,
         "also write each agent's outcome per query (JSONL: right, wrong or reject)"},
        {0}};
    int st = cli_parse(argc, argv, opts, "--agents a.gguf,b.gguf,... --data HELDOUT.jsonl", NULL, 0,
                       NULL);
    if (st) return st == 1 ? 0 : st;
    if (!agents || !data_path) {
        fprintf(stderr, "disr sa-report: --agents and --data are required (see --help)\n");
        return 2;
    }
    struct sa_gen_config g;
    sa_gen_config_default(&g);
    g.n_threads = threads;
    if (max_tok > 0) g.max_tokens = max_tok;
    struct qa_set data;
    qa_set_init(&data);
    char *alist = strdup(agents), *blist = base ? strdup(base) : NULL,
         *clist = compare ? strdup(compare) : NULL;
    char *an[MAX_AGENTS], *bn[MAX_AGENTS], *cn[MAX_AGENTS];
    static struct sa_agent_eval ae[MAX_AGENTS], be[MAX_AGENTS], ce[MAX_AGENTS];
    int na = 0, nb = 0, nc = 0;
    double costs[MAX_AGENTS];
    cJSON *root = cJSON_CreateObject(), *jagents = cJSON_AddArrayToObject(root, "agents"),
          *jchain = cJSON_AddArrayToObject(root, "chain");
    if (!alist || (base && !blist) || (compare && !clist)) {
        st = disr_fail(DISR_E_NOMEM, "agent lists");
        goto done;
    }
    if ((st = qa_set_load(&data, data_path)) < 0) goto done;
    struct qa_set view = data; /* the first --limit queries */
    if (limit > 0 && limit < data.n) view.n = limit;
    if ((st = eval_list(alist, &view, &g, an, ae, &na)) < 0) goto done;
    if (blist && (st = eval_list(blist, &view, &g, bn, be, &nb)) < 0) goto done;
    if (clist && (st = eval_list(clist, &view, &g, cn, ce, &nc)) < 0) goto done;
    if ((nb && nb != na) || (nc && nc != na)) {
        st = disr_fail(DISR_E_ARG, "--base and --compare must list as many agents as --agents (%d)",
                       na);
        goto done;
    }
    if (costs_s) {
        if (sa_cli_numbers(costs_s, costs, MAX_AGENTS) != na) {
            st = disr_fail(DISR_E_ARG, "--costs needs %d numbers", na);
            goto done;
        }
    } else {
        for (int i = 0; i < na; i++)
            costs[i] = na > 1 ? 0.1 + 0.8 * i / (na - 1) : 0.1;
    }
    /* One truth for F1 across the trained versions of an agent: its base's forced answers. */
    for (int i = 0; i < nb; i++) {
        sa_eval_summarize_against(&ae[i], be[i].forced_correct);
        if (nc) sa_eval_summarize_against(&ce[i], be[i].forced_correct);
    }
    printf("## Self-awareness on %s (%d queries)\n\n", data_path, view.n);
    printf("F1: the reject as a predictor of %s forced answer being wrong.\n\n",
           nb ? "the base agent's (--base; one truth for every trained version)"
              : "the agent's own");
    sa_cli_print_eval_header(stdout);
    for (int i = 0; i < na; i++) {
        sa_cli_print_eval(stdout, an[i], &ae[i], nb ? &be[i] : NULL);
        cJSON_AddItemToArray(jagents, eval_json(an[i], &ae[i], nb ? &be[i] : NULL));
    }
    for (int i = 0; i < nc; i++) {
        sa_cli_print_eval(stdout, cn[i], &ce[i], nb ? &be[i] : NULL);
        cJSON_AddItemToArray(jagents, eval_json(cn[i], &ce[i], nb ? &be[i] : NULL));
    }
    printf("\n## Chain of %d agents, in process (costs", na);
    for (int i = 0; i < na; i++)
        printf(" %.2f", costs[i]);
    printf(")\n\n| set | scenario | accuracy | cost | utility | answered by (share) |\n"
           "|---|---|---|---|---|---|\n");
    print_chain("agents", ae, na, costs, jchain);
    if (nc) print_chain("compare", ce, nc, costs, jchain);
    if (json_path) {
        char *text = cJSON_Print(root);
        st = text ? file_write_atomic(json_path, text, strlen(text))
                  : disr_fail(DISR_E_NOMEM, "JSON report");
        free(text);
    }
    if (st >= 0 && queries_path)
        st = write_queries(queries_path, &view, an, ae, na, cn, ce, nc, bn, be, nb);
done:
    for (int i = 0; i < MAX_AGENTS; i++)
        sa_eval_free(&ae[i]), sa_eval_free(&be[i]), sa_eval_free(&ce[i]);
    cJSON_Delete(root);
    free(alist);
    free(blist);
    free(clist);
    qa_set_free(&data);
    return st < 0 ? cli_fail("sa-report", st) : 0;
}
