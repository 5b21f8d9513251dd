/* watch.c — the etcd backend's wait: a queued candidate watches its nearest
 * predecessor's key, an observer the name's leader, on the gateway's watch
 * stream; no polling, and a broken stream resumes on another member from
 * the last revision seen.
 *
 * Next in line, the wake-up itself can prove the election, so the acquire
 * after it needs no request. The range at the start of the wait (a
 * linearizable read at revision R0) shows our key as we made it and
 * exactly one older key P. Keys made later get a create_revision above
 * R0, above ours, so from R0 on the set of keys older than ours only
 * shrinks: once P is deleted, at revision R, none is left. The watch
 * covers the whole name from R0 + 1, so it also shows every change to our
 * own key, in revision order; etcd sends one revision's events in one
 * message (mvcc's eventBatch cuts between revisions, and v3rpc splits a
 * message only for a watch that asked for fragments; ours does not). If no
 * message up to and including the one with P's DELETE touched our key,
 * then at R our key, with our lease, identity and create_revision, was the
 * lowest: we lead at R. R is after the campaign began (R > R0) and before
 * it returns, so the campaign takes effect at R. Anything that happens to
 * the key after R is the same as after a read: the lease's local deadline
 * in the core covers expiry, and nothing covers a deletion by hand. */
#include "etcd.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>

/* Internal results of one watch: the caller ranges again. */
#define BATON_ETCD_RERANGE 2

/* What one watch waits for. */
typedef struct target {
  const char *key;      /* the key, or the name's prefix */
  size_t key_len;
  bool prefix;          /* watch every key under key */
  bool deletes_only;    /* the predecessor: only its deletion matters */
  const baton_etcd_kv *leader; /* observer: the leader's key, NULL if none */
  const baton_etcd_kv *own;    /* next in line: our key as ranged, else NULL */
  const baton_etcd_kv *pred;   /* next in line: the one older key */
  bool own_changed;     /* next in line: an event on our key was seen */
  int64_t won;          /* out: the revision at which we came to lead */
} target;

static bool cancelled(int cancel_fd) {
  if (cancel_fd < 0) return false;
  struct pollfd p = {.fd = cancel_fd, .events = POLLIN};
  return poll(&p, 1, 0) == 1;
}

static bool same_key(const baton_etcd_event *ev, const baton_etcd_kv *kv) {
  return ev->kv.key_len == kv->key_len && memcmp(ev->kv.key, kv->key, kv->key_len) == 0;
}

/* Whether an event may change what the waiter is waiting for. Next in
 * line, as for any queued candidate, that is only P's deletion: a change
 * to our own key is noted (it voids the proof) but wakes no one, since a
 * key that went with its lease needs a new lease first, which wakes us. */
static bool matches(const target *t, const baton_etcd_event *ev) {
  if (t->own != NULL) return ev->is_delete && same_key(ev, t->pred);
  if (t->deletes_only) return ev->is_delete;
  if (t->leader == NULL) return !ev->is_delete; /* a first candidate came */
  /* A fixed lease's key is written only by an extend, which changes
   * nothing an observer sees. */
  return same_key(ev, t->leader) && (ev->is_delete || !baton__etcd_is_fixed(t->leader));
}

/* Handle one stream message: 0 (a match), BATON_ETCD_RERANGE, 1 (keep reading), or
 * an error. `*restart` asks for a new stream on the next member. */
static int on_message(baton_etcd_session *es, baton_etcd_conn *conn, target *t,
                      const cJSON *payload, int64_t *next_rev, bool *restart, int64_t deadline,
                      baton_error *err) {
  baton_etcd_watch_msg m;
  int rc = baton__etcd_gw_watch(payload, &m, err);
  if (rc != 0) return baton__etcd_conn_blame(conn, rc, err);
  rc = 1;
  /* The whole message first: an event on our own key anywhere in it (the
   * revision of P's deletion included) voids the proof. */
  int64_t pred_gone = 0;
  for (size_t i = 0; i < m.nevents; i++) {
    const baton_etcd_event *ev = &m.events[i];
    if (ev->kv.mod_revision >= *next_rev) *next_rev = ev->kv.mod_revision + 1;
    if (t->own != NULL && same_key(ev, t->own)) t->own_changed = true;
    if (!matches(t, ev)) continue;
    rc = 0;
    pred_gone = ev->kv.mod_revision;
  }
  if (rc == 0 && t->own != NULL && !t->own_changed) t->won = pred_gone;
  if (rc == 1 && m.canceled) {
    if (m.compact_revision > 0) {
      rc = BATON_ETCD_RERANGE; /* our start was compacted: look at the present */
    } else if (strstr(m.cancel_reason, "invalid auth token") != NULL) {
      rc = baton__etcd_http_relogin(es->http, conn, deadline, err);
      *restart = rc == 0;
      if (rc == 0) rc = 1;
    } else if (strstr(m.cancel_reason, "Unauthenticated") != NULL ||
               strstr(m.cancel_reason, "PermissionDenied") != NULL ||
               strstr(m.cancel_reason, "user name is empty") != NULL) {
      rc = baton__error(err, BATON_EAUTH, "etcd %s: watch refused: %s",
                        baton__etcd_conn_member(conn), m.cancel_reason);
    } else {
      /* e.g. the member lost its leader (hasleader): try another. */
      baton_error why = {.code = BATON_ECONNECT};
      snprintf(why.message, sizeof why.message, "watch cancelled: %.200s", m.cancel_reason);
      baton__etcd_http_next_member(es->http, conn, &why);
      *restart = true;
    }
  }
  baton__etcd_watch_msg_free(&m);
  return rc;
}

