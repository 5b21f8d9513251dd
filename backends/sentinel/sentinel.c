/* sentinel.c — the redis-sentinel:// backend: one Redis master found and
 * followed through Redis Sentinel. The table the core calls.
 *
 * redis-sentinel://[user:password@]host:port[,host:port...]/MASTER
 * [?replicas=K][&sentinel_auth=same]
 *
 * Every call is the redis:// backend's (the same scripts, keys, nonces,
 * renewals and waits: backends/redis), run on a session whose address is
 * the master the Sentinels name (discovery.c) and that moves when they
 * announce a fail-over (watch.c). What a fail-over does to a term:
 * replication is asynchronous, so the new master may lack the holder's
 * key. Its renewal then finds the key not ours and reports it gone (the
 * core ends the term), or renews it when it was replicated; a rival may
 * meanwhile win on the new master while the old holder still believes
 * until its local deadline. That overlap is Sentinel's data loss, not a
 * bug this backend can close; the fencing token tells the two apart:
 * the new master's counter is max(counter + 1, server TIME in us), so a
 * token issued after the fail-over exceeds every earlier one as long as
 * the issued tokens stay behind the new master's clock (fewer than one
 * term per microsecond, clocks not set back) — the caveat of redis://.
 * ?replicas=K (WAIT K after a won acquire) narrows that window; it does
 * not close it. */
#include "sentinel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define BATON_SENTINEL_PORT 26379 /* when the URI names none: Sentinel's default */

static baton_sentinel_session *session_of(baton_session *bs) {
  return (baton_sentinel_session *)bs;
}

static const baton_backend *redis(void) { return &baton_backend_redis; }

/* The redis:// session's address hook: the master the Sentinels named. */
static void locate(const baton_redis_session *rs, char *host, size_t size, int *port) {
  baton_sentinel_session *s = (baton_sentinel_session *)(uintptr_t)rs;
  pthread_mutex_lock(&s->addr_mu);
  snprintf(host, size, "%s", s->host);
  *port = s->port;
  pthread_mutex_unlock(&s->addr_mu);
}

/* ---- open and close ------------------------------------------------------ */

static void session_free(baton_sentinel_session *s) {
  if (s == NULL) return;
  baton__sentinel_watch_stop(s);
  for (size_t i = 0; s->sent != NULL && i < s->n; i++) baton__redis_instance_fini(&s->sent[i]);
  baton__free(s->sent);
  baton__redis_instance_fini(&s->master);
  pthread_mutex_destroy(&s->addr_mu);
  if (s->wake_fd >= 0) close(s->wake_fd);
  baton__free(s->master_name);
  baton__free(s);
}

/* The URI's parts: the master's name (the path), ?replicas and
 * ?sentinel_auth, into s. */
static int parse(baton_sentinel_session *s, const baton_uri *uri, const baton_config *cfg,
                 baton_error *err) {
  static const char *const params[] = {"replicas", "sentinel_auth", NULL};
  int rc = baton__uri_check_params(uri, params, err);
  if (rc != 0) return rc;
  const char *name = uri->path[0] == '/' ? uri->path + 1 : uri->path;
  if (name[0] == '\0' || strchr(name, '/') != NULL || strlen(name) > 200)
    return baton__error(err, BATON_EINVAL,
                        "redis-sentinel://: the path must name the master, as the Sentinels "
                        "know it (redis-sentinel://host:port,host:port/MASTER)");
  const char *k = baton__uri_param(uri, "replicas");
  if (k != NULL) {
    char *end = NULL;
    long v = strtol(k, &end, 10);
    if (end == k || *end != '\0' || v < 0 || v > 1000)
      return baton__error(err, BATON_EINVAL,
                          "redis-sentinel://: replicas=%.32s is not a number of replicas "
                          "(0..1000)", k);
    s->replicas = v;
  }
  const char *auth = baton__uri_param(uri, "sentinel_auth");
  s->sent_cfg = *cfg;
  if (auth == NULL || strcmp(auth, "none") == 0) {
    s->sent_cfg.username = NULL;
    s->sent_cfg.password = NULL;
  } else if (strcmp(auth, "same") != 0) {
    return baton__error(err, BATON_EINVAL,
                        "redis-sentinel://: sentinel_auth=%.32s (expected 'same': the URI's "
                        "credentials log in to the Sentinels too; or 'none', the default)",
                        auth);
  }
  if (cfg->username != NULL && cfg->password == NULL)
    return baton__error(err, BATON_EINVAL,
                        "redis-sentinel://: user '%.64s' is given without a password",
                        cfg->username);
  s->master_name = baton__strdup(name);
  return s->master_name == NULL ? baton__error(err, BATON_ENOMEM, "redis-sentinel: out of memory")
                                : 0;
}

