/* floor_zk.c — the raw ZooKeeper floor: the requests of a queue lock in
 * kazoo's layout, issued with the bare synchronous libzookeeper_mt API.
 *   3: create ephemeral-sequential, getChildren (is ours the lowest? a
 *      correct acquire needs it), delete — the floor baton is held to;
 *   2: create + delete only (no check; not a correct lock, shown for scale). */
#include "kit.h"
#include "pairloop.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

typedef struct zfloor {
  zhandle_t *zh;
  bool children;
  char parent[160], prefix[256], data[64];
} zfloor;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int connected;

static void on_watch(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
  (void)zh, (void)path, (void)ctx;
  if (type != ZOO_SESSION_EVENT) return;
  pthread_mutex_lock(&mu);
  connected = state == ZOO_CONNECTED_STATE ? 1 : -1;
  pthread_cond_broadcast(&cond);
  pthread_mutex_unlock(&mu);
}

static int cmp_seq(const void *a, const void *b) {
  const char *x = strrchr(*(char *const *)a, '_'), *y = strrchr(*(char *const *)b, '_');
  return strcmp(x ? x : "", y ? y : "");
}

static int pair(void *ctx) {
  zfloor *f = ctx;
  char path[512];
  int rc = zoo_create(f->zh, f->prefix, f->data, (int)strlen(f->data), &ZOO_OPEN_ACL_UNSAFE,
                      ZOO_EPHEMERAL_SEQUENTIAL, path, sizeof path);
  if (rc != ZOK) {
    fprintf(stderr, "floor_zk: create: %s\n", zerror(rc));
    return -1;
  }
  if (f->children) {
    struct String_vector kids = {0};
    rc = zoo_get_children(f->zh, f->parent, 0, &kids);
    if (rc != ZOK || kids.count < 1) {
      fprintf(stderr, "floor_zk: get_children: %s\n", zerror(rc));
      return -1;
    }
    qsort(kids.data, (size_t)kids.count, sizeof *kids.data, cmp_seq);
    bool lowest = strcmp(kids.data[0], strrchr(path, '/') + 1) == 0;
    deallocate_String_vector(&kids);
    if (!lowest) {
      fprintf(stderr, "floor_zk: not the lowest node: %s\n", path);
      return -1;
    }
  }
  rc = zoo_delete(f->zh, path, -1);
  if (rc != ZOK) {
    fprintf(stderr, "floor_zk: delete: %s\n", zerror(rc));
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) kit_die("usage: floor_zk URI [--variant 2|3] [--secs S] ...");
  kit_setup((int)kit_arg_long(argc, argv, "--watchdog", 300));
  char kind[16], host[64], hostport[96];
  int port;
  if (kit_uri_split(argv[1], kind, sizeof kind, host, sizeof host, &port) != 0)
    kit_die("bad URI %s", argv[1]);
  snprintf(hostport, sizeof hostport, "%s:%d", host, port);
  const char *variant = kit_arg(argc, argv, "--variant", "3");
  static zfloor f;
  f.children = strcmp(variant, "3") == 0;
  if (!f.children && strcmp(variant, "2") != 0) kit_die("unknown variant %s", variant);
  zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
  f.zh = zookeeper_init(hostport, on_watch, (int)kit_arg_long(argc, argv, "--ttl", 10000), NULL,
                        NULL, 0);
  if (f.zh == NULL) kit_die("zookeeper_init failed");
  pthread_mutex_lock(&mu);
  for (int i = 0; i < 100 && connected == 0; i++) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100000000;
    if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
    pthread_cond_timedwait(&cond, &mu, &ts);
  }
  int state = connected;
  pthread_mutex_unlock(&mu);
  if (state != 1) kit_die("cannot connect to %s", hostport);
  snprintf(f.parent, sizeof f.parent, "/%s", kit_arg(argc, argv, "--name", "bench-floor"));
  int rc = zoo_create(f.zh, f.parent, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
  if (rc != ZOK && rc != ZNODEEXISTS) kit_die("create %s: %s", f.parent, zerror(rc));
  snprintf(f.prefix, sizeof f.prefix, "%s/%08lx%08lx%08lx%08x__lock__", f.parent,
           (unsigned long)random(), (unsigned long)random(), (unsigned long)random(),
           (unsigned)getpid());
  snprintf(f.data, sizeof f.data, "floor:%d", (int)getpid());
  rc = pairloop_run("floor", f.children ? "create+getChildren+delete" : "create+delete", argv[1],
                    pair, &f, argc, argv);
  zookeeper_close(f.zh);
  return rc;
}
