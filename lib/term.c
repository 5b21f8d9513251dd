/* term.c — the term state machine, written once. A term starts when an
 * acquire succeeded on the session it was sent on; it ends at its local
 * deadline, by resign, or when the backend says its key or its session is
 * gone. A key it leaves behind is neither deleted nor replaced before the
 * server's own expiry could have come. Also the event queue, whose ELECTED
 * and LOST storage is reserved before a term starts, so that no term's
 * events are lost to a failed allocation.
 *
 * No I/O here: every function needs client->mu and takes the time from
 * its caller, so that tests drive it on any clock. */
#include "core.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A term's two events: ELECTED and LOST. */
#define BATON_TERM_EVENTS 2u

bool baton__term_ttl(const baton_client *c) {
  return (c->backend->caps & BATON_CAP_TERM_TTL) != 0;
}

/* A term's lifetime and renew interval: its batch's timing. */
static int64_t lifetime(const baton_batch *b) {
  return baton__lifetime(&b->cfg, b->server_ttl_ns);
}

static int64_t renew_interval(const baton_batch *b) {
  return baton__renew_interval(&b->cfg, b->server_ttl_ns);
}

/* The lease a term of e lives by: its own, or the session's; a term on
 * the session whose watchdog fired keeps the session's lease as it was
 * then, so that the renewals since do not carry it. */
static const baton_local_lease *lease_of(const baton_election *e) {
  return baton__term_ttl(e->client) || e->term.watchdog_fired ? &e->term.lease
                                                              : &e->batch->session_lease;
}

int64_t baton__term_deadline(const baton_election *e) {
  return e->term.held ? baton__lease_deadline(lease_of(e)) : INT64_MIN;
}

void baton__wake_by(baton_client *c, int64_t at) {
  if (c->background_sleeps_until == INT64_MIN || at >= c->background_sleeps_until) return;
  uint64_t one = 1;
  ssize_t n = write(c->wake_fd, &one, sizeof one);
  (void)n; /* a full counter is still readable: the wake-up happens */
}

void baton__deadline_by(baton_client *c, int64_t at) {
  if (at < c->earliest) c->earliest = at;
}

void baton__release_by(baton_client *c, int64_t at) {
  if (at < c->next_release) c->next_release = at;
  baton__wake_by(c, at);
}

void baton__renew_soon(baton_batch *b, int64_t now) {
  b->next_renew = now;
  baton__wake_by(b->client, now);
}

/* ---- events -------------------------------------------------------------- */

int baton__term_reserve(baton_election *e) {
  if (baton__stats_reserve(e) != 0) return BATON_ENOMEM;
  if (e->on_event == NULL) return 0;
  while (e->nspare < BATON_TERM_EVENTS) {
    baton_event_node *n = baton__calloc(1, sizeof *n);
    if (n == NULL) return BATON_ENOMEM;
    n->next = e->spare;
    e->spare = n;
    e->nspare++;
  }
  return 0;
}

/* Storage for an event: a term's from the reserve (which term_reserve
 * filled before the term began), any other freshly allocated, with room
 * for the leader when it has one. */
static baton_event_node *node_for(baton_election *e, baton_event_type type, size_t value_len) {
  bool term_event = type == BATON_EVENT_ELECTED || type == BATON_EVENT_LOST;
  if (term_event && e->spare != NULL) {
    baton_event_node *n = e->spare;
    e->spare = n->next;
    e->nspare--;
    memset(n, 0, sizeof *n);
    return n;
  }
  bool leader = type == BATON_EVENT_LEADER_CHANGED;
  return baton__calloc(1, sizeof(baton_event_node) +
                             (leader ? sizeof(baton_leader) + value_len + 1 : 0));
}

void baton__event_queue(baton_election *e, baton_event_type type, baton_lost_reason reason,
                        int error, const baton_leader *leader, const char *value,
                        const char *message) {
  baton_client *c = e->client;
  if (e->on_event == NULL) return;
  bool with_value = leader != NULL && type == BATON_EVENT_LEADER_CHANGED;
  size_t value_len = with_value && value != NULL ? strlen(value) : 0;
  baton_event_node *n = node_for(e, type, value_len);
  if (n == NULL) return; /* not a term's event: only this notice is lost */
  n->election = e;
  n->event.type = type;
  n->event.name = e->name;
  n->event.token = e->term.token;
  n->event.reason = reason;
  n->event.error = error;
  if (leader != NULL && type == BATON_EVENT_LEADER_CHANGED) {
    baton_leader *storage = (baton_leader *)(void *)(n + 1);
    *storage = *leader;
    n->event.leader = storage;
    char *text = (char *)(void *)(storage + 1);
    if (value_len > 0) memcpy(text, value, value_len);
    text[value_len] = '\0';
    n->event.value = text;
  }
  if (message != NULL) {
    snprintf(n->message, sizeof n->message, "%s", message);
    n->event.message = n->message;
  }
  if (c->events_tail != NULL)
    c->events_tail->next = n;
  else
    c->events = n;
  c->events_tail = n;
  e->queued++;
  if (type == BATON_EVENT_LOST) c->lost_queued++;
  baton__wake_by(c, INT64_MIN);
}

