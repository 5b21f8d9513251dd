/* hiredis_kit.c — what the Redis floors share of bare hiredis. */
#include "hiredis_kit.h"

#include <string.h>

int bench_redis_load(redisContext *rc, const char *script, char sha[41]) {
  redisReply *r = redisCommand(rc, "SCRIPT LOAD %s", script);
  int ok = r != NULL && r->type == REDIS_REPLY_STRING && r->len == 40;
  if (ok) memcpy(sha, r->str, 41);
  if (r != NULL) freeReplyObject(r);
  return ok ? 0 : -1;
}
