/* floor_redlock.c — the raw Redlock floor: what a Redlock acquire+release
 * must ask of N instances, with bare hiredis, one connection each, every
 * request written to all instances before any reply is read.
 *   setnx:  SET key value NX PX ttl on every instance, then EVALSHA of a
 *           compare-and-delete on every instance (the floor:
 *           Redlock without a token, 2 round trips);
 *   fenced: EVALSHA of SET NX PX + INCR of a counter, then EVALSHA of
 *           counter = max(counter, T), then compare-and-delete + PUBLISH
 *           (what a quorum fencing token needs: 3 round trips, as baton).
 * `floor_redlock redlock://h:p,h:p,h:p [--variant setnx|fenced] ...` */
#include "kit.h"
#include "pairloop.h"

#include "hiredis_kit.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_INST 16

static const char release_lua[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]); "
    "redis.call('publish', KEYS[2], ARGV[1]); return 1 end return 0";
static const char vote_lua[] =
    "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then "
    "return redis.call('incr', KEYS[2]) end return 0";
static const char fence_lua[] =
    "local c = tonumber(redis.call('get', KEYS[1]) or '0') "
    "if c < tonumber(ARGV[1]) then redis.call('set', KEYS[1], ARGV[1]) end return 1";

typedef struct lfloor {
  redisContext *rc[MAX_INST];
  int n, quorum;
  char key[128], counter[160], channel[160], value[128], ttl[16];
  char release_sha[41], vote_sha[41], fence_sha[41];
} lfloor;

/* Write every instance's appended command out, then read one reply each:
 * how many were integers > 0 (or +OK); the largest integer in *max. */
static int round_trip(lfloor *f, long long *max) {
  for (int i = 0; i < f->n; i++) {
    int done = 0;
    while (!done)
      if (redisBufferWrite(f->rc[i], &done) != REDIS_OK) return -1;
  }
  int yes = 0;
  if (max != NULL) *max = 0;
  for (int i = 0; i < f->n; i++) {
    redisReply *r = NULL;
    if (redisGetReply(f->rc[i], (void **)&r) != REDIS_OK || r == NULL) return -1;
    if ((r->type == REDIS_REPLY_INTEGER && r->integer > 0) || r->type == REDIS_REPLY_STATUS) yes++;
    if (max != NULL && r->type == REDIS_REPLY_INTEGER && r->integer > *max) *max = r->integer;
    freeReplyObject(r);
  }
  return yes;
}

static int release_all(lfloor *f) {
  for (int i = 0; i < f->n; i++)
    redisAppendCommand(f->rc[i], "EVALSHA %s 2 %s %s %s", f->release_sha, f->key, f->channel,
                       f->value);
  return round_trip(f, NULL) >= f->quorum ? 0 : -1;
}

static int pair_setnx(void *ctx) {
  lfloor *f = ctx;
  for (int i = 0; i < f->n; i++)
    redisAppendCommand(f->rc[i], "SET %s %s NX PX %s", f->key, f->value, f->ttl);
  if (round_trip(f, NULL) < f->quorum) {
    fprintf(stderr, "floor_redlock: no quorum\n");
    return -1;
  }
  return release_all(f);
}

static int pair_fenced(void *ctx) {
  lfloor *f = ctx;
  long long token = 0;
  for (int i = 0; i < f->n; i++)
    redisAppendCommand(f->rc[i], "EVALSHA %s 2 %s %s %s %s", f->vote_sha, f->key, f->counter,
                       f->value, f->ttl);
  if (round_trip(f, &token) < f->quorum) {
    fprintf(stderr, "floor_redlock: no quorum\n");
    return -1;
  }
  for (int i = 0; i < f->n; i++)
    redisAppendCommand(f->rc[i], "EVALSHA %s 1 %s %lld", f->fence_sha, f->counter, token);
  if (round_trip(f, NULL) < f->quorum) return -1;
  return release_all(f);
}

int main(int argc, char **argv) {
  if (argc < 2) kit_die("usage: floor_redlock redlock://h:p,h:p,h:p [--variant setnx|fenced] ...");
  kit_setup((int)kit_arg_long(argc, argv, "--watchdog", 300));
  const char *hosts = strstr(argv[1], "://");
  if (hosts == NULL || strncmp(argv[1], "redlock://", 10) != 0) kit_die("bad URI %s", argv[1]);
  static lfloor f;
  struct timeval tv = {.tv_sec = 3};
  char list[512];
  snprintf(list, sizeof list, "%s", hosts + 3);
  for (char *save = NULL, *h = strtok_r(list, ",", &save); h != NULL && f.n < MAX_INST;
       h = strtok_r(NULL, ",", &save)) {
    char *colon = strrchr(h, ':');
    if (colon == NULL) kit_die("bad host %s", h);
    *colon = '\0';
    f.rc[f.n] = redisConnectWithTimeout(h, atoi(colon + 1), tv);
    if (f.rc[f.n] == NULL || f.rc[f.n]->err) kit_die("connect %s:%s failed", h, colon + 1);
    redisSetTimeout(f.rc[f.n++], tv);
  }
  if (f.n < 3) kit_die("redlock needs 3 instances or more");
  f.quorum = f.n / 2 + 1;
  snprintf(f.key, sizeof f.key, "%s", kit_arg(argc, argv, "--name", "bench-floor"));
  snprintf(f.counter, sizeof f.counter, "%s:token", f.key);
  snprintf(f.channel, sizeof f.channel, "%s:released", f.key);
  snprintf(f.value, sizeof f.value, "floor:%d:%08lx", (int)getpid(), (unsigned long)random());
  snprintf(f.ttl, sizeof f.ttl, "%ld", kit_arg_long(argc, argv, "--ttl", 10000));
  const char *variant = kit_arg(argc, argv, "--variant", "setnx");
  for (int i = 0; i < f.n; i++)
    if (bench_redis_load(f.rc[i], release_lua, f.release_sha) != 0 || bench_redis_load(f.rc[i], vote_lua, f.vote_sha) != 0 ||
        bench_redis_load(f.rc[i], fence_lua, f.fence_sha) != 0)
      kit_die("SCRIPT LOAD failed");
  pairloop_fn fn = strcmp(variant, "fenced") == 0 ? pair_fenced : pair_setnx;
  if (fn == pair_setnx && strcmp(variant, "setnx") != 0) kit_die("unknown variant %s", variant);
  /* The counters are read from one server only: none here (no --count). */
  int rc = pairloop_run("floor", variant, argv[1], fn, &f, argc, argv);
  for (int i = 0; i < f.n; i++) redisFree(f.rc[i]);
  return rc;
}
