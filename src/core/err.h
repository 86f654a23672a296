/* err.h: setting the thread-local "last error" that goes with a returned status.
 * Pattern: `return disr_fail(DISR_E_FORMAT, "%s: bad magic", path);` so the status and the
 * human message are produced in one place, where the failure is understood. */
#ifndef CORE_ERR_H
#define CORE_ERR_H

#include "disr.h"

/* Records a printf-style message for this thread and returns `status` unchanged. */
int disr_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears the last error (used by tests and by servers between requests). */
void disr_clear_error(void);

/* Propagates a failing status from an expression. */
#define DISR_TRY(expr)                                                                             \
    do {                                                                                           \
        int disr_try_status_ = (expr);                                                             \
        if (disr_try_status_ < 0) return disr_try_status_;                                         \
    } while (0)

#endif