/* "redis-sentinel://h:p,h:p/MASTER" for messages (no credentials). */
static void make_label(baton_sentinel_session *s, const baton_uri *uri) {
  char *l = s->master.label;
  size_t size = sizeof s->master.label, len = (size_t)snprintf(l, size, "redis-sentinel://");
  for (size_t i = 0; i < uri->nhosts && len < size; i++)
    len += (size_t)snprintf(l + len, size - len, strchr(uri->hosts[i].host, ':') ? "%s[%.64s]:%d"
                                                                                 : "%s%.64s:%d",
                            i ? "," : "", uri->hosts[i].host, s->sent[i].port);
  if (len < size) snprintf(l + len, size - len, "/%.64s", s->master_name);
}

static int session_open(baton_session **out, const baton_uri *uri, const baton_config *cfg,
                        int64_t deadline, baton_error *err) {
  if (out == NULL || uri == NULL || cfg == NULL)
    return baton__error(err, BATON_EINVAL, "redis-sentinel: open: NULL argument");
  *out = NULL;
  baton_sentinel_session *s = baton__calloc(1, sizeof *s);
  if (s == NULL) return baton__error(err, BATON_ENOMEM, "redis-sentinel: out of memory");
  s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  s->news_fd = -1;
  pthread_mutex_init(&s->addr_mu, NULL);
  int rc = s->wake_fd < 0 ? baton__error(err, BATON_ENOMEM, "redis-sentinel: no eventfd") : 0;
  if (rc == 0) rc = parse(s, uri, cfg, err);
  if (rc == 0 && baton__redis_instance_init(&s->master, "redis-sentinel", "-", 0, 0, cfg) != 0)
    rc = baton__error(err, BATON_ENOMEM, "redis-sentinel: out of memory");
  s->master.locate = locate;
  s->n = uri->nhosts;
  if (rc == 0 && (s->sent = baton__calloc(s->n, sizeof *s->sent)) == NULL)
    rc = baton__error(err, BATON_ENOMEM, "redis-sentinel: out of memory");
  for (size_t i = 0; rc == 0 && i < s->n; i++) {
    int port = uri->hosts[i].port != 0 ? uri->hosts[i].port : BATON_SENTINEL_PORT;
    if (baton__redis_instance_init(&s->sent[i], "redis-sentinel", uri->hosts[i].host, port, 0,
                                   &s->sent_cfg) != 0)
      rc = baton__error(err, BATON_ENOMEM, "redis-sentinel: out of memory");
  }
  if (rc == 0) {
    make_label(s, uri);
    rc = baton__sentinel_discover(s, deadline, err);
  }
  /* Connect now, as redis:// does, so that a wrong password or database
   * shows at open. */
  if (rc == 0) rc = baton__redis_connect(&s->master.cmd.ctx, &s->master, deadline, err);
  if (rc == 0) rc = baton__sentinel_watch_start(s, err);
  if (rc != 0) {
    session_free(s);
    return rc;
  }
  *out = &s->master.base;
  return 0;
}

static void session_close(baton_session *bs) { session_free(session_of(bs)); }

/* ---- the redis:// backend's calls, on the current master ------------------ */

/* A call's error, as the caller sees it. A request that met a replica
 * (READONLY: the old master, demoted) or found no server means the
 * master may have moved: the watcher asks the Sentinels at once, and the
 * error is one the core retries. */
static int after_call(baton_sentinel_session *s, int rc, const baton_error *e, baton_error *err) {
  if (rc == BATON_ECONNECT || rc == BATON_ETIMEDOUT ||
      (rc == BATON_EREFUSED && strstr(e->message, "READONLY") != NULL)) {
    baton__sentinel_kick(s);
    if (rc == BATON_EREFUSED) rc = BATON_ECONNECT;
  }
  if (rc != 0 && err != NULL) *err = *e;
  if (rc != 0 && err != NULL) err->code = rc;
  return rc;
}

