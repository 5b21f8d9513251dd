/* serve.c — `baton-test-servers KIND...`: starts throwaway servers for
 * scripts (demo, benchmarks), prints one line per deployment
 * "KIND URI PID[,PID...]", and stops them all on SIGINT/SIGTERM or when its
 * standard input closes. */
#include "servers.h"

#include "clock.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SERVE_MAX_MS (24LL * 3600 * 1000) /* the longest a script may use us */

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv) {
  if (argc < 2 || argc - 1 > 8) {
    fprintf(stderr, "usage: baton-test-servers KIND... (");
    test_print_kinds(stderr);
    fprintf(stderr, ")\n");
    return 2;
  }
  static test_cluster clusters[8];
  int started = 0, rc = 0;
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  for (int i = 1; i < argc && !stop; i++) {
    if (test_cluster_start(&clusters[started], argv[i]) != 0) {
      rc = 1;
      break;
    }
    test_cluster *c = &clusters[started++];
    printf("%s %s ", argv[i], c->uri);
    for (int m = 0; m < c->n; m++) printf("%s%d", m ? "," : "", (int)c->member[m].pid);
    printf("\n");
    fflush(stdout);
  }
  if (rc == 0) {
    printf("ready\n");
    fflush(stdout);
  }
  /* Wait for a signal or for stdin to close (the parent went away); one
   * left behind by a script that never closed it ends after a day. */
  struct pollfd p = {.fd = 0, .events = POLLIN};
  char buf[64];
  for (int64_t end = kit_now_ms() + SERVE_MAX_MS; rc == 0 && !stop && kit_ms_left(end) > 0;) {
    int n = poll(&p, 1, 1000);
    if (n > 0 && read(0, buf, sizeof buf) <= 0) break;
  }
  for (int i = 0; i < started; i++) test_cluster_stop(&clusters[i]);
  return rc;
}
