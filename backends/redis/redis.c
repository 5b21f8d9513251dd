/* redis.c — the redis:// backend: one TTL lease per name (SET NX PX in a Lua
 * script that also raises the fencing counter), renewals of every held name
 * in one round trip, and waits woken by pub/sub. The table the core calls.
 *
 * Round trips per operation, when the server has the scripts cached:
 * open 1 (AUTH/SELECT/PING pipelined); acquire 1; release 1 (0 when nothing
 * of ours can be on the server); renew 1 for any number of names (a script
 * call per BATON_REDIS_RENEW_CHUNK names, pipelined; 0 for none); leader and
 * leader_value 1 (GET and the PTTLs of NAME and NAME/wait, and the GET of
 * NAME/value, pipelined); proclaim 1; wait and watch: the first one
 * subscribes (SUBSCRIBE on the client's one subscriber connection, sub.c,
 * made at the client's first wait), later ones send nothing for a candidate and one
 * look as leader's for an observer. A script the server forgot costs one
 * more round trip (EVAL after NOSCRIPT). A term on a server that started less than a TTL ago
 * costs one more acquire, at the time the first one names (restart-safe
 * terms, script.c). Fixed leases (lease.c): 1 round trip per operation. */
#include "redis.h"

#include <stdio.h>
#include <string.h>

#define BATON_REDIS_PORT 6379 /* when the URI names none: Redis's own default */

static baton_redis_session *session_of(baton_session *bs) { return (baton_redis_session *)bs; }

/* How long from now a waiter looks again at a holder whose key has pttl_ms
 * left (negative: no expiry, or no key): just after that expiry, but at
 * the latest after one of our TTLs. The bound keeps the sum in range when
 * another program set a key to live for centuries (PTTL in ns would pass
 * INT64_MAX and wrap negative, and every wait would return at once), and
 * it has a holder we cannot see expire looked at again now and then. */
static int64_t recheck_after(const baton_redis_session *s, int64_t pttl_ms) {
  int64_t ttl = s->base.cfg->ttl_ns;
  return (pttl_ms >= 0 && pttl_ms < ttl / BATON_NS_PER_MS ? pttl_ms * BATON_NS_PER_MS : ttl) +
         BATON_REDIS_RECHECK_SLACK_NS;
}

/* ---- candidates ------------------------------------------------------------ */

/* c's state after checking c: 0, or the error. */
static int cand_state(baton_redis_cand **out, baton_session *bs, baton_candidate *c,
                      const char *what, baton_error *err) {
  int rc = baton__redis_check_candidate(bs, c, "redis", what, err);
  if (rc == 0) rc = baton__redis_cand_alloc(c, sizeof(baton_redis_one), "redis", err);
  *out = c->priv;
  return rc;
}

/* p's channels on the subscriber (p is a baton_redis_one's first member). */
static baton_redis_sub *sub_of(baton_redis_cand *p) { return &((baton_redis_one *)p)->sub; }

/* ---- open and close ------------------------------------------------------ */

static void session_free(baton_redis_session *s) {
  if (s == NULL) return;
  baton__redis_instance_fini(s);
  baton__free(s);
}

static int session_open(baton_session **out, const baton_uri *uri, const baton_config *cfg,
                        int64_t deadline, baton_error *err) {
  if (out == NULL || uri == NULL || cfg == NULL)
    return baton__error(err, BATON_EINVAL, "redis: open: NULL argument");
  *out = NULL;
  static const char *const no_params[] = {NULL};
  int rc = baton__uri_check_params(uri, no_params, err);
  if (rc != 0) return rc;
  if (uri->nhosts != 1)
    return baton__error(err, BATON_EINVAL,
                        "redis:// takes exactly one host, the URI names %zu (a replica is not "
                        "a consensus member: name the primary only)",
                        uri->nhosts);
  long db;
  if ((rc = baton__redis_parse_db(&db, uri->path, "redis", err)) != 0) return rc;
  if (cfg->username != NULL && cfg->password == NULL)
    return baton__error(err, BATON_EINVAL, "redis://: user '%.64s' is given without a password",
                        cfg->username);

  baton_redis_session *s = baton__calloc(1, sizeof *s);
  if (s == NULL) return baton__error(err, BATON_ENOMEM, "redis: out of memory");
  int port = uri->hosts[0].port != 0 ? uri->hosts[0].port : BATON_REDIS_PORT;
  if (baton__redis_instance_init(s, "redis", uri->hosts[0].host, port, db, cfg) != 0) {
    session_free(s);
    return baton__error(err, BATON_ENOMEM, "redis: out of memory");
  }
  /* Connect now, so that a wrong address, password or database shows at
   * open. The renew connection waits for the first renewal of a term. */
  rc = baton__redis_connect(&s->cmd.ctx, s, deadline, err);
  if (rc != 0) {
    session_free(s);
    return rc;
  }
  *out = &s->base;
  return 0;
}

