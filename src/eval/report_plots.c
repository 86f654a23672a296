#include "eval/report_internal.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/err.h"
#include "core/file.h"
#include "core/strbuf.h"

extern char **environ;

/* ---- plots ---------------------------------------------------------------------------------- */

/* Runs gnuplot on a script (in dir, run from dir so relative names work). */
static int run_gnuplot(const char *dir, const char *script) {
    char *argv[] = {"gnuplot", (char *)script, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 29))
    posix_spawn_file_actions_addchdir_np(&fa, dir);
#endif
    pid_t pid;
    int rc = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return disr_fail(DISR_E_NOTFOUND, "cannot run gnuplot: %s", strerror(rc));
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return disr_fail(DISR_E_IO, "gnuplot failed on %s/%s", dir, script);
    return DISR_OK;
}

/* Writes plots/STEM.dat and plots/STEM.gp from the two buffers (which it empties), then draws
 * the plot unless told not to. */
static int plot_emit(const char *dir, const char *stem, struct strbuf *d, struct strbuf *g,
                     bool draw) {
    char dn[96], gn[96];
    snprintf(dn, sizeof dn, "plots/%s.dat", stem);
    snprintf(gn, sizeof gn, "plots/%s.gp", stem);
    int rc = report_emit(dir, dn, d);
    if (rc == DISR_OK) rc = report_emit(dir, gn, g);
    strbuf_free(g);
    if (rc == DISR_OK && draw) rc = run_gnuplot(dir, gn);
    return rc;
}

static const char GP_HEAD[] =
    "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
    "  set terminal pngcairo size 1000,600 font 'Sans,11'\n"
    "} else {\n"
    "  set terminal png size 1000,600\n"
    "}\n"
    "set grid ytics lc rgb '#dddddd'\n"
    "set key outside right top\n"
    "colors = '#9400d3 #009e73 #56b4e9 #e69f00 #f0e442 #0072b2 #d55e00 #000000 #cc79a7 "
    "#7f7f7f #8b4513 #2f4f4f'\n";

/* Utility against alpha, one line per method, on split s. */
static int plot_utility(const struct state *st, const char *dir, int s) {
    const int S = OUT_SPLIT_TEST;
    struct strbuf d = {0}, g = {0};
    strbuf_printf(&d, "alpha");
    int n = 0, n_disr = st->avail[EM_DISR_RL] + st->avail[EM_DISR_SFT];
    for (int k = EM_COUNT - 1; k >= 0; k--)
        if (st->avail[TABLE_ORDER[k]])
            strbuf_printf(&d, " \"%s\"", eval_method_name(TABLE_ORDER[k])), n++;
    strbuf_printf(&d, "\n");
    for (int ai = 0; ai < N_ALPHA; ai++) {
        strbuf_printf(&d, "%.1f", ALPHA(ai));
        for (int k = EM_COUNT - 1; k >= 0; k--)
            if (st->avail[TABLE_ORDER[k]])
                strbuf_printf(&d, " %.5f", st->res[s][TABLE_ORDER[k]][ai].s.utility);
        strbuf_printf(&d, "\n");
    }
    strbuf_printf(&g, "%sset output 'utility_alpha_%s.png'\n", GP_HEAD, outcome_split_name(s));
    strbuf_printf(&g,
                  "set title 'Utility vs alpha (%s)'\nset xlabel 'alpha (cost weight)'\n"
                  "set ylabel 'utility = accuracy - alpha * cost'\nset xtics (0.2, 0.5, 0.8)\n"
                  "set xrange [0.15:0.85]\nset key autotitle columnheader\n"
                  "f = 'plots/utility_alpha_%s.dat'\n"
                  "plot for [i=2:%d] f using 1:i with linespoints lw 3.5 pt 7 ps 1.5 lc rgb "
                  "word(colors, i-1), \\\n"
                  "     for [i=%d:%d] f using 1:i with linespoints lw 1.5 pt (i+2) ps 1.2 dt 2 "
                  "lc rgb word(colors, i-1)\n",
                  s == S ? "in-domain test" : "out-of-domain", outcome_split_name(s), n_disr + 1,
                  n_disr + 2, n + 1);
    char stem[64];
    snprintf(stem, sizeof stem, "utility_alpha_%s", outcome_split_name(s));
    return plot_emit(dir, stem, &d, &g, true);
}

