/* names.c — one client holding many names: resident memory and descriptors
 * per name, threads with 100 names and with all of them, and the renewal
 * traffic the server sees per second while they are all held. */
#include "kit.h"

#include <baton.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <math.h>
#include <unistd.h>

typedef struct snap {
  long rss_kib, threads, fds;
} snap;

static snap take(void) {
  return (snap){kit_proc_status("VmRSS"), kit_proc_status("Threads"), kit_open_fds()};
}

static void json_snap(kit_json *j, const char *key, snap s) {
  char buf[128];
  snprintf(buf, sizeof buf, "{\"rss_kib\":%ld,\"threads\":%ld,\"fds\":%ld}", s.rss_kib, s.threads,
           s.fds);
  kit_json_raw(j, key, buf);
}

static int server_pid;

/* `secs` of idle holding, seen from the server: requests, server and
 * client CPU. Redis takes a second window under MONITOR to count the
 * clients' requests (MONITOR slows the server, so not in the first). */
static int renew_window(kit_json *j, const char *key, const char *uri, double secs,
                        double interval_s) {
  static kit_probe p;
  if (kit_probe_begin(&p, uri, false) != 0) return -1;
  double cpu0 = kit_cpu_self(), scpu0 = server_pid > 0 ? kit_cpu_pid(server_pid) : 0;
  int64_t t0 = kit_now();
  kit_sleep_ms((int)(secs * 1000));
  double took = (double)(kit_now() - t0) / 1e9;
  double cpu = kit_cpu_self() - cpu0;
  double scpu = server_pid > 0 ? kit_cpu_pid(server_pid) - scpu0 : NAN;
  if (kit_probe_end(&p) != 0) return -1;
  char extra[512] = "";
  double requests = p.requests;
  if (strcmp(p.kind, "redis") == 0) {
    double calls = kit_stats_get(&p.delta, "cmd.evalsha");
    snprintf(extra, sizeof extra,
             ",\"reads_per_s\":%.6g,\"input_bytes_per_s\":%.6g,\"evalsha_ms_per_call\":%.6g",
             kit_stats_get(&p.delta, "reads") / took, kit_stats_get(&p.delta, "input_bytes") / took,
             calls > 0 ? kit_stats_get(&p.delta, "usec.evalsha") / calls / 1000 : 0.0);
    static kit_probe m;
    if (kit_probe_begin(&m, uri, true) != 0) return -1;
    t0 = kit_now();
    kit_sleep_ms((int)(secs * 1000));
    double took_m = (double)(kit_now() - t0) / 1e9;
    if (kit_probe_end(&m) != 0) return -1;
    requests = m.requests * took / took_m;
    size_t len = strlen(extra);
    snprintf(extra + len, sizeof extra - len, ",\"script_commands_per_s\":%.6g",
             m.in_scripts / took_m);
  } else if (strcmp(p.kind, "etcd") == 0) {
    snprintf(extra, sizeof extra, ",\"keepalives_per_s\":%.6g,\"wal_fsyncs_per_s\":%.6g",
             kit_stats_get(&p.delta, "grpc.LeaseKeepAlive") / took,
             kit_stats_get(&p.delta, "wal_fsyncs") / took);
  } else {
    snprintf(extra, sizeof extra, ",\"fsyncs_per_s\":%.6g,\"packets_sent_per_s\":%.6g",
             kit_stats_get(&p.delta, "fsyncs") / took,
             kit_stats_get(&p.delta, "packets_sent") / took);
  }
  char buf[1024];
  snprintf(buf, sizeof buf,
           "{\"window_s\":%.6g,\"renew_interval_ms\":%.6g,\"requests_per_s\":%.6g,"
           "\"requests_per_interval\":%.6g,\"client_cpu_ms_per_s\":%.6g,"
           "\"server_cpu_ms_per_s\":%.6g%s}",
           took, interval_s * 1e3, requests / took, requests / took * interval_s,
           cpu / took * 1e3, scpu / took * 1e3, extra);
  kit_json_raw(j, key, buf);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) kit_die("usage: names URI [--names N] [--ttl ms] [--window s] [--window100 s]");
  const char *uri = argv[1];
  long want = kit_arg_long(argc, argv, "--names", 10000);
  uint32_t ttl = (uint32_t)kit_arg_long(argc, argv, "--ttl", 3000);
  double window = kit_arg_double(argc, argv, "--window", 3);
  double window100 = kit_arg_double(argc, argv, "--window100", 0);
  server_pid = (int)kit_arg_long(argc, argv, "--server-pid", 0);
  const char *prefix = kit_arg(argc, argv, "--name", "bench-names");
  if (want < 101 || want > 1000000) kit_die("--names out of range");
  kit_setup((int)kit_arg_long(argc, argv, "--watchdog", 600));
  long nofile = kit_raise_nofile();
  long renew_ms = kit_arg_long(argc, argv, "--renew", 0); /* 0: baton's default, ttl / 3 */
  double interval = (renew_ms > 0 ? (double)renew_ms : ttl / 3.0) / 1000;

  snap s_before = take();
  baton_options o = {.ttl_ms = ttl, .renew_interval_ms = (uint32_t)renew_ms};
  baton_client *c;
  baton_error err;
  if (baton_client_open(&c, uri, &o, &err) != 0) kit_die("client_open: %s", err.message);
  snap s_client = take(), s100 = {0};
  kit_json j;
  kit_json_record(&j, "names", uri);
  kit_json_int(&j, "names_wanted", want);
  kit_json_int(&j, "ttl_ms", ttl);
  kit_json_int(&j, "rlimit_nofile", nofile);
  json_snap(&j, "before_client", s_before);
  json_snap(&j, "client", s_client);
  /* Keep a few descriptors in reserve: if the names exhaust the limit, the
   * counters must still be readable afterwards. */
  int reserve[32], nreserve = 0;
  for (size_t i = 0; i < sizeof reserve / sizeof reserve[0]; i++) {
    reserve[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    nreserve += reserve[i] >= 0;
  }
  baton_election **e = calloc((size_t)want, sizeof *e);
  long n = 0;
  int64_t t0 = kit_now();
  int rc = 0;
  for (; n < want; n++) {
    char name[BATON_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s-%ld", prefix, n);
    rc = baton_election_open(&e[n], c, name, NULL, NULL, &err);
    if (rc == 0) rc = baton_election_try_campaign(e[n], NULL, NULL, &err);
    if (rc != 0) {
      baton_election_close(e[n]);
      e[n] = NULL;
      kit_json_str(&j, "error", err.message);
      fprintf(stderr, "names: name %ld: %s\n", n, err.message);
      break;
    }
    if (n + 1 == 100) {
      s100 = take();
      json_snap(&j, "names_100", s100);
      if (window100 > 0 && renew_window(&j, "renew_100", uri, window100, interval))
        fprintf(stderr, "names: reading the server's counters failed\n");
    }
  }
  double acquire_s = (double)(kit_now() - t0) / 1e9;
  for (size_t i = 0; i < sizeof reserve / sizeof reserve[0]; i++)
    if (reserve[i] >= 0) close(reserve[i]);
  snap s_all = take();
  kit_json_int(&j, "names_acquired", n);
  kit_json_num(&j, "acquire_s", acquire_s);
  json_snap(&j, "names_all", s_all);
  if (n > 100) {
    kit_json_num(&j, "bytes_per_name",
                 (double)(s_all.rss_kib - s100.rss_kib) * 1024 / (double)(n - 100));
    /* s100 counted the reserve, s_all (taken after closing it) not. */
    kit_json_num(&j, "fds_per_name",
                 (double)(s_all.fds + nreserve - s100.fds) / (double)(n - 100));
  }
  /* Let renewals that the acquisitions brought forward settle first. */
  kit_sleep_ms((int)(interval * 1000));
  if (n > 100 && renew_window(&j, "renew_all", uri, window, interval) != 0)
    fprintf(stderr, "names: reading the server's counters failed\n");
  long held = 0;
  for (long i = 0; i < n; i++) held += baton_election_is_leader(e[i], NULL, NULL);
  kit_json_int(&j, "held_after_window", held);
  t0 = kit_now();
  baton_client_close(c); /* closes every election: resigns all names */
  kit_json_num(&j, "close_s", (double)(kit_now() - t0) / 1e9);
  kit_json_end(&j);
  free(e);
  return rc == 0 && held == n ? 0 : 1;
}
