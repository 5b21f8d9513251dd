/* etcd.c — starts a throwaway etcd member or 3-member cluster for tests. */
#include "servers.h"

#include <stdio.h>
#include <string.h>

static bool etcd_ready(const test_server *s) {
  char reply[512];
  static const char req[] = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  return test_tcp_ask(s->port, req, sizeof req - 1, reply, sizeof reply, 300) == 0 &&
         strstr(reply, "\"health\":\"true\"") != NULL;
}

int test_etcd_start(test_cluster *c, int members) {
  memset(c, 0, sizeof *c);
  if (members < 1 || members > TEST_MAX_MEMBERS) return -1;
  char initial[1024] = "";
  for (int i = 0; i < members; i++) {
    test_server *s = &c->member[i];
    s->kind = "etcd";
    s->ready = etcd_ready;
    s->port = test_free_port();
    s->peer_port = test_free_port();
    if (s->port < 0 || s->peer_port < 0 || test_make_dir(s->dir, sizeof s->dir, "etcd") != 0)
      return -1;
    c->n = i + 1;
    size_t len = strlen(initial);
    snprintf(initial + len, sizeof initial - len, "%se%d=http://127.0.0.1:%d", i ? "," : "", i,
             s->peer_port);
  }
  char token[64];
  snprintf(token, sizeof token, "baton-test-%d", c->member[0].port);
  /* Start all members before waiting: a cluster is healthy only once a
   * quorum is up. */
  for (int i = 0; i < members; i++) {
    test_server *s = &c->member[i];
    char name[16], data[300], client[64], peer[64];
    snprintf(name, sizeof name, "e%d", i);
    snprintf(data, sizeof data, "%s/data", s->dir);
    snprintf(client, sizeof client, "http://127.0.0.1:%d", s->port);
    snprintf(peer, sizeof peer, "http://127.0.0.1:%d", s->peer_port);
    const char *argv[] = {"/usr/bin/etcd", "--name", name, "--data-dir", data,
                          "--listen-client-urls", client, "--advertise-client-urls", client,
                          "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                          "--initial-cluster", initial, "--initial-cluster-state", "new",
                          "--initial-cluster-token", token, "--log-level", "warn",
                          /* only watches that ask get them (the etcd backend's
                           * hub): its tests need not wait ten minutes */
                          "--experimental-watch-progress-notify-interval", "1s", NULL};
    /* A member of a cluster is healthy only once a quorum is up, so all
     * are launched before any is awaited. */
    if (test_server_spawn(s, argv, NULL, 0) != 0) {
      test_cluster_stop(c);
      return -1;
    }
  }
  return test_cluster_ready(c, "etcd", 30000);
}

const char test_etcd_kinds[] = "etcd, etcd3";

int test_etcd_start_kind(test_cluster *c, const char *kind) {
  if (strcmp(kind, "etcd") == 0) return test_etcd_start(c, 1);
  if (strcmp(kind, "etcd3") == 0) return test_etcd_start(c, 3);
  return TEST_NOT_MY_KIND;
}
