/* disr demo: the README's main job. From nothing to the paper's utility table on this machine:
 * world -> agent family (zoo) -> self-awareness SFT and RL per agent -> the chain as a live
 * network of `disr serve` processes -> evaluation of every method through it -> report.
 *
 * Each stage is the same `disr` command a user would run by hand (this binary, re-executed), so
 * the demo is also the documentation of the pipeline; its commands are printed as they run.
 * Every stage leaves files that mark it finished, and the long ones (zoo, sa-sft, sa-rl) resume
 * from their checkpoints, so a second run, or a run after an interruption, redoes nothing. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/spawn.h"
#include "core/log.h"
#include "eval/network.h"
#include "eval/outcomes.h"
#include "eval/seeds.h"
#include "route/http_client.h"
#include "world/score.h"
#include "world/world.h"

extern char **environ;

#define DEMO_MAX_AGENTS 8
#define DEMO_MAX_SEEDS  16
/* The quick demo's world and training: level-1 queries only, and twice the quick family's
 * steps; measured in docs/WORLD.md, "The quick family". */
#define DEMO_QUICK_LEVELS      "1,0,0,0"
#define DEMO_QUICK_STEPS_SCALE "2"

struct demo {
    const char *dir;
    int quick;
    int agents;
    int seed;
    int port;
    char self[4096];
    double t_start;
};

static int path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* printf into a path buffer; a path too long for it is an error, never a silent truncation. */
static int path_fmt(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int path_fmt(char *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "disr demo: path too long: %s...\n", out);
        return 1;
    }
    return 0;
}

static int join(char *out, size_t cap, const char *dir, const char *name) {
    return path_fmt(out, cap, "%s/%s", dir, name);
}

static void stage_banner(const struct demo *d, int number, const char *what) {
    double minutes = (time_now() - d->t_start) / 60.0;
    fprintf(stderr, "\n=== [demo %.1f min] stage %d/6: %s\n", minutes, number, what);
}

static int stage_world(const struct demo *d, char *world, size_t cap) {
    stage_banner(d, 1, "the synthetic world");
    join(world, cap, d->dir, "world");
    char marker[4200];
    join(marker, sizeof marker, world, WORLD_FILE_META);
    if (path_exists(marker)) {
        fprintf(stderr, "reusing %s\n", world);
        return 0;
    }
    char seed[16];
    snprintf(seed, sizeof seed, "%d", d->seed);
    /* The quick world asks level-1 queries only (head entities, one-digit sums, three letters,
     * one statement): the only ones its minute-sized agents learn to answer at all, so a first
     * run shows agents answering. */
    const char *args[16];
    int n = 0;
    args[n++] = "world";
    args[n++] = "--seed";
    args[n++] = seed;
    args[n++] = "--out";
    args[n++] = world;
    if (d->quick) {
        args[n++] = "--quick";
        args[n++] = "--levels";
        args[n++] = DEMO_QUICK_LEVELS;
    }
    args[n] = NULL;
    return spawn_run(args);
}

static int stage_zoo(const struct demo *d, const char *world, char *zoo, size_t cap) {
    stage_banner(d, 2, "the agent family (pretraining from scratch; resumable)");
    join(zoo, cap, d->dir, "zoo");
    char agents[16];
    snprintf(agents, sizeof agents, "%d", d->agents);
    /* Two agents at a time, one thread each (the largest first): the small shapes train faster
     * on one thread than on two, so side by side they use both cores. */
    const char *args[16];
    int n = 0;
    args[n++] = "zoo";
    args[n++] = "--world";
    args[n++] = world;
    args[n++] = "--agents";
    args[n++] = agents;
    args[n++] = "--out";
    args[n++] = zoo;
    args[n++] = "--lanes";
    args[n++] = "2";
    if (d->quick) {
        args[n++] = "--quick";
        args[n++] = "--steps-scale";
        args[n++] = DEMO_QUICK_STEPS_SCALE;
    }
    args[n] = NULL;
    return spawn_run(args);
}

/* One agent's self-awareness training: SFT, then RL on the SFT model. */
struct sa_job {
    char base[4200], sft[4200];
    const char *rl;
    bool last;
    int phase; /* 0: SFT next, 1: RL next, 2: done */
};