/* Whether the master moved since `generation` was read, or a Sentinel's
 * message waits unread (then BATON_ECONNECT in *err). A request sent to
 * the old master before the move may have been answered after it: an old
 * master back from a pause or a partition serves its clients until
 * Sentinel demotes it, seconds later, so a win or a renewal it reports is
 * not trusted. A process resumed from a stop runs its requests before its
 * watcher reads the switch that came meanwhile: news unread counts. */
static bool moved(baton_sentinel_session *s, uint64_t generation, const char *what,
                  baton_error *err) {
  if (baton__sentinel_generation(s) == generation && !baton__sentinel_news_pending(s))
    return false;
  baton__error(err, BATON_ECONNECT, "%s: %s: the master moved meanwhile, or a Sentinel has "
               "news: its answer is not trusted", s->master.label, what);
  return true;
}

/* Before acquire, wait or watch: c's state, made here so that it has room
 * for ours after the redis:// backend's (which finds it made); and the
 * generation of the master it now follows, into *generation (NULL: only
 * acquire checks it after). The one place a candidate's call moves to
 * the current master. A subscriber made on an earlier master hears
 * nothing of the new one: the client's shared subscriber is dropped
 * (waking every blocked wait and armed watch: look again), and each
 * candidate's next wait or watch subscribes anew on the new master. */
static int follow_master(baton_session *bs, baton_candidate *c, uint64_t *generation,
                         baton_error *err) {
  baton_sentinel_session *s = session_of(bs);
  if (c == NULL) return baton__error(err, BATON_EINVAL, "redis-sentinel: NULL candidate");
  int rc = baton__redis_cand_alloc(c, sizeof(baton_sentinel_cand), "redis-sentinel", err);
  if (rc != 0) return rc;
  baton_sentinel_cand *p = c->priv;
  uint64_t g = baton__sentinel_generation(s);
  if (generation != NULL) *generation = g;
  if (p->generation == g) return 0;
  baton__redis_sub_follow(&s->master, g);
  p->generation = g;
  return 0;
}

/* What a short count's message says a new key's acquire does next. */
#define RELEASED "released, to be tried again"

/* With ?replicas=K: WAIT until K replicas have the new key of `name` (a
 * term's or a fixed lease's, or a lease just extended), within the
 * request's deadline. Fewer in time: a retryable error whose message ends
 * with `then`, and the caller deletes a new key.
 * WAIT counts the writes of the connection it runs on, and another
 * thread may have replaced the connection since the acquire: a write of
 * its own goes first (INCRBY of the counter by 0, which changes nothing
 * but is replicated), whose offset on the same master is past the
 * acquire's. On another master (it moved meanwhile) the count says
 * nothing of our key: acquire then refuses the term (moved()). */
static int wait_replicas(baton_sentinel_session *s, const char *name, const char *then,
                         int64_t deadline, baton_error *err) {
  char counter[BATON_NAME_MAX + 16], k[24], ms[24];
  snprintf(counter, sizeof counter, "%s/token", name);
  snprintf(k, sizeof k, "%ld", s->replicas);
  /* WAIT answers when its time is up: a tenth of the time, and at least
   * 150 ms where there is time for it (a loaded machine's reply), is left
   * for the answer to come back, so that a short count is told as such
   * rather than as a request with no reply. */
  int64_t left = (deadline - baton__now()) / BATON_NS_PER_MS;
  int64_t margin = left / 10 > 150 ? left / 10 : left / 2 < 150 ? left / 2 : 150;
  left -= margin;
  if (left < 1) left = 1;
  snprintf(ms, sizeof ms, "%lld", (long long)left);
  const char *incr[] = {"INCRBY", counter, "0"}, *wait[] = {"WAIT", k, ms};
  baton_redis_cmd cmds[2] = {{3, incr}, {3, wait}};
  redisReply *r[2] = {NULL, NULL};
  int rc = baton__redis_request(&s->master, &s->master.cmd, cmds, 2, r, deadline, "WAIT", err);
  if (rc != 0) return rc;
  long long acked = r[1]->type == REDIS_REPLY_INTEGER ? r[1]->integer : -1;
  for (size_t i = 0; i < 2 && rc == 0; i++)
    if (r[i]->type == REDIS_REPLY_ERROR) rc = baton__redis_reply_error(&s->master, r[i], "WAIT", err);
  freeReplyObject(r[0]);
  freeReplyObject(r[1]);
  if (rc == 0 && acked < 0) rc = baton__redis_bad_reply(&s->master, "WAIT", err);
  if (rc == 0 && acked < s->replicas)
    rc = baton__error(err, BATON_ECONNECT,
                      "%s: '%s': %lld of %ld replicas acknowledged the key in time "
                      "(?replicas=%ld); %s",
                      s->master.label, name, acked, s->replicas, s->replicas, then);
  return rc;
}

