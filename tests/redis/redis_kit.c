/* redis_kit.c — raw server access for the redis:// tests, and the server
 * as the seam suite sees it. */
#include "redis_kit.h"

#include "test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

test_cluster *kit_redis_session(kit_session *k, const char *identity) {
  test_cluster *c = kit_fresh_redis(NULL);
  baton_error err = {0};
  if (c != NULL && kit_open_as(k, &baton_backend_redis, c->uri, identity, 0, &err) != 0) {
    TEST_FAIL_("a session on %s: %s", c->uri, err.message);
    return NULL; /* the server goes with the case */
  }
  return c;
}

redisContext *kit_redis_raw(int port, const char *user, const char *password) {
  struct timeval tv = {5, 0};
  redisContext *r = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (r == NULL || r->err != 0) {
    fprintf(stderr, "raw connect to %d: %s\n", port, r ? r->errstr : "out of memory");
    if (r != NULL) redisFree(r);
    return NULL;
  }
  redisSetTimeout(r, tv);
  if (password != NULL) {
    redisReply *a = user != NULL ? redisCommand(r, "AUTH %s %s", user, password)
                                 : redisCommand(r, "AUTH %s", password);
    if (a == NULL || a->type == REDIS_REPLY_ERROR) {
      fprintf(stderr, "raw AUTH failed\n");
      if (a != NULL) freeReplyObject(a);
      redisFree(r);
      return NULL;
    }
    freeReplyObject(a);
  }
  return r;
}

static redisReply *command(redisContext *r, const char *fmt, va_list ap) {
  if (r == NULL) return NULL;
  redisReply *reply = redisvCommand(r, fmt, ap);
  if (reply == NULL) fprintf(stderr, "raw '%s': %s\n", fmt, r->errstr);
  return reply;
}

redisReply *kit_redis_cmd(redisContext *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *reply = command(r, fmt, ap);
  va_end(ap);
  return reply;
}

const char *kit_redis_str(redisContext *r, char *buf, size_t size, const char *fmt, ...) {
  buf[0] = '\0';
  va_list ap;
  va_start(ap, fmt);
  redisReply *reply = command(r, fmt, ap);
  va_end(ap);
  if (reply != NULL && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS ||
                        reply->type == REDIS_REPLY_ERROR))
    snprintf(buf, size, "%.*s", (int)reply->len, reply->str);
  else if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
    snprintf(buf, size, "%lld", reply->integer);
  if (reply != NULL) freeReplyObject(reply);
  return buf;
}

long long kit_redis_info(redisContext *r, const char *section, const char *field) {
  redisReply *reply = kit_redis_cmd(r, "INFO %s", section);
  long long v = 0;
  if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
    const char *p = strstr(reply->str, field);
    if (p != NULL) v = strtoll(p + strlen(field), NULL, 10);
  }
  if (reply != NULL) freeReplyObject(reply);
  return v;
}

long long kit_redis_calls(redisContext *r, const char *command_name) {
  char field[80];
  snprintf(field, sizeof field, "cmdstat_%s:calls=", command_name);
  return kit_redis_info(r, "commandstats", field);
}

long long kit_redis_total(redisContext *r) {
  return kit_redis_info(r, "stats", "total_commands_processed:");
}

/* ---- the seam suite's view ------------------------------------------------- */

/* A value is "<token> <nonce> <identity>"; another program's is taken
 * whole as the identity, with no token. */
static int seam_peek(const test_cluster *c, const char *name, kit_peek *out) {
  memset(out, 0, sizeof *out);
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  if (r == NULL) return -1;
  char value[600], ttl[32];
  kit_redis_str(r, value, sizeof value, "GET %s", name);
  kit_redis_str(r, ttl, sizeof ttl, "PTTL %s", name);
  redisFree(r);
  out->keys = value[0] != '\0';
  out->ttl_ms = out->keys ? strtoll(ttl, NULL, 10) : -1;
  char *end;
  unsigned long long token = strtoull(value, &end, 10);
  const char *identity = end != value && *end == ' ' ? strchr(end + 1, ' ') : NULL;
  if (identity != NULL) out->token = token;
  snprintf(out->identity, sizeof out->identity, "%.*s", (int)sizeof out->identity - 1,
           identity != NULL ? identity + 1 : value);
  return 0;
}

int kit_redis_command_all(const test_cluster *c, const char *fmt, const char *name) {
  int rc = 0;
  for (int i = 0; i < c->n; i++) {
    if (c->member[i].pid <= 0) continue;
    redisContext *r = kit_redis_raw(c->member[i].port, NULL, NULL);
    redisReply *reply = kit_redis_cmd(r, fmt, name);
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) rc = -1;
    if (reply != NULL) freeReplyObject(reply);
    if (r != NULL) redisFree(r);
  }
  return rc;
}