static void session_close(baton_session *bs) { session_free(session_of(bs)); }

/* ---- acquire ------------------------------------------------------------- */

static int acquire(baton_session *bs, baton_candidate *c, baton_leader *holder, int64_t deadline,
                   baton_error *err) {
  baton_redis_session *s = session_of(bs);
  baton_redis_cand *p = NULL;
  int rc = cand_state(&p, bs, c, "acquire", err);
  if (rc != 0) return rc;
  p->acquired = true;
  /* Messages that came before this look are answered by it. A subscriber
   * found dead is found by the next wait, which subscribes again. */
  baton__redis_sub_look(sub_of(p), s);

  char nonce[BATON_REDIS_NONCE_LEN + 1], prev[BATON_REDIS_NONCE_LEN + 1];
  baton__redis_start_attempt(&s->state_mu, p, nonce, prev);
  baton_redis_keys keys;
  baton__redis_keys(&keys, c->name);
  char ttl[24];
  snprintf(ttl, sizeof ttl, "%lld", (long long)(s->base.cfg->ttl_ns / BATON_NS_PER_MS));
  const char *argv[] = {NULL, NULL, NULL,        c->name, keys.counter,         keys.wait,
                        nonce, prev, c->identity, ttl,     BATON_REDIS_FRESH_KEY};
  redisReply *r = NULL;
  /* On an error the outcome is unknown: `pending` stays set, and the next
   * acquire (same nonce) or release resolves it before anything else. */
  baton_redis_call call = {.argv = argv, .argc = 11, .nkeys = 3};
  rc = baton__redis_eval(s, &s->cmd, BATON_REDIS_SCRIPT_ACQUIRE, &call, 1, &r, deadline, "acquire",
                         err);
  if (rc != 0) return rc;
  int64_t now = baton__now();
  baton_redis_vote v;
  bool shaped = baton__redis_vote_read(&v, r);
  freeReplyObject(r);
  if (!shaped) return baton__redis_bad_reply(s, "acquire", err);

  if (v.answer == BATON_REDIS_WAIT) {
    return baton__redis_wait_term(&s->state_mu, p, now, v.ms, s->label, c->name,
                                  "the server started", holder, err);
  }
  /* The reply settles the attempt; and `prev` is off the server either way:
   * replaced by this term, or the key holds someone else's value. */
  bool won = v.answer == BATON_REDIS_WON;
  baton__redis_settle(&s->state_mu, p, won, false);
  if (won) {
    c->token = v.who.token;
    p->recheck_at = 0;
    p->foreign_poll_ns = 0;
    return 0;
  }
  p->recheck_at =
      now + baton__next_look(&p->foreign_poll_ns, recheck_after(s, v.ms), !v.ours);
  if (holder != NULL) *holder = v.who;
  return baton__error(err, BATON_EHELD, "%s: '%s' is held by '%.64s' (token %llu)", s->label,
                      c->name, v.who.identity, (unsigned long long)v.who.token);
}

/* ---- renew and release --------------------------------------------------- */

/* Every held name in one round trip: a script call per BATON_REDIS_RENEW_CHUNK
 * names, so that no call holds the server for long, all sent in one
 * write. */
static int renew(baton_session *bs, baton_candidate *const *held, size_t n, bool *gone,
                 int64_t deadline, baton_error *err) {
  baton_redis_session *s = session_of(bs);
  int rc = baton__redis_check_held(s, held, n, gone, "redis", err);
  if (rc != 0 || n == 0) return rc;
  baton_redis_renewal w;
  rc = baton__redis_renewal_init(&w, &s->state_mu, s->base.cfg, held, n);
  if (rc != 0)
    rc = baton__error(err, rc, "redis: renew: out of memory");
  else
    rc = baton__redis_eval(s, &s->renewer, BATON_REDIS_SCRIPT_RENEW, w.calls, w.chunks, w.replies,
                           deadline, "renew", err);
  if (rc == 0 && !baton__redis_renewal_read(&w, w.replies, gone))
    rc = baton__redis_bad_reply(s, "renew", err);
  for (size_t i = 0; rc == 0 && i < n; i++) gone[i] = !gone[i];
  baton__redis_renewal_free(&w);
  return rc;
}