baton_event_node *baton__event_take(baton_client *c) {
  baton_event_node *n = c->events;
  if (n == NULL) return NULL;
  c->events = n->next;
  if (c->events == NULL) c->events_tail = NULL;
  n->next = NULL;
  if (n->event.type == BATON_EVENT_LOST) c->lost_queued--;
  return n;
}

void baton__event_done(baton_election *e, baton_event_node *n) {
  e->queued--;
  if (e->nspare < BATON_TERM_EVENTS && n->event.type != BATON_EVENT_LEADER_CHANGED) {
    n->next = e->spare;
    e->spare = n;
    e->nspare++;
  } else {
    baton__free(n);
  }
}

void baton__event_deliver_one(baton_client *c) {
  baton_event_node *n = baton__event_take(c);
  if (n == NULL) return;
  baton_election *e = n->election;
  c->in_callback = e;
  pthread_mutex_unlock(&c->mu);
  e->on_event(&n->event, e->udata);
  pthread_mutex_lock(&c->mu);
  c->in_callback = NULL;
  baton__event_done(e, n);
  pthread_cond_broadcast(&c->changed);
}

void baton__events_drop(baton_client *c, baton_election *e) {
  baton_event_node **p = &c->events;
  c->events_tail = NULL;
  while (*p != NULL) {
    baton_event_node *n = *p;
    if (e == NULL || n->election == e) {
      *p = n->next;
      if (n->event.type == BATON_EVENT_LOST) c->lost_queued--;
      baton__event_done(n->election, n);
    } else {
      c->events_tail = n;
      p = &n->next;
    }
  }
}

void baton__events_free(baton_election *e) {
  while (e->spare != NULL) {
    baton_event_node *n = e->spare;
    e->spare = n->next;
    baton__free(n);
  }
  e->nspare = 0;
}

/* ---- terms --------------------------------------------------------------- */

int baton__term_begin(baton_election *e, int64_t sent, uint64_t session_generation,
                      int64_t now, baton_error *err) {
  baton_client *c = e->client;
  baton_batch *b = e->batch;
  bool own_ttl = baton__term_ttl(c);
  /* The acquire may have gone out on a session that expired and was
   * replaced while it was in flight: its key died with that session. */
  if (session_generation != b->session_generation)
    return baton__error(err, BATON_ESESSION, "%s: the session was replaced during the acquire",
                        e->name);
  /* A term on the session lives as long as the session: one won while its
   * renewals fail would end within moments. Renew first; the campaign
   * keeps its place and looks again. */
  if (!own_ttl && (b->renew_failures > 0 || !baton__lease_live(&b->session_lease, now))) {
    baton__renew_soon(b, now);
    return baton__error(err, BATON_ESESSION,
                        "%s: elected while the session's renewals fail; renewing first", e->name);
  }
  if (own_ttl && now >= baton__add_sat(sent, lifetime(b)))
    return baton__error(err, BATON_ETIMEDOUT,
                        "%s: the acquire's reply came after its term would have ended", e->name);
  baton_term *t = &e->term;
  t->held = true;
  t->token = e->candidate.token;
  t->generation++;
  t->leftover = false;
  t->began = now;
  t->touched = now;
  t->watchdog_fired = false;
  b->nheld++;
  BATON__COUNT(e, terms_won);
  int64_t due = baton__term_deadline(e);
  if (own_ttl) {
    baton__lease_start(&t->lease, sent, lifetime(b));
    int64_t renew_at = baton__add_sat(sent, renew_interval(b));
    if (b->nheld == 1 || renew_at < b->next_renew) b->next_renew = renew_at;
    due = b->next_renew;
  }
  baton__log(&c->cfg, BATON_LOG_INFO, "'%s': elected, token %llu", e->name,
             (unsigned long long)t->token);
  baton__event_queue(e, BATON_EVENT_ELECTED, 0, 0, NULL, NULL, NULL);
  baton__deadline_by(c, baton__term_deadline(e));
  baton__wake_by(c, due); /* only if it would sleep past what the term needs */
  return 0;
}

