/* zk_kit.c — the zk:// tests' part of the kit: a raw ZooKeeper handle,
 * the server's request counters, and the seam suite's view of the
 * server, each bounded in time. */
#include "zk_kit.h"

#include "zk.h"

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

/* A raw handle on session `id` (NULL: a new one), connected, or NULL. */
static zhandle_t *raw_on(const char *hosts, const clientid_t *id) {
  pthread_once(&raw_once, raw_init);
  zhandle_t *zh = zookeeper_init2(hosts, raw_watcher, RAW_CONNECT_MS, id, NULL,
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
  return zh;
}

zhandle_t *kit_zk_raw(const char *hosts, const char *auth) {
  zhandle_t *zh = raw_on(hosts, NULL);
  if (zh != NULL && auth != NULL) zoo_add_auth(zh, "digest", auth, (int)strlen(auth), NULL, NULL);
  return zh;
}

int kit_zk_expire(const char *hosts, const clientid_t *id) {
  clientid_t copy = *id; /* the victim's handle may change it meanwhile */
  zhandle_t *twin = raw_on(hosts, &copy);
  if (twin == NULL) return -1;
  zookeeper_close(twin);
  return 0;
}

int kit_zk_children(zhandle_t *zh, const char *path, char *names, size_t size) {
  struct String_vector v = {0, NULL};
  int rc = zoo_get_children(zh, path, 0, &v);
  if (rc != ZOK) return rc < 0 ? rc : -rc;
  if (names != NULL && size > 0) {
    names[0] = '\0';
    size_t len = 0;
    for (int i = 0; i < v.count && len < size; i++) /* cut at size, never past it */
      len += (size_t)snprintf(names + len, size - len, "%s%s", i ? "," : "", v.data[i]);
  }
  int n = v.count;
  deallocate_String_vector(&v);
  return n;
}

int kit_zk_leftovers(zhandle_t *zh, const char *root, char *report, size_t size) {
  char names[4096] = "";
  int n = kit_zk_children(zh, root, names, sizeof names), left = 0;
  size_t len = 0;
  if (size > 0) report[0] = '\0';
  if (n < 0) return n == ZNONODE ? 0 : 1;
  char *save = NULL;
  for (char *name = strtok_r(names, ",", &save); name != NULL; name = strtok_r(NULL, ",", &save)) {
    char path[512], kids[1024];
    snprintf(path, sizeof path, "%s/%s", root, name);
    if (kit_zk_children(zh, path, kids, sizeof kids) == 0) continue;
    left++;
    if (len < size) len += (size_t)snprintf(report + len, size - len, "%s: %s; ", path, kids);
  }
  return left;
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

/* ---- the seam suite's view ------------------------------------------------- */

/* The seam suite's sessions have no chroot: a name's nodes are /<name>/. */
static zhandle_t *raw_of(const test_cluster *c) {
  char hosts[64];
  zhandle_t *zh = kit_zk_raw(kit_member_addr(c, 0, hosts, sizeof hosts), NULL);
  if (zh == NULL) fprintf(stderr, "zk: no raw handle to %s\n", hosts);
  return zh;
}

/* The child of /name that leads (the least sequence), into lead. */
static int leader_child(zhandle_t *zh, const char *name, char *lead, size_t size, int *keys) {
  char parent[300];
  snprintf(parent, sizeof parent, "/%s", name);
  struct String_vector v = {0, NULL};
  int rc = zoo_get_children(zh, parent, 0, &v);
  *keys = 0;
  lead[0] = '\0';
  if (rc == ZNONODE) return 0;
  if (rc != ZOK) return -1;
  for (int i = 0; i < v.count; i++) {
    if (baton__zk_name_seq(v.data[i]) < 0) continue;
    if (lead[0] == '\0' || baton__zk_name_cmp(v.data[i], lead) < 0)
      snprintf(lead, size, "%s", v.data[i]);
    (*keys)++;
  }
  deallocate_String_vector(&v);
  return 0;
}

static int seam_peek(const test_cluster *c, const char *name, kit_peek *out) {
  memset(out, 0, sizeof *out);
  out->ttl_ms = -1;
  zhandle_t *zh = raw_of(c);
  if (zh == NULL) return -1;
  char lead[256], path[600];
  int rc = leader_child(zh, name, lead, sizeof lead, &out->keys);
  if (rc == 0 && out->keys > 0) {
    snprintf(path, sizeof path, "/%s/%s", name, lead);
    struct Stat st = {0};
    int len = (int)sizeof out->identity - 1;
    rc = zoo_get(zh, path, 0, out->identity, &len, &st) == ZOK ? 0 : -1;
    out->identity[rc == 0 && len > 0 ? len : 0] = '\0';
    out->token = rc == 0 ? (uint64_t)st.czxid : 0;
  }
  zookeeper_close(zh);
  return rc;
}

/* The leader's node goes, and a node of "thief" (persistent: this handle
 * closes) takes its place: at the end of the queue, so at the head only
 * when no one else queued. */
static int seam_steal(const test_cluster *c, const char *name) {
  zhandle_t *zh = raw_of(c);
  if (zh == NULL) return -1;
  char lead[256], path[600];
  int keys = 0;
  int rc = leader_child(zh, name, lead, sizeof lead, &keys);
  if (rc == 0 && keys > 0) {
    snprintf(path, sizeof path, "/%s/%s", name, lead);
    rc = zoo_delete(zh, path, -1) == ZOK ? 0 : -1;
  }
  snprintf(path, sizeof path, "/%s/0123456789abcdef0123456789abcdef__lock__", name);
  if (rc == 0)
    rc = zoo_create(zh, path, "thief", 5, &ZOO_OPEN_ACL_UNSAFE, ZOO_SEQUENCE, NULL, 0) == ZOK
             ? 0
             : -1;
  zookeeper_close(zh);
  return rc;
}

static int seam_remove(const test_cluster *c, const char *name) {
  zhandle_t *zh = raw_of(c);
  if (zh == NULL) return -1;
  char parent[300];
  snprintf(parent, sizeof parent, "/%s", name);
  int rc = kit_zk_delete_tree(zh, parent) == ZOK ? 0 : -1;
  zookeeper_close(zh);
  return rc;
}

static long seam_requests(const test_cluster *c, kit_session *k, void (*fn)(void *), void *arg) {
  (void)k;
  return kit_zk_count_requests(c->member[0].port, fn, arg);
}

KIT_SEAM(zk, 3, true, "wait timed out");
