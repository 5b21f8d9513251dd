/* redlock.c — the kinds of redlock:// deployments: N independent
 * redis-servers (started by redis.c). */
#include "servers.h"

#include <string.h>

const char test_redlock_kinds[] = "redlock, redlock3, redlock5";

int test_redlock_start_kind(test_cluster *c, const char *kind) {
  if (strcmp(kind, "redlock") == 0 || strcmp(kind, "redlock3") == 0)
    return test_redlock_start(c, 3, NULL);
  if (strcmp(kind, "redlock5") == 0) return test_redlock_start(c, 5, NULL);
  return TEST_NOT_MY_KIND;
}