/* Routing share (which 0) or answer rate (1): clustered bars per agent, one cluster member per
 * alpha, one panel per chain method. */
static int plot_bars(const struct state *st, const char *dir, int which) {
    const int K = st->K;
    const int S = OUT_SPLIT_TEST;
    struct strbuf d = {0}, g = {0};
    enum eval_method panels[3];
    int np = 0;
    if (st->avail[EM_DISR_RL]) panels[np++] = EM_DISR_RL;
    if (st->avail[EM_DISR_SFT]) panels[np++] = EM_DISR_SFT;
    if (which == 0 && st->avail[EM_MLP]) panels[np++] = EM_MLP;
    if (which == 0 && np < 3) panels[np++] = EM_ORACLE;
    if (np == 0) return DISR_OK;
    for (int p = 0; p < np; p++) {
        strbuf_printf(&d, "# %s\nagent \"α=0.2\" \"α=0.5\" \"α=0.8\"\n",
                      eval_method_name(panels[p]));
        for (int a = 0; a < K; a++) {
            strbuf_printf(&d, "\"%d\"", a);
            for (int ai = 0; ai < N_ALPHA; ai++) {
                double x;
                if (which == 0) {
                    x = 100 * st->res[S][panels[p]][ai].share[a];
                } else {
                    int reached;
                    x = 100 * report_answer_rate(st, panels[p] == EM_DISR_RL ? OUT_RL : OUT_SFT, ai,
                                                 a, &reached);
                    if (isnan(x)) x = 0;
                }
                strbuf_printf(&d, " %.3f", x);
            }
            strbuf_printf(&d, "\n");
        }
        strbuf_printf(&d, "\n\n");
    }
    const char *stem = which == 0 ? "routing_share" : "answer_rate";
    strbuf_printf(
        &g,
        "%sset output '%s.png'\nset style data histograms\n"
        "set style histogram clustered gap 1\nset style fill solid 0.85 border -1\n"
        "set yrange [0:100]\nset ylabel '%s'\nset xlabel 'agent (cheapest first)'\n"
        "set key outside top center horizontal autotitle columnheader\n"
        "set multiplot layout 1,%d title '%s (in-domain test)'\n",
        GP_HEAD, stem,
        which == 0 ? "% of queries answered" : "% of queries reaching the agent that it answers",
        np,
        which == 0 ? "Routing share per agent and scenario" : "Answer rate per agent and scenario");
    for (int p = 0; p < np; p++)
        strbuf_printf(&g,
                      "set title '%s'\nplot 'plots/%s.dat' index %d using 2:xtic(1), '' index %d "
                      "using 3, "
                      "'' index %d using 4\n",
                      eval_method_name(panels[p]), stem, p, p, p);
    strbuf_printf(&g, "unset multiplot\n");
    return plot_emit(dir, stem, &d, &g, true);
}

/* Cost on easy against hard queries at Balance, per method. */
static int plot_easy_hard(const struct state *st, const char *dir) {
    const int S = OUT_SPLIT_TEST;
    struct strbuf d = {0}, g = {0};
    strbuf_printf(&d, "method \"easy queries\" \"hard queries\"\n");
    for (int k = EM_COUNT - 1; k >= 0; k--) {
        enum eval_method m = TABLE_ORDER[k];
        if (!st->avail[m]) continue;
        const struct result *r = &st->res[S][m][1];
        strbuf_printf(&d, "\"%s\" %.4f %.4f\n", eval_method_name(m), r->easy_cost, r->hard_cost);
    }
    strbuf_printf(&g,
                  "%sset output 'easy_hard_cost.png'\nset style data histograms\n"
                  "set style histogram clustered gap 1\nset style fill solid 0.85 border -1\n"
                  "set xtics rotate by -35\nset bmargin 9\nset yrange [0:1]\n"
                  "set ylabel 'mean cost of the answering agent'\nset key autotitle columnheader\n"
                  "set title 'Cost spent on easy vs hard queries (alpha = 0.5, in-domain)'\n"
                  "plot 'plots/easy_hard_cost.dat' using 2:xtic(1), '' using 3\n",
                  GP_HEAD);
    return plot_emit(dir, "easy_hard_cost", &d, &g, true);
}

