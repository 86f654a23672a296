/* disr eval: DiSRouter against every baseline, from a recorded outcome table, from agents run
 * in process (recording the table first), or from a synthetic table, into a report directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "eval/collect.h"
#include "eval/collect_remote.h"
#include "eval/outcomes.h"
#include "eval/report.h"
#include "serve/netconf.h"
#include "world/score.h"

/* Splits a comma list in place into up to OUT_MAX_AGENTS entries; "-" or "" means none (NULL).
 * Returns the count, or -1 if there are too many. */
static int split_list(char *s, const char **out) {
    int n = 0;
    for (char *tok = s;; n++) {
        if (n == OUT_MAX_AGENTS) return -1;
        char *comma = strchr(tok, ',');
        if (comma) *comma = '\0';
        out[n] = (!tok[0] || !strcmp(tok, "-")) ? NULL : tok;
        if (!comma) return n + 1;
        tok = comma + 1;
    }
}

/* What the command line says about remote agents. */
struct remote_args {
    const char *models; /* comma list, '-' = found by the probe */
    const char *key_env;
    const char *costs;
    const char *net;
};

/* Costs "0.1,0.5,1" into cc->cost (n entries). Returns an exit code. */
static int parse_costs(const char *list, int n, struct collect_config *cc) {
    const char *p = list;
    for (int a = 0; a < n; a++) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !(v > 0 && v < 1e6) || (a + 1 < n ? *end != ',' : *end != '\0')) {
            fprintf(stderr, "disr eval: --costs needs %d positive numbers, comma separated\n", n);
            return 2;
        }
        cc->cost[a] = v;
        p = end + 1;
    }
    return 0;
}

/* --net FILE: every agent of a running network (disr up FILE), asked at its node for its own
 * forced answers, at the file's costs, with the network's client key. */
static int agents_from_net(const char *path, struct netconf *nc, struct collect_config *cc) {
    int st = netconf_load(nc, path);
    if (st) return cli_fail("reading the network file", st);
    static char key[NETCONF_STR];
    snprintf(key, sizeof key, "%s", nc->api_keys);
    key[strcspn(key, ",")] = '\0';
    cc->n_agents = nc->n;
    for (int a = 0; a < nc->n; a++) {
        cc->agent[a] = nc->agents[a].url;
        cc->cost[a] = nc->agents[a].cost;
        cc->api_key[a] = key[0] ? key : NULL;
    }
    return 0;
}