static int release(baton_session *bs, baton_candidate *c, int64_t deadline, baton_error *err) {
  baton_redis_session *s = session_of(bs);
  int rc = baton__redis_check_candidate(bs, c, "redis", "release", err);
  if (rc != 0) return rc;
  baton_redis_cand *p = c->priv;
  char cur[BATON_REDIS_NONCE_LEN + 1], prev[BATON_REDIS_NONCE_LEN + 1];
  if (p == NULL || !baton__redis_release_nonces(&s->state_mu, p, cur, prev))
    return 0; /* nothing of ours can be there */
  const char *argv[] = {NULL, NULL, NULL, c->name, cur, prev};
  redisReply *r = NULL;
  baton_redis_call call = {.argv = argv, .argc = 6, .nkeys = 1};
  rc = baton__redis_eval(s, &s->cmd, BATON_REDIS_SCRIPT_RELEASE, &call, 1, &r, deadline, "release",
                         err);
  if (rc != 0) return rc;
  bool shaped = r->type == REDIS_REPLY_INTEGER;
  freeReplyObject(r);
  if (!shaped) return baton__redis_bad_reply(s, "release", err);
  baton__redis_settle(&s->state_mu, p, false, false);
  return 0;
}

/* ---- leader and wait ----------------------------------------------------- */

/* Who holds `name` now and for how many more ms (-1: no TTL): 1, 0 when
 * nobody does, or an error. GET and PTTL go out in one round trip, with
 * the PTTL of NAME/wait (a key of ours whose term waits out a restart,
 * script.c, has no leader yet) and the GET of NAME/value: the term's
 * version in out, and its value into value[0..size) (may be NULL) with
 * its length in *len (may be NULL), "" when it proclaimed nothing. */
static int read_holder(baton_redis_session *s, const char *name, baton_leader *out,
                       int64_t *pttl_ms, char *value, size_t size, size_t *len,
                       int64_t deadline, baton_error *err) {
  baton_redis_keys keys;
  baton__redis_keys(&keys, name);
  char value_key[BATON_NAME_MAX + 16];
  baton__redis_value_key(value_key, sizeof value_key, name);
  const char *get[] = {"GET", name}, *pttl[] = {"PTTL", name}, *wait[] = {"PTTL", keys.wait},
             *get_value[] = {"GET", value_key};
  baton_redis_cmd cmds[4] = {{2, get}, {2, pttl}, {2, wait}, {2, get_value}};
  redisReply *r[4];
  baton__value_copy(value, size, len, "", 0);
  int rc = baton__redis_request(s, &s->cmd, cmds, 4, r, deadline, "leader", err);
  if (rc != 0) return rc;
  if (r[0]->type == REDIS_REPLY_ERROR)
    rc = baton__redis_reply_error(s, r[0], "leader", err);
  else if (r[0]->type == REDIS_REPLY_NIL)
    rc = 0;
  else if (r[0]->type == REDIS_REPLY_STRING && r[1]->type == REDIS_REPLY_INTEGER &&
           r[2]->type == REDIS_REPLY_INTEGER) {
    bool ours = baton__redis_parse_value(out, r[0]->str, r[0]->len);
    *pttl_ms = r[1]->integer;
    rc = ours && r[2]->integer > 0 ? 0 : 1;
    const char *v;
    size_t n;
    if (rc == 1 && ours && baton__redis_value_read(r[3], out->token, &out->version, &v, &n))
      baton__value_copy(value, size, len, v, n);
  } else
    rc = baton__redis_bad_reply(s, "leader", err);
  for (size_t i = 0; i < 4; i++) freeReplyObject(r[i]);
  return rc;
}

/* leader and leader_value. */
static int read_leader(baton_session *bs, const char *name, baton_leader *out, char *value,
                       size_t size, size_t *len, int64_t deadline, baton_error *err) {
  baton_redis_session *s = session_of(bs);
  if (s == NULL || out == NULL)
    return baton__error(err, BATON_EINVAL, "redis: leader: NULL argument");
  int rc = baton_election_name_check(name, err);
  if (rc != 0) return rc;
  baton_leader who;
  int64_t pttl;
  rc = read_holder(s, name, &who, &pttl, value, size, len, deadline, err);
  if (rc < 0) return rc;
  if (rc == 0) return baton__error(err, BATON_ENOLEADER, "%s: '%s' has no leader", s->label, name);
  *out = who;
  return 0;
}

