#include "cli/sa_cli.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "world/scenario.h"

int sa_cli_split(char *s, char **out, int cap) {
    int n = 0;
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        if (n >= cap) return -1;
        out[n++] = tok;
    }
    return n;
}

int sa_cli_numbers(const char *s, double *out, int cap) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || n >= cap || (*end && *end != ',')) return -1;
        out[n++] = v;
        p = *end ? end + 1 : end;
    }
    return n;
}

void sa_cli_print_eval_header(FILE *f) {
    fprintf(f, "| agent | scenario | answer rate | precision (right / answered, 95 %% interval) | "
               "threshold | F1 (reject) | "
               "broken rejects | reward | forced acc. |\n|---|---|---|---|---|---|---|---|---|\n");
}

void sa_cli_print_eval(FILE *f, const char *name, const struct sa_agent_eval *e,
                       const struct sa_agent_eval *base) {
    for (int s = 0; s < SCENARIO_COUNT; s++) {
        double alpha = scenario_alpha(scenario_at(s));
        char forced[64];
        if (base)
            snprintf(forced, sizeof forced, "%.3f (base %.3f, %+.1f pts)", e->forced_acc,
                     base->forced_acc, 100 * (e->forced_acc - base->forced_acc));
        else
            snprintf(forced, sizeof forced, "%.3f", e->forced_acc);
        fprintf(f,
                "| %s | %s (α=%.1f) | %.3f | %.3f (%d / %d, %.2f–%.2f) | %.3f | %.3f | %d | %.3f | "
                "%s |\n",
                name, scenario_name(scenario_at(s)), alpha, e->answer_rate[s], e->precision[s],
                e->n_answered_right[s], e->n_answered[s], e->precision_lo[s], e->precision_hi[s],
                scenario_threshold(alpha), e->f1[s], e->n_broken[s], e->reward[s], forced);
    }
}
