/* util.c — the zk:// tests' own helpers: sessions on the zk table, a raw
 * ZooKeeper handle and the server's request counters, bounded in time. */
#include "util.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Signalled by a raw handle's watcher, so that tz_raw can wait for the
 * connection without polling. */
static kit_cond raw_cond;
static pthread_once_t raw_once = PTHREAD_ONCE_INIT;

static void raw_init(void) { kit_cond_init(&raw_cond); }

int tz_open(kit_session *k, const char *uri, const baton_options *o, baton_error *err) {
  return kit_open(k, &baton_backend_zk, uri, o, 10000, err);
}

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

zhandle_t *tz_raw(const char *hosts, const char *auth) {
  pthread_once(&raw_once, raw_init);
  zhandle_t *zh =
      zookeeper_init2(hosts, raw_watcher, 10000, NULL, NULL, ZOO_NO_LOG_CLIENTENV, quiet);
  if (zh == NULL) return NULL;
  int64_t end = kit_now_ms() + 10000;
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

int tz_children(zhandle_t *zh, const char *path, char *names, size_t size) {
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

int tz_delete_tree(zhandle_t *zh, const char *path) {
  struct String_vector v = {0, NULL};
  int rc = zoo_get_children(zh, path, 0, &v);
  if (rc == ZNONODE) return ZOK;
  for (int i = 0; rc == ZOK && i < v.count; i++) {
    char child[1024];
    snprintf(child, sizeof child, "%s/%s", path, v.data[i]);
    rc = tz_delete_tree(zh, child);
  }
  deallocate_String_vector(&v);
  if (rc == ZOK) rc = zoo_delete(zh, path, -1);
  return rc == ZNONODE ? ZOK : rc;
}

/* ---- server counters ------------------------------------------------------- */

/* Packets the server received since the last "srst" (from "srvr"). */
static long tz_server_received(int port) {
  char reply[2048];
  if (test_tcp_ask(port, "srvr", 4, reply, sizeof reply, 2000) != 0) return -1;
  /* The server counts this "srvr" as a received packet too. */
  const char *r = strstr(reply, "Received: ");
  return r != NULL ? strtol(r + 10, NULL, 10) - 1 : -1;
}

long tz_count_requests(int port, void (*fn)(void *), void *arg) {
  long best = LONG_MAX;
  for (int i = 0; i < 3; i++) {
    char reply[256];
    if (test_tcp_ask(port, "srst", 4, reply, sizeof reply, 2000) != 0) return -1;
    fn(arg);
    long n = tz_server_received(port);
    if (n >= 0 && n < best) best = n;
  }
  return best == LONG_MAX ? -1 : best;
}