static int leader(baton_session *bs, const char *name, baton_leader *out, int64_t deadline,
                  baton_error *err) {
  return read_leader(bs, name, out, NULL, 0, NULL, deadline, err);
}

static int leader_value(baton_session *bs, const char *name, baton_leader *out, char *value,
                        size_t size, size_t *len, int64_t deadline, baton_error *err) {
  return read_leader(bs, name, out, value, size, len, deadline, err);
}

/* ---- proclaim -------------------------------------------------------------- */

/* NAME/value (proclaim.c), written by a script only while NAME holds our
 * nonce. One request (two when the server forgot the script). */
static int proclaim(baton_session *bs, baton_candidate *c, const char *value, int64_t deadline,
                    baton_error *err) {
  baton_redis_session *s = session_of(bs);
  baton_redis_proclaim a;
  int rc = baton__redis_proclaim_args(&a, bs, &s->state_mu, c, value, "redis", s->label, err);
  if (rc != 0) return rc;
  const char *argv[9] = {NULL, NULL, NULL};
  memcpy(argv + 3, a.args, sizeof a.args);
  baton_redis_call call = {.argv = argv, .argc = 9, .nkeys = 2};
  redisReply *r = NULL;
  rc = baton__redis_eval(s, &s->cmd, BATON_REDIS_SCRIPT_PROCLAIM, &call, 1, &r, deadline,
                         "proclaim", err);
  if (rc != 0) return rc;
  int said = baton__redis_proclaim_read(r);
  freeReplyObject(r);
  if (said < 0) return baton__redis_bad_reply(s, "proclaim", err);
  if (said == 0)
    return baton__error(err, BATON_ENOTHOLDER, "%s: proclaim: '%s' is no longer ours", s->label,
                        c->name);
  return 0;
}

/* Redis keeps no queue: a waiter is a client polling or subscribed, not
 * a key. The list is the holder, with its key's PTTL. */
static int contenders(baton_session *bs, const char *name, baton_contender *out, size_t cap,
                      size_t *n, int64_t deadline, baton_error *err) {
  baton_leader who;
  int64_t pttl = -1;
  *n = 0;
  int rc = read_holder(session_of(bs), name, &who, &pttl, NULL, 0, NULL, deadline, err);
  return rc < 0 ? rc : baton__contenders_holder(rc, &who, pttl, out, cap, n);
}

/* An observer's re-check time: now, when the leader already differs from
 * `seen` (NULL or token 0 with no identity = none), else the leader's
 * expiry (a crashed holder sends no message), at most a TTL away. */
static int observer_until(baton_redis_session *s, baton_candidate *c, baton_redis_cand *p,
                          const baton_leader *seen, int64_t *until, int64_t deadline,
                          baton_error *err) {
  static const baton_leader none;
  baton_leader cur;
  int64_t pttl = -1;
  int rc = read_holder(s, c->name, &cur, &pttl, NULL, 0, NULL, deadline, err);
  if (rc < 0) return rc;
  int64_t now = baton__now();
  if (!baton__same_leader(rc == 1 ? &cur : &none, seen != NULL ? seen : &none)) {
    *until = now;
    return 0;
  }
  /* Our values carry a token of at least 1; another program's carry none. */
  *until = now + baton__next_look(&p->foreign_poll_ns, recheck_after(s, rc == 1 ? pttl : -1),
                                 rc == 1 && cur.token == 0);
  return 0;
}

