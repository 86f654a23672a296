/* netconf.h: the network file `disr up` reads: a readable INI-like description of a chain.
 *
 *   # comments start with '#' or ';'
 *   [network]
 *   host = 127.0.0.1          ; default address of every agent
 *   hop_secret = change-me    ; shared by the agents (or hop_secret_env = VAR)
 *   api_keys = k1,k2          ; client keys the entry accepts (or api_keys_env = VAR)
 *   max_hops = 8
 *
 *   [agent small]             ; agents in chain order: the first is the entry
 *   model = small.gguf        ; or: script = rules.jsonl / remote = http://host:port/v1
 *   cost = 0.1                ; default 0.1 + 0.8 i/(K-1)
 *   mode = trained            ; default trained, and always for the last agent
 *   port = 9101               ; default 9100 + i
 *   url = http://lb:80        ; optional: how the others reach it (e.g. a load balancer)
 *   start = no                ; optional: the agent runs elsewhere; only its url is used
 *   args = --slots 4          ; optional: extra `disr serve` arguments
 *
 * Relative model/script paths are taken relative to the file's directory. */
#ifndef SERVE_NETCONF_H
#define SERVE_NETCONF_H

#include <stdbool.h>

#define NETCONF_MAX_AGENTS 16
#define NETCONF_STR        512

struct netconf_agent {
    char name[64];
    char model[NETCONF_STR], script[NETCONF_STR], remote[NETCONF_STR], remote_model[128];
    char host[64];
    char url[NETCONF_STR]; /* how the others reach it; default http://host:port */
    char args[NETCONF_STR];
    double cost;
    char mode[16];
    int port;
    bool start;
};

struct netconf {
    char hop_secret[256];
    char api_keys[NETCONF_STR];
    int max_hops;
    int n;
    struct netconf_agent agents[NETCONF_MAX_AGENTS];
};

/* Parses a network file (defaults filled in, everything validated; errors name the line). */
int netconf_load(struct netconf *c, const char *path);
int netconf_parse(struct netconf *c, const char *text, const char *base_dir, const char *name);

#endif