/* The bound of the delete that follows a failed wait_replicas. */
static int64_t undo_deadline(const baton_sentinel_session *s) {
  return baton__now() + s->master.base.cfg->op_timeout_ns;
}

static int acquire(baton_session *bs, baton_candidate *c, baton_leader *holder, int64_t deadline,
                   baton_error *err) {
  baton_sentinel_session *s = session_of(bs);
  uint64_t generation = 0;
  int rc = follow_master(bs, c, &generation, err);
  if (rc != 0) return rc;
  baton_error e = {0};
  rc = redis()->acquire(bs, c, holder, deadline, &e);
  if (rc == 0 && s->replicas > 0 && (rc = wait_replicas(s, c->name, RELEASED, deadline, &e)) != 0) {
    baton_error ignored = {0};
    (void)redis()->release(bs, c, undo_deadline(s), &ignored);
  }
  if (rc == 0 && moved(s, generation, "acquire", &e))
    rc = BATON_ECONNECT; /* the core campaigns again, on the new master */
  return after_call(s, rc, &e, err);
}

/* After a wait or a watch: a time-out or a cancel is the caller's (its
 * deadline, its cancel descriptor), not a sign that the master moved. */
static int after_wait(baton_sentinel_session *s, int rc, const baton_error *e, baton_error *err) {
  if (rc == BATON_ETIMEDOUT || rc == BATON_ECANCELED)
    return baton__error(err, rc, "%s", e->message);
  return after_call(s, rc, e, err);
}

static int wait_change(baton_session *bs, baton_candidate *c, const baton_leader *seen,
                       int64_t deadline, int cancel_fd, baton_error *err) {
  int rc = follow_master(bs, c, NULL, err);
  if (rc != 0) return rc;
  baton_error e = {0};
  rc = redis()->wait(bs, c, seen, deadline, cancel_fd, &e);
  return after_wait(session_of(bs), rc, &e, err);
}

static int release(baton_session *bs, baton_candidate *c, int64_t deadline, baton_error *err) {
  baton_error e = {0};
  int rc = redis()->release(bs, c, deadline, &e);
  return after_call(session_of(bs), rc, &e, err);
}

static int renew(baton_session *bs, baton_candidate *const *held, size_t n, bool *gone,
                 int64_t deadline, baton_error *err) {
  baton_sentinel_session *s = session_of(bs);
  uint64_t generation = baton__sentinel_generation(s);
  baton_error e = {0};
  int rc = redis()->renew(bs, held, n, gone, deadline, &e);
  if (rc == 0 && moved(s, generation, "renew", &e)) rc = BATON_ECONNECT; /* nothing known */
  return after_call(s, rc, &e, err);
}

static int leader(baton_session *bs, const char *name, baton_leader *out, int64_t deadline,
                  baton_error *err) {
  baton_error e = {0};
  int rc = redis()->leader(bs, name, out, deadline, &e);
  return after_call(session_of(bs), rc, &e, err);
}

static int contenders(baton_session *bs, const char *name, baton_contender *out, size_t cap,
                      size_t *n, int64_t deadline, baton_error *err) {
  baton_error e = {0};
  int rc = redis()->contenders(bs, name, out, cap, n, deadline, &e);
  return after_call(session_of(bs), rc, &e, err);
}

/* A value written on a master that lost its place may not survive the
 * fail-over: as for a renewal, a move under way makes the answer unknown. */