/* Starts the job's next stage that has not produced its file yet; *pid 0 when none is left. */
static int sa_job_start(const struct demo *d, const char *data, const char *anchors,
                        struct sa_job *j, pid_t *pid) {
    *pid = 0;
    for (; j->phase < 2; j->phase++) {
        const char *out = j->phase == 0 ? j->sft : j->rl;
        if (path_exists(out)) continue;
        const char *args[16];
        int n = 0;
        args[n++] = j->phase == 0 ? "sa-sft" : "sa-rl";
        args[n++] = "--agent";
        args[n++] = j->phase == 0 ? j->base : j->sft;
        args[n++] = "--data";
        args[n++] = data;
        args[n++] = "--out";
        args[n++] = out;
        if (d->quick) args[n++] = "--quick";
        if (j->last) args[n++] = "--last";
        /* The forced-answer anchors of both stages replay greedy answers to queries about
         * every entity, so fine-tuning on the SA entities keeps what the agent knows of the
         * test ones (docs/SELF_AWARENESS.md, "Forced-answer anchors"); a world from before
         * anchors.jsonl has none. */
        if (path_exists(anchors)) {
            args[n++] = "--anchor-data";
            args[n++] = anchors;
        }
        /* RL's anchors distill the pretrained agent, not the SFT model: forced answers are
         * held where they were before any self-awareness training (docs/SELF_AWARENESS.md,
         * "Forced-answer anchors"). */
        if (j->phase == 1 && !j->last) {
            args[n++] = "--anchor-model";
            args[n++] = j->base;
        }
        args[n] = NULL;
        j->phase++;
        return spawn_disr(args, pid);
    }
    return 0;
}

/* Stage 3: both self-awareness stages for every agent. Each agent trains alone, on one thread
 * (tiny agents decode fastest on one), so two agents train at once, one per core: the family
 * takes about as long as its slowest pair of agents instead of the sum of all. The largest
 * agents go first so the short ones fill in behind them. */
enum { SA_LANES = 2 };
static int stage_self_awareness(const struct demo *d, const char *world, const char *zoo,
                                char rl_paths[][4200]) {
    stage_banner(d, 3, "self-awareness training: SFT then RL, each agent alone, two at a time");
    char data[4200], anchors[4200], sa_dir[4200];
    join(data, sizeof data, world, WORLD_FILE_SA_TRAIN);
    join(anchors, sizeof anchors, world, WORLD_FILE_ANCHORS);
    join(sa_dir, sizeof sa_dir, d->dir, "sa");
    mkdir(sa_dir, 0755);
    struct sa_job jobs[DEMO_MAX_AGENTS];
    for (int i = 0; i < d->agents; i++) {
        struct sa_job *j = &jobs[i];
        char name[32];
        snprintf(name, sizeof name, "agent%d.gguf", i);
        if (join(j->base, sizeof j->base, zoo, name) ||
            path_fmt(j->sft, sizeof j->sft, "%s/agent%d-sft.gguf", sa_dir, i) ||
            path_fmt(rl_paths[i], 4200, "%s/agent%d-rl.gguf", sa_dir, i))
            return 1;
        j->rl = rl_paths[i];
        j->last = i == d->agents - 1;
        j->phase = 0;
    }
    pid_t lane_pid[SA_LANES] = {0};
    int lane_job[SA_LANES], next = d->agents - 1, rc = 0, running = 0;
    for (;;) {
        for (int l = 0; l < SA_LANES && !rc; l++) /* idle lanes take the largest agent left */
            for (; !lane_pid[l] && next >= 0 && !rc; next--) {
                if (sa_job_start(d, data, anchors, &jobs[next], &lane_pid[l])) rc = 1;
                lane_job[l] = next;
                running += lane_pid[l] != 0;
            }
        if (!running) return rc;
        pid_t done = -1;
        int code = spawn_wait(-1, &done);
        if (done < 0) return 1; /* no child to wait for: the lanes lost track */
        for (int l = 0; l < SA_LANES; l++) {
            if (lane_pid[l] != done) continue;
            lane_pid[l] = 0;
            running--;
            if (code != 0 && !rc) { /* stop the other lane too: the demo cannot go on */
                rc = code < 0 ? 1 : code;
                for (int o = 0; o < SA_LANES; o++)
                    if (lane_pid[o]) kill(lane_pid[o], SIGTERM);
            }
            if (!rc && sa_job_start(d, data, anchors, &jobs[lane_job[l]], &lane_pid[l])) rc = 1;
            running += lane_pid[l] != 0;
        }
    }
}

/* Writes the network file of the trained chain; the entry listens on d->port. Agents are named
 * agent0..agentK-1 like the zoo's files. The last agent never rejects, so it is deployed as the
 * zoo trained it, answering every query (mode always): that is the agent whose forced answers
 * the in-process evaluation scores for the chain's last hop, so the live chain and the report
 * agree answer for answer. (Its self-awareness-trained copy answers under the scenario prompts,
 * which changed its accuracy: docs/EVAL.md, "The chain's last agent".) */
