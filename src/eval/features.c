#include "eval/features.h"

#include <ctype.h>
#include <math.h>

static uint32_t fnv1a(const unsigned char *s, int n, uint32_t salt) {
    uint32_t h = 2166136261u ^ salt;
    for (int i = 0; i < n; i++)
        h = (h ^ s[i]) * 16777619u;
    /* final avalanche so nearby n-grams spread over the table */
    h ^= h >> 15, h *= 0x2c1b3c6du, h ^= h >> 12;
    return h;
}

static void add_hash(float *dst, int dim, uint32_t h) {
    /* the top bit picks a sign, so collisions cancel on average instead of piling up */
    dst[h & (uint32_t)(dim - 1)] += (h & 0x80000000u) ? -1.0f : 1.0f;
}

void feat_add_text(float *dst, int dim, const char *text, uint32_t salt) {
    unsigned char buf[512];
    int n = 0;
    for (const char *p = text; *p && n < (int)sizeof buf; p++)
        buf[n++] = (unsigned char)tolower((unsigned char)*p);
    for (int len = 1; len <= 3; len++)
        for (int i = 0; i + len <= n; i++)
            add_hash(dst, dim, fnv1a(buf + i, len, salt + (uint32_t)len));
    for (int i = 0; i < n;) {
        while (i < n && isspace(buf[i]))
            i++;
        int j = i;
        while (j < n && !isspace(buf[j]))
            j++;
        if (j > i) add_hash(dst, dim, fnv1a(buf + i, j - i, salt + 97u));
        i = j;
    }
}

void feat_normalize(float *dst, int n) {
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += (double)dst[i] * dst[i];
    if (ss <= 0) return;
    float s = (float)(1.0 / sqrt(ss));
    for (int i = 0; i < n; i++)
        dst[i] *= s;
}
