#include "route/http_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/strbuf.h"

/* A small stack of idle easy handles. A handle keeps its connection cache, so taking the most
 * recently used one reuses a warm connection to the same next agent. */
#define POOL_CAP 64
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static CURL *pool[POOL_CAP];
static int pool_n;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_global(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static CURL *handle_take(void) {
    pthread_once(&curl_once, curl_global);
    CURL *h = NULL;
    pthread_mutex_lock(&pool_mu);
    if (pool_n > 0) h = pool[--pool_n];
    pthread_mutex_unlock(&pool_mu);
    if (!h) return curl_easy_init();
    curl_easy_reset(h); /* keeps the connection cache, drops the previous options */
    return h;
}

static void handle_give(CURL *h) {
    pthread_mutex_lock(&pool_mu);
    if (pool_n < POOL_CAP) {
        pool[pool_n++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&pool_mu);
    if (h) curl_easy_cleanup(h);
}

void http_client_cleanup(void) {
    pthread_mutex_lock(&pool_mu);
    while (pool_n > 0)
        curl_easy_cleanup(pool[--pool_n]);
    pthread_mutex_unlock(&pool_mu);
}

struct sink {
    const struct http_options *o;
    struct strbuf b;
    size_t max;
    int overflow;
};

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud) {
    struct sink *s = ud;
    size_t n = size * nmemb;
    if (s->o && s->o->on_data) return s->o->on_data(s->o->ctx, data, n) ? 0 : n;
    if (s->b.n + n > s->max) {
        s->overflow = 1;
        return 0;
    }
    return strbuf_put(&s->b, data, n) == DISR_OK ? n : 0;
}

int http_request(const char *url, const char *body, size_t len, const struct http_options *o,
                 struct http_response *out) {
    memset(out, 0, sizeof *out);
    CURL *h = handle_take();
    if (!h) return disr_fail(DISR_E_NOMEM, "curl: cannot create a handle");
    struct sink s = {.o = o, .max = (o && o->max_body) ? o->max_body : (8u << 20)};
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Expect:"); /* no 100-continue round trip on larger bodies */
    for (const char *const *p = o ? o->headers : NULL; p && *p; p++)
        hdr = curl_slist_append(hdr, *p);
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* agents talk directly, never via an env proxy */
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)((o && o->connect_timeout_ms) ? o->connect_timeout_ms : 1000));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)((o && o->timeout_ms) ? o->timeout_ms : 30000));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hdr);
    int st = DISR_OK;
    if (rc == CURLE_WRITE_ERROR && s.overflow) {
        st = disr_fail(DISR_E_FORMAT, "%s: response larger than %zu bytes", url, s.max);
    } else if (rc == CURLE_WRITE_ERROR && o && o->on_data) {
        st = DISR_OK; /* the consumer stopped the stream on purpose */
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        st = disr_fail(DISR_E_TIMEOUT, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    } else if (rc != CURLE_OK) {
        st = disr_fail(DISR_E_NET, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    if (st < 0) {
        /* a handle whose connection broke is not worth keeping warm */
        curl_easy_cleanup(h);
        strbuf_free(&s.b);
        out->status = 0;
        return st;
    }
    handle_give(h);
    out->len = s.b.n;
    out->body = strbuf_take(&s.b);
    return out->body ? DISR_OK : DISR_E_NOMEM;
}

void http_response_free(struct http_response *r) {
    free(r->body);
    r->body = NULL;
    r->len = 0;
}