static int write_network(const struct demo *d, const char *zoo, char rl_paths[][4200], char *conf,
                         size_t cap) {
    join(conf, cap, d->dir, "network.conf");
    FILE *f = fopen(conf, "w");
    if (!f) {
        fprintf(stderr, "disr demo: cannot write %s: %s\n", conf, strerror(errno));
        return 1;
    }
    fprintf(f, "# The demo's chain of self-aware agents, cheapest first (written by disr demo).\n"
               "[network]\nhost = 127.0.0.1\nhop_secret_env = DISR_DEMO_HOP_SECRET\n\n");
    /* Absolute model paths: the network file resolves relative ones against its own directory,
     * and these paths are relative to where the demo runs. */
    for (int i = 0; i < d->agents; i++) {
        bool last = i == d->agents - 1;
        char base[4200];
        if (last && path_fmt(base, sizeof base, "%s/agent%d.gguf", zoo, i)) {
            fclose(f);
            return 1;
        }
        const char *path = last ? base : rl_paths[i];
        char *model = realpath(path, NULL);
        fprintf(f, "[agent agent%d]\nmodel = %s\nport = %d\n%sargs = --threads 1\n\n", i,
                model ? model : path, d->port + i, last ? "mode = always\n" : "");
        free(model);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "disr demo: cannot write %s: %s\n", conf, strerror(errno));
        return 1;
    }
    return 0;
}

static pid_t start_network(const struct demo *d, const char *conf) {
    char log_dir[4200], pid_file[4200];
    join(log_dir, sizeof log_dir, d->dir, "logs");
    join(pid_file, sizeof pid_file, d->dir, "network.pid");
    mkdir(log_dir, 0755);
    const char *argv[] = {d->self, "up", conf, "--log-dir", log_dir, "--pid-file", pid_file, NULL};
    fprintf(stderr, "\n$ disr up %s --log-dir %s &\n", conf, log_dir);
    setenv("DISR_DEMO_HOP_SECRET", "demo-hop-secret", 0);
    pid_t pid;
    if (posix_spawn(&pid, d->self, NULL, NULL, (char *const *)argv, environ)) return -1;
    /* `disr up` prints the entry URL once every node answers /health. */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/health", d->port);
    for (int i = 0; i < 600; i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) return -1;
        struct http_response r = {0};
        struct http_options o = {.connect_timeout_ms = 500, .timeout_ms = 1000};
        int ok = http_request(url, NULL, 0, &o, &r) == 0 && r.status == 200;
        http_response_free(&r);
        if (ok) return pid;
        usleep(200 * 1000);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return -1;
}

