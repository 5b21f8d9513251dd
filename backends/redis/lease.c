/* lease.c — fixed leases on redis:// (and redis-sentinel://, which calls
 * these through the redis:// table): terms nobody renews.
 *
 * A lease is a term in every way the server can see: the election's
 * acquire script takes it (counter raised, key set NX with the lease's TTL,
 * the win published, the restart-safe rules applied) with a nonce of its
 * own, so `leader`, waiters, redis-py and rival campaigns see a holder
 * like any other. Only its owner differs: no candidate keeps the nonce, so
 * extend and release know the lease by its token and by the lease mark in
 * its nonce (script.c, LUA_IF_LEASE), which no term's nonce has.
 * One round trip each (two when the server forgot a script). */
#include "redis.h"

#include <stdio.h>
#include <string.h>

static baton_redis_session *session_of(baton_session *bs) { return (baton_redis_session *)bs; }

static int check_name(const baton_redis_session *s, const char *name, const char *what,
                      baton_error *err) {
  if (s == NULL || name == NULL)
    return baton__error(err, BATON_EINVAL, "redis: %s: NULL argument", what);
  return baton_election_name_check(name, err);
}

/* Run a lease script on `name` with its token and maybe a TTL: 0 when
 * the key was the lease's, BATON_ENOTHOLDER when not, or an error. */
static int lease_call(baton_redis_session *s, baton_redis_script script, const char *name,
                      uint64_t token, int64_t ttl_ns, int64_t deadline, const char *what,
                      baton_error *err) {
  char tok[24], ttl[24];
  snprintf(tok, sizeof tok, "%llu", (unsigned long long)token);
  snprintf(ttl, sizeof ttl, "%lld", (long long)(ttl_ns / BATON_NS_PER_MS));
  const char *argv[] = {NULL, NULL, NULL, name, tok, ttl};
  baton_redis_call call = {.argv = argv, .argc = ttl_ns > 0 ? 6 : 5, .nkeys = 1};
  redisReply *r = NULL;
  int rc = baton__redis_eval(s, &s->cmd, script, &call, 1, &r, deadline, what, err);
  if (rc != 0) return rc;
  long long said = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
  freeReplyObject(r);
  if (said != 0 && said != 1) return baton__redis_bad_reply(s, what, err);
  if (said == 0)
    return baton__error(err, BATON_ENOTHOLDER,
                        "%s: %s: '%s' does not hold the lease of token %llu (it expired, was "
                        "released, or another holds the name)",
                        s->label, what, name, (unsigned long long)token);
  return 0;
}

/* A fresh lease nonce (marked) and no previous one: the script can only
 * start a new term, never adopt or replace one. */
void baton__redis_lease_args(baton_redis_lease_args *a, const baton_config *cfg, const char *name,
                             const char *identity, int64_t ttl_ns) {
  baton__redis_lease_nonce(a->nonce);
  baton__redis_keys(&a->keys, name);
  snprintf(a->ttl, sizeof a->ttl, "%lld", (long long)(ttl_ns / BATON_NS_PER_MS));
  snprintf(a->terms_ttl, sizeof a->terms_ttl, "%lld", (long long)(cfg->ttl_ns / BATON_NS_PER_MS));
  const char *args[] = {name,     a->keys.counter, a->keys.wait,          a->nonce, "",
                        identity, a->ttl,          BATON_REDIS_FRESH_KEY, a->terms_ttl};
  memcpy(a->args, args, sizeof a->args);
}

int baton__redis_lease_acquire(baton_session *bs, const char *name, const char *identity,
                               int64_t ttl_ns, uint64_t *token, baton_leader *holder,
                               int64_t deadline, baton_error *err) {
  baton_redis_session *s = session_of(bs);
  int rc = check_name(s, name, "lease_acquire", err);
  if (rc != 0) return rc;
  baton_redis_lease_args a;
  baton__redis_lease_args(&a, s->base.cfg, name, identity, ttl_ns);
  const char *argv[12] = {NULL, NULL, NULL};
  memcpy(argv + 3, a.args, sizeof a.args);
  baton_redis_call call = {.argv = argv, .argc = 12, .nkeys = 3};
  redisReply *r = NULL;
  rc = baton__redis_eval(s, &s->cmd, BATON_REDIS_SCRIPT_ACQUIRE, &call, 1, &r, deadline,
                         "lease_acquire", err);
  if (rc != 0) return rc;
  baton_redis_vote v;
  bool shaped = baton__redis_vote_read(&v, r);
  freeReplyObject(r);
  if (!shaped) return baton__redis_bad_reply(s, "lease_acquire", err);
  if (v.answer == BATON_REDIS_WON) {
    *token = v.who.token;
    return 0;
  }
  if (holder != NULL) memset(holder, 0, sizeof *holder);
  if (v.answer == BATON_REDIS_HELD) {
    if (holder != NULL) *holder = v.who;
    return baton__error(err, BATON_EHELD, "%s: '%s' is held by '%.64s' (token %llu)", s->label,
                        name, v.who.identity, (unsigned long long)v.who.token);
  }
  /* The server started less than a TTL ago: no term may begin for v.ms,
   * and a lease is never kept waiting on the server (it would begin its
   * life before it may be used). Its key goes; NAME/wait stays, so every
   * look until then, ours or a rival's, waits too. */
  baton_error ignored = {0};
  (void)lease_call(s, BATON_REDIS_SCRIPT_LEASE_RELEASE, name, v.who.token, 0, deadline,
                   "lease_acquire", &ignored);
  return baton__error(err, BATON_EHELD,
                      "%s: '%s' is free only in %lld ms: the server started less than a TTL "
                      "ago (a restart that lost the data, or a first use), and a holder from "
                      "before may still believe until then",
                      s->label, name, (long long)v.ms);
}

int baton__redis_lease_extend(baton_session *bs, const char *name, uint64_t token, int64_t ttl_ns,
                              int64_t deadline, baton_error *err) {
  baton_redis_session *s = session_of(bs);
  int rc = check_name(s, name, "lease_extend", err);
  if (rc == 0 && ttl_ns < BATON_NS_PER_MS)
    rc = baton__error(err, BATON_EINVAL, "redis: lease_extend: a TTL under 1 ms");
  if (rc != 0) return rc;
  return lease_call(s, BATON_REDIS_SCRIPT_LEASE_EXTEND, name, token, ttl_ns, deadline,
                    "lease_extend", err);
}

int baton__redis_lease_release(baton_session *bs, const char *name, uint64_t token,
                               int64_t deadline, baton_error *err) {
  baton_redis_session *s = session_of(bs);
  int rc = check_name(s, name, "lease_release", err);
  if (rc != 0) return rc;
  return lease_call(s, BATON_REDIS_SCRIPT_LEASE_RELEASE, name, token, 0, deadline,
                    "lease_release", err);
}