static int timed_out(baton_error *err) {
  return baton__error(err, BATON_ETIMEDOUT, "etcd: no matching event in time");
}

/* Watch `t` from `start` until a matching event; a broken stream is
 * restarted (on the next member) from the revision after the last event
 * seen, so nothing is missed. Returns 0, BATON_ETCD_RERANGE or an error.
 * Bounded by `deadline`: past it, a message that does not match ends the
 * watch, and no stream starts again. */
static int watch(baton_etcd_session *es, baton_etcd_conn *conn, target *t, int64_t start,
                 uint64_t gen0, int64_t deadline, int cancel_fd, baton_error *err) {
  int64_t next_rev = start;
  unsigned failures = 0;
  size_t members = baton__etcd_http_members(es->http);
  for (;;) {
    baton_etcd_str body = {0};
    baton__etcd_req_watch(&body, t->key, t->key_len, t->prefix, next_rev, t->deletes_only);
    int rc = body.oom ? BATON_ENOMEM
                      : baton__etcd_stream_start(conn, "/v3/watch", body.p, deadline, err);
    baton__etcd_str_free(&body);
    if (rc != 0) return rc;
    bool restart = false;
    while (!restart) {
      cJSON *root;
      const cJSON *payload;
      int grpc;
      rc = baton__etcd_stream_next(conn, &root, &payload, &grpc, deadline, cancel_fd, err);
      if (rc == 0) {
        /* Only progress resets the back-off: a member that accepts the
         * watch and then drops it again and again must not make us spin. */
        int64_t before = next_rev;
        rc = on_message(es, conn, t, payload, &next_rev, &restart, deadline, err);
        if (next_rev > before) failures = 0;
      }
      cJSON_Delete(root);
      if (rc == 1) {
        uint64_t gen;
        baton__etcd_lease(es, &gen);
        if (gen != gen0) return 0; /* a new lease: enqueue again */
        /* Events that keep coming and never match end at the deadline too. */
        if (baton__now() >= deadline) return timed_out(err);
        continue;
      }
      if (rc == BATON_ECONNECT || grpc == BATON_ETCD_GRPC_UNAVAILABLE) {
        baton__etcd_http_next_member(es->http, conn, err);
        restart = true;
      } else if (grpc == BATON_ETCD_GRPC_UNAUTHENTICATED) {
        rc = baton__etcd_http_relogin(es->http, conn, deadline, err);
        if (rc != 0) return rc;
        restart = true;
      } else {
        return rc;
      }
    }
    baton__etcd_stream_stop(conn);
    /* Every member failed in a row: back off before the next round. */
    if (++failures >= members) {
      int64_t until = baton__now() + baton__config_backoff(es->base.cfg, failures - members);
      int rc2 = baton__etcd_conn_idle(conn, until, deadline, cancel_fd);
      if (rc2 == BATON_ETIMEDOUT) {
        if (err == NULL) return rc2;
        err->code = rc2; /* keep the last member's error as the detail */
        return baton__error_prefix(err, "etcd: no member could watch in time; last");
      }
      if (rc2 == BATON_ECANCELED) return baton__error(err, rc2, "cancelled");
    }
    if (baton__now() >= deadline) return timed_out(err);
  }
}

/* Next in line: watch the whole name; P's deletion wakes us, and t->won
 * says whether it also proved the election (see the top of the file). */