static int proclaim(baton_session *bs, baton_candidate *c, const char *value, int64_t deadline,
                    baton_error *err) {
  baton_sentinel_session *s = session_of(bs);
  uint64_t generation = baton__sentinel_generation(s);
  baton_error e = {0};
  int rc = redis()->proclaim(bs, c, value, deadline, &e);
  if (rc == 0 && moved(s, generation, "proclaim", &e)) rc = BATON_ECONNECT;
  return after_call(s, rc, &e, err);
}

static int leader_value(baton_session *bs, const char *name, baton_leader *out, char *value,
                        size_t size, size_t *len, int64_t deadline, baton_error *err) {
  baton_error e = {0};
  int rc = redis()->leader_value(bs, name, out, value, size, len, deadline, &e);
  return after_call(session_of(bs), rc, &e, err);
}

/* As wait: on the master followed now. A fail-over drops the shared
 * subscriber (follow_master, or the watcher's move), which wakes every
 * armed watch, and the next watch subscribes on the new master. */
static int watch(baton_session *bs, baton_candidate *c, const baton_leader *seen,
                 baton_wake_fn wake, void *ctx, int64_t *recheck_at, int64_t deadline,
                 baton_error *err) {
  int rc = follow_master(bs, c, NULL, err);
  if (rc != 0) return rc;
  baton_error e = {0};
  rc = redis()->watch(bs, c, seen, wake, ctx, recheck_at, deadline, &e);
  return after_wait(session_of(bs), rc, &e, err);
}

static void unwatch(baton_session *bs, baton_candidate *c) { redis()->unwatch(bs, c); }

static void forget(baton_session *bs, baton_candidate *c) { redis()->forget(bs, c); }

/* Fixed leases: the redis:// ops on the master followed. A lease taken or
 * extended while the master moved is, as an acquire, not trusted: the
 * caller sees a connection error. A lease that may have landed is released
 * at once (best effort: where that fails it expires at its TTL).
 * ?replicas=K applies to a new lease as to a new term, and to an extend:
 * an extend that too few replicas saw could be lost in a fail-over, so it
 * answers the retryable error and the core keeps the lease's old end. */
static int lease_acquire(baton_session *bs, const char *name, const char *identity,
                         int64_t ttl_ns, uint64_t *token, baton_leader *holder, int64_t deadline,
                         baton_error *err) {
  baton_sentinel_session *s = session_of(bs);
  uint64_t generation = baton__sentinel_generation(s);
  baton_error e = {0};
  int rc = redis()->lease_acquire(bs, name, identity, ttl_ns, token, holder, deadline, &e);
  bool landed = rc == 0;
  if (rc == 0 && s->replicas > 0)
    rc = wait_replicas(s, name, RELEASED, deadline, &e);
  if (rc == 0 && moved(s, generation, "lease_acquire", &e)) rc = BATON_ECONNECT;
  if (landed && rc != 0) {
    baton_error ignored = {0};
    (void)redis()->lease_release(bs, name, *token, undo_deadline(s), &ignored);
  }
  return after_call(s, rc, &e, err);
}

static int lease_extend(baton_session *bs, const char *name, uint64_t token, int64_t ttl_ns,
                        int64_t deadline, baton_error *err) {
  baton_sentinel_session *s = session_of(bs);
  uint64_t generation = baton__sentinel_generation(s);
  baton_error e = {0};
  int rc = redis()->lease_extend(bs, name, token, ttl_ns, deadline, &e);
  if (rc == 0 && s->replicas > 0)
    rc = wait_replicas(s, name, "the extend is not trusted, to be tried again", deadline, &e);
  if (rc == 0 && moved(s, generation, "lease_extend", &e)) rc = BATON_ECONNECT;
  return after_call(s, rc, &e, err);
}

static int lease_release(baton_session *bs, const char *name, uint64_t token, int64_t deadline,
                         baton_error *err) {
  baton_error e = {0};
  int rc = redis()->lease_release(bs, name, token, deadline, &e);
  return after_call(session_of(bs), rc, &e, err);
}

static const char *const schemes[] = {BATON_SCHEMES_sentinel, NULL};

const baton_backend baton_backend_sentinel = {
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
    .lease_acquire = lease_acquire,
    .lease_extend = lease_extend,
    .lease_release = lease_release,
    .watch = watch,
    .unwatch = unwatch,
};
