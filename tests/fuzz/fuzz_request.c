/* libFuzzer entry point for what an agent node parses from the network and from files: the
 * chat-completion request (the first byte picks the target), a downstream agent's reply with its
 * route, and the `disr up` network file. Any bytes must parse or be refused with an error object
 * or message; never crash, leak or read out of bounds.
 *   make build-fuzz/fuzz_request && build-fuzz/fuzz_request -max_total_time=60 \
 *       build-fuzz/corpus_request tests/fuzz/corpus_request */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "serve/api.h"
#include "serve/netconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct netconf conf;
    log_set_level(LOG_QUIET);
    if (size == 0) return 0;
    int target = data[0] % 3;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    if (target == 0) { /* the request exactly as received: not NUL-terminated */
        struct chat_request r;
        struct api_error e;
        struct api_limits lim = {.max_query = 4096, .max_tokens = 256};
        char *copy = malloc(len ? len : 1);
        memcpy(copy, body, len);
        if (api_parse_chat(copy, len, &lim, &r, &e) == 0) {
            char *j = api_chat_request_json(&r);
            free(j);
            chat_request_free(&r);
        } else {
            char *j = api_error_json(&e);
            free(j);
        }
        free(copy);
        return 0;
    }
    char *s = malloc(len + 1);
    memcpy(s, body, len);
    s[len] = '\0';
    if (target == 1) {
        char content[256], finish[16];
        int pt, ct;
        struct route_trace t = {.answerer = -1};
        api_parse_reply(s, content, sizeof content, finish, sizeof finish, &pt, &ct, &t);
    } else {
        netconf_parse(&conf, s, "/base", "fuzz.conf");
    }
    free(s);
    return 0;
}