long kit_redis_scripts(const test_cluster *c, void (*fn)(void *), void *arg) {
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  if (r == NULL) return -1;
  long long before = kit_redis_calls(r, "evalsha") + kit_redis_calls(r, "eval");
  fn(arg);
  long long after = kit_redis_calls(r, "evalsha") + kit_redis_calls(r, "eval");
  redisFree(r);
  return (long)(after - before);
}

int kit_redis_seam_steal(const test_cluster *c, const char *name) {
  return kit_redis_command_all(c, "SET %s thief KEEPTTL", name);
}

int kit_redis_seam_remove(const test_cluster *c, const char *name) {
  return kit_redis_command_all(c, "DEL %s", name);
}

/* Every request the backend makes of acquire, release and renew is one
 * script (EVALSHA, or EVAL once the server lost it). */
long kit_redis_seam_requests(const test_cluster *c, kit_session *k, void (*fn)(void *),
                             void *arg) {
  (void)k;
  return kit_redis_scripts(c, fn, arg);
}

#define seam_steal kit_redis_seam_steal
#define seam_remove kit_redis_seam_remove
#define seam_requests kit_redis_seam_requests
KIT_SEAM(redis, 2, true, "deadline passed");

int kit_redis_campaign(kit_session *k, baton_candidate *c, int ms, int *waited, baton_error *err) {
  int64_t end = kit_now_ms() + ms;
  int rc = BATON_EHELD;
  if (waited != NULL) *waited = 0;
  /* Each round is an acquire and a wait of at most the time left: the
   * first wait only subscribes, later ones return by the re-check time. */
  for (int round = 0; round < 100; round++) {
    rc = kit_acquire(k, c, NULL, err);
    if (rc != BATON_EHELD || kit_ms_left(end) == 0) break;
    if (waited != NULL && strstr(err->message, " waits ") != NULL) ++*waited;
    baton_error werr = {0};
    int wrc = kit_wait(k, c, NULL, kit_ms_left(end), &werr);
    if (wrc != 0 && wrc != BATON_ETIMEDOUT) {
      *err = werr;
      return wrc;
    }
  }
  return rc;
}

int kit_redis_mark_fresh(redisContext *r, const char *run_id) {
  redisReply *x =
      run_id != NULL
          ? kit_redis_cmd(r, "SET baton:fresh %s", run_id)
          : kit_redis_cmd(r, "EVAL %s 1 baton:fresh", test_redis_mark_fresh_lua);
  int rc = x != NULL && x->type == REDIS_REPLY_STATUS ? 0 : -1;
  if (x != NULL) freeReplyObject(x);
  return rc;
}

void kit_redis_restart_case(kit_session *a, kit_session *b, const char *name, int ttl_ms,
                            int (*lose)(void *), void *arg) {
  baton_candidate ka = kit_cand(a, name), kb = kit_cand(b, name);
  baton_error err = {0};
  REQUIRE_OK(kit_acquire(a, &ka, NULL, &err), &err);
  baton_candidate *held[] = {&ka}, *bheld[] = {&kb};
  bool gone[1] = {true};
  int64_t renew_sent = baton__now();
  CHECK_OK(kit_renew(a, held, 1, gone, &err), &err);
  CHECK(!gone[0]);
  int64_t a_deadline_at_most = renew_sent + (int64_t)ttl_ms * BATON_NS_PER_MS;
  if (lose(arg) == 0) {
    int64_t lost = baton__now();
    int waited = 0;
    CHECK_OK(kit_redis_campaign(b, &kb, ttl_ms + 3000, &waited, &err), &err);
    int64_t elected = baton__now();
    CHECK_GE(waited, 1);
    CHECK_GE(elected, a_deadline_at_most);
    CHECK_LT(elected - lost, (int64_t)(ttl_ms + 1000 + TEST_SLACK_MS) * BATON_NS_PER_MS);
    CHECK_GT(kb.token, ka.token);
    printf("  elected %lld ms after the restart (A's deadline was at most %lld ms after it)\n",
           (long long)((elected - lost) / BATON_NS_PER_MS),
           (long long)((a_deadline_at_most - lost) / BATON_NS_PER_MS));
    CHECK_OK(kit_renew(a, held, 1, gone, &err), &err);
    CHECK(gone[0]);
    CHECK_OK(kit_renew(b, bheld, 1, gone, &err), &err);
    CHECK(!gone[0]);
  }
  kit_drop(a, &ka);
  kit_drop(b, &kb);
}
