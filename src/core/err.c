#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[512];

const char *disr_strerror(int status) {
    switch (status) {
    case DISR_OK: return "ok";
    case DISR_E_IO: return "i/o error";
    case DISR_E_FORMAT: return "format error";
    case DISR_E_NOMEM: return "out of memory";
    case DISR_E_ARG: return "invalid argument";
    case DISR_E_RANGE: return "out of range";
    case DISR_E_UNSUPPORTED: return "unsupported";
    case DISR_E_NET: return "network error";
    case DISR_E_TIMEOUT: return "timeout";
    case DISR_E_STATE: return "invalid state";
    case DISR_E_NOTFOUND: return "not found";
    default: return "unknown error";
    }
}

const char *disr_last_error(void) {
    return last_error;
}

void disr_clear_error(void) {
    last_error[0] = '\0';
}

int disr_fail(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}
