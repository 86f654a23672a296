/* disr.h: the public face of libdisr. Status codes shared by every layer, and the version.
 * Library functions return DISR_OK (0) or a negative status; the detail of the last failure on
 * this thread is in disr_last_error(), so a caller can print one clear message. Only the CLI
 * turns a status into an exit code. */
#ifndef DISR_H
#define DISR_H

#define DISR_VERSION "0.1.0"

enum disr_status {
    DISR_OK            = 0,
    DISR_E_IO          = -1,  /* open/read/write failed (includes a full disk) */
    DISR_E_FORMAT      = -2,  /* a file or message is malformed */
    DISR_E_NOMEM       = -3,  /* allocation failed or a size is absurd */
    DISR_E_ARG         = -4,  /* a caller passed an invalid argument */
    DISR_E_RANGE       = -5,  /* a value is out of its valid range (token id, shape) */
    DISR_E_UNSUPPORTED = -6,  /* valid but not implemented (a tensor type, an architecture) */
    DISR_E_NET         = -7,  /* network failure (unreachable agent, refused connection) */
    DISR_E_TIMEOUT     = -8,  /* something took longer than allowed */
    DISR_E_STATE       = -9,  /* called in the wrong state (e.g. training a quantized model) */
    DISR_E_NOTFOUND    = -10, /* a key, tensor, file or route is missing */
};

/* Short fixed text for a status ("format error"). */
const char *disr_strerror(int status);

/* The detailed message of the last failure set on this thread ("" if none). */
const char *disr_last_error(void);

#endif
