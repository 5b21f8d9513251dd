/* example.h — the little the examples share that is not the fence
 * protocol: one-line diagnostics, exit codes, a clock and durations. Kept
 * apart from the baton command's own helpers (cli/), so that an example can
 * be read, copied and built on its own. */
#ifndef BATON_EXAMPLE_H
#define BATON_EXAMPLE_H

#include <signal.h>
#include <stdint.h>

#define EXAMPLE_EXIT_ERROR 1 /* a connection, server or backend error */
#define EXAMPLE_EXIT_USAGE 2 /* bad usage or input */

/* The program name that prefixes diagnostics. */
extern const char *example_program;

/* Print "PROGRAM: [WHAT: ]MESSAGE" as one line on stderr and return
 * `code`. `what` may be NULL. */
int example_fail(int code, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* CLOCK_MONOTONIC in milliseconds, and in nanoseconds. */
int64_t example_now_ms(void);
int64_t example_now_ns(void);

/* A decimal number with a unit, "250ms", "1.5s", "2m", as the baton command
 * takes it: 0 with *ms set, or -1 (no unit, finer than a millisecond, more
 * than 12 digits or 6 decimals). */
int example_duration_ms(const char *text, uint64_t *ms);

/* Block SIGINT and SIGTERM in the calling thread (and the threads it
 * starts after) and put them in *stop: the main thread takes them
 * synchronously, before the library starts its threads. */
void example_block_stop_signals(sigset_t *stop);

/* Wait until `until_ms` (example_now_ms time) unless a signal of *stop
 * comes: that signal, or 0. */
int example_wait_until(const sigset_t *stop, int64_t until_ms);

#endif /* BATON_EXAMPLE_H */
