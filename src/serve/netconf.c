#include "serve/netconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "route/agent.h"

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        e--;
    *e = '\0';
    return s;
}

static int set_str(char *dst, size_t cap, const char *v, const char *name, int line) {
    if (strlen(v) >= cap) return disr_fail(DISR_E_FORMAT, "%s:%d: value too long", name, line);
    memcpy(dst, v, strlen(v) + 1);
    return DISR_OK;
}

static int set_path(char *dst, const char *v, const char *base, const char *name, int line) {
    if (v[0] == '/' || !base || !base[0]) return set_str(dst, NETCONF_STR, v, name, line);
    int n = snprintf(dst, NETCONF_STR, "%s/%s", base, v);
    if (n < 0 || n >= NETCONF_STR)
        return disr_fail(DISR_E_FORMAT, "%s:%d: path too long", name, line);
    return DISR_OK;
}

static int parse_num(const char *v, double lo, double hi, double *out, const char *name, int line,
                     const char *key) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi))
        return disr_fail(DISR_E_FORMAT, "%s:%d: %s must be a number in [%g, %g]", name, line, key,
                         lo, hi);
    *out = x;
    return DISR_OK;
}

static int env_value(char *dst, size_t cap, const char *var, const char *name, int line) {
    const char *v = getenv(var);
    if (!v)
        return disr_fail(DISR_E_NOTFOUND, "%s:%d: environment variable %s is not set", name, line,
                         var);
    return set_str(dst, cap, v, name, line);
}

