#include "world/scenario.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

double scenario_alpha(enum scenario s) {
    switch (s) {
    case SCENARIO_PERFORMANCE:
        return 0.2;
    case SCENARIO_BALANCE:
        return 0.5;
    case SCENARIO_COST:
        return 0.8;
    default:
        return 0.0;
    }
}

enum scenario scenario_from_alpha(double alpha) {
    enum scenario best = SCENARIO_PERFORMANCE;
    for (int s = SCENARIO_PERFORMANCE; s <= SCENARIO_COST; s++)
        if (fabs(scenario_alpha((enum scenario)s) - alpha) < fabs(scenario_alpha(best) - alpha))
            best = (enum scenario)s;
    return best;
}

const char *scenario_name(enum scenario s) {
    static const char *const names[] = {"none", "performance", "balance", "cost"};
    return (s >= SCENARIO_NONE && s <= SCENARIO_COST) ? names[s] : "none";
}

int scenario_parse(const char *name) {
    if (!strncmp(name, "disr-", 5)) name += 5;
    for (int s = SCENARIO_NONE; s <= SCENARIO_COST; s++)
        if (!strcmp(name, scenario_name((enum scenario)s))) return s;
    if (!strcmp(name, "performance-first")) return SCENARIO_PERFORMANCE;
    if (!strcmp(name, "cost-first")) return SCENARIO_COST;
    return -1;
}

double scenario_reject_reward(double alpha) {
    return pow(1.0 - alpha, SCENARIO_GAMMA);
}

double scenario_threshold(double alpha) {
    return scenario_reject_reward(alpha);
}

int scenario_format_prompt(char *buf, size_t cap, const char *query, enum scenario s) {
    static const char slot[] = {'-', 'P', 'B', 'C'};
    const char c = slot[s >= 0 && s <= 3 ? s : 0];
    int n = snprintf(buf, cap, "[%c] Q: %s\n[%c] A: ", c, query, c);
    if (n < 0 || (size_t)n >= cap)
        return disr_fail(DISR_E_RANGE, "prompt longer than %zu bytes", cap);
    return n;
}

bool scenario_is_prompt_line(const char *line, size_t n) {
    return n >= 7 && line[0] == '[' && line[2] == ']' && !memcmp(line + 3, " Q: ", 4);
}

size_t scenario_answer_prefix(const char *line, size_t n) {
    return n >= 7 && line[0] == '[' && line[2] == ']' && !memcmp(line + 3, " A: ", 4) ? 7 : 0;
}

const char *scenario_system_prompt(enum scenario s) {
    switch (s) {
    case SCENARIO_PERFORMANCE:
        return "Scenario: Performance First. Answer only if you are highly confident that your "
               "answer is correct; otherwise reply exactly \"" SCENARIO_REJECT_TEXT "\". "
               "Give only the final answer.";
    case SCENARIO_BALANCE:
        return "Scenario: Balance. Answer if you are reasonably confident that your answer is "
               "correct; otherwise reply exactly \"" SCENARIO_REJECT_TEXT "\". "
               "Give only the final answer.";
    case SCENARIO_COST:
        return "Scenario: Cost First. Answer unless you are likely to be wrong; if so reply "
               "exactly \"" SCENARIO_REJECT_TEXT "\". Give only the final answer.";
    default:
        return "Give only the final answer.";
    }
}

static const char *skip_space(const char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\n')
        s++;
    return s;
}

enum reject_state scenario_reject_state(const char *output) {
    const char *t = skip_space(output);
    size_t n = strlen(t), rl = strlen(SCENARIO_REJECT_TEXT);
    if (n >= rl)
        return strncmp(t, SCENARIO_REJECT_TEXT, rl) ? REJECT_STATE_ANSWER : REJECT_STATE_REJECT;
    return strncmp(t, SCENARIO_REJECT_TEXT, n) ? REJECT_STATE_ANSWER : REJECT_STATE_PENDING;
}

bool scenario_is_reject(const char *output) {
    return scenario_reject_state(output) == REJECT_STATE_REJECT;
}

bool scenario_is_broken_reject(const char *output) {
    return scenario_broken_reject_departure(output) >= 0;
}

int scenario_broken_reject_departure(const char *output) {
    const char *t = skip_space(output);
    if (t[0] != SCENARIO_REJECT_TEXT[0] || scenario_reject_state(t) != REJECT_STATE_ANSWER)
        return -1;
    size_t k = 0;
    while (t[k] == SCENARIO_REJECT_TEXT[k])
        k++;
    return (int)(t - output) + (int)k;
}

bool scenario_output_rejects(const char *output, bool truncated) {
    enum reject_state st = scenario_reject_state(output);
    return st == REJECT_STATE_REJECT ||
           (truncated && st == REJECT_STATE_PENDING && strlen(skip_space(output)) >= 3);
}
