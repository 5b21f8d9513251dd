/* failover.c — crash fail-over: a holder process is SIGKILLed at t0 (it
 * cannot resign; its lease or session must run out on the server), and a
 * waiter process blocked in baton_election_campaign returns elected at t1.
 * Compared with the TTL. The parent opens no client, so its forks are safe. */
#include "kit.h"

#include <baton.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct report {
  int ok;
  uint64_t token;
  int64_t t; /* holder: when elected; waiter: t1 */
} report;

static const char *uri, *name;
static uint32_t ttl;

/* A child: campaign, report, then hold (holder) or resign and leave. */
static int child(int out, bool holder, int timeout_ms) {
  baton_options o = {.ttl_ms = ttl};
  baton_client *c;
  baton_election *e;
  baton_error err;
  report r = {0};
  if (baton_client_open(&c, uri, &o, &err) != 0 ||
      baton_election_open(&e, c, name, NULL, NULL, &err) != 0) {
    fprintf(stderr, "failover: %s\n", err.message);
    kit_write_full(out, &r, sizeof r);
    return 1;
  }
  if (!holder) kit_write_full(out, &r, sizeof r); /* "about to campaign" */
  int rc = baton_election_campaign(e, timeout_ms, &r.token, &err);
  r.t = kit_now();
  r.ok = rc == 0;
  if (rc != 0) fprintf(stderr, "failover: campaign: %s\n", err.message);
  kit_write_full(out, &r, sizeof r);
  if (holder && rc == 0)
    for (int i = 0; i < 600; i++) kit_sleep_ms(100); /* until SIGKILL */
  baton_election_close(e);
  baton_client_close(c);
  return rc == 0 ? 0 : 1;
}

static pid_t spawn(int *fd, bool holder, int timeout_ms) {
  int p[2];
  if (pipe(p) != 0) kit_die("pipe: %s", strerror(errno));
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) kit_die("fork: %s", strerror(errno));
  if (pid == 0) {
    close(p[0]);
    _exit(child(p[1], holder, timeout_ms));
  }
  close(p[1]);
  *fd = p[0];
  return pid;
}

int main(int argc, char **argv) {
  if (argc < 2) kit_die("usage: failover URI [--samples N] [--ttl ms] [--settle ms] [--name N]");
  uri = argv[1];
  long samples = kit_arg_long(argc, argv, "--samples", 3);
  ttl = (uint32_t)kit_arg_long(argc, argv, "--ttl", 2000);
  int settle = (int)kit_arg_long(argc, argv, "--settle", 50);
  name = kit_arg(argc, argv, "--name", "bench-failover");
  if (samples < 1 || samples > 1000) kit_die("--samples out of range");
  kit_setup((int)kit_arg_long(argc, argv, "--watchdog", 600));
  int wait_ms = (int)ttl * 3 + 5000;
  double *v = calloc((size_t)samples, sizeof *v), *delay = calloc((size_t)samples, sizeof *delay);
  size_t n = 0;
  int rc = 0;
  bool tokens_grow = true;
  srandom((unsigned)getpid());
  for (long i = 0; i < samples && rc == 0; i++) {
    int hfd, wfd;
    report h, w, hello;
    pid_t hpid = spawn(&hfd, true, 15000);
    if (kit_read_full(hfd, &h, sizeof h, 20000) != 0 || !h.ok) {
      rc = -1;
      kit_reap(hpid, 1000);
      close(hfd);
      break;
    }
    pid_t wpid = spawn(&wfd, false, wait_ms);
    if (kit_read_full(wfd, &hello, sizeof hello, 20000) != 0) rc = -1;
    /* Let the waiter block; then kill at a random phase of the holder's
     * renew cycle (renewals every ttl/3 by default), since the server's
     * expiry counts from the last renewal, not from the kill. */
    int phase = (int)(random() % (ttl / 3 + 1));
    kit_sleep_ms(settle + phase);
    int64_t t0 = kit_now();
    kill(hpid, SIGKILL);
    kit_reap(hpid, 5000);
    if (rc == 0 && kit_read_full(wfd, &w, sizeof w, wait_ms + 5000) == 0 && w.ok) {
      v[n] = (double)(w.t - t0) / 1e6;
      delay[n++] = (double)(t0 - h.t) / 1e6;
      if (w.token <= h.token) tokens_grow = false;
    } else {
      rc = -1;
    }
    if (kit_reap(wpid, 15000) != 0) rc = -1;
    close(hfd);
    close(wfd);
  }
  kit_json j;
  kit_json_record(&j, "failover", uri);
  kit_json_int(&j, "ttl_ms", ttl);
  kit_json_int(&j, "samples", (long long)n);
  kit_json_nums(&j, "failover_ms", v, n);
  kit_json_nums(&j, "killed_after_elected_ms", delay, n);
  kit_json_bool(&j, "tokens_grow", tokens_grow);
  if (n > 0) {
    kit_json_num(&j, "p50_ms", kit_quantile(v, n, 0.5));
    kit_json_num(&j, "max_ms", kit_quantile(v, n, 1));
  }
  if (rc != 0) kit_json_str(&j, "error", "a holder or waiter failed (see stderr)");
  kit_json_end(&j);
  free(v);
  free(delay);
  return rc == 0 ? 0 : 1;
}
