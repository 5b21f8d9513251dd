/* floor_redis.c — the raw Redis floor: the same requests as a correct
 * acquire+release, issued with bare hiredis on one connection.
 *   setnx:  SET key value NX PX ttl, then EVALSHA of a compare-and-delete
 *           (the floor: 2 requests, the lock of the Redis docs);
 *   script: EVALSHA of SET NX PX + INCR of a fencing counter, then EVALSHA of
 *           compare-and-delete + PUBLISH (what a fenced lock with woken
 *           waiters must also do on the server: still 2 requests);
 *   mirror: EVALSHA of baton's own acquire and release scripts, read from
 *           --scripts DIR (acquire.lua, release.lua; run.py extracts them
 *           from backends/redis/script.c), with their key and argument
 *           layout: it tells the server's share of baton's cost from the
 *           client's. */
#include "kit.h"
#include "pairloop.h"

#include "hiredis_kit.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char release_lua[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
    "return 0";
static const char acquire_token_lua[] =
    "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then "
    "return redis.call('incr', KEYS[2]) end return 0";
static const char release_publish_lua[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]); "
    "redis.call('publish', KEYS[2], ARGV[1]); return 1 end return 0";

typedef struct rfloor {
  redisContext *rc;
  char key[128], counter[160], channel[160], value[128], ttl[16];
  char release_sha[41], acquire_sha[41];
  char nonce[40], identity[64];
  unsigned long attempts;
} rfloor;

static int expect_int(redisReply *r, long long want_nonzero) {
  int ok = r != NULL && r->type == REDIS_REPLY_INTEGER && (want_nonzero ? r->integer > 0 : 1);
  if (!ok) fprintf(stderr, "floor_redis: unexpected reply (type %d)\n", r ? r->type : -1);
  if (r != NULL) freeReplyObject(r);
  return ok ? 0 : -1;
}

static int pair_setnx(void *ctx) {
  rfloor *f = ctx;
  redisReply *r = redisCommand(f->rc, "SET %s %s NX PX %s", f->key, f->value, f->ttl);
  int ok = r != NULL && r->type == REDIS_REPLY_STATUS;
  if (r != NULL) freeReplyObject(r);
  if (!ok) {
    fprintf(stderr, "floor_redis: SET NX failed\n");
    return -1;
  }
  return expect_int(redisCommand(f->rc, "EVALSHA %s 1 %s %s", f->release_sha, f->key, f->value),
                    1);
}

static int pair_script(void *ctx) {
  rfloor *f = ctx;
  if (expect_int(redisCommand(f->rc, "EVALSHA %s 2 %s %s %s %s", f->acquire_sha, f->key,
                              f->counter, f->value, f->ttl),
                 1) != 0)
    return -1;
  return expect_int(redisCommand(f->rc, "EVALSHA %s 2 %s %s %s", f->release_sha, f->key,
                                 f->channel, f->value),
                    1);
}

/* baton's scripts: KEYS name, name/token, name/wait; ARGV nonce, previous
 * nonce, identity, TTL, the fresh-server marker's name -> {1, value, ttl},
 * or {2, value, ms} when a server younger than a TTL makes a new term wait
 * (restart-safe terms): then the same nonce again after that wait, as
 * baton does (warm-up only: a counter exists afterwards). Then KEYS name;
 * ARGV nonce, previous. */
static int pair_mirror(void *ctx) {
  rfloor *f = ctx;
  snprintf(f->nonce, sizeof f->nonce, "%016lx%016lx", (unsigned long)getpid(), ++f->attempts);
  bool won = false;
  for (int i = 0; i < 3 && !won; i++) {
    redisReply *r = redisCommand(f->rc, "EVALSHA %s 3 %s %s/token %s/wait %s %s %s %s %s",
                                 f->acquire_sha, f->key, f->key, f->key, f->nonce, "",
                                 f->identity, f->ttl, "baton:fresh");
    bool ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
              r->element[0]->type == REDIS_REPLY_INTEGER &&
              r->element[2]->type == REDIS_REPLY_INTEGER;
    long long answer = ok ? r->element[0]->integer : -1, ms = ok ? r->element[2]->integer : 0;
    if (r != NULL) freeReplyObject(r);
    won = answer == 1;
    if (answer != 2 || ms <= 0 || ms > 10000) break;
    kit_sleep_ms((int)ms + 1);
  }
  if (!won) {
    fprintf(stderr, "floor_redis: mirror acquire did not win (script layout changed?)\n");
    return -1;
  }
  return expect_int(
      redisCommand(f->rc, "EVALSHA %s 1 %s %s %s", f->release_sha, f->key, f->nonce, ""), 1);
}

static int load_file(redisContext *rc, const char *dir, const char *file, char sha[41]) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  FILE *in = fopen(path, "r");
  if (in == NULL) kit_die("cannot read %s", path);
  static char text[1 << 16];
  size_t n = fread(text, 1, sizeof text - 1, in);
  fclose(in);
  text[n] = '\0';
  return bench_redis_load(rc, text, sha);
}

int main(int argc, char **argv) {
  if (argc < 2) kit_die("usage: floor_redis URI [--variant setnx|script|mirror] [--secs S] ...");
  kit_setup((int)kit_arg_long(argc, argv, "--watchdog", 300));
  char kind[16], host[64];
  int port;
  if (kit_uri_split(argv[1], kind, sizeof kind, host, sizeof host, &port) != 0)
    kit_die("bad URI %s", argv[1]);
  const char *variant = kit_arg(argc, argv, "--variant", "setnx");
  static rfloor f;
  struct timeval tv = {.tv_sec = 3};
  f.rc = redisConnectWithTimeout(host, port, tv);
  if (f.rc == NULL || f.rc->err) kit_die("connect %s:%d failed", host, port);
  redisSetTimeout(f.rc, tv);
  snprintf(f.key, sizeof f.key, "%s", kit_arg(argc, argv, "--name", "bench-floor"));
  snprintf(f.counter, sizeof f.counter, "%s:token", f.key);
  snprintf(f.channel, sizeof f.channel, "%s:released", f.key);
  snprintf(f.value, sizeof f.value, "floor:%d:%08lx", (int)getpid(), (unsigned long)random());
  snprintf(f.ttl, sizeof f.ttl, "%ld", kit_arg_long(argc, argv, "--ttl", 10000));
  pairloop_fn fn = pair_setnx;
  if (strcmp(variant, "setnx") == 0) {
    if (bench_redis_load(f.rc, release_lua, f.release_sha) != 0) kit_die("SCRIPT LOAD failed");
  } else if (strcmp(variant, "script") == 0) {
    if (bench_redis_load(f.rc, acquire_token_lua, f.acquire_sha) != 0 ||
        bench_redis_load(f.rc, release_publish_lua, f.release_sha) != 0)
      kit_die("SCRIPT LOAD failed");
    fn = pair_script;
  } else if (strcmp(variant, "mirror") == 0) {
    const char *dir = kit_arg(argc, argv, "--scripts", NULL);
    if (dir == NULL) kit_die("--variant mirror needs --scripts DIR");
    if (load_file(f.rc, dir, "acquire.lua", f.acquire_sha) != 0 ||
        load_file(f.rc, dir, "release.lua", f.release_sha) != 0)
      kit_die("SCRIPT LOAD failed");
    snprintf(f.identity, sizeof f.identity, "floor:%d", (int)getpid());
    fn = pair_mirror;
  } else {
    kit_die("unknown variant %s", variant);
  }
  int rc = pairloop_run("floor", variant, argv[1], fn, &f, argc, argv);
  redisFree(f.rc);
  return rc;
}