static int wait_next_in_line(baton_etcd_session *es, baton_etcd_conn *conn, baton_candidate *c,
                             target *t, int64_t start, uint64_t gen0, int64_t deadline,
                             int cancel_fd, baton_error *err) {
  baton_etcd_str prefix = {0};
  baton__etcd_name_prefix(&prefix, es, c->name);
  t->key = prefix.p;
  t->key_len = prefix.len;
  t->prefix = true;
  int rc = prefix.oom ? BATON_ENOMEM : watch(es, conn, t, start, gen0, deadline, cancel_fd, err);
  baton__etcd_str_free(&prefix);
  return rc;
}

/* A queued candidate: wait until its nearest predecessor is deleted.
 *
 * A crashed leader's key goes when etcd's lessor revokes its lease, and
 * the lessor looks for expired leases every 500 ms, so its successor
 * wakes up to TTL + 0.5 s after the leader's last renewal. The waiter does
 * not revoke that lease sooner itself on the word of lease/timetolive:
 * its TTL is whole seconds, truncated, so it reads 0 from one second
 * before expiry on (and -1 only once the lease is gone; both seen on
 * 3.4.23), and "expired" cannot be told from "under a second left". Even
 * an exact answer would not do: a revoke is unconditional, and after an
 * etcd leader change, which gives every lease a fresh TTL, it would end a
 * lease the new leader keeps alive, under a holder that still leads. */
static int wait_queued(baton_etcd_session *es, baton_etcd_conn *conn, baton_candidate *c,
                       baton_etcd_cand *ec, uint64_t gen0, int64_t deadline, int cancel_fd,
                       baton_error *err) {
  baton_etcd_queue_look q;
  int rc = baton__etcd_queue_look(es, c, ec, &q, deadline, cancel_fd, err);
  if (rc != 0) return rc;
  if (q.place == BATON_ETCD_NEXT) {
    target t = {.own = &q.kvs[0], .pred = &q.kvs[1]};
    rc = wait_next_in_line(es, conn, c, &t, q.revision + 1, gen0, deadline, cancel_fd, err);
    if (rc == 0) ec->won_revision = t.won;
  } else if (q.place == BATON_ETCD_BEHIND) {
    target t = {q.kvs[1].key, q.kvs[1].key_len, false, true, NULL, NULL, NULL, false, 0};
    rc = watch(es, conn, &t, q.revision + 1, gen0, deadline, cancel_fd, err);
  }
  baton__etcd_queue_look_free(&q);
  return rc;
}

int baton__etcd_queue_look(baton_etcd_session *es, baton_candidate *c, baton_etcd_cand *ec,
                           baton_etcd_queue_look *q, int64_t deadline, int cancel_fd,
                           baton_error *err) {
  /* Our key and the two keys just older, newest first: whether ours is
   * still as we made it, which key precedes it, and whether that one is
   * the only one. */
  baton_etcd_range_req r = {.sort = -1, .limit = 3, .max_create_revision = ec->create_revision};
  q->n = 0;
  q->revision = 0;
  q->place = BATON_ETCD_GONE;
  int rc = baton__etcd_range(es, c->name, &r, q->kvs, 3, &q->n, &q->revision, deadline,
                             cancel_fd, err);
  if (rc != 0) return rc;
  if (q->n == 0 || !baton__etcd_is_own(ec, c->identity, &q->kvs[0])) {
    /* Gone (deleted by hand) or altered: we are not queued. The next
     * acquire's txn makes the key again, or refuses a key not ours. */
    ec->create_revision = 0;
  } else if (q->n == 1) {
    q->place = BATON_ETCD_LEADS;
    ec->won_revision = q->revision; /* nothing older: we lead at its revision */
  } else if (q->n == 2 && q->kvs[1].create_revision < ec->create_revision) {
    q->place = BATON_ETCD_NEXT;
  } else {
    /* Several older keys (or, never from our own txn, one sharing our
     * create_revision): wait for the nearest, then look. */
    q->place = BATON_ETCD_BEHIND;
  }
  return 0;
}

void baton__etcd_queue_look_free(baton_etcd_queue_look *q) {
  while (q->n > 0) baton__etcd_kv_free(&q->kvs[--q->n]);
}

bool baton__etcd_seen_is(const baton_etcd_kv *lead, const baton_leader *seen) {
  uint64_t seen_token = seen != NULL ? seen->token : 0;
  if (lead == NULL) return seen_token == 0;
  /* The same term with the same value: a proclaimed key's value is no
   * identity (leader reads that beside it), its version tells. */
  uint64_t version = baton__etcd_value_version(lead);
  size_t idlen = lead->value_len < BATON_IDENTITY_MAX ? lead->value_len : BATON_IDENTITY_MAX;
  return (uint64_t)lead->create_revision == seen_token && seen != NULL &&
         seen->version == version &&
         (baton__etcd_proclaimed(lead) ||
          (strlen(seen->identity) == idlen && memcmp(seen->identity, lead->value, idlen) == 0));
}

