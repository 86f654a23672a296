#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static enum log_level current_level = LOG_INFO;

void log_set_level(enum log_level level) {
    current_level = level;
}

enum log_level log_get_level(void) {
    return current_level;
}

void log_msg(enum log_level level, const char *fmt, ...) {
    static const char *const tags[] = {"debug", "info", "warn", "error"};
    if (level < current_level || level > LOG_ERROR) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[%s] ", tags[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

double time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_init(struct progress *p, const char *label, int64_t total) {
    p->label = label;
    p->total = total;
    p->t_start = time_now();
    p->t_last_print = 0;
    p->tty = isatty(STDERR_FILENO);
}

static void format_duration(char *buf, size_t n, double seconds) {
    if (seconds < 0 || seconds > 1e7) {
        snprintf(buf, n, "?");
        return;
    }
    int s = (int)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, n, "%dh%02dm", s / 3600, (s / 60) % 60);
    else
        snprintf(buf, n, "%dm%02ds", s / 60, s % 60);
}

static void progress_print(struct progress *p, int64_t done, const char *extra, int final) {
    double now = time_now();
    double elapsed = now - p->t_start;
    double eta = done > 0 ? elapsed * (double)(p->total - done) / (double)done : -1;
    char eta_s[32], el_s[32];
    format_duration(eta_s, sizeof eta_s, final ? 0 : eta);
    format_duration(el_s, sizeof el_s, elapsed);
    fprintf(stderr, "%s%s %lld/%lld  %s  elapsed %s  ETA %s%s", p->tty ? "\r\033[K" : "", p->label,
            (long long)done, (long long)p->total, extra ? extra : "", el_s, eta_s,
            (p->tty && !final) ? "" : "\n");
    fflush(stderr);
    p->t_last_print = now;
}

void progress_update(struct progress *p, int64_t done, const char *extra) {
    if (current_level > LOG_INFO) return;
    double interval = p->tty ? 0.25 : 5.0;
    if (time_now() - p->t_last_print < interval) return;
    progress_print(p, done, extra, 0);
}

void progress_finish(struct progress *p, int64_t done, const char *extra) {
    if (current_level > LOG_INFO) return;
    progress_print(p, done, extra, 1);
}
