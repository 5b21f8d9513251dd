/* zk_kit.c — the zk:// tests' part of the kit: a raw ZooKeeper handle
 * and the server's request counters, each bounded in time. */
#include "zk_kit.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAW_CONNECT_MS 10000 /* a raw handle's session on loopback */

/* Signalled by a raw handle's watcher, so that kit_zk_raw can wait for
 * the connection without polling. */
static kit_cond raw_cond;
static pthread_once_t raw_once = PTHREAD_ONCE_INIT;

static void raw_init(void) { kit_cond_init(&raw_cond); }

/* ---- raw handle ------------------------------------------------------------ */

static void quiet(const char *message) { (void)message; }

static void raw_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
  (void)zh;
  (void)type;
  (void)state;
  (void)path;
  (void)ctx;
  kit_cond_broadcast(&raw_cond);
}

zhandle_t *kit_zk_raw(const char *hosts, const char *auth) {
  pthread_once(&raw_once, raw_init);
  zhandle_t *zh = zookeeper_init2(hosts, raw_watcher, RAW_CONNECT_MS, NULL, NULL,
                                  ZOO_NO_LOG_CLIENTENV, quiet);
  if (zh == NULL) return NULL;
  int64_t end = kit_now_ms() + RAW_CONNECT_MS;
  pthread_mutex_lock(&raw_cond.mu);
  while (zoo_state(zh) != ZOO_CONNECTED_STATE && kit_cond_wait(&raw_cond, end)) {
  }
  pthread_mutex_unlock(&raw_cond.mu);
  if (zoo_state(zh) != ZOO_CONNECTED_STATE) {
    zookeeper_close(zh);
    return NULL;
  }
  if (auth != NULL) zoo_add_auth(zh, "digest", auth, (int)strlen(auth), NULL, NULL);
  return zh;
}

int kit_zk_children(zhandle_t *zh, const char *path, char *names, size_t size) {
  struct String_vector v = {0, NULL};
  int rc = zoo_get_children(zh, path, 0, &v);
  if (rc != ZOK) return rc < 0 ? rc : -rc;
  if (names != NULL && size > 0) {
    names[0] = '\0';
    size_t len = 0;
    for (int i = 0; i < v.count; i++)
      len += (size_t)snprintf(names + len, len < size ? size - len : 0, "%s%s", i ? "," : "",
                              v.data[i]);
  }
  int n = v.count;
  deallocate_String_vector(&v);
  return n;
}

int kit_zk_delete_tree(zhandle_t *zh, const char *path) {
  struct String_vector v = {0, NULL};
  int rc = zoo_get_children(zh, path, 0, &v);
  if (rc == ZNONODE) return ZOK;
  for (int i = 0; rc == ZOK && i < v.count; i++) {
    char child[1024];
    snprintf(child, sizeof child, "%s/%s", path, v.data[i]);
    rc = kit_zk_delete_tree(zh, child);
  }
  deallocate_String_vector(&v);
  if (rc == ZOK) rc = zoo_delete(zh, path, -1);
  return rc == ZNONODE ? ZOK : rc;
}

/* ---- server counters ------------------------------------------------------- */

/* Packets the server received since the last "srst" (from "srvr"). */
static long server_received(int port) {
  char reply[2048];
  if (test_tcp_ask(port, "srvr", 4, reply, sizeof reply, 2000) != 0) return -1;
  /* The server counts this "srvr" as a received packet too. */
  const char *r = strstr(reply, "Received: ");
  return r != NULL ? strtol(r + 10, NULL, 10) - 1 : -1;
}

long kit_zk_count_requests(int port, void (*fn)(void *), void *arg) {
  long best = LONG_MAX;
  for (int i = 0; i < 3; i++) {
    char reply[256];
    if (test_tcp_ask(port, "srst", 4, reply, sizeof reply, 2000) != 0) return -1;
    fn(arg);
    long n = server_received(port);
    if (n >= 0 && n < best) best = n;
  }
  return best == LONG_MAX ? -1 : best;
}
