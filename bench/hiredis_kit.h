/* hiredis_kit.h — what the Redis floors (floor_redis, floor_redlock) share
 * of bare hiredis. */
#ifndef BATON_BENCH_HIREDIS_KIT_H
#define BATON_BENCH_HIREDIS_KIT_H

#include <hiredis/hiredis.h>

/* SCRIPT LOAD `script` on rc: 0 with its SHA-1 in sha, or -1. */
int bench_redis_load(redisContext *rc, const char *script, char sha[41]);

#endif