/* The term is over at `at`: LOST, and whoever waits for terms looks
 * again. */
static void end(baton_election *e, baton_lost_reason reason, const char *message, int64_t at) {
  baton_client *c = e->client;
  baton__stats_ended(e, reason, at - e->term.began);
  baton__log(&c->cfg, reason == BATON_LOST_RESIGNED ? BATON_LOG_INFO : BATON_LOG_WARN,
             "'%s': term %llu ended: %s", e->name, (unsigned long long)e->term.token,
             message != NULL ? message : "no reason given");
  e->term.held = false;
  e->term.lost_reason = reason;
  e->batch->nheld--;
  baton__event_queue(e, BATON_EVENT_LOST, reason, 0, NULL, NULL, message);
  pthread_cond_broadcast(&c->changed);
  baton__look_wake(&e->runner_look); /* candidate mode looks for the next */
}

/* A key of ours with no term on it: untouched before `until`; deleted
 * after it, or left to expire by itself. */
static void keep_leftover(baton_election *e, int64_t until, bool delete_it) {
  baton_term *t = &e->term;
  t->leftover = true;
  t->leftover_delete = delete_it;
  t->leftover_late = false;
  t->leftover_until = until;
  t->leftover_retry_at = until;
  t->leftover_failures = 0;
}

void baton__term_expire(baton_election *e, int64_t now) {
  baton_client *c = e->client;
  baton_batch *b = e->batch;
  if (!e->term.held || now < baton__term_deadline(e)) return;
  bool watchdog = e->term.watchdog_fired;
  bool unreachable = !watchdog && b->last_renew_error == BATON_ECONNECT;
  char msg[160];
  snprintf(msg, sizeof msg, "local deadline passed %s",
           watchdog      ? "after the holder missed its watchdog touch (renewals stopped)"
           : unreachable ? "while the backend was unreachable"
           : b->renew_failures > 0 ? "after failed renewals"
                                   : "with no successful renewal in time");
  /* The key is ours until the server's own expiry, counted from the same
   * send time with the server's TTL: deleting or replacing it sooner would
   * let the next leader in inside the margin the caller's step-down relies
   * on. A key with a TTL of its own just expires then. */
  int64_t until = baton__server_expiry(&b->cfg, b->server_ttl_ns, lease_of(e)->sent);
  /* The term ended at its deadline, whenever this runs. */
  baton_lost_reason reason = watchdog      ? BATON_LOST_WATCHDOG
                             : unreachable ? BATON_LOST_CONNECTION
                                           : BATON_LOST_DEADLINE;
  end(e, reason, msg, baton__term_deadline(e));
  keep_leftover(e, until, !baton__term_ttl(c));
  e->term.leftover_late = true;
  /* Expired on a caller's thread (is_leader), the background thread may
   * sleep past the moment the key may go. A resigned term's key needs no
   * wake-up: its resigner deletes it at once, and a failure wakes it. */
  if (!baton__term_ttl(c)) baton__release_by(c, until);
}

void baton__term_end(baton_election *e, baton_lost_reason reason, const char *message,
                     int64_t now) {
  if (!e->term.held) return;
  baton_client *c = e->client;
  /* A holder whose watchdog fired is hung or was: its resign (or close)
   * cannot vouch that the work stopped, so its key stays until the
   * server's expiry, as at its deadline. */
  bool fired = baton__term_watchdog_fired(e, now);
  const baton_batch *b = e->batch;
  int64_t until = baton__server_expiry(&b->cfg, b->server_ttl_ns, lease_of(e)->sent);
  end(e, reason, message, now);
  if (reason == BATON_LOST_RESIGNED && fired) {
    keep_leftover(e, until, !baton__term_ttl(c));
    e->term.leftover_late = true;
    if (!baton__term_ttl(c)) baton__release_by(c, until); /* the resigner cannot yet */
  } else if (reason == BATON_LOST_RESIGNED)
    keep_leftover(e, INT64_MIN, true); /* the holder stopped first: delete now */
  else
    e->term.leftover = false; /* the server has no key for it any more */
}

void baton__term_renewed(baton_election *e, uint64_t generation, bool gone, int64_t sent,
                         int64_t now) {
  baton__term_expire(e, now); /* a late success never brings a term back */
  if (!e->term.held || e->term.generation != generation) return;
  if (gone)
    baton__term_end(e, BATON_LOST_KEY_GONE, "the backend no longer has the key", now);
  else if (baton__term_ttl(e->client))
    baton__lease_renewed(&e->term.lease, sent);
}

