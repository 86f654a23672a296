#include "core/stats.h"

#include <math.h>

void stats_wilson95(int k, int n, double *lo, double *hi) {
    if (n <= 0) {
        *lo = 0, *hi = 1;
        return;
    }
    /* Wilson rather than p ± z·se: the latter collapses to a point at 0 / n and n / n, which is
     * where a cautious agent's precision often sits. */
    const double z = 1.959964, z2 = z * z;
    double p = (double)k / n, d = 1 + z2 / n;
    double center = (p + z2 / (2.0 * n)) / d;
    double half = z * sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / d;
    *lo = center - half < 0 ? 0 : center - half;
    *hi = center + half > 1 ? 1 : center + half;
}
