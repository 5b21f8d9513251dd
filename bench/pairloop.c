/* pairloop.c — times and counts acquire+release pairs (see pairloop.h). */
#include "pairloop.h"

#include "kit.h"

#include <string.h>

/* Runs up to `max` pairs, until `secs` pass; returns the count or -1. */
static long run_pairs(pairloop_fn fn, void *ctx, long max, double secs, double *elapsed) {
  int64_t start = kit_now();
  int64_t end = start + (int64_t)(secs * 1e9);
  long n = 0;
  for (; n < max; n++) {
    if (fn(ctx) != 0) return -1;
    if ((n & 7) == 7 && kit_now() >= end) {
      n++;
      break;
    }
  }
  *elapsed = (double)(kit_now() - start) / 1e9;
  return n;
}

/* The count phase: what the server saw during `count` pairs. */
static int count_requests(kit_json *j, const char *uri, pairloop_fn fn, void *ctx, long count) {
  static kit_probe p;
  double elapsed;
  if (kit_probe_begin(&p, uri) != 0 || run_pairs(fn, ctx, count, 1e9, &elapsed) != count ||
      kit_probe_end(&p) != 0)
    return -1;
  double k = (double)count;
  kit_json_int(j, "count_pairs", count);
  kit_json_num(j, "requests_per_pair", p.requests / k);
  if (strcmp(p.kind, "redis") == 0) {
    kit_json_num(j, "script_commands_per_pair", p.in_scripts / k);
    kit_json_num(j, "reads_per_pair", kit_stats_get(&p.delta, "reads") / k);
    kit_json_stats(j, "commandstats_per_pair", &p.delta, "cmd.", k);
  } else if (strcmp(p.kind, "etcd") == 0) {
    kit_json_stats(j, "grpc_per_pair", &p.delta, "grpc.", k);
  }
  return 0;
}

int pairloop_run(const char *impl, const char *variant, const char *uri, pairloop_fn fn,
                 void *ctx, int argc, char **argv) {
  double secs = kit_arg_double(argc, argv, "--secs", 2.0);
  long max = kit_arg_long(argc, argv, "--max", 1000000);
  long warm = kit_arg_long(argc, argv, "--warmup", 200);
  long count = kit_arg_long(argc, argv, "--count", 0);

  kit_json j;
  kit_json_record(&j, "pairs", uri);
  kit_json_str(&j, "impl", impl);
  kit_json_str(&j, "variant", variant);
  double elapsed = 0;
  long done = run_pairs(fn, ctx, warm, 1e9, &elapsed) == warm
                  ? run_pairs(fn, ctx, max, secs, &elapsed)
                  : -1;
  int rc = done > 0 ? 0 : 1;
  if (rc == 0) {
    kit_json_int(&j, "pairs", done);
    kit_json_num(&j, "secs", elapsed);
    kit_json_num(&j, "rate", (double)done / elapsed);
    kit_json_num(&j, "us_per_pair", elapsed * 1e6 / (double)done);
    if (count > 0 && count_requests(&j, uri, fn, ctx, count) != 0) {
      fprintf(stderr, "bench: %s %s: reading the server's counters failed\n", impl, variant);
      kit_json_str(&j, "count_error", "reading the server's counters failed");
    }
  } else {
    kit_json_str(&j, "error", "a pair failed");
  }
  kit_json_end(&j);
  return rc;
}
