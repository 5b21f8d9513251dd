/* lease.c — fixed leases: terms nobody renews (baton.h, "Fixed leases").
 * The backend takes, extends and deletes the key; this file keeps the
 * local end by the deadline rule, waits for a holder the way a campaign
 * does, and retries transient failures within the caller's timeout. */
#include "core.h"

#include <stdio.h>
#include <string.h>

struct baton_lease {
  baton_client *client;
  char name[BATON_NAME_MAX + 1];
  uint64_t token;
  pthread_mutex_t mu;      /* guards `local` and `ended`: held() may run on
                              any thread */
  baton_local_lease local; /* the local end; never started for an attached
                              lease until its first extend */
  bool ended;              /* released, or found gone: never live again */
};

/* The deadline rule with the lease's TTL: the client's drift, and a margin
 * scaled to the lease (ttl / 20), so that a short lease keeps a sensible
 * margin whatever the client's TTL is. */
static int64_t lease_lifetime(const baton_client *c, int64_t ttl_ns) {
  baton_config cfg = c->cfg;
  cfg.ttl_ns = ttl_ns;
  cfg.margin_ns = ttl_ns / 20;
  return baton__lifetime(&cfg, 0);
}

/* A lease lives on the client's own session: the backend gives it its own
 * TTL (etcd: its own lease; ZooKeeper: a TTL node; Redis: PX), so no
 * session batch of a timing is needed. */
static baton_session *session_of(const baton_client *c) { return c->batches[0].session; }

static int64_t op_deadline(const baton_client *c, int64_t limit) {
  return baton__request_deadline(&c->cfg, baton__now(), limit);
}

/* 0 when the client can hold fixed leases; `what` names the call. */
static int check_client(const baton_client *c, const char *what, baton_error *err) {
  if (c == NULL) return baton__error(err, BATON_EINVAL, "%s: client is NULL", what);
  if (c->backend->lease_acquire == NULL)
    return baton__error(err, BATON_ENOTSUP, "%s: the %s backend has no fixed leases", what,
                        c->backend->schemes[0]);
  if (c->cfg.read_only)
    return baton__error(err, BATON_EINVAL, "%s: the client is read-only", what);
  return 0;
}

static int check_ttl(int64_t ttl_ms, const char *what, baton_error *err) {
  if (ttl_ms < 1 || ttl_ms > BATON_LEASE_TTL_MAX_MS)
    return baton__error(err, BATON_EINVAL,
                        "%s: ttl %lld ms is not in 1..%d (BATON_LEASE_TTL_MAX_MS)",
                        what, (long long)ttl_ms, BATON_LEASE_TTL_MAX_MS);
  return 0;
}

static int lease_new(baton_lease **out, baton_client *c, const char *name, uint64_t token,
                     baton_error *err) {
  baton_lease *l = baton__calloc(1, sizeof *l);
  if (l == NULL) return baton__error(err, BATON_ENOMEM, "lease: out of memory");
  if (pthread_mutex_init(&l->mu, NULL) != 0) {
    baton__free(l);
    return baton__error(err, BATON_ENOMEM, "lease: cannot create a lock");
  }
  l->client = c;
  memcpy(l->name, name, strlen(name) + 1);
  l->token = token;
  l->local.sent = INT64_MIN;
  *out = l;
  return 0;
}

/* Wait until the holder of `name` may have gone, or `deadline`: through
 * the backend's wait, as an observer waits, on `watch`, kept for the whole
 * acquire (a backend's first wait may only subscribe and return at once:
 * a candidate per pass would make every pass such a first wait, a busy
 * loop). The holder it waits past is the one leader() reads, as the
 * observer compares it (with its proclaimed version), not the one an
 * acquire's refusal named. */
static int wait_for_holder(baton_client *c, baton_candidate *watch, int64_t deadline,
                           unsigned *passes, baton_error *err) {
  baton_leader seen;
  memset(&seen, 0, sizeof seen);
  int rc = c->backend->leader(session_of(c), watch->name, &seen, op_deadline(c, deadline), err);
  if (rc == BATON_ENOLEADER) {
    /* Gone already, or not yet a holder (a restart-safe wait, which
     * nothing announces the end of): try again after a back-off, never a
     * busy loop, and no longer than a foreign holder's look-again delay,
     * so that the name is taken soon after the wait ends. */
    int64_t most = c->cfg.retry_max_ns < BATON_FOREIGN_POLL_MAX_NS ? c->cfg.retry_max_ns
                                                                   : BATON_FOREIGN_POLL_MAX_NS;
    int64_t next = baton__after(baton__backoff(c->cfg.retry_base_ns, most, (*passes)++));
    baton__sleep_until(next < deadline ? next : deadline, -1);
    return 0;
  }
  *passes = 0;
  if (rc != 0) return rc;
  /* At least once a TTL: a missed notification costs one TTL at most. */
  int64_t look = baton__after(c->cfg.ttl_ns);
  return c->backend->wait(session_of(c), watch, &seen, look < deadline ? look : deadline, -1, err);
}

