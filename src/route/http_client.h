/* http_client.h: the one HTTP client of the project (libcurl). Used by the remote backend (to ask
 * an OpenAI-compatible server) and by agent nodes (to forward a rejected query to the next agent)
 * and by `disr ask`. Easy handles are pooled process-wide so keep-alive connections are reused
 * across requests and threads: a hop on loopback then costs one round trip, not a TCP handshake. */
#ifndef ROUTE_HTTP_CLIENT_H
#define ROUTE_HTTP_CLIENT_H

#include <stddef.h>

struct http_response {
    long status; /* HTTP status; 0 if no response arrived */
    char *body;  /* NUL-terminated body (owned; free with http_response_free) */
    size_t len;
};

struct http_options {
    const char *const *headers; /* NULL-terminated list of "Name: value", or NULL */
    int connect_timeout_ms;     /* 0 = 1000 ms */
    int timeout_ms;             /* whole transfer; 0 = 30000 ms */
    size_t max_body;            /* response bytes kept; 0 = 8 MiB; more is a DISR_E_FORMAT */
    /* If set, body bytes are passed here as they arrive (and not kept); return non-zero to
     * abort the transfer. Used to relay a server-sent-event stream. */
    int (*on_data)(void *ctx, const char *data, size_t len);
    void *ctx;
};

/* POST `body` (len bytes, Content-Type application/json) to `url`, or GET when body is NULL.
 * Returns DISR_OK when any HTTP response arrived (check out->status), DISR_E_TIMEOUT or
 * DISR_E_NET (refused, reset, unresolvable) otherwise, with the reason in the last error. */
int http_request(const char *url, const char *body, size_t len, const struct http_options *o,
                 struct http_response *out);
void http_response_free(struct http_response *r);

/* Releases the pooled handles (at exit; optional). */
void http_client_cleanup(void);

#endif
