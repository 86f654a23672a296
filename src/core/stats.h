/* stats.h: small statistics the reports share (intervals around measured proportions). */
#ifndef CORE_STATS_H
#define CORE_STATS_H

/* Wilson score interval (z = 1.96, 95 %) of a proportion k / n; [0, 1] when n is 0. */
void stats_wilson95(int k, int n, double *lo, double *hi);

#endif