int baton_lease_acquire(baton_lease **out, baton_client *c, const char *name, int64_t ttl_ms,
                        int64_t timeout_ms, uint64_t *token, baton_error *err) {
  if (out == NULL || name == NULL)
    return baton__error(err, BATON_EINVAL, "lease_acquire: %s is NULL",
                        out == NULL ? "out" : "name");
  *out = NULL;
  int rc = check_client(c, "lease_acquire", err);
  if (rc == 0) rc = check_ttl(ttl_ms, "lease_acquire", err);
  if (rc == 0) rc = baton__name_check(name, err);
  if (rc != 0) return rc;
  if (timeout_ms < 0 && timeout_ms != BATON_FOREVER)
    return baton__error(err, BATON_EINVAL,
                        "lease_acquire: timeout %lld ms is negative (BATON_FOREVER, -1, waits "
                        "without limit)",
                        (long long)timeout_ms);
  int64_t deadline = timeout_ms == BATON_FOREVER || timeout_ms > INT64_MAX / BATON_NS_PER_MS
                         ? INT64_MAX
                         : baton__after(timeout_ms * BATON_NS_PER_MS);
  int64_t ttl_ns = ttl_ms * BATON_NS_PER_MS;
  unsigned failures = 0, passes = 0;
  baton_candidate watch = {.name = name, .identity = c->cfg.identity};
  /* Bounded: every pass waits for the holder, a back-off or the deadline,
   * and a caller without a deadline asked to wait as long as it takes. */
  baton_leader holder;
  uint64_t got = 0;
  int64_t sent;
  for (;;) {
    memset(&holder, 0, sizeof holder);
    sent = baton__now();
    rc = c->backend->lease_acquire(session_of(c), name, c->cfg.identity, ttl_ns, &got, &holder,
                                   op_deadline(c, INT64_MAX), err);
    if (rc == 0) break;
    if (rc == BATON_EHELD) {
      failures = 0;
      if (timeout_ms == 0 || baton__now() >= deadline) break;
      baton_error werr = {0};
      rc = wait_for_holder(c, &watch, deadline, &passes, &werr);
      if (rc == 0 || rc == BATON_ETIMEDOUT) continue;
      if (err != NULL) *err = werr; /* the retry rule below decides */
    }
    int64_t next = baton__after(baton__config_backoff(&c->cfg, failures++));
    if (!baton__retryable(rc) || timeout_ms == 0 || next >= deadline) break;
    baton__sleep_until(next, -1);
  }
  c->backend->forget(session_of(c), &watch);
  if (rc == BATON_EHELD) {
    /* A caller that waited ran out of time, as a campaign does. */
    int code = timeout_ms == 0 ? BATON_EHELD : BATON_ETIMEDOUT;
    if (holder.token != 0 || holder.identity[0] != '\0')
      return baton__error(err, code, "lease_acquire: '%s' is held by %s (token %llu)", name,
                          holder.identity, (unsigned long long)holder.token);
    char why[sizeof err->message];
    snprintf(why, sizeof why, "%s", err != NULL ? err->message : "no holder named");
    return baton__error(err, code, "lease_acquire: %s", why);
  }
  if (rc != 0) return baton__error_prefix(err, "lease_acquire");
  baton_local_lease local;
  baton__lease_start(&local, sent, lease_lifetime(c, ttl_ns));
  if (!baton__lease_live(&local, baton__now())) {
    /* Not worth keeping: let the next holder in now, not at its TTL. */
    c->backend->lease_release(session_of(c), name, got, op_deadline(c, INT64_MAX), NULL);
    return baton__error(err, BATON_ETIMEDOUT,
                        "lease_acquire: '%s' was granted too late to be used (token %llu)", name,
                        (unsigned long long)got);
  }
  rc = lease_new(out, c, name, got, err);
  if (rc != 0) {
    /* No handle, no token for the caller: the name must not stay taken. */
    c->backend->lease_release(session_of(c), name, got, op_deadline(c, INT64_MAX), NULL);
    return rc;
  }
  (*out)->local = local;
  if (token != NULL) *token = got;
  return baton__ok(err);
}

int baton_lease_attach(baton_lease **out, baton_client *c, const char *name, uint64_t token,
                       baton_error *err) {
  if (out == NULL || name == NULL)
    return baton__error(err, BATON_EINVAL, "lease_attach: %s is NULL",
                        out == NULL ? "out" : "name");
  *out = NULL;
  int rc = check_client(c, "lease_attach", err);
  if (rc == 0) rc = baton__name_check(name, err);
  if (rc == 0 && token == 0)
    rc = baton__error(err, BATON_EINVAL, "lease_attach: token 0 is no lease's");
  if (rc == 0) rc = lease_new(out, c, name, token, err);
  return rc != 0 ? rc : baton__ok(err);
}