/* An observer: wait until the leader may differ from `seen`. */
static int wait_observer(baton_etcd_session *es, baton_etcd_conn *conn, baton_candidate *c,
                         const baton_leader *seen, uint64_t gen0, int64_t deadline, int cancel_fd,
                         baton_error *err) {
  baton_etcd_range_req r = {.sort = 1, .limit = 1};
  baton_etcd_kv lead;
  size_t n = 0;
  int64_t rev = 0;
  int rc = baton__etcd_range(es, c->name, &r, &lead, 1, &n, &rev, deadline, cancel_fd, err);
  if (rc != 0) return rc;
  bool found = n == 1;
  bool same = baton__etcd_seen_is(found ? &lead : NULL, seen);
  if (same) {
    baton_etcd_str prefix = {0};
    baton__etcd_name_prefix(&prefix, es, c->name);
    target t = {prefix.p, prefix.len, true, false, found ? &lead : NULL, NULL, NULL, false, 0};
    rc = prefix.oom ? BATON_ENOMEM : watch(es, conn, &t, rev + 1, gen0, deadline, cancel_fd, err);
    baton__etcd_str_free(&prefix);
  }
  if (found) baton__etcd_kv_free(&lead);
  return rc;
}

static void waiter_add(baton_etcd_session *es, baton_etcd_waiter *w) {
  pthread_mutex_lock(&es->mu);
  w->next = es->waiters;
  es->waiters = w;
  pthread_mutex_unlock(&es->mu);
}

static void waiter_remove(baton_etcd_session *es, baton_etcd_waiter *w) {
  pthread_mutex_lock(&es->mu);
  for (baton_etcd_waiter **p = &es->waiters; *p != NULL; p = &(*p)->next)
    if (*p == w) {
      *p = w->next;
      break;
    }
  pthread_mutex_unlock(&es->mu);
}

/* One look: 0 to say "acquire again", BATON_ETCD_RERANGE, or an error. */
static int wait_once(baton_etcd_session *es, baton_etcd_conn *conn, baton_candidate *c,
                     const baton_leader *seen, uint64_t gen0, int64_t deadline, int cancel_fd,
                     baton_error *err) {
  if (cancelled(cancel_fd)) return baton__error(err, BATON_ECANCELED, "cancelled");
  if (baton__now() >= deadline) return baton__error(err, BATON_ETIMEDOUT, "etcd: wait timed out");
  uint64_t gen;
  int64_t lease = baton__etcd_lease(es, &gen);
  if (gen != gen0) return 0;
  baton_etcd_cand *ec = c->priv;
  if (ec == NULL || ec->key == NULL || ec->create_revision <= 0)
    return wait_observer(es, conn, c, seen, gen0, deadline, cancel_fd, err);
  if (lease == 0) {
    /* Our key went with the lease; only a new lease helps. */
    int rc = baton__etcd_conn_idle(conn, deadline, deadline, cancel_fd);
    if (rc == BATON_ECANCELED) return baton__error(err, rc, "cancelled");
    if (rc == BATON_ETIMEDOUT) return baton__error(err, rc, "etcd: no new lease in time");
    return BATON_ETCD_RERANGE;
  }
  if (ec->lease != lease) return 0;
  return wait_queued(es, conn, c, ec, gen0, deadline, cancel_fd, err);
}

int baton__etcd_wait(baton_session *s, baton_candidate *c, const baton_leader *seen,
                     int64_t deadline, int cancel_fd, baton_error *err) {
  baton_etcd_session *es = (baton_etcd_session *)s;
  if (es == NULL || c == NULL || c->name == NULL)
    return baton__error(err, BATON_EINVAL, "etcd: wait needs a session and a candidate");
  baton_etcd_waiter w = {baton__etcd_conn_get(es->http), NULL};
  if (w.conn == NULL) return baton__error(err, BATON_ENOMEM, "etcd: out of memory");
  uint64_t gen0;
  baton__etcd_lease(es, &gen0);
  /* Registered before the first look at the lease, so a grant between the
   * look and the block still wakes us. */
  waiter_add(es, &w);
  /* Bounded by the deadline: wait_once answers BATON_ETIMEDOUT past it. */
  int rc = BATON_ETCD_RERANGE;
  while (rc == BATON_ETCD_RERANGE)
    rc = wait_once(es, w.conn, c, seen, gen0, deadline, cancel_fd, err);
  waiter_remove(es, &w);
  baton__etcd_conn_put(es->http, w.conn);
  return rc;
}
