/* pairloop.h — the acquire+release loop shared by the raw floors and by
 * baton's own pairs benchmark, so both are timed and counted identically. */
#ifndef BATON_BENCH_PAIRLOOP_H
#define BATON_BENCH_PAIRLOOP_H

/* One uncontended acquire followed by its release. Returns 0, or -1 after
 * printing why (the run then stops and reports the failure). */
typedef int (*pairloop_fn)(void *ctx);

/* Runs `fn` for a warm-up, then --slices slices of --slice-ms each. With
 * --ring-in FD/--ring-out FD the program takes turns with others (baton and
 * the floors): it waits for a byte on ring-in before each slice and writes
 * one to ring-out after it. On its last turn it also runs --count pairs
 * while the server's counters are read around them (Redis also through
 * MONITOR). Prints one JSON line:
 *   {"bench":"pairs","backend":..,"impl":impl,"variant":variant,"pairs":..,
 *    "secs":..,"rate":pairs/s,"slice_rates":[..],"requests_per_pair":..,...}
 * With --server-pid PID it also reports the server's CPU time per pair
 * (during the slices, when only this program talks to the server).
 * `uri` names the server whose counters are read. Returns the exit code. */
int pairloop_run(const char *impl, const char *variant, const char *uri, pairloop_fn fn,
                 void *ctx, int argc, char **argv);

#endif
