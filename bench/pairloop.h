/* pairloop.h — the acquire+release loop shared by the raw floors and by
 * baton's own pairs benchmark, so both are timed and counted identically. */
#ifndef BATON_BENCH_PAIRLOOP_H
#define BATON_BENCH_PAIRLOOP_H

/* One uncontended acquire followed by its release. Returns 0, or -1 after
 * printing why (the run then stops and reports the failure). */
typedef int (*pairloop_fn)(void *ctx);

/* Runs `fn` for a warm-up, then for --secs seconds (at most --max pairs),
 * then --count more pairs while the server's counters are read around them
 * (Redis also through MONITOR), and prints one JSON line:
 *   {"bench":"pairs","impl":impl,"backend":..,"variant":variant,
 *    "pairs":..,"secs":..,"rate":pairs/s,"requests_per_pair":..,...}
 * `uri` names the server whose counters are read. Returns the exit code. */
int pairloop_run(const char *impl, const char *variant, const char *uri, pairloop_fn fn,
                 void *ctx, int argc, char **argv);

#endif
