/* sentinel.c — starts a throwaway Redis Sentinel deployment for tests: a
 * master, 2 replicas and 3 Sentinels (redis-server --sentinel, from the
 * redis-server package alone), each on a free port with its own folder.
 * Members: 0 the master, 1-2 the replicas, 3-5 the Sentinels. The URI is
 * redis-sentinel://S1,S2,S3/TEST_SENTINEL_MASTER. */
#include "servers.h"

#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLICAS 2
#define SENTINELS 3
/* Sentinel's hello messages (every 2 s) make the Sentinels known to each
 * other; the master's INFO (every 10 s, 1 s once asked) makes the
 * replicas known: until both, no fail-over could be agreed. */
#define AGREE_MS 30000

static bool ping_ready(const test_server *s) {
  char reply[256];
  /* QUIT: the server closes, so the answer is read without waiting out
   * the timeout. */
  return test_tcp_ask(s->port, "PING\r\nQUIT\r\n", 12, reply, sizeof reply, 200) == 0 &&
         strstr(reply, "PONG") != NULL;
}

static int spawn_redis(test_cluster *c, int i, int master_port) {
  test_server *s = &c->member[i];
  s->kind = "redis";
  s->ready = ping_ready;
  s->port = test_free_port();
  if (s->port < 0 || test_make_dir(s->dir, sizeof s->dir, "sentinel-redis") != 0) return -1;
  c->n = i + 1;
  char port[16], master[16];
  snprintf(port, sizeof port, "%d", s->port);
  snprintf(master, sizeof master, "%d", master_port);
  const char *argv[] = {"/usr/bin/redis-server", "--port", port, "--bind", "127.0.0.1",
                        "--dir", s->dir, "--save", "", "--appendonly", "no",
                        "--daemonize", "no", master_port > 0 ? "--replicaof" : NULL,
                        "127.0.0.1", master, NULL};
  return test_server_spawn(s, argv, NULL, 0);
}

static int spawn_sentinel(test_cluster *c, int i, int master_port) {
  test_server *s = &c->member[i];
  s->kind = "sentinel";
  s->ready = ping_ready;
  s->port = test_free_port();
  if (s->port < 0 || test_make_dir(s->dir, sizeof s->dir, "sentinel") != 0) return -1;
  c->n = i + 1;
  /* Sentinel rewrites its file: it lives in the folder. */
  char conf[300], text[1024];
  snprintf(conf, sizeof conf, "%s/sentinel.conf", s->dir);
  snprintf(text, sizeof text,
           "port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\n"
           "sentinel monitor %s 127.0.0.1 %d 2\n"
           "sentinel down-after-milliseconds %s 1000\n"
           "sentinel failover-timeout %s 3000\n",
           s->port, s->dir, TEST_SENTINEL_MASTER, master_port, TEST_SENTINEL_MASTER,
           TEST_SENTINEL_MASTER);
  if (test_write_file(conf, text) != 0) return -1;
  const char *argv[] = {"/usr/bin/redis-server", conf, "--sentinel", NULL};
  return test_server_spawn(s, argv, NULL, 0);
}

/* A field of SENTINEL MASTER's reply (a flat list of names and values):
 * its number, or -1. */
static long master_field(int port, const char *field) {
  char cmd[128], reply[8192];
  int n = snprintf(cmd, sizeof cmd, "SENTINEL MASTER %s\r\nQUIT\r\n", TEST_SENTINEL_MASTER);
  if (test_tcp_ask(port, cmd, (size_t)n, reply, sizeof reply, 500) != 0) return -1;
  char key[64];
  snprintf(key, sizeof key, "\r\n%s\r\n", field);
  const char *at = strstr(reply, key);
  if (at == NULL) return -1;
  at = strchr(at + strlen(key), '\n'); /* past "$len" */
  return at != NULL ? strtol(at + 1, NULL, 10) : -1;
}

int test_sentinel_agreed(const test_cluster *c, int ms) {
  int64_t end = kit_now_ms() + ms;
  for (;;) {
    bool agreed = true;
    for (int i = 1 + REPLICAS; i < c->n && agreed; i++)
      agreed = c->member[i].pid <= 0 ||
               (master_field(c->member[i].port, "num-other-sentinels") == SENTINELS - 1 &&
                master_field(c->member[i].port, "num-slaves") == REPLICAS);
    if (agreed) return 0;
    if (kit_ms_left(end) == 0) break;
    kit_sleep_ms(50);
  }
  fprintf(stderr, "servers: the Sentinels did not all know each other and both replicas "
                  "within %d ms\n", ms);
  return -1;
}

int test_sentinel_start(test_cluster *c) {
  memset(c, 0, sizeof *c);
  int rc = spawn_redis(c, 0, 0);
  int master_port = c->member[0].port;
  for (int i = 1; rc == 0 && i <= REPLICAS; i++) rc = spawn_redis(c, i, master_port);
  for (int i = 1 + REPLICAS; rc == 0 && i < 1 + REPLICAS + SENTINELS; i++)
    rc = spawn_sentinel(c, i, master_port);
  if (rc != 0) {
    test_cluster_stop(c);
    return -1;
  }
  if (test_cluster_ready(c, "redis-sentinel", 10000) != 0) return -1;
  if (test_sentinel_agreed(c, AGREE_MS) != 0) {
    test_cluster_stop(c);
    return -1;
  }
  int len = snprintf(c->uri, sizeof c->uri, "redis-sentinel://");
  for (int i = 1 + REPLICAS; i < c->n; i++)
    len += snprintf(c->uri + len, sizeof c->uri - (size_t)len, "%s127.0.0.1:%d",
                    i > 1 + REPLICAS ? "," : "", c->member[i].port);
  snprintf(c->uri + len, sizeof c->uri - (size_t)len, "/%s", TEST_SENTINEL_MASTER);
  return 0;
}

int test_sentinel_master(const test_cluster *c) {
  char cmd[128], reply[512];
  int n = snprintf(cmd, sizeof cmd, "SENTINEL get-master-addr-by-name %s\r\nQUIT\r\n",
                   TEST_SENTINEL_MASTER);
  for (int i = 1 + REPLICAS; i < c->n; i++) {
    if (c->member[i].pid <= 0 ||
        test_tcp_ask(c->member[i].port, cmd, (size_t)n, reply, sizeof reply, 500) != 0)
      continue;
    /* "*2\r\n$9\r\n127.0.0.1\r\n$5\r\nPORT\r\n" */
    const char *p = strstr(reply, "127.0.0.1\r\n");
    if (p == NULL || (p = strchr(p + 11, '\n')) == NULL) continue;
    int port = atoi(p + 1);
    for (int m = 0; m <= REPLICAS; m++)
      if (c->member[m].port == port) return m;
  }
  return -1;
}

bool test_sentinel_healthy(const test_cluster *c) {
  int m = test_sentinel_master(c);
  char reply[4096];
  static const char q[] = "INFO replication\r\nQUIT\r\n";
  if (m < 0 || test_tcp_ask(c->member[m].port, q, sizeof q - 1, reply, sizeof reply, 500) != 0)
    return false;
  const char *at = strstr(reply, "connected_slaves:");
  return at != NULL && atoi(at + 17) == REPLICAS;
}

const char test_sentinel_kinds[] = "sentinel";

int test_sentinel_start_kind(test_cluster *c, const char *kind) {
  return strcmp(kind, "sentinel") == 0 ? test_sentinel_start(c) : TEST_NOT_MY_KIND;
}
