/* names.c — one client holding many names: resident memory and descriptors
 * per name, threads with 100 names and with all of them, and the renewal
 * traffic the server sees per second while they are all held. */
#include "kit.h"

#include <baton.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) kit_die("usage: names URI [--names N] [--ttl ms] [--window s] [--window100 s]");
  const char *uri = argv[1];
  long want = kit_arg_long(argc, argv, "--names", 10000);
  uint32_t ttl = (uint32_t)kit_arg_long(argc, argv, "--ttl", 3000);
  double window = kit_arg_double(argc, argv, "--window", 3);
  double window100 = kit_arg_double(argc, argv, "--window100", 0);
  int server_pid = (int)kit_arg_long(argc, argv, "--server-pid", 0);
  const char *prefix = kit_arg(argc, argv, "--name", "bench-names");
  if (want < 101 || want > 1000000) kit_die("--names out of range");
  kit_setup((int)kit_arg_long(argc, argv, "--watchdog", 600));
  long nofile = kit_raise_nofile();
  long renew_ms = kit_arg_long(argc, argv, "--renew", 0); /* 0: baton's default, ttl / 3 */
  double interval = (renew_ms > 0 ? (double)renew_ms : ttl / 3.0) / 1000;

  kit_snap s_before = kit_snap_take();
  baton_options o = {.ttl_ms = ttl, .renew_interval_ms = (uint32_t)renew_ms};
  baton_client *c;
  baton_error err;
  if (baton_client_open(&c, uri, &o, &err) != 0) kit_die("client_open: %s", err.message);
  kit_snap s_client = kit_snap_take(), s100 = {0};
  kit_json j;
  kit_json_record(&j, "names", uri);
  kit_json_int(&j, "names_wanted", want);
  kit_json_int(&j, "ttl_ms", ttl);
  kit_json_int(&j, "rlimit_nofile", nofile);
  kit_json_snap(&j, "before_client", s_before);
  kit_json_snap(&j, "client", s_client);
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
      s100 = kit_snap_take();
      kit_json_snap(&j, "names_100", s100);
      if (window100 > 0 && kit_renew_window(&j, "renew_100", uri, window100, interval, server_pid))
        fprintf(stderr, "names: reading the server's counters failed\n");
    }
  }
  double acquire_s = (double)(kit_now() - t0) / 1e9;
  for (size_t i = 0; i < sizeof reserve / sizeof reserve[0]; i++)
    if (reserve[i] >= 0) close(reserve[i]);
  kit_snap s_all = kit_snap_take();
  kit_json_int(&j, "names_acquired", n);
  kit_json_num(&j, "acquire_s", acquire_s);
  kit_json_snap(&j, "names_all", s_all);
  if (n > 100) {
    kit_json_num(&j, "bytes_per_name",
                 (double)(s_all.rss_kib - s100.rss_kib) * 1024 / (double)(n - 100));
    /* s100 counted the reserve, s_all (taken after closing it) not. */
    kit_json_num(&j, "fds_per_name",
                 (double)(s_all.fds + nreserve - s100.fds) / (double)(n - 100));
  }
  /* Let renewals that the acquisitions brought forward settle first. */
  kit_sleep_ms((int)(interval * 1000));
  if (n > 100 && kit_renew_window(&j, "renew_all", uri, window, interval, server_pid) != 0)
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