/* Runs the agents named on the command line into an outcome table. Returns an exit code. */
static int collect_from_args(struct outcome_table *t, const char *const lists_in[3],
                             const struct remote_args *ra, struct collect_config *cc) {
    char *lists[4] = {NULL, NULL, NULL, NULL};
    const char **dst[3] = {cc->agent, cc->sft, cc->rl};
    int counts[3] = {0, 0, 0}, rc = 0;
    static struct netconf nc;
    if (ra->net) {
        if ((rc = agents_from_net(ra->net, &nc, cc))) return rc;
        counts[0] = cc->n_agents;
    }
    for (int i = 0; i < 3 && rc == 0; i++) {
        if (!lists_in[i]) continue;
        lists[i] = strdup(lists_in[i]);
        if (!lists[i] || (counts[i] = split_list(lists[i], dst[i])) < 0) {
            fprintf(stderr, "disr eval: at most %d agents\n", OUT_MAX_AGENTS);
            rc = 2;
        }
    }
    for (int i = 1; i < 3 && rc == 0; i++)
        if (lists_in[i] && counts[i] != counts[0]) {
            fprintf(stderr, "disr eval: --%s lists %d models for %d agents\n",
                    i == 1 ? "sft" : "rl", counts[i], counts[0]);
            rc = 2;
        }
    const char *models[OUT_MAX_AGENTS] = {NULL};
    if (rc == 0 && ra->models) {
        lists[3] = strdup(ra->models);
        int n = lists[3] ? split_list(lists[3], models) : -1;
        if (n != counts[0]) {
            fprintf(stderr, "disr eval: --remote-models lists %d names for %d agents\n", n,
                    counts[0]);
            rc = 2;
        }
    }
    const char *key = ra->key_env ? getenv(ra->key_env) : NULL;
    if (rc == 0 && ra->key_env && (!key || !key[0])) {
        fprintf(stderr, "disr eval: --remote-key-env %s: the variable is not set\n", ra->key_env);
        rc = 2;
    }
    if (rc == 0) {
        cc->n_agents = counts[0];
        for (int a = 0; a < cc->n_agents; a++) {
            cc->remote_model[a] = models[a];
            if (key) cc->api_key[a] = key;
        }
        if (ra->costs) rc = parse_costs(ra->costs, cc->n_agents, cc);
    }
    if (rc == 0) {
        int st = collect_outcomes(t, cc);
        if (st) rc = cli_fail("running the agents", st);
    }
    for (int i = 0; i < 4; i++)
        free(lists[i]);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    const char *outcomes = NULL, *out = "eval-report", *title = NULL;
    const char *agents = NULL, *sft = NULL, *rl = NULL, *sa_train = NULL, *data = NULL, *ood = NULL;
    int synthetic = 0, seed = 1, no_plots = 0, quick = 0, epochs = 0, feat_dim = 0, knn_k = 0;
    int limit = 0, verify = 8, max_tokens = SCORE_MAX_TOKENS, threads = 0, max_seqs = 32, lanes = 1;
    struct remote_args ra = {0};
    int concurrency = 4, timeout_ms = 120000, retries = 3;
    const struct cli_opt opts[] = {
        {"--outcomes", "-i", OPT_STR, &outcomes,
         "recorded outcome table (JSONL, one line per query x agent)"},
        {"--out", "-o", OPT_STR, &out, "report directory (default eval-report)"},
        {"--agents", NULL, OPT_STR, &agents,
         "instead: run these agents (comma list, cheapest first): GGUF files, or http(s) URLs "
         "of OpenAI-compatible servers"},
        {"--net", NULL, OPT_STR, &ra.net,
         "instead: every agent of this running network file (disr up), asked at its node"},
        {"--costs", NULL, OPT_STR, &ra.costs,
         "the agents' costs, comma list (default 0.1 + 0.8 i/(K-1); --net: the file's)"},
        {"--remote-models", NULL, OPT_STR, &ra.models,
         "model names sent to the URL agents (comma list; '-' = the server's only model, or "
         "disr-forced on a disr node)"},
        {"--remote-key-env", NULL, OPT_STR, &ra.key_env,
         "environment variable holding the API key for the URL agents"},
        {"--concurrency", NULL, OPT_INT, &concurrency,
         "requests in flight per URL agent (default 4)"},
        {"--timeout-ms", NULL, OPT_INT, &timeout_ms, "per request to a URL agent (default 120000)"},
        {"--retries", NULL, OPT_INT, &retries,
         "retries of a failed request (unreachable, 5xx, timeout, garbled reply; default 3)"},
        {"--sft", NULL, OPT_STR, &sft,
         "their SFT checkpoints: GGUF files or disr serve node URLs (comma list; '-' = none)"},
        {"--rl", NULL, OPT_STR, &rl,
         "their RL checkpoints: GGUF files or disr serve node URLs (comma list; '-' = none)"},
        {"--sa-train", NULL, OPT_STR, &sa_train,
         "self-awareness training queries (JSONL): fits the baselines"},
        {"--data", NULL, OPT_STR, &data, "in-domain test queries (JSONL)"},
        {"--ood", NULL, OPT_STR, &ood, "out-of-domain test queries (JSONL)"},
        {"--limit", NULL, OPT_INT, &limit, "at most N queries per query file (default all)"},
        {"--verify-samples", NULL, OPT_INT, &verify, "samples for self-verification (default 8)"},
        {"--max-tokens", NULL, OPT_INT, &max_tokens, "answer length limit (default 32)"},
        {"--max-seqs", NULL, OPT_INT, &max_seqs, "sequences decoded together (default 32)"},
        {"--threads", NULL, OPT_INT, &threads, "engine threads per agent (default all cores)"},
        {"--lanes", NULL, OPT_INT, &lanes,
         "agents run at once, each on its own engine (default 1; with --threads 1, one per core)"},
        {"--synthetic", NULL, OPT_INT, &synthetic,
         "instead: a synthetic world with N test queries (2N train, N/2 OOD)"},
        {"--seed", NULL, OPT_INT, &seed, "seed of the synthetic world, sampling and baselines"},
        {"--title", NULL, OPT_STR, &title, "report title"},
        {"--epochs", NULL, OPT_INT, &epochs,
         "training epochs of the MLP router and scorers (default 30)"},
        {"--feat-dim", NULL, OPT_INT, &feat_dim,
         "hashed query feature size, a power of two (default 1024)"},
        {"--knn-k", NULL, OPT_INT, &knn_k, "neighbours of the kNN router (default 25)"},
        {"--quick", NULL, OPT_FLAG, &quick, "small baselines (256 features, 8 epochs): for tests"},
        {"--no-plots", NULL, OPT_FLAG, &no_plots, "skip the gnuplot PNGs"},
        {NULL, NULL, 0, NULL, NULL},
    };
    int rc = cli_parse(
        argc, argv, opts,
        "--outcomes FILE.jsonl --out DIR\n"
        "       disr eval --agents a.gguf,b.gguf,... [--sft ...] [--rl ...] --sa-train SA.jsonl "
        "--data TEST.jsonl [--ood OOD.jsonl] --out DIR\n"
        "       disr eval --agents http://h:8080/v1,... | --net NET.conf --sa-train SA.jsonl "
        "--data TEST.jsonl --out DIR\n"
        "       disr eval --synthetic N --out DIR\n\n"
        "Routes every query of the test and OOD splits through DiSRouter (SFT, +RL) and every "
        "baseline at alpha 0.2 / 0.5 / 0.8, fits the learned baselines on the training split, and "
        "writes report.md, PNG plots, summary.json and the per-query records.jsonl into DIR. With "
        "--agents it first runs the agents over the query files and records the outcome table "
        "(DIR/outcomes.jsonl), which --outcomes evaluates again later without the agents.",
        NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if ((outcomes != NULL) + (synthetic != 0) + (agents != NULL) + (ra.net != NULL) != 1) {
        fprintf(stderr, "disr eval: give exactly one of --outcomes FILE, --agents LIST, --net "
                        "FILE or --synthetic N (see --help)\n");
        return 2;
    }
    bool collect = agents || ra.net;
    if (!collect && (sft || rl || sa_train || data || ood || ra.costs || ra.models || ra.key_env)) {
        fprintf(stderr, "disr eval: --sft, --rl, --sa-train, --data, --ood, --costs, "
                        "--remote-models and --remote-key-env go with --agents or --net\n");
        return 2;
    }
    if (ra.net && (ra.models || ra.key_env)) {
        fprintf(stderr, "disr eval: with --net the network file names the agents and the key\n");
        return 2;
    }
    if (concurrency < 1 || concurrency > 64 || timeout_ms < 1 || retries < 0 || retries > 20) {
        fprintf(stderr, "disr eval: --concurrency 1..64, --timeout-ms > 0, --retries 0..20\n");
        return 2;
    }
    char resume[1024];
    snprintf(resume, sizeof resume, "%s/outcomes.partial.jsonl", out);
    if (synthetic < 0 || synthetic > 1000000) {
        fprintf(stderr, "disr eval: --synthetic %d is out of range (1..1000000)\n", synthetic);
        return 2;
    }
    struct outcome_table t;
    int st;
    if (collect) {
        struct collect_config cc;
        collect_config_default(&cc);
        cc.split_path[OUT_SPLIT_TRAIN] = sa_train;
        cc.split_path[OUT_SPLIT_TEST] = data;
        cc.split_path[OUT_SPLIT_OOD] = ood;
        cc.limit = limit, cc.verify_samples = verify, cc.max_tokens = max_tokens;
        cc.max_seqs = max_seqs, cc.n_threads = threads, cc.seed = (uint64_t)seed;
        cc.lanes = lanes;
        cc.concurrency = concurrency, cc.timeout_ms = timeout_ms, cc.retries = retries;
        cc.resume_path = resume;
        const char *const lists[3] = {agents, sft, rl};
        if ((rc = collect_from_args(&t, lists, &ra, &cc))) return rc;
    } else if (outcomes) {
        st = outcome_table_load(&t, outcomes);
        if (st) return cli_fail("loading outcomes", st);
    } else {
        struct outcome_synth_config sc;
        outcome_synth_defaults(&sc);
        sc.n_test = synthetic, sc.n_train = 2 * synthetic, sc.n_ood = synthetic / 2;
        sc.seed = (uint64_t)seed;
        st = outcome_table_synth(&t, &sc);
        if (st) return cli_fail("synthetic outcomes", st);
    }
    struct report_config rep;
    report_config_default(&rep);
    rep.out_dir = out;
    rep.plots = !no_plots;
    rep.source = outcomes ? outcomes
                 : ra.net ? "the agents of a running network, over HTTP (disr eval --net)"
                 : agents ? "agents run in process or asked over HTTP (disr eval --agents)"
                          : "synthetic world (disr eval --synthetic)";
    if (title)
        rep.title = title;
    else if (synthetic)
        rep.title = "DiSRouter evaluation on a synthetic outcome table";
    rep.fit.seed = (uint64_t)seed;
    if (quick) rep.fit.feat_dim = 256, rep.fit.epochs = 8, rep.fit.knn_k = 15;
    if (epochs) rep.fit.epochs = epochs;
    if (feat_dim) rep.fit.feat_dim = feat_dim;
    if (knn_k) rep.fit.knn_k = knn_k;
    double t0 = time_now();
    st = report_run(&t, &rep);
    outcome_table_free(&t);
    if (st) return cli_fail("eval", st);
    if (collect) unlink(resume); /* the table is in DIR/outcomes.jsonl now */
    log_info("eval: report written to %s/report.md in %.1fs", out, time_now() - t0);
    return 0;
}