int netconf_parse(struct netconf *c, const char *text, const char *base_dir, const char *name) {
    memset(c, 0, sizeof *c);
    c->max_hops = 8;
    char net_host[64] = "127.0.0.1";
    bool cost_set[NETCONF_MAX_AGENTS] = {0}, mode_set[NETCONF_MAX_AGENTS] = {0};
    enum { NONE, NETWORK, AGENT } section = NONE;
    struct netconf_agent *a = NULL;
    int line = 0;
    const char *p = text;
    char buf[2048];
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        line++;
        if (len >= sizeof buf) return disr_fail(DISR_E_FORMAT, "%s:%d: line too long", name, line);
        memcpy(buf, p, len);
        buf[len] = '\0';
        p = nl ? nl + 1 : p + len;
        /* comments: whole-line, or " ; ..." / " # ..." after a value */
        for (char *q = buf; *q; q++)
            if ((*q == '#' || *q == ';') && (q == buf || q[-1] == ' ' || q[-1] == '\t')) {
                *q = '\0';
                break;
            }
        char *s = trim(buf);
        if (!*s) continue;
        if (*s == '[') {
            char *e = strchr(s, ']');
            if (!e || e[1])
                return disr_fail(DISR_E_FORMAT, "%s:%d: bad section header", name, line);
            *e = '\0';
            char *sec = trim(s + 1);
            if (!strcmp(sec, "network")) {
                section = NETWORK;
            } else if (!strncmp(sec, "agent", 5) && (sec[5] == ' ' || sec[5] == '\t')) {
                if (c->n >= NETCONF_MAX_AGENTS)
                    return disr_fail(DISR_E_RANGE, "%s:%d: more than %d agents", name, line,
                                     NETCONF_MAX_AGENTS);
                char *an = trim(sec + 5);
                if (!*an || strlen(an) >= sizeof a->name || strpbrk(an, ", \t"))
                    return disr_fail(DISR_E_FORMAT,
                                     "%s:%d: agent name must be 1-63 chars, no spaces or commas",
                                     name, line);
                for (int i = 0; i < c->n; i++)
                    if (!strcmp(c->agents[i].name, an))
                        return disr_fail(DISR_E_FORMAT, "%s:%d: agent '%s' defined twice", name,
                                         line, an);
                section = AGENT;
                a = &c->agents[c->n++];
                strcpy(a->name, an);
                a->port = -1;
                a->start = true;
            } else {
                return disr_fail(DISR_E_FORMAT,
                                 "%s:%d: unknown section [%s] (use [network] or [agent NAME])",
                                 name, line, sec);
            }
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) return disr_fail(DISR_E_FORMAT, "%s:%d: expected key = value", name, line);
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        double x;
        if (section == NETWORK) {
            if (!strcmp(k, "host"))
                DISR_TRY(set_str(net_host, sizeof net_host, v, name, line));
            else if (!strcmp(k, "hop_secret"))
                DISR_TRY(set_str(c->hop_secret, sizeof c->hop_secret, v, name, line));
            else if (!strcmp(k, "hop_secret_env"))
                DISR_TRY(env_value(c->hop_secret, sizeof c->hop_secret, v, name, line));
            else if (!strcmp(k, "api_keys"))
                DISR_TRY(set_str(c->api_keys, sizeof c->api_keys, v, name, line));
            else if (!strcmp(k, "api_keys_env"))
                DISR_TRY(env_value(c->api_keys, sizeof c->api_keys, v, name, line));
            else if (!strcmp(k, "max_hops")) {
                DISR_TRY(parse_num(v, 1, ROUTE_MAX_HOPS, &x, name, line, k));
                c->max_hops = (int)x;
            } else
                return disr_fail(DISR_E_FORMAT, "%s:%d: unknown [network] key '%s'", name, line, k);
        } else if (section == AGENT) {
            int i = c->n - 1;
            if (!strcmp(k, "model"))
                DISR_TRY(set_path(a->model, v, base_dir, name, line));
            else if (!strcmp(k, "script"))
                DISR_TRY(set_path(a->script, v, base_dir, name, line));
            else if (!strcmp(k, "remote"))
                DISR_TRY(set_str(a->remote, sizeof a->remote, v, name, line));
            else if (!strcmp(k, "remote_model"))
                DISR_TRY(set_str(a->remote_model, sizeof a->remote_model, v, name, line));
            else if (!strcmp(k, "host"))
                DISR_TRY(set_str(a->host, sizeof a->host, v, name, line));
            else if (!strcmp(k, "url"))
                DISR_TRY(set_str(a->url, sizeof a->url, v, name, line));
            else if (!strcmp(k, "args"))
                DISR_TRY(set_str(a->args, sizeof a->args, v, name, line));
            else if (!strcmp(k, "cost")) {
                DISR_TRY(parse_num(v, 0, 1, &a->cost, name, line, k));
                cost_set[i] = true;
            } else if (!strcmp(k, "mode")) {
                if (agent_mode_parse(v) < 0)
                    return disr_fail(DISR_E_FORMAT,
                                     "%s:%d: mode must be trained, confidence or always", name,
                                     line);
                strcpy(a->mode, v);
                mode_set[i] = true;
            } else if (!strcmp(k, "port")) {
                DISR_TRY(parse_num(v, 1, 65535, &x, name, line, k));
                a->port = (int)x;
            } else if (!strcmp(k, "start")) {
                if (strcmp(v, "yes") && strcmp(v, "no"))
                    return disr_fail(DISR_E_FORMAT, "%s:%d: start must be yes or no", name, line);
                a->start = !strcmp(v, "yes");
            } else
                return disr_fail(DISR_E_FORMAT, "%s:%d: unknown agent key '%s'", name, line, k);
        } else {
            return disr_fail(DISR_E_FORMAT, "%s:%d: key outside a section", name, line);
        }
    }
    if (c->n == 0) return disr_fail(DISR_E_FORMAT, "%s: no [agent NAME] section", name);
    for (int i = 0; i < c->n; i++) {
        a = &c->agents[i];
        if (!cost_set[i]) a->cost = c->n == 1 ? 0.1 : 0.1 + 0.8 * i / (c->n - 1);
        if (!mode_set[i]) strcpy(a->mode, i == c->n - 1 ? "always" : "trained");
        if (!a->host[0]) strcpy(a->host, net_host);
        if (a->port < 0) a->port = 9100 + i;
        if (!a->url[0]) snprintf(a->url, sizeof a->url, "http://%s:%d", a->host, a->port);
        int nb = !!a->model[0] + !!a->script[0] + !!a->remote[0];
        if (a->start && nb != 1)
            return disr_fail(DISR_E_FORMAT,
                             "%s: agent %s needs exactly one of model, script, remote", name,
                             a->name);
        for (int j = 0; j < i; j++)
            if (a->start && c->agents[j].start && c->agents[j].port == a->port &&
                !strcmp(c->agents[j].host, a->host))
                return disr_fail(DISR_E_FORMAT, "%s: agents %s and %s share %s:%d", name,
                                 c->agents[j].name, a->name, a->host, a->port);
    }
    return DISR_OK;
}

int netconf_load(struct netconf *c, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return disr_fail(DISR_E_IO, "%s: %s", path, strerror(errno));
    char *text = malloc(1 << 20);
    if (!text) {
        fclose(f);
        return disr_fail(DISR_E_NOMEM, "out of memory");
    }
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    int big = !feof(f);
    fclose(f);
    text[n] = '\0';
    if (big || memchr(text, '\0', n)) {
        free(text);
        return disr_fail(DISR_E_FORMAT, "%s: not a network file (binary or over 1 MiB)", path);
    }
    char dir[NETCONF_STR];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    int st = netconf_parse(c, text, dir, path);
    free(text);
    return st;
}