static void stop_network(pid_t pid) {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* DiSRouter (+RL) once more, through the live network this time: every test query goes to the
 * entry node, and each answer is compared with the in-process chain's decision. */
static int network_check(const struct demo *d, const char *url, const char *outcomes,
                         const char *report_dir) {
    struct outcome_table t;
    int st = outcome_table_load(&t, outcomes);
    if (st < 0) return cli_fail("demo: outcome table", st);
    char names[DEMO_MAX_AGENTS][16];
    const char *name_ptrs[DEMO_MAX_AGENTS];
    for (int i = 0; i < d->agents; i++) {
        snprintf(names[i], sizeof names[i], "agent%d", i);
        name_ptrs[i] = names[i];
    }
    struct net_eval_config c = {.url = url,
                                .agent_names = name_ptrs,
                                .n_agents = d->agents,
                                .variant = OUT_RL,
                                .concurrency = 8,
                                .max_tokens = SCORE_MAX_TOKENS,
                                .timeout_ms = 120000};
    char records[4200], md[4200];
    join(records, sizeof records, report_dir, "network_records.jsonl");
    join(md, sizeof md, report_dir, "network.md");
    struct net_eval_summary sum;
    st = eval_network_run(&t, &c, records, &sum);
    if (st == 0) st = eval_network_write_md(&sum, &c, md);
    outcome_table_free(&t);
    if (st < 0) return cli_fail("demo: evaluation through the network", st);
    /* The network runs the same decision code as the outcome table: any request that failed
     * or was answered by another agent is a fault, not noise. */
    int bad = eval_network_mismatches(&sum);
    if (bad) {
        fprintf(stderr,
                "disr demo: the live network disagreed with the in-process chain on %d "
                "requests (failed or another agent answered; see %s)\n",
                bad, md);
        return 1;
    }
    return 0;
}

static int stage_eval(const struct demo *d, const char *world, const char *zoo,
                      char rl_paths[][4200], const char *url, char *report_dir, size_t cap) {
    stage_banner(d, 5, "evaluation of every method through the live network");
    join(report_dir, cap, d->dir, "report");
    char agents[DEMO_MAX_AGENTS * 4200] = "", sft[DEMO_MAX_AGENTS * 4200] = "",
                                  rl[DEMO_MAX_AGENTS * 4200] = "";
    for (int i = 0; i < d->agents; i++) {
        size_t n = strlen(agents), m = strlen(sft), k = strlen(rl);
        if (path_fmt(agents + n, sizeof agents - n, "%s%s/agent%d.gguf", i ? "," : "", zoo, i) ||
            path_fmt(sft + m, sizeof sft - m, "%s%s/sa/agent%d-sft.gguf", i ? "," : "", d->dir,
                     i) ||
            path_fmt(rl + k, sizeof rl - k, "%s%s", i ? "," : "", rl_paths[i]))
            return 1;
    }
    char sa[4200], test[4200], ood[4200];
    join(sa, sizeof sa, world, WORLD_FILE_SA_TRAIN);
    join(test, sizeof test, world, WORLD_FILE_TEST);
    join(ood, sizeof ood, world, WORLD_FILE_OOD);
    char outcomes[4200];
    join(outcomes, sizeof outcomes, report_dir, "outcomes.jsonl");
    int rc = 0;
    if (path_exists(outcomes)) {
        /* The agents were already run: recompute the report from the recorded table. */
        const char *args[] = {
            "eval", "--outcomes", outcomes, "--out", report_dir, d->quick ? "--quick" : NULL, NULL};
        rc = spawn_run(args);
    } else {
        /* Two agents at a time, one engine thread each, as in the zoo: the collection of
         * every agent's answers and decisions is most of the evaluation's time. */
        const char *args[] = {"eval", "--agents",  agents,     "--sft",
                              sft,    "--rl",      rl,         "--sa-train",
                              sa,     "--data",    test,       "--ood",
                              ood,    "--out",     report_dir, "--lanes",
                              "2",    "--threads", "1",        d->quick ? "--quick" : NULL,
                              NULL};
        rc = spawn_run(args);
    }
    if (rc) return rc;
    return network_check(d, url, outcomes, report_dir);
}

/* Prints the report's first section whose heading names utility (the Table 1 analogue). */
static void print_utility_section(const char *report_md) {
    FILE *f = fopen(report_md, "r");
    if (!f) {
        printf("(no %s)\n", report_md);
        return;
    }
    char line[2048];
    int in_section = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "## ", 3)) {
            if (in_section) break;
            in_section = strstr(line, "tility") != NULL;
        }
        if (in_section) fputs(line, stdout);
    }
    fclose(f);
}

static void print_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[2048];
    while (fgets(line, sizeof line, f))
        fputs(line, stdout);
    fclose(f);
}

static void print_summary(const struct demo *d, const char *report_dir) {
    stage_banner(d, 6, "the utility table (accuracy - alpha * cost)");
    char path[4200];
    if (join(path, sizeof path, report_dir, "report.md") == 0) print_utility_section(path);
    printf("\n");
    if (join(path, sizeof path, report_dir, "network.md") == 0) print_file(path);
    printf("\nFull report: %s/report.md\n", report_dir);
}