/* Whether l is over for good: released, found gone, or past a local end
 * it once had. Needs l->mu. */
static bool over(const baton_lease *l, int64_t now) {
  return l->ended || (l->local.sent != INT64_MIN && !baton__lease_live(&l->local, now));
}

int baton_lease_extend(baton_lease *l, int64_t ttl_ms, baton_error *err) {
  if (l == NULL) return baton__error(err, BATON_EINVAL, "lease_extend: lease is NULL");
  int rc = check_ttl(ttl_ms, "lease_extend", err);
  if (rc != 0) return rc;
  baton_client *c = l->client;
  pthread_mutex_lock(&l->mu);
  bool gone = over(l, baton__now());
  int64_t limit = l->local.sent == INT64_MIN ? INT64_MAX : baton__lease_deadline(&l->local);
  pthread_mutex_unlock(&l->mu);
  /* Past its local end the server may have given the name to another:
   * an extend must not bring it back. */
  if (gone)
    return baton__error(err, BATON_ENOTHOLDER,
                        "lease_extend: the lease on '%s' (token %llu) has ended",
                        l->name, (unsigned long long)l->token);
  int64_t ttl_ns = ttl_ms * BATON_NS_PER_MS;
  int64_t sent = baton__now();
  rc = c->backend->lease_extend(session_of(c), l->name, l->token, ttl_ns, op_deadline(c, limit),
                                err);
  pthread_mutex_lock(&l->mu);
  bool late = rc == 0 && over(l, baton__now());
  if (rc == 0 && !late) {
    baton__lease_start(&l->local, sent, lease_lifetime(c, ttl_ns));
  } else if (rc != 0 && rc != BATON_ENOTHOLDER && rc != BATON_ENOTSUP && rc != BATON_EINVAL &&
             l->local.sent != INT64_MIN) {
    /* Unknown outcome: the server may have applied it, and a shorter TTL
     * than before would end the lease sooner there. */
    baton_local_lease asked;
    baton__lease_start(&asked, sent, lease_lifetime(c, ttl_ns));
    if (baton__lease_deadline(&asked) < baton__lease_deadline(&l->local)) l->local = asked;
  }
  if (rc == BATON_ENOTHOLDER || late) l->ended = true;
  pthread_mutex_unlock(&l->mu);
  if (late) {
    /* Extended on the server, ended here: let the name go now, not at the
     * new TTL, since no handle can use it. */
    c->backend->lease_release(session_of(c), l->name, l->token, op_deadline(c, INT64_MAX), NULL);
    rc = baton__error(err, BATON_ENOTHOLDER,
                      "lease_extend: the lease on '%s' (token %llu) ended while it was extended",
                      l->name, (unsigned long long)l->token);
  }
  if (rc != 0) return baton__error_prefix(err, "lease_extend");
  return baton__ok(err);
}

int baton_lease_release(baton_lease *l, baton_error *err) {
  if (l == NULL) return baton__error(err, BATON_EINVAL, "lease_release: lease is NULL");
  baton_client *c = l->client;
  pthread_mutex_lock(&l->mu);
  bool was_ended = l->ended;
  pthread_mutex_unlock(&l->mu);
  if (was_ended)
    return baton__error(err, BATON_ENOTHOLDER,
                        "lease_release: the lease on '%s' (token %llu) has ended",
                        l->name, (unsigned long long)l->token);
  /* Also past its local end: the key may still be there, and only ours
   * is deleted (the backend checks the token). */
  int rc = c->backend->lease_release(session_of(c), l->name, l->token,
                                     op_deadline(c, INT64_MAX), err);
  /* After a connection error the lease may still be there: it stays held
   * until its end, and the release may be tried again. */
  if (rc == 0 || rc == BATON_ENOTHOLDER) {
    pthread_mutex_lock(&l->mu);
    l->ended = true;
    pthread_mutex_unlock(&l->mu);
  }
  if (rc != 0) return baton__error_prefix(err, "lease_release");
  return baton__ok(err);
}

bool baton_lease_held(baton_lease *l, uint64_t *token, int64_t *remaining_ms) {
  if (token != NULL) *token = l != NULL ? l->token : 0;
  if (remaining_ms != NULL) *remaining_ms = 0;
  if (l == NULL) return false;
  pthread_mutex_lock(&l->mu);
  int64_t now = baton__now();
  bool live = !over(l, now) && l->local.sent != INT64_MIN;
  if (live && remaining_ms != NULL)
    *remaining_ms = baton__lease_remaining(&l->local, now) / BATON_NS_PER_MS;
  pthread_mutex_unlock(&l->mu);
  return live;
}

void baton_lease_close(baton_lease *l) {
  if (l == NULL) return;
  pthread_mutex_destroy(&l->mu);
  baton__free(l);
}