/* ---- the watchdog ---------------------------------------------------------- */

bool baton__term_watchdog_fired(baton_election *e, int64_t now) {
  baton_term *t = &e->term;
  if (!t->held || t->watchdog_fired) return t->held && t->watchdog_fired;
  if (e->watchdog_ns == 0 || now <= baton__add_sat(t->touched, e->watchdog_ns)) return false;
  baton_client *c = e->client;
  /* Every renewal counted so far was sent within the interval (a later one
   * would have fired first): the term keeps what they gave it, no more. */
  if (!baton__term_ttl(c)) t->lease = e->batch->session_lease;
  t->watchdog_fired = true;
  t->fired_interval_ns = e->watchdog_ns;
  baton__log(&c->cfg, BATON_LOG_WARN,
             "'%s': term %llu missed its watchdog touch (%lld ms): its renewals stop, it ends "
             "at its local deadline",
             e->name, (unsigned long long)t->token, (long long)(e->watchdog_ns / BATON_NS_PER_MS));
  baton__wake_by(c, baton__term_deadline(e));
  return true;
}

int baton__term_touch(baton_election *e, int64_t now) {
  if (baton__term_watchdog_fired(e, now)) return BATON_ETIMEDOUT;
  e->term.touched = now;
  return 0;
}

void baton__term_watchdog_set(baton_election *e, int64_t interval_ns, int64_t now) {
  /* An interval that ran out before this call has fired, whether or not a
   * renewal or touch noticed it yet: a new setting must not revive it. */
  bool fired = baton__term_watchdog_fired(e, now);
  e->watchdog_ns = interval_ns;
  if (e->term.held && !fired) e->term.touched = now;
}

void baton__session_renewed(baton_batch *b, int64_t sent, int64_t now) {
  baton_client *c = b->client;
  if (baton__term_ttl(c)) return;
  for (baton_election *e = c->elections; e != NULL; e = e->next)
    if (e->batch == b) baton__term_expire(e, now);
  b->session_lease.lifetime = lifetime(b);
  baton__lease_renewed(&b->session_lease, sent);
}

void baton__session_expired(baton_batch *b, const char *message, int64_t now) {
  baton_client *c = b->client;
  b->session_generation++;
  baton__lease_start(&b->session_lease, INT64_MIN, 0);
  for (baton_election *e = c->elections; e != NULL; e = e->next) {
    if (e->batch != b) continue;
    baton__term_end(e, BATON_LOST_SESSION_EXPIRED, message, now);
    if (!baton__term_ttl(c)) e->term.leftover = false; /* gone with the session */
  }
}

/* ---- leftover keys ------------------------------------------------------ */

int64_t baton__leftover_blocks(baton_election *e, int64_t now) {
  baton_term *t = &e->term;
  if (!t->leftover) return 0;
  if (now < t->leftover_until) return t->leftover_until;
  if (!t->leftover_delete) t->leftover = false; /* expired by itself */
  return 0;
}

bool baton__leftover_due(const baton_election *e, int64_t now) {
  const baton_term *t = &e->term;
  return t->leftover && t->leftover_delete && now >= t->leftover_until;
}

int64_t baton__leftover_retry_at(const baton_election *e) {
  const baton_term *t = &e->term;
  return t->leftover && t->leftover_delete ? t->leftover_retry_at : INT64_MAX;
}

void baton__leftover_released(baton_election *e, int rc, int64_t now) {
  baton_term *t = &e->term;
  if (rc == 0) {
    if (t->leftover && t->leftover_late) {
      BATON__COUNT(e, late_releases);
      baton__log(&e->client->cfg, BATON_LOG_INFO,
                 "'%s': the key of lost term %llu is deleted, after the server's expiry",
                 e->name, (unsigned long long)t->token);
    }
    t->leftover = false;
    return;
  }
  if (!t->leftover) keep_leftover(e, INT64_MIN, true);
  t->leftover_retry_at =
      baton__add_sat(now, baton__config_backoff(&e->client->cfg, t->leftover_failures++));
  baton__log(&e->client->cfg, BATON_LOG_WARN,
             "'%s': deleting our key failed (%s, %u in a row); retrying in %lld ms", e->name,
             baton_strerror(rc), t->leftover_failures,
             (long long)((t->leftover_retry_at - now) / BATON_NS_PER_MS));
  baton__release_by(e->client, t->leftover_retry_at);
}

void baton__leftover_postpone(baton_election *e, int64_t until) {
  if (e->term.leftover && e->term.leftover_retry_at < until) e->term.leftover_retry_at = until;
}