static int wait_change(baton_session *bs, baton_candidate *c, const baton_leader *seen,
                       int64_t deadline, int cancel_fd, baton_error *err) {
  baton_redis_session *s = session_of(bs);
  baton_redis_cand *p = NULL;
  int rc = cand_state(&p, bs, c, "wait", err);
  if (rc == 0) rc = baton__wait_begin(s->label, c->name, deadline, cancel_fd, err);
  if (rc != 0) return rc;
  if (sub_of(p)->epoch == 0) {
    /* The first wait subscribes and returns at once: the caller looks again
     * with the subscription in place, so no release between its last look
     * and now goes unnoticed. So does the first after the subscriber was
     * found gone. */
    return baton__redis_sub_open(sub_of(p), s, c->name, !p->acquired, deadline, err);
  }
  int64_t until;
  if (p->acquired) {
    until = p->recheck_at != 0 ? p->recheck_at : baton__now() + s->base.cfg->ttl_ns;
  } else {
    /* Messages so far are covered by the look that follows. A subscriber
     * found gone: look again, and the next wait subscribes anew. */
    if (!baton__redis_sub_look(sub_of(p), s)) return 0;
    if ((rc = observer_until(s, c, p, seen, &until, deadline, err)) != 0) return rc;
  }
  /* A subscriber found gone is said there: the next wait subscribes anew. */
  rc = baton__redis_sub_wait(sub_of(p), s, 1, until < deadline ? until : deadline, cancel_fd);
  return baton__wait_end(baton__redis_woken(rc), until, deadline, &p->recheck_at, s->label, c->name,
                        err);
}

/* ---- watch ----------------------------------------------------------------- */

/* The table's watch: wait's rules without a thread. A candidate is woken
 * by a release of its name (the first armed of this session only, sub.c)
 * and looks again at the holder's expiry as the last acquire saw it; an
 * observer is woken by an election, a proclaim or a release, and looks
 * again at the leader's expiry, which it reads here (as wait does). */
static int watch(baton_session *bs, baton_candidate *c, const baton_leader *seen,
                 baton_wake_fn wake, void *ctx, int64_t *recheck_at, int64_t deadline,
                 baton_error *err) {
  baton_redis_session *s = session_of(bs);
  baton_redis_cand *p = NULL;
  int rc = cand_state(&p, bs, c, "watch", err);
  if (rc == 0 && (wake == NULL || recheck_at == NULL))
    rc = baton__error(err, BATON_EINVAL, "redis: watch: NULL argument");
  if (rc != 0) return rc;
  bool fresh = sub_of(p)->epoch == 0;
  /* As a wait, the first subscribes; with the subscription in place, a
   * candidate looks again (a release since its last look went unheard),
   * while an observer's look is the read below. */
  if (fresh &&
      (rc = baton__redis_sub_open(sub_of(p), s, c->name, !p->acquired, deadline, err)) != 0)
    return rc;
  bool look_now;
  if (p->acquired) {
    *recheck_at = p->recheck_at != 0 ? p->recheck_at : baton__now() + s->base.cfg->ttl_ns;
    look_now = fresh;
  } else if (!baton__redis_sub_look(sub_of(p), s)) {
    look_now = true; /* the subscriber is gone: the next watch subscribes anew */
  } else {
    /* Messages so far are covered by the read that follows. */
    if ((rc = observer_until(s, c, p, seen, recheck_at, deadline, err)) != 0) return rc;
    look_now = *recheck_at <= baton__now(); /* the leader differs already */
  }
  if (look_now) {
    baton__redis_watch_now(wake, ctx, recheck_at, s->base.cfg);
    return 0;
  }
  baton__redis_arm(&p->watch, sub_of(p), s, 1, p->acquired, wake, ctx);
  return 0;
}

static void unwatch(baton_session *bs, baton_candidate *c) {
  if (bs == NULL || c == NULL || c->priv == NULL) return;
  baton_redis_cand *p = c->priv;
  baton__redis_unwatch(&p->watch, sub_of(p), session_of(bs), 1);
}

static void forget(baton_session *bs, baton_candidate *c) {
  if (c == NULL || c->priv == NULL) return;
  unwatch(bs, c);
  if (bs != NULL) baton__redis_sub_close(sub_of(c->priv), session_of(bs));
  baton__free(c->priv);
  c->priv = NULL;
}

static const char *const schemes[] = {BATON_SCHEMES_redis, NULL};

const baton_backend baton_backend_redis = {
    .schemes = schemes,
    .caps = BATON_CAP_TERM_TTL,
    .open = session_open,
    .close = session_close,
    .acquire = acquire,
    .wait = wait_change,
    .release = release,
    .renew = renew,
    .leader = leader,
    .contenders = contenders,
    .forget = forget,
    .proclaim = proclaim,
    .leader_value = leader_value,
    .lease_acquire = baton__redis_lease_acquire,
    .lease_extend = baton__redis_lease_extend,
    .lease_release = baton__redis_lease_release,
    .watch = watch,
    .unwatch = unwatch,
};
