/* pairloop.c — times and counts acquire+release pairs (see pairloop.h). */
#include "pairloop.h"

#include "kit.h"

#include <stdlib.h>
#include <string.h>

/* Runs up to `max` pairs, until `secs` pass; returns the count or -1. */
/* A warm-up or count phase is bounded by time too: a stuck server fails it. */
#define PHASE_MAX_S 120.0

static long run_pairs(pairloop_fn fn, void *ctx, long max, double secs, double *elapsed) {
  int64_t start = kit_now();
  int64_t end = start + (int64_t)(secs * 1e9);
  long n = 0;
  for (; n < max; n++) {
    if (fn(ctx) != 0) return -1;
    if (kit_now() >= end) {
      n++;
      break;
    }
  }
  *elapsed = (double)(kit_now() - start) / 1e9;
  return n;
}

/* `count` pairs with the server's counters read around them. */
static int probe_pairs(kit_probe *p, const char *uri, bool monitor, pairloop_fn fn, void *ctx,
                       long count) {
  double elapsed;
  if (kit_probe_begin(p, uri, monitor) != 0 || run_pairs(fn, ctx, count, PHASE_MAX_S, &elapsed) != count ||
      kit_probe_end(p) != 0)
    return -1;
  return 0;
}

/* The count phase: what the server saw during `count` pairs. Redis takes
 * two: its counters alone (server time unslowed), then MONITOR to tell the
 * clients' requests from the commands scripts run. */
static int count_requests(kit_json *j, const char *uri, pairloop_fn fn, void *ctx, long count) {
  static kit_probe p;
  if (probe_pairs(&p, uri, false, fn, ctx, count) != 0) return -1;
  double k = (double)count;
  kit_json_int(j, "count_pairs", count);
  if (strcmp(p.kind, "redis") == 0) {
    kit_json_num(j, "reads_per_pair", kit_stats_get(&p.delta, "reads") / k);
    kit_json_stats(j, "commandstats_per_pair", &p.delta, "cmd.", k);
    kit_json_stats(j, "server_usec_per_pair", &p.delta, "usec.", k);
    if (probe_pairs(&p, uri, true, fn, ctx, count) != 0) return -1;
    kit_json_num(j, "script_commands_per_pair", p.in_scripts / k);
  } else if (strcmp(p.kind, "etcd") == 0) {
    kit_json_stats(j, "grpc_per_pair", &p.delta, "grpc.", k);
    kit_json_num(j, "wal_fsyncs_per_pair", kit_stats_get(&p.delta, "wal_fsyncs") / k);
  } else {
    kit_json_num(j, "fsyncs_per_pair", kit_stats_get(&p.delta, "fsyncs") / k);
  }
  kit_json_num(j, "requests_per_pair", p.requests / k);
  return 0;
}

/* Ring turn-taking: wait for the token, or pass it on. Without a ring
 * (fd < 0) the slices simply run back to back. */
static int take_turn(int fd) {
  char b;
  return fd < 0 ? 0 : kit_read_full(fd, &b, 1, 120000);
}

static void pass_turn(int fd) {
  char b = 't';
  if (fd >= 0) kit_write_full(fd, &b, 1);
}

int pairloop_run(const char *impl, const char *variant, const char *uri, pairloop_fn fn,
                 void *ctx, int argc, char **argv) {
  long slices = kit_arg_long(argc, argv, "--slices", 10);
  double slice_s = kit_arg_double(argc, argv, "--slice-ms", 200) / 1000;
  long warm = kit_arg_long(argc, argv, "--warmup", 200);
  long count = kit_arg_long(argc, argv, "--count", 0);
  int ring_in = (int)kit_arg_long(argc, argv, "--ring-in", -1);
  int ring_out = (int)kit_arg_long(argc, argv, "--ring-out", -1);
  int server_pid = (int)kit_arg_long(argc, argv, "--server-pid", 0);
  if (slices < 1 || slices > 10000) kit_die("--slices out of range");
  double cpu = 0, server_cpu = 0;
  double *rate = calloc((size_t)slices, sizeof *rate);

  kit_json j;
  kit_json_record(&j, "pairs", uri);
  kit_json_str(&j, "impl", impl);
  kit_json_str(&j, "variant", variant);
  double elapsed = 0, total_s = 0;
  long total = 0;
  int rc = run_pairs(fn, ctx, warm, PHASE_MAX_S, &elapsed) == warm ? 0 : 1;
  /* Each slice runs while the other programs of the ring wait, so adjacent
   * slices of baton and of the floor see the same machine. */
  for (long i = 0; rc == 0 && i < slices; i++) {
    if (take_turn(ring_in) != 0) {
      rc = 1;
      break;
    }
    double cpu0 = kit_cpu_self(), scpu0 = server_pid > 0 ? kit_cpu_pid(server_pid) : 0;
    long n = run_pairs(fn, ctx, 100000000, slice_s, &elapsed);
    cpu += kit_cpu_self() - cpu0;
    if (server_pid > 0) server_cpu += kit_cpu_pid(server_pid) - scpu0;
    /* The last turn also counts requests, while the others still wait. */
    if (i == slices - 1 && n > 0 && count > 0 && count_requests(&j, uri, fn, ctx, count) != 0) {
      fprintf(stderr, "bench: %s %s: reading the server's counters failed\n", impl, variant);
      kit_json_str(&j, "count_error", "reading the server's counters failed");
    }
    pass_turn(ring_out);
    if (n <= 0) {
      rc = 1;
      break;
    }
    rate[i] = (double)n / elapsed;
    total += n;
    total_s += elapsed;
  }
  if (rc == 0) {
    kit_json_int(&j, "pairs", total);
    kit_json_num(&j, "secs", total_s);
    kit_json_num(&j, "rate", (double)total / total_s);
    kit_json_nums(&j, "slice_rates", rate, (size_t)slices);
    kit_json_num(&j, "slice_rate_median", kit_quantile(rate, (size_t)slices, 0.5));
    /* CPU is less at the mercy of a shared machine than the rate is. */
    kit_json_num(&j, "client_cpu_us_per_pair", cpu * 1e6 / (double)total);
    if (server_pid > 0)
      kit_json_num(&j, "server_cpu_us_per_pair", server_cpu * 1e6 / (double)total);
  } else {
    kit_json_str(&j, "error", "a pair failed or the ring broke");
  }
  kit_json_end(&j);
  free(rate);
  return rc;
}
