/* log.h: leveled logging to stderr and the one-line progress display used by long jobs
 * (training, sampling, evaluation). Progress redraws in place on a terminal and prints a
 * plain line at most every few seconds otherwise, so CI logs stay short. */
#ifndef CORE_LOG_H
#define CORE_LOG_H

#include <stdint.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_QUIET = 4 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Monotonic wall clock in seconds. */
double time_now(void);

/* A progress line: "label  step 120/1000  loss 1.234  12.3k tok/s  ETA 1m02s  <extra>". */
struct progress {
    const char *label;
    int64_t total;      /* total steps (or items) */
    double t_start;     /* time_now() at init */
    double t_last_print;
    int tty;            /* stderr is a terminal: redraw in place */
};

void progress_init(struct progress *p, const char *label, int64_t total);
/* `extra` is free text (e.g. "loss 1.23  4.5k tok/s"); `done` counts finished steps. Throttled. */
void progress_update(struct progress *p, int64_t done, const char *extra);
/* Prints the final line unconditionally and ends it with a newline. */
void progress_finish(struct progress *p, int64_t done, const char *extra);

#endif