/* The whole pipeline once, in d->dir. */
static int demo_run(struct demo *d) {
    if (mkdir(d->dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "disr demo: cannot create %s: %s\n", d->dir, strerror(errno));
        return 1;
    }
    d->t_start = time_now();
    char world[4200], zoo[4200], conf[4200], report[4200], rl[DEMO_MAX_AGENTS][4200];
    int rc = stage_world(d, world, sizeof world);
    if (!rc) rc = stage_zoo(d, world, zoo, sizeof zoo);
    if (!rc) rc = stage_self_awareness(d, world, zoo, rl);
    if (!rc) rc = write_network(d, zoo, rl, conf, sizeof conf);
    if (rc) {
        fprintf(stderr, "disr demo: stopped (exit %d); run it again to resume\n", rc);
        return 1;
    }
    stage_banner(d, 4, "the chain as a live network of agent processes");
    pid_t net = start_network(d, conf);
    if (net < 0) {
        fprintf(stderr, "disr demo: the network did not come up (logs in %s/logs)\n", d->dir);
        return 1;
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", d->port);
    rc = stage_eval(d, world, zoo, rl, url, report, sizeof report);
    stop_network(net);
    if (rc) {
        fprintf(stderr, "disr demo: evaluation failed (exit %d)\n", rc);
        return 1;
    }
    print_summary(d, report);
    fprintf(stderr, "\ndisr demo: done in %.1f minutes\n", (time_now() - d->t_start) / 60.0);
    return 0;
}

/* "1,2,3" into seeds[]; the count, or -1 on a malformed list. */
static int parse_seeds(const char *list, int *seeds, int cap) {
    int n = 0;
    for (const char *p = list; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 1000000000 || n == cap || (*end && *end != ',')) return -1;
        seeds[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return n;
}

/* --seeds: the demo once per seed, each in DIR/seedN, then one table over the seeds. */
static int demo_seeds(struct demo *d, const char *list) {
    int seeds[DEMO_MAX_SEEDS], n = parse_seeds(list, seeds, DEMO_MAX_SEEDS);
    if (n < 1) {
        fprintf(stderr, "disr demo: --seeds wants a comma-separated list of up to %d seeds\n",
                DEMO_MAX_SEEDS);
        return 2;
    }
    if (mkdir(d->dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "disr demo: cannot create %s: %s\n", d->dir, strerror(errno));
        return 1;
    }
    const char *parent = d->dir;
    char dirs[DEMO_MAX_SEEDS][4200], summaries[DEMO_MAX_SEEDS][4300];
    const char *paths[DEMO_MAX_SEEDS];
    for (int i = 0; i < n; i++) {
        if (path_fmt(dirs[i], sizeof dirs[i], "%s/seed%d", parent, seeds[i]) ||
            path_fmt(summaries[i], sizeof summaries[i], "%s/report/summary.json", dirs[i]))
            return 1;
        paths[i] = summaries[i];
        fprintf(stderr, "\n##### disr demo: world seed %d (%d of %d) in %s\n", seeds[i], i + 1, n,
                dirs[i]);
        d->dir = dirs[i], d->seed = seeds[i];
        int rc = demo_run(d);
        d->dir = parent;
        if (rc) return rc;
    }
    char md_path[4200], json_path[4200];
    if (join(md_path, sizeof md_path, parent, "seeds.md") ||
        join(json_path, sizeof json_path, parent, "seeds.json"))
        return 1;
    FILE *md = fopen(md_path, "w");
    if (!md) {
        fprintf(stderr, "disr demo: cannot write %s: %s\n", md_path, strerror(errno));
        return 1;
    }
    int st = seeds_report(paths, seeds, n, md, json_path);
    if (fclose(md) && st == 0) st = -1;
    if (st < 0) return cli_fail("demo: the table over seeds", st);
    print_file(md_path);
    return 0;
}

int cmd_demo(int argc, char **argv) {
    struct demo d = {.dir = NULL, .agents = 4, .seed = 1, .port = 9200};
    const char *seeds = NULL;
    const struct cli_opt opts[] = {
        {"--dir", "-d", OPT_STR, &d.dir, "work directory (default runs/demo, runs/demo-quick)"},
        {"--quick", NULL, OPT_FLAG, &d.quick, "small world and agents: the whole demo in minutes"},
        {"--agents", NULL, OPT_INT, &d.agents, "agents in the chain (default 4)"},
        {"--seed", NULL, OPT_INT, &d.seed, "world seed (default 1)"},
        {"--seeds", NULL, OPT_STR, &seeds,
         "comma-separated world seeds: the demo once per seed in DIR/seedN, then seeds.md, the "
         "paper's claims on each seed and the mean and range of the figures"},
        {"--port", NULL, OPT_INT, &d.port, "first port of the chain (default 9200)"},
        {0}};
    int st = cli_parse(argc, argv, opts, "[--quick] [--dir DIR]", NULL, 0, NULL);
    if (st) return st == 1 ? 0 : st;
    if (d.agents < 2 || d.agents > DEMO_MAX_AGENTS) {
        fprintf(stderr, "disr demo: --agents must be 2..%d\n", DEMO_MAX_AGENTS);
        return 2;
    }
    if (!d.dir) d.dir = d.quick ? "runs/demo-quick" : "runs/demo";
    ssize_t n = readlink("/proc/self/exe", d.self, sizeof d.self - 1);
    if (n <= 0) return cli_fail("demo: cannot find the disr binary", -1);
    d.self[n] = '\0';
    mkdir("runs", 0755); /* default parent of d.dir; failure shows up on the next mkdir */
    return seeds ? demo_seeds(&d, seeds) : demo_run(&d);
}
