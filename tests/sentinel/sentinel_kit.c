/* sentinel_kit.c — a Sentinel deployment's master as the seam suite sees
 * it: the redis kit's view of one server, on whichever member the
 * Sentinels name now. */
#include "sentinel_kit.h"

#include <stdio.h>
#include <string.h>

int kit_sentinel_master_view(const test_cluster *c, test_cluster *view) {
  int m = test_sentinel_master(c);
  memset(view, 0, sizeof *view);
  if (m < 0) {
    fprintf(stderr, "no Sentinel names a master of %s\n", c->uri);
    return -1;
  }
  view->member[0] = c->member[m];
  view->n = 1;
  return 0;
}

static int seam_peek(const test_cluster *c, const char *name, kit_peek *out) {
  test_cluster v;
  return kit_sentinel_master_view(c, &v) == 0 ? kit_seam_redis.peek(&v, name, out) : -1;
}

static int seam_steal(const test_cluster *c, const char *name) {
  test_cluster v;
  return kit_sentinel_master_view(c, &v) == 0 ? kit_redis_seam_steal(&v, name) : -1;
}

static int seam_remove(const test_cluster *c, const char *name) {
  test_cluster v;
  return kit_sentinel_master_view(c, &v) == 0 ? kit_redis_seam_remove(&v, name) : -1;
}

static long seam_requests(const test_cluster *c, kit_session *k, void (*fn)(void *), void *arg) {
  test_cluster v;
  return kit_sentinel_master_view(c, &v) == 0 ? kit_redis_seam_requests(&v, k, fn, arg) : -1;
}

KIT_SEAM(sentinel, 2, true, "deadline passed");