/* Self-assessment F1 at Balance: clustered by agent, one bar per predictor. */
static int plot_sa_f1(const struct state *st, const char *dir) {
    const int K = st->K;
    struct strbuf d = {0}, g = {0};
    int cols = 0;
    strbuf_printf(&d, "agent");
    for (int p = 0; p < N_PRED; p++)
        if (!isnan(report_sa_f1(st, p, 1, 0))) strbuf_printf(&d, " \"%s\"", PRED_NAME[p]), cols++;
    strbuf_printf(&d, "\n");
    for (int a = 0; a < K; a++) {
        strbuf_printf(&d, "\"agent %d\"", a);
        for (int p = 0; p < N_PRED; p++)
            if (!isnan(report_sa_f1(st, p, 1, 0))) {
                double x = report_sa_f1(st, p, 1, a);
                strbuf_printf(&d, " %.4f", isnan(x) ? 0 : x);
            }
        strbuf_printf(&d, "\n");
    }
    strbuf_printf(&g,
                  "%sset output 'sa_f1.png'\nset style data histograms\n"
                  "set style histogram clustered gap 1\nset style fill solid 0.85 border -1\n"
                  "set yrange [0:1.05]\nset ylabel 'F1 of reject vs would-be-wrong'\n"
                  "set key autotitle columnheader\n"
                  "set title 'Self-assessment F1 per agent (alpha = 0.5, in-domain)'\n"
                  "plot for [i=2:%d] 'plots/sa_f1.dat' using i:xtic(1)\n",
                  GP_HEAD, cols + 1);
    return plot_emit(dir, "sa_f1", &d, &g, cols > 0);
}

int report_plot_all(const struct state *st, const char *dir) {
    for (int s = OUT_SPLIT_TEST; s <= OUT_SPLIT_OOD; s++)
        if (st->has_split[s]) DISR_TRY(plot_utility(st, dir, s));
    if (!st->has_split[OUT_SPLIT_TEST]) return DISR_OK;
    for (int which = 0; which < 2; which++)
        DISR_TRY(plot_bars(st, dir, which));
    DISR_TRY(plot_easy_hard(st, dir));
    return plot_sa_f1(st, dir);
}

/* Forced accuracy against difficulty level, one line per agent (all families pooled), one panel
 * per split that has levels. */
int report_plot_levels(const struct state *st, const char *dir) {
    int splits[2], np = 0;
    for (int s = OUT_SPLIT_TEST; s <= OUT_SPLIT_OOD; s++)
        if (st->has_split[s] && st->lv[s].n_levels > 0) splits[np++] = s;
    if (np == 0) return DISR_OK;
    struct strbuf d = {0}, g = {0};
    strbuf_printf(
        &g,
        "%sset output 'level_accuracy.png'\nset key outside bottom center horizontal "
        "autotitle columnheader\nset xlabel 'difficulty level'\nset ylabel 'forced accuracy'\n"
        "set yrange [0:1.05]\nset xtics 1\n"
        "set multiplot layout 1,%d title 'Forced accuracy per difficulty level, one line per "
        "agent (all families)'\n",
        GP_HEAD, np);
    for (int p = 0; p < np; p++) {
        const struct level_table *lt = &st->lv[splits[p]];
        strbuf_printf(&d, "# %s\nlevel", SPLIT_TITLE[splits[p]]);
        for (int a = 0; a < st->K; a++)
            strbuf_printf(&d, " \"agent %d (c=%.2f)\"", a, st->t->cost[a]);
        strbuf_printf(&d, "\n");
        for (int j = 0; j < lt->n_levels; j++) {
            int l = lt->level[j];
            strbuf_printf(&d, "%d", l);
            for (int a = 0; a < st->K; a++)
                strbuf_printf(&d, " %.5f", (double)lt->row[0].correct[a][l] / lt->row[0].n[l]);
            strbuf_printf(&d, "\n");
        }
        strbuf_printf(&d, "\n\n");
        strbuf_printf(
            &g,
            "set title '%s'\nset xrange [%.1f:%.1f]\n"
            "plot for [i=2:%d] 'plots/level_accuracy.dat' index %d using 1:i with linespoints "
            "lw 2.5 pt 7 ps 1.3 lc rgb word(colors, (i-2)%%12+1)\n",
            SPLIT_TITLE[splits[p]], lt->level[0] - 0.5, lt->level[lt->n_levels - 1] + 0.5,
            st->K + 1, p);
    }
    strbuf_printf(&g, "unset multiplot\n");
    return plot_emit(dir, "level_accuracy", &d, &g, true);
}
