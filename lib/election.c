/* election.c — elections: campaign, resign, leadership checks, observing,
 * candidate mode, and the lock flavour on the same machinery. term.c
 * decides when a term starts and ends; this file does the campaign's I/O
 * and the synchronisation of the callers' threads. */
#include "core.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Waits for another thread (a campaign, the background thread) look
 * again this often, so that a missed wake-up costs no more. They wait as
 * long as it takes: giving up would free what another thread uses. */
#define BATON_WAIT_PASS_NS (100 * BATON_NS_PER_MS)

static void poke(int fd) {
  if (fd < 0) return;
  uint64_t one = 1;
  ssize_t n = write(fd, &one, sizeof one);
  (void)n; /* a full counter is still readable: the wake-up happens */
}

/* Needs client->mu: a descriptor is closed only where no campaign can be
 * polling it and no cancel poking it. */
static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* The descriptor that wakes a blocked campaign, made when a campaign first
 * has to block and closed when the last one returns: held names and
 * uncontended campaigns cost none. Needs client->mu. */
static int cancel_fd_locked(baton_election *e, baton_error *err) {
  if (e->cancel_fd < 0) {
    e->cancel_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (e->cancel_fd < 0)
      return baton__error(err, BATON_ENOMEM, "campaign for '%s': no file descriptor left",
                          e->name);
    if (e->cancel_requested || e->closing) poke(e->cancel_fd);
  }
  return 0;
}

/* The cancel descriptor, made if needed; -1 when none can be made (the
 * wait then ends at its deadline, as a timed wait). */
static int cancel_fd(baton_election *e) {
  pthread_mutex_lock(&e->client->mu);
  int fd = cancel_fd_locked(e, NULL) == 0 ? e->cancel_fd : -1;
  pthread_mutex_unlock(&e->client->mu);
  return fd;
}

static int timeout_deadline(int64_t timeout_ms, int64_t *deadline, const char *what,
                            baton_error *err) {
  if (timeout_ms == BATON_FOREVER) {
    *deadline = INT64_MAX;
    return 0;
  }
  if (timeout_ms < 0)
    return baton__error(err, BATON_EINVAL,
                        "%s: timeout %lld ms is negative (BATON_FOREVER, -1, waits without limit)",
                        what, (long long)timeout_ms);
  *deadline = baton__after(timeout_ms > INT64_MAX / BATON_NS_PER_MS ? INT64_MAX
                                                                    : timeout_ms * BATON_NS_PER_MS);
  return 0;
}

static int64_t op_deadline(const baton_client *c, int64_t limit) {
  return baton__request_deadline(&c->cfg, baton__now(), limit);
}

/* The session of reads that concern no term of ours (leader, contenders,
 * observing): the client's own, open from the start. */
static baton_session *own_session(const baton_client *c) { return c->batches[0].session; }

/* A request's deadline on e's batch session: its timing's op timeout,
 * which never outlasts a renew interval of that TTL. */
static int64_t batch_deadline(const baton_election *e, int64_t limit) {
  return baton__request_deadline(&e->batch->cfg, baton__now(), limit);
}

/* ---- elections by name: two on one name get distinct slots -------------- */

static size_t bucket_of(const baton_client *c, const char *name) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
    h = (h ^ *p) * 1099511628211ull;
  return (size_t)h & (c->by_name_cap - 1);
}

#define BATON_INDEX_FIRST 64 /* buckets of the first name index */

/* Twice the buckets once there are as many elections as buckets. Only the
 * first table is needed: without a bigger one, chains grow longer. */
static int index_grow(baton_client *c) {
  if (c->by_name_cap != 0 && c->nelections < c->by_name_cap) return 0;
  size_t cap = c->by_name_cap != 0 ? c->by_name_cap * 2 : BATON_INDEX_FIRST;
  baton_election **table = baton__calloc(cap, sizeof *table);
  if (table == NULL) return c->by_name_cap != 0 ? 0 : BATON_ENOMEM;
  baton_election **old = c->by_name;
  size_t old_cap = c->by_name_cap;
  c->by_name = table;
  c->by_name_cap = cap;
  for (size_t b = 0; b < old_cap; b++)
    for (baton_election *e = old[b], *next; e != NULL; e = next) {
      next = e->same_bucket;
      size_t to = bucket_of(c, e->name);
      e->same_bucket = table[to];
      table[to] = e;
    }
  baton__free(old);
  return 0;
}

/* Whether another election of this name (open, or an orphan whose key
 * still exists) has `slot`. */
static bool slot_taken(const baton_client *c, const baton_election *e, unsigned slot) {
  for (const baton_election *o = c->by_name[bucket_of(c, e->name)]; o != NULL; o = o->same_bucket)
    if (o->candidate.slot == slot && strcmp(o->name, e->name) == 0) return true;
  return false;
}

/* Give e its slot, at its first campaign. Needs client->mu. */
static int index_add(baton_client *c, baton_election *e) {
  if (e->indexed) return 0;
  if (index_grow(c) != 0) return BATON_ENOMEM;
  unsigned slot = 0;
  while (slot < UINT32_MAX && slot_taken(c, e, slot)) slot++;
  e->candidate.slot = slot;
  size_t b = bucket_of(c, e->name);
  e->same_bucket = c->by_name[b];
  c->by_name[b] = e;
  c->nelections++;
  e->indexed = true;
  return 0;
}

static void index_remove(baton_client *c, baton_election *e) {
  if (!e->indexed) return;
  e->indexed = false;
  for (baton_election **p = &c->by_name[bucket_of(c, e->name)]; *p != NULL; p = &(*p)->same_bucket)
    if (*p == e) {
      *p = e->same_bucket;
      c->nelections--;
      return;
    }
}

/* ---- open and close ------------------------------------------------------ */

static baton_election *orphans_take(baton_client *c);
static void orphans_free(baton_client *c, baton_election *list);

int baton_election_name_check(const char *name, baton_error *err) {
  int rc = baton__name_check(name, err);
  return rc != 0 ? rc : baton__ok(err);
}

int baton_election_open_with(baton_election **out, baton_client *c, const char *name,
                             const baton_election_options *opts, baton_event_cb on_event,
                             void *udata, baton_error *err) {
  if (out == NULL) return baton__error(err, BATON_EINVAL, "election_open: out is NULL");
  *out = NULL;
  if (c == NULL) return baton__error(err, BATON_EINVAL, "election_open: client is NULL");
  int rc = baton__name_check(name, err);
  baton_config cfg;
  if (rc == 0) rc = baton__config_election(&cfg, &c->cfg, opts, err);
  if (rc != 0) return rc;
  size_t name_size = strlen(name) + 1; /* checked: at most BATON_NAME_MAX */
  baton_election *e = baton__calloc(1, sizeof *e + name_size);
  if (e == NULL) return baton__error(err, BATON_ENOMEM, "election_open: out of memory");
  e->cancel_fd = -1;
  if (pthread_mutex_init(&e->op, NULL) != 0) {
    baton__free(e);
    return baton__error(err, BATON_ENOMEM, "election_open: cannot create a lock");
  }
  e->client = c;
  memcpy(e->name, name, name_size);
  e->on_event = on_event;
  e->udata = udata;
  e->candidate.name = e->name;
  e->candidate.identity = c->cfg.identity;
  baton__look_init(&e->runner_look, e, false);
  pthread_mutex_lock(&c->mu);
  baton_election *orphans = orphans_take(c);
  /* A term's events are reserved by each attempt (so that its ELECTED
   * and LOST are never lost to a failed allocation), not here: a name
   * that only waits keeps none. */
  rc = baton__batch_find(c, &cfg, &e->batch, err);
  if (rc == 0) {
    e->next = c->elections;
    if (c->elections != NULL) c->elections->prev = e;
    c->elections = e;
  }
  pthread_mutex_unlock(&c->mu);
  orphans_free(c, orphans);
  if (rc != 0) {
    baton__events_free(e);
    pthread_mutex_destroy(&e->op);
    baton__free(e);
    return rc;
  }
  *out = e;
  return baton__ok(err);
}

int baton_election_open(baton_election **out, baton_client *c, const char *name,
                        baton_event_cb on_event, void *udata, baton_error *err) {
  return baton_election_open_with(out, c, name, NULL, on_event, udata, err);
}

/* Delete e's leftover key if it may go now. While the whole client
 * closes, ending the session (lease revoke, session close) deletes the
 * keys of queueing backends, all at once: a request per key would make
 * closing 100,000 held names take 100 s on etcd. Needs e->op. */
static int release_due(baton_election *e, baton_error *err) {
  baton_client *c = e->client;
  pthread_mutex_lock(&c->mu);
  bool due = baton__leftover_due(e, baton__now());
  bool session_ends = c->ending && !baton__term_ttl(c);
  pthread_mutex_unlock(&c->mu);
  if (!due) return 0;
  int rc = 0;
  if (!session_ends)
    rc = c->backend->release(e->batch->session, &e->candidate, batch_deadline(e, INT64_MAX), err);
  pthread_mutex_lock(&c->mu);
  baton__leftover_released(e, rc, baton__now());
  pthread_mutex_unlock(&c->mu);
  return rc;
}

/* Wait until the key a lost term of e left may be touched (term.c says
 * when: the server's own expiry). Needs e->op. */
static void wait_for_leftover(baton_election *e) {
  baton_client *c = e->client;
  pthread_mutex_lock(&c->mu);
  int64_t until = baton__leftover_blocks(e, baton__now());
  pthread_mutex_unlock(&c->mu);
  if (until != 0) baton__sleep_until(until, -1);
  pthread_mutex_lock(&c->mu);
  baton__leftover_blocks(e, baton__now()); /* clears one that expired by itself */
  pthread_mutex_unlock(&c->mu);
}

/* Deliver e's queued events (its last LOST among them) before close
 * returns: a manual client delivers them here, in order with the others.
 * Closing from a callback is not allowed; done anyway, it must not wait
 * for the thread it runs on, and the events are dropped. Needs
 * client->mu. */
static void events_flush(baton_client *c, baton_election *e) {
  if (!c->manual && pthread_equal(pthread_self(), c->thread)) {
    baton__events_drop(c, e);
    return;
  }
  while (e->queued > 0) {
    if (!c->manual)
      baton__cond_wait_until(&c->changed, &c->mu, baton__after(BATON_WAIT_PASS_NS));
    else if (c->events != NULL)
      baton__event_deliver_one(c);
    else
      break; /* a callback of e runs now, further up this thread */
  }
}

/* Unlink e from its client and wait until the background thread no
 * longer uses it. Needs client->mu. */
static void detach(baton_client *c, baton_election *e) {
  if (e->prev != NULL)
    e->prev->next = e->next;
  else if (c->elections == e)
    c->elections = e->next;
  if (e->next != NULL) e->next->prev = e->prev;
  e->prev = e->next = NULL;
  if (e->orphan) c->orphans--;
  index_remove(c, e);
  baton__events_drop(c, e);
  bool on_background = !c->manual && pthread_equal(pthread_self(), c->thread);
  while (e->pins > 0 || (c->in_callback == e && !on_background))
    baton__cond_wait_until(&c->changed, &c->mu, baton__after(BATON_WAIT_PASS_NS));
}

/* Free a closed election, unlinked and used by nobody. */
static void election_free(baton_client *c, baton_election *e) {
  /* A batch opens at its first campaign: before that, nothing to forget.
   * Read under mu: another election of the batch may be opening it. */
  pthread_mutex_lock(&c->mu);
  baton_session *session = e->batch->session;
  pthread_mutex_unlock(&c->mu);
  if (session != NULL) c->backend->forget(session, &e->candidate);
  baton__events_free(e);
  baton__stats_free(e);
  pthread_mutex_destroy(&e->op);
  baton__free(e);
}

bool baton__election_releasable(const baton_election *e) { return !e->closing || e->orphan; }

/* Unlink the orphans whose key is gone at last into a list to free; they
 * held their slot until now. Needs client->mu. */
static baton_election *orphans_take(baton_client *c) {
  baton_election *done = NULL;
  for (baton_election *e = c->orphans > 0 ? c->elections : NULL, *next; e != NULL; e = next) {
    next = e->next;
    if (!e->orphan || e->term.leftover || e->pins > 0) continue;
    detach(c, e);
    e->next = done;
    done = e;
  }
  return done;
}

static void orphans_free(baton_client *c, baton_election *list) {
  for (baton_election *e = list, *next; e != NULL; e = next) {
    next = e->next;
    election_free(c, e);
  }
}

void baton_election_close(baton_election *e) {
  if (e == NULL) return;
  baton_client *c = e->client;
  bool orphan = e->orphan; /* only client close reaches one */
  if (!orphan) {
    /* Closing first: no start or observe begins a thread from here on,
     * and a campaign blocked in another thread returns ECANCELED. */
    pthread_mutex_lock(&c->mu);
    e->closing = true;
    poke(e->cancel_fd);
    pthread_mutex_unlock(&c->mu);
    baton_election_stop(e);
    baton_election_observe_stop(e);
    /* Close waits for the campaigns: after that nothing but this call
     * uses e. */
    pthread_mutex_lock(&c->mu);
    while (e->campaigning > 0)
      baton__cond_wait_until(&c->changed, &c->mu, baton__after(BATON_WAIT_PASS_NS));
    pthread_mutex_unlock(&c->mu);
  }

  pthread_mutex_lock(&e->op);
  pthread_mutex_lock(&c->mu);
  int64_t now = baton__now();
  baton__term_expire(e, now);
  baton__term_end(e, BATON_LOST_RESIGNED, "election closed", now);
  /* A key that expires by itself needs nobody to wait. When the whole
   * client closes, ending the session deletes the keys of queueing
   * backends with it, after this wait (release_due). */
  bool must_delete = e->term.leftover && e->term.leftover_delete;
  pthread_mutex_unlock(&c->mu);
  int rc = 0;
  if (must_delete) {
    wait_for_leftover(e);
    baton_error ignored = {0};
    rc = release_due(e, &ignored);
  }
  pthread_mutex_unlock(&e->op);

  pthread_mutex_lock(&c->mu);
  events_flush(c, e);
  close_fd(&e->cancel_fd);
  /* A key the server could not be told to delete would block the name
   * for as long as the session lives: the background thread keeps trying,
   * and the election keeps its slot (its key's name) until then. */
  if (rc != 0 && !c->ending) {
    if (!e->orphan) c->orphans++;
    e->orphan = true;
    /* The background thread's from now on, whatever it walked past. */
    baton__release_by(c, baton__leftover_retry_at(e));
    pthread_mutex_unlock(&c->mu);
    return;
  }
  detach(c, e);
  pthread_mutex_unlock(&c->mu);
  election_free(c, e);
}

/* ---- campaign ------------------------------------------------------------ */

/* campaign_locked's "look again". */
#define BATON_LOOK_AGAIN 1

/* What a campaign is asked to do. */
typedef struct campaign_how {
  int64_t deadline;
  bool once;   /* one attempt: try_campaign */
  bool runner; /* candidate mode's: stopping it ends the campaign too */
} campaign_how;

/* Whether the campaign must end now. Needs client->mu. */
static bool ended(const baton_election *e, const campaign_how *how) {
  return e->cancel_requested || e->closing || (how->runner && e->stop_requested);
}

static bool cancelled(baton_election *e, const campaign_how *how) {
  pthread_mutex_lock(&e->client->mu);
  bool yes = ended(e, how);
  pthread_mutex_unlock(&e->client->mu);
  return yes;
}

static int timed_out(baton_election *e, const baton_leader *holder, baton_error *err) {
  if (holder->token != 0)
    return baton__error(err, BATON_ETIMEDOUT,
                        "campaign for '%s' timed out; held by %s (token %llu)", e->name,
                        holder->identity, (unsigned long long)holder->token);
  return baton__error(err, BATON_ETIMEDOUT, "campaign for '%s' timed out", e->name);
}

/* A key our own last term left is in the way until the server's expiry
 * could have come (term.c): a try answers EHELD, naming that term; a
 * campaign waits for it, then deletes it. BATON_LOOK_AGAIN after a wait.
 * Needs e->op. */
static int settle_leftover(baton_election *e, const campaign_how *how, baton_leader *holder,
                           baton_error *err) {
  baton_client *c = e->client;
  pthread_mutex_lock(&c->mu);
  int64_t until = baton__leftover_blocks(e, baton__now());
  uint64_t token = e->term.token;
  pthread_mutex_unlock(&c->mu);
  if (until == 0) return release_due(e, err);
  if (how->once) {
    holder->token = token;
    snprintf(holder->identity, sizeof holder->identity, "%s", c->cfg.identity);
    return baton__error(err, BATON_EHELD,
                        "'%s': the key of our lost term %llu stays until the server's expiry",
                        e->name, (unsigned long long)token);
  }
  baton__sleep_until(until < how->deadline ? until : how->deadline, cancel_fd(e));
  return BATON_LOOK_AGAIN;
}

/* A subscription's wake for a campaign blocked on its caller's thread:
 * ctx is the eventfd it polls. */
static void wake_poke(void *ctx) { poke(*(const int *)ctx); }

/* A blocked campaign's wait, on the backend's subscription (watch): as
 * wait, 0 to look again (woken, or at the backend's re-check time),
 * BATON_ETIMEDOUT at the deadline, BATON_ECANCELED once cancel_fd is
 * readable. The subscription is the one candidate mode and observers use,
 * so a blocked campaign shares the client's connection or stream too,
 * and one release wakes one of a client's waiters where the backend
 * wakes one. Needs e->op. */
static int watch_wait(baton_election *e, const baton_leader *holder, int64_t deadline,
                      int cancel_fd, bool *woken_by_it, baton_error *err) {
  baton_client *c = e->client;
  baton_session *s = e->batch->session;
  int woken = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (woken < 0)
    return baton__error(err, BATON_ENOMEM, "campaign for '%s': no descriptor to wait on",
                        e->name);
  int64_t recheck = INT64_MAX;
  bool fired = false;
  int rc = c->backend->watch(s, &e->candidate, holder, wake_poke, &woken, &recheck,
                             batch_deadline(e, deadline), err);
  if (rc == 0) {
    int64_t until = recheck < deadline ? recheck : deadline;
    struct pollfd p[2] = {{.fd = woken, .events = POLLIN}, {.fd = cancel_fd, .events = POLLIN}};
    rc = BATON_ETIMEDOUT;
    for (int tries = 0; tries < 1000; tries++) { /* EINTR, and poll's ms rounding */
      int64_t left = until - baton__now();
      if (left <= 0) break;
      int n = poll(p, cancel_fd >= 0 ? 2 : 1, baton__ms_until(until));
      if (n < 0 && errno != EINTR) break;
      if (n > 0) {
        fired = (p[0].revents & POLLIN) != 0;
        rc = (p[1].revents & POLLIN) != 0 ? BATON_ECANCELED : 0;
        break;
      }
    }
    if (rc == BATON_ETIMEDOUT && until < deadline) rc = 0; /* the re-check time came */
  }
  /* Unwatched unless it woke us and we look again: a wake is one-shot,
   * and one unwatched before its candidate looks again passes to the next
   * waiter (a cancel that came with it). No wake pokes the descriptor
   * after this either way. */
  if (!fired || rc != 0) c->backend->unwatch(s, &e->candidate);
  close(woken);
  *woken_by_it = fired && rc == 0;
  if (rc == BATON_ECANCELED)
    return baton__error(err, BATON_ECANCELED, "campaign for '%s' cancelled", e->name);
  if (rc == BATON_ETIMEDOUT)
    return baton__error(err, BATON_ETIMEDOUT, "campaign for '%s': deadline passed", e->name);
  return rc;
}

/* One acquire: 0 when a term began. Needs e->op. */
static int attempt(baton_election *e, int64_t deadline, baton_leader *holder, baton_error *err) {
  baton_client *c = e->client;
  pthread_mutex_lock(&c->mu);
  /* No term begins while the client closes: release_due leaves our lost
   * terms' keys to the session's end then, and an acquire would find
   * such a key still ours and hand its old token out again. The close
   * cancels every campaign, so this one is cancelled too. */
  if (c->ending) {
    pthread_mutex_unlock(&c->mu);
    return baton__error(err, BATON_ECANCELED, "campaign for '%s' cancelled: the client is closing",
                        e->name);
  }
  int rc = baton__term_reserve(e);
  if (rc == 0) rc = index_add(c, e);
  uint64_t generation = e->batch->session_generation;
  if (rc == 0) BATON__COUNT(e, attempts);
  pthread_mutex_unlock(&c->mu);
  if (rc != 0) return baton__error(err, rc, "campaign for '%s': out of memory", e->name);
  int64_t sent = baton__now();
  rc = c->backend->acquire(e->batch->session, &e->candidate, holder,
                           baton__request_deadline(&e->batch->cfg, sent, deadline), err);
  /* No holder at all (no token, no identity): nobody else holds it, but
   * our term may not begin yet (a Redis server that started less than a
   * TTL ago): the backend's message says why and for how long, and it is
   * not contention. */
  if (rc == BATON_EHELD && holder->token == 0 && holder->identity[0] == '\0') {
    baton__log(&c->cfg, BATON_LOG_INFO, "campaign for '%s': %s", e->name,
               err != NULL ? err->message : "our term must wait");
    return rc;
  }
  if (rc == BATON_EHELD) {
    pthread_mutex_lock(&c->mu);
    BATON__COUNT(e, contended);
    /* A name that waits keeps no term's event storage, nor empty
     * histograms: 10,000 waiting names would hold 11 MiB of them. The
     * next attempt reserves again. */
    if (!e->term.held) baton__events_free(e);
    if (e->stats.terms_won == 0) baton__stats_free(e);
    pthread_mutex_unlock(&c->mu);
    return baton__error(err, BATON_EHELD, "'%s' is held by %s (token %llu)", e->name,
                        holder->token != 0 ? holder->identity : "another holder",
                        (unsigned long long)holder->token);
  }
  if (rc != 0) return rc;
  /* When the term cannot start, the key stays: no term carried its token
   * yet, and the next look finds it first in line again. */
  pthread_mutex_lock(&c->mu);
  rc = baton__term_begin(e, sent, generation, baton__now(), err);
  pthread_mutex_unlock(&c->mu);
  return rc;
}

/* Leave nothing behind: our queue entry, or a key whose creation we could
 * not confirm; but a lost term's key stays until its time. Needs e->op. */
static void clean_up(baton_election *e) {
  baton_client *c = e->client;
  pthread_mutex_lock(&c->mu);
  bool keep = baton__leftover_blocks(e, baton__now()) != 0;
  pthread_mutex_unlock(&c->mu);
  if (keep) return;
  baton_error ignored = {0};
  int rc =
      c->backend->release(e->batch->session, &e->candidate, batch_deadline(e, INT64_MAX), &ignored);
  pthread_mutex_lock(&c->mu);
  baton__leftover_released(e, rc, baton__now());
  pthread_mutex_unlock(&c->mu);
}

/* The campaign loop: attempt, wait for a change, retry transient errors
 * with jittered back-off, until elected, the deadline, or cancellation.
 * The first attempt is made even at a deadline that has passed (timeout
 * 0 tries once). Needs e->op. */
static int campaign_locked(baton_election *e, const campaign_how *how, baton_leader *holder,
                           baton_error *err) {
  baton_client *c = e->client;
  unsigned failures = 0;
  int rc = 0;
  bool owes = false; /* a wake came that no attempt has used yet */
  memset(holder, 0, sizeof *holder);
  for (bool first = true;; first = false) {
    if (cancelled(e, how)) {
      rc = baton__error(err, BATON_ECANCELED, "campaign for '%s' cancelled", e->name);
      break;
    }
    if (!first && baton__now() >= how->deadline) {
      rc = timed_out(e, holder, err);
      break;
    }
    rc = settle_leftover(e, how, holder, err);
    if (rc == BATON_LOOK_AGAIN) continue;
    if (rc == 0) {
      rc = attempt(e, how->deadline, holder, err);
      owes = false;
    }
    if (rc == 0) return 0;
    if (rc == BATON_EHELD) {
      if (how->once) break;
      pthread_mutex_lock(&c->mu);
      rc = cancel_fd_locked(e, err);
      int fd = e->cancel_fd;
      pthread_mutex_unlock(&c->mu);
      if (rc != 0) break;
      rc = c->backend->watch != NULL
               ? watch_wait(e, holder, how->deadline, fd, &owes, err)
               : c->backend->wait(e->batch->session, &e->candidate, holder, how->deadline, fd, err);
      if (rc == 0) {
        failures = 0; /* only a wait that works ends the back-off */
        continue;
      }
      if (rc == BATON_ETIMEDOUT && baton__now() >= how->deadline) {
        rc = timed_out(e, holder, err);
        break;
      }
      if (rc == BATON_ECANCELED) break;
    }
    if (rc == BATON_ESESSION) {
      pthread_mutex_lock(&c->mu);
      baton__renew_soon(e->batch, baton__now());
      pthread_mutex_unlock(&c->mu);
    }
    if (how->once || !baton__retryable(rc)) break;
    pthread_mutex_lock(&c->mu);
    BATON__COUNT(e, retries);
    pthread_mutex_unlock(&c->mu);
    baton__log(&c->cfg, BATON_LOG_INFO, "'%s': campaign attempt failed (%s); retrying", e->name,
               err != NULL ? err->message : baton_strerror(rc));
    int64_t until = baton__after(baton__config_backoff(&c->cfg, failures++));
    baton__sleep_until(until < how->deadline ? until : how->deadline, cancel_fd(e));
  }
  /* Leaving with a wake unused: it passes on to the next waiter. */
  if (owes) c->backend->unwatch(e->batch->session, &e->candidate);
  clean_up(e);
  return rc;
}

/* A read-only client has no lease to campaign with. */
static int read_only_error(const baton_election *e, baton_error *err) {
  return baton__error(err, BATON_EINVAL,
                      "'%s': the client is read-only (BATON_CLIENT_READ_ONLY): it cannot campaign",
                      e->name);
}

static int campaign(baton_election *e, const campaign_how *how, uint64_t *token,
                    baton_leader *holder, baton_error *err) {
  baton_client *c = e->client;
  if (c->cfg.read_only) return read_only_error(e, err);
  pthread_mutex_lock(&c->mu);
  /* Checked where the campaign is counted: a close or stop after this
   * point sees it and cancels it; one before, it sees here. */
  if (e->closing || (how->runner && e->stop_requested)) {
    bool closing = e->closing;
    pthread_mutex_unlock(&c->mu);
    return closing ? baton__error(err, BATON_ECLOSED, "election '%s' is closing", e->name)
                   : baton__error(err, BATON_ECANCELED, "candidate mode of '%s' stopped", e->name);
  }
  e->campaigning++;
  BATON__COUNT(e, campaigns);
  /* The acquire latency counts from the call, where it is counted. */
  int64_t called = baton__now();
  bool opened = e->batch->session != NULL;
  pthread_mutex_unlock(&c->mu);

  /* The session of the election's timing opens at its first campaign
   * (opening the election does no I/O). */
  int rc = opened ? 0 : baton__batch_open(e->batch, how->once ? INT64_MAX : how->deadline, err);
  pthread_mutex_lock(&e->op);
  pthread_mutex_lock(&c->mu);
  baton__term_expire(e, baton__now());
  bool already = e->term.held;
  pthread_mutex_unlock(&c->mu);
  baton_leader seen;
  memset(&seen, 0, sizeof seen);
  /* Candidate mode's armed watch must not mix with this campaign's waits;
   * it arms again after (the wake below). */
  if (rc == 0 && c->backend->unwatch != NULL && baton__look_armed(&e->runner_look))
    c->backend->unwatch(e->batch->session, &e->candidate);
  if (rc == 0 && !already) rc = campaign_locked(e, how, &seen, err);
  pthread_mutex_unlock(&e->op);
  baton__look_wake(&e->runner_look);

  pthread_mutex_lock(&c->mu);
  if (rc == 0 && token != NULL) *token = e->term.token;
  if (rc == 0 && !already) baton__stats_acquired(e, e->term.began - called);
  /* A cancel is consumed once every campaign it reached has returned. This
   * is the campaign's last touch of e: close may free it after. */
  if (--e->campaigning == 0) {
    if (rc == BATON_ECANCELED) e->cancel_requested = false;
    close_fd(&e->cancel_fd);
  }
  pthread_cond_broadcast(&c->changed);
  pthread_mutex_unlock(&c->mu);
  if (rc == BATON_EHELD && holder != NULL) *holder = seen;
  return rc == 0 ? baton__ok(err) : rc;
}

int baton_election_campaign(baton_election *e, int64_t timeout_ms, uint64_t *token,
                            baton_error *err) {
  if (e == NULL) return baton__error(err, BATON_EINVAL, "campaign: election is NULL");
  int64_t deadline = INT64_MAX;
  int rc = timeout_deadline(timeout_ms, &deadline, "campaign", err);
  campaign_how how = {.deadline = deadline};
  return rc != 0 ? rc : campaign(e, &how, token, NULL, err);
}

int baton_election_try_campaign(baton_election *e, uint64_t *token, baton_leader *holder,
                                baton_error *err) {
  if (e == NULL) return baton__error(err, BATON_EINVAL, "try_campaign: election is NULL");
  campaign_how how = {.deadline = baton__after(e->batch->cfg.op_timeout_ns), .once = true};
  return campaign(e, &how, token, holder, err);
}

void baton_election_cancel(baton_election *e) {
  if (e == NULL) return;
  pthread_mutex_lock(&e->client->mu);
  e->cancel_requested = true;
  poke(e->cancel_fd);
  pthread_mutex_unlock(&e->client->mu);
}

int baton_election_resign(baton_election *e, baton_error *err) {
  if (e == NULL) return baton__error(err, BATON_EINVAL, "resign: election is NULL");
  baton_client *c = e->client;
  pthread_mutex_lock(&c->mu);
  int64_t now = baton__now();
  baton__term_expire(e, now);
  if (!e->term.held) {
    bool lost = e->term.token != 0 && e->term.lost_reason != BATON_LOST_RESIGNED;
    pthread_mutex_unlock(&c->mu);
    return baton__error(err, BATON_ENOTHOLDER, "resign: %s '%s'",
                        lost ? "the term had already ended on" : "not the leader of", e->name);
  }
  baton__term_end(e, BATON_LOST_RESIGNED, "resigned", now);
  /* Resigning ends candidate mode: its thread stops, and a start after this
   * call campaigns again. */
  if (e->runner == BATON_RUNNER_RUNNING) e->stop_requested = true;
  pthread_mutex_unlock(&c->mu);

  /* The key goes now; if the server cannot be told, the background thread
   * tries again. */
  pthread_mutex_lock(&e->op);
  int rc = release_due(e, err);
  pthread_mutex_unlock(&e->op);
  if (rc != 0) {
    baton__error_prefix(err, "resign: the term ended here, but the server was not told");
    return rc;
  }
  return baton__ok(err);
}

/* ---- leadership ---------------------------------------------------------- */

bool baton_election_is_leader(baton_election *e, uint64_t *token, int64_t *remaining_ms) {
  if (token != NULL) *token = 0;
  if (remaining_ms != NULL) *remaining_ms = 0;
  if (e == NULL) return false;
  baton_client *c = e->client;
  pthread_mutex_lock(&c->mu);
  int64_t now = baton__now();
  /* The answer and the term agree: once false, the term is over (LOST is
   * queued now if the background thread has not got to it yet). */
  baton__term_expire(e, now);
  bool live = e->term.held;
  if (live && token != NULL) *token = e->term.token;
  if (live && remaining_ms != NULL)
    *remaining_ms = (baton__term_deadline(e) - now) / BATON_NS_PER_MS;
  pthread_mutex_unlock(&c->mu);
  return live;
}

/* ---- the watchdog ---------------------------------------------------------- */

int baton_election_watchdog(baton_election *e, int64_t interval_ms, baton_error *err) {
  if (e == NULL) return baton__error(err, BATON_EINVAL, "watchdog: election is NULL");
  if (interval_ms < 0 || interval_ms > BATON_WATCHDOG_MAX_MS)
    return baton__error(err, BATON_EINVAL,
                        "watchdog: interval %lld ms is out of range (0 turns it off, else 1..%d)",
                        (long long)interval_ms, BATON_WATCHDOG_MAX_MS);
  pthread_mutex_lock(&e->client->mu);
  baton__term_watchdog_set(e, interval_ms * BATON_NS_PER_MS, baton__now());
  pthread_mutex_unlock(&e->client->mu);
  return baton__ok(err);
}

int baton_election_touch(baton_election *e, baton_error *err) {
  if (e == NULL) return baton__error(err, BATON_EINVAL, "touch: election is NULL");
  baton_client *c = e->client;
  pthread_mutex_lock(&c->mu);
  int64_t now = baton__now();
  baton__term_expire(e, now);
  bool held = e->term.held;
  int rc = held ? baton__term_touch(e, now) : BATON_ENOTHOLDER;
  /* The interval that was missed, even if the setting changed since. */
  int64_t interval_ms = (rc == BATON_ETIMEDOUT ? e->term.fired_interval_ns : e->watchdog_ns) /
                        BATON_NS_PER_MS;
  int64_t left_ms = held ? (baton__term_deadline(e) - now) / BATON_NS_PER_MS : 0;
  pthread_mutex_unlock(&c->mu);
  if (rc == BATON_ENOTHOLDER)
    return baton__error(err, rc, "touch: not the leader of '%s'", e->name);
  if (rc != 0)
    return baton__error(err, rc,
                        "touch: '%s' missed its watchdog interval (%lld ms); the term's renewals "
                        "stopped and it ends at its local deadline in %lld ms",
                        e->name, (long long)interval_ms, (long long)left_ms);
  return baton__ok(err);
}

int baton_election_leader(baton_election *e, baton_leader *out, baton_error *err) {
  if (e == NULL || out == NULL)
    return baton__error(err, BATON_EINVAL, "leader: %s is NULL", e == NULL ? "election" : "out");
  memset(out, 0, sizeof *out);
  baton_client *c = e->client;
  int rc = c->backend->leader(own_session(c), e->name, out, op_deadline(c, INT64_MAX), err);
  if (rc == BATON_ENOLEADER) return baton__error(err, rc, "'%s' has no leader", e->name);
  return rc != 0 ? rc : baton__ok(err);
}

/* The backend's leader and value, "" for a backend that cannot proclaim. */
static int leader_value(baton_client *c, const char *name, baton_leader *out, char *value,
                        size_t size, size_t *len, int64_t deadline, baton_error *err) {
  memset(out, 0, sizeof *out);
  baton__value_copy(value, size, len, "", 0);
  if (c->backend->leader_value == NULL)
    return c->backend->leader(own_session(c), name, out, deadline, err);
  return c->backend->leader_value(own_session(c), name, out, value, size, len, deadline, err);
}

int baton_election_leader_value(baton_election *e, baton_leader *out, char *value, size_t size,
                                size_t *len, baton_error *err) {
  if (len != NULL) *len = 0;
  if (e == NULL || out == NULL || (value == NULL && size > 0))
    return baton__error(err, BATON_EINVAL, "leader_value: %s is NULL",
                        e == NULL ? "election" : out == NULL ? "out" : "value");
  baton_client *c = e->client;
  int rc = leader_value(c, e->name, out, value, size, len, op_deadline(c, INT64_MAX), err);
  if (rc == BATON_ENOLEADER) return baton__error(err, rc, "'%s' has no leader", e->name);
  return rc != 0 ? rc : baton__ok(err);
}

/* ---- proclaim -------------------------------------------------------------- */

/* Whether s[0..n) is UTF-8 as PostgreSQL's text takes it: no overlong
 * form, no surrogate, nothing above U+10FFFF. */
static bool utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  while (p < end) {
    unsigned char b = *p;
    size_t len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3
               : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (len == 0 || (size_t)(end - p) < len) return false;
    for (size_t i = 1; i < len; i++)
      if ((p[i] & 0xc0) != 0x80) return false;
    if ((b == 0xe0 && p[1] < 0xa0) || (b == 0xed && p[1] >= 0xa0) ||
        (b == 0xf0 && p[1] < 0x90) || (b == 0xf4 && p[1] >= 0x90))
      return false;
    p += len;
  }
  return true;
}

int baton_election_proclaim(baton_election *e, const char *value, baton_error *err) {
  if (e == NULL || value == NULL)
    return baton__error(err, BATON_EINVAL, "proclaim: %s is NULL",
                        e == NULL ? "election" : "value");
  size_t n = strnlen(value, (size_t)BATON_VALUE_MAX + 1);
  if (n > BATON_VALUE_MAX)
    return baton__error(err, BATON_EINVAL,
                        "proclaim: the value is longer than %d bytes (BATON_VALUE_MAX)",
                        BATON_VALUE_MAX);
  /* Every backend alike: PostgreSQL's text column takes nothing else. */
  if (!utf8_valid(value, n))
    return baton__error(err, BATON_EINVAL, "proclaim: the value is not UTF-8 text");
  baton_client *c = e->client;
  if (c->backend->proclaim == NULL)
    return baton__error(err, BATON_ENOTSUP, "proclaim: the %s backend cannot proclaim yet",
                        c->backend->schemes[0]);
  /* Not the leader: refused at once, before `op`, which a campaign of
   * this election holds for its whole wait. */
  pthread_mutex_lock(&c->mu);
  baton__term_expire(e, baton__now());
  bool held = e->term.held;
  uint64_t generation = e->term.generation;
  pthread_mutex_unlock(&c->mu);
  if (!held) return baton__error(err, BATON_ENOTHOLDER, "proclaim: not the leader of '%s'", e->name);
  /* One backend call on the candidate at a time: the term cannot be
   * resigned (its key deleted) while the write is in flight, and a term
   * that ends at its deadline meanwhile is caught by the check after.
   * `op` is never waited for blindly: a campaign holds it long only once
   * this term has ended (one of a held term returns at once), so while it
   * is busy the term is checked again, and a new term never gets the text
   * meant for this one. Bounded: the term ends by its deadline. */
  int64_t limit = 0;
  pthread_mutex_lock(&c->mu);
  for (;;) {
    baton__term_expire(e, baton__now());
    held = e->term.held && e->term.generation == generation;
    if (!held) break;
    limit = baton__term_deadline(e);
    if (pthread_mutex_trylock(&e->op) == 0) break;
    int64_t pass = baton__after(BATON_WAIT_PASS_NS);
    baton__cond_wait_until(&c->changed, &c->mu, pass < limit ? pass : limit);
  }
  pthread_mutex_unlock(&c->mu);
  if (!held)
    return baton__error(err, BATON_ENOTHOLDER, "proclaim: not the leader of '%s' (the term ended)",
                        e->name);
  int rc =
      c->backend->proclaim(e->batch->session, &e->candidate, value, batch_deadline(e, limit), err);
  pthread_mutex_unlock(&e->op);
  if (rc == 0) {
    pthread_mutex_lock(&c->mu);
    baton__term_expire(e, baton__now());
    bool still = e->term.held && e->term.generation == generation;
    pthread_mutex_unlock(&c->mu);
    /* The write may be visible: it was conditional on the key, which may
     * outlive the local deadline (see baton.h). */
    if (!still)
      return baton__error(err, BATON_ENOTHOLDER, "proclaim: not the leader of '%s' (the term ended)",
                          e->name);
  }
  if (rc != 0) {
    /* The server's answer is kept: an ENOTHOLDER from it (the key is not
     * ours there) says why, while is_leader may stay true until the next
     * renewal finds the term lost. */
    /* A lost reply leaves it unknown whether the value landed: the caller
     * may proclaim again, the write being conditional on the term. */
    baton__error_prefix(err, "proclaim");
    return rc;
  }
  return baton__ok(err);
}

int baton_election_contenders(baton_election *e, baton_contender *out, size_t cap,
                              size_t *count, baton_error *err) {
  if (e == NULL || count == NULL || (out == NULL && cap > 0))
    return baton__error(err, BATON_EINVAL, "contenders: %s is NULL",
                        e == NULL ? "election" : count == NULL ? "count" : "out");
  *count = 0;
  baton_client *c = e->client;
  if (c->backend->contenders == NULL)
    return baton__error(err, BATON_ENOTSUP, "contenders: the %s:// backend cannot list its queue",
                        c->backend->schemes[0]);
  for (size_t i = 0; i < cap; i++) {
    memset(&out[i], 0, sizeof out[i]);
    out[i].ttl_remaining_ms = -1;
  }
  size_t n = 0;
  int rc = c->backend->contenders(own_session(c), e->name, out, cap, &n, op_deadline(c, INT64_MAX),
                                  err);
  if (rc != 0) return rc;
  *count = n < cap ? n : cap;
  return baton__ok(err);
}

/* ---- the looker or a thread per name -------------------------------------- */

/* Whether the client's looking thread serves candidate mode and observers
 * (looker.c): a backend with watch, on a client with threads (a manual
 * client's tests step candidate mode themselves). Otherwise each gets a
 * thread that blocks in the backend's wait. */
static bool looks(const baton_client *c) { return c->backend->watch != NULL && !c->manual; }

/* ---- observe ------------------------------------------------------------- */

/* Whether o still observes for e (a stop, and a new observe, replace it). */
static bool observing(baton_election *e, const baton_observer *o) {
  pthread_mutex_lock(&e->client->mu);
  bool yes = e->observer == o;
  pthread_mutex_unlock(&e->client->mu);
  return yes;
}

static uint64_t value_hash(const char *value) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++)
    h = (h ^ *p) * 1099511628211ull;
  return h;
}

/* Read the leader and its value, and queue LEADER_CHANGED when either
 * differs from what was last reported (a proclaim is a change), or on the
 * first read. 0, or the error. Only the observer's thread or step: the
 * value is read into that thread's buffer, and only its hash is kept. */
static int observe_read(baton_election *e, baton_observer *o, baton_error *err) {
  static _Thread_local char value[BATON_VALUE_MAX + 1];
  baton_client *c = e->client;
  baton_leader now;
  int rc = leader_value(c, e->name, &now, value, sizeof value, NULL, op_deadline(c, INT64_MAX),
                        err);
  if (rc == BATON_ENOLEADER) {
    memset(&now, 0, sizeof now);
    value[0] = '\0';
    rc = 0;
  }
  if (rc != 0) return rc;
  uint64_t hash = value_hash(value);
  if (o->reported && baton__same_leader(&now, &o->seen) && hash == o->value_hash) return 0;
  pthread_mutex_lock(&c->mu);
  baton__event_queue(e, BATON_EVENT_LEADER_CHANGED, 0, 0, now.token != 0 ? &now : NULL, value,
                     NULL);
  pthread_mutex_unlock(&c->mu);
  o->seen = now;
  o->value_hash = hash;
  o->reported = true;
  return 0;
}

/* Without the looker: a thread per observer. o stays until it is joined. */
static void *observe_loop(void *arg) {
  baton_observer *o = arg;
  baton_election *e = o->look.election;
  baton_client *c = e->client;
  unsigned failures = 0;
  while (observing(e, o)) {
    baton_error err = {0};
    int rc = observe_read(e, o, &err);
    if (rc == 0) {
      /* Bounded: a wait ends at least once a TTL so a missed notification
       * costs one TTL at most. */
      rc = c->backend->wait(own_session(c), &o->watch, &o->seen, baton__after(c->cfg.ttl_ns),
                            o->cancel_fd, &err);
      if (rc == 0 || rc == BATON_ETIMEDOUT) {
        failures = 0;
        continue;
      }
    }
    if (rc == BATON_ECANCELED) break;
    baton__sleep_until(baton__after(baton__config_backoff(&c->cfg, failures++)), o->cancel_fd);
  }
  return NULL;
}

/* The looker's turn of an observer: read, report, arm the watch. */
static void observe_step(baton_look *k) {
  baton_election *e = k->election;
  baton_client *c = e->client;
  baton_observer *o = (baton_observer *)(void *)((char *)k - offsetof(baton_observer, look));
  baton_session *s = own_session(c);
  if (baton__look_armed(k)) c->backend->unwatch(s, &o->watch); /* came by its time */
  baton_error err = {0};
  int64_t recheck = INT64_MAX;
  int rc = observe_read(e, o, &err);
  if (rc == 0) {
    baton__look_arming(k);
    rc = c->backend->watch(s, &o->watch, &o->seen, baton__look_wake, k, &recheck,
                           op_deadline(c, INT64_MAX), &err);
  }
  if (rc == 0) {
    k->failures = 0;
    baton__look_at(k, recheck);
    return;
  }
  baton__log(&c->cfg, BATON_LOG_DEBUG, "observing '%s': %s; looking again", e->name,
             err.message);
  baton__look_at(k, baton__after(baton__config_backoff(&c->cfg, k->failures++)));
}

static void observer_free(baton_observer *o) {
  if (o == NULL) return;
  close_fd(&o->cancel_fd);
  baton__free(o);
}

int baton_election_observe(baton_election *e, baton_error *err) {
  if (e == NULL) return baton__error(err, BATON_EINVAL, "observe: election is NULL");
  baton_client *c = e->client;
  pthread_mutex_lock(&c->mu);
  if (e->observer != NULL || e->closing) {
    bool closing = e->closing;
    pthread_mutex_unlock(&c->mu);
    return closing ? baton__error(err, BATON_ECLOSED, "observe: '%s' is closing", e->name)
                   : baton__ok(err);
  }
  baton_observer *o = baton__calloc(1, sizeof *o);
  int rc = -1;
  if (o != NULL) {
    o->watch.name = e->name;
    o->watch.identity = c->cfg.identity;
    o->cancel_fd = -1;
    baton__look_init(&o->look, e, true);
    e->observer = o; /* before its thread or step reads it */
    if (looks(c)) {
      rc = baton__look_start(&o->look);
    } else {
      o->cancel_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (o->cancel_fd >= 0) rc = pthread_create(&o->thread, NULL, observe_loop, o);
    }
  }
  if (rc != 0) {
    e->observer = NULL;
    observer_free(o);
  }
  pthread_mutex_unlock(&c->mu);
  return rc == 0 ? baton__ok(err)
                 : baton__error(err, BATON_ENOMEM, "observe: out of memory or no thread");
}

void baton_election_observe_stop(baton_election *e) {
  if (e == NULL) return;
  baton_client *c = e->client;
  pthread_mutex_lock(&c->mu);
  baton_observer *o = e->observer;
  e->observer = NULL;
  if (o != NULL) poke(o->cancel_fd);
  pthread_mutex_unlock(&c->mu);
  if (o == NULL) return;
  if (looks(c))
    baton__look_end(&o->look);
  else
    pthread_join(o->thread, NULL);
  c->backend->forget(own_session(c), &o->watch);
  observer_free(o);
}

/* ---- candidate mode ------------------------------------------------------ */

static bool stopping(const baton_election *e) { return e->stop_requested || e->closing; }

/* Candidate mode's campaigns. */
static const campaign_how runner_how = {.deadline = INT64_MAX, .runner = true};

/* Without the looker: a thread per election in candidate mode. */
static void *runner_main(void *arg) {
  baton_election *e = arg;
  baton_client *c = e->client;
  unsigned failures = 0;
  pthread_mutex_lock(&c->mu);
  while (!stopping(e)) {
    pthread_mutex_unlock(&c->mu);
    baton_error err = {0};
    int rc = campaign(e, &runner_how, NULL, NULL, &err);
    pthread_mutex_lock(&c->mu);
    if (rc != 0) {
      /* A stop broadcasts `changed`, so the pause ends early on one. */
      int64_t until = baton__after(baton__config_backoff(&c->cfg, failures++));
      if (!stopping(e)) baton__cond_wait_until(&c->changed, &c->mu, until);
      continue;
    }
    failures = 0;
    /* Hold until the term ends (the next campaign waits out its key) or
     * candidate mode ends (a resign asks it to). */
    while (e->term.held && !stopping(e)) baton__cond_wait_until(&c->changed, &c->mu, INT64_MAX);
  }
  if (e->runner == BATON_RUNNER_RUNNING) e->runner = BATON_RUNNER_ENDED;
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

/* One look of candidate mode, on the looker: the term, or a watch armed
 * (the candidate stays queued where the backend queues) and *at, when to
 * look again without a wake. 0 or the error. Needs e->op. */
static int runner_try(baton_election *e, int64_t *at, baton_error *err) {
  baton_client *c = e->client;
  baton_session *s = e->batch->session;
  if (baton__look_armed(&e->runner_look)) c->backend->unwatch(s, &e->candidate); /* by its time */
  pthread_mutex_lock(&c->mu);
  int64_t now = baton__now();
  baton__term_expire(e, now);
  bool held = e->term.held;
  int64_t until = held ? 0 : baton__leftover_blocks(e, now);
  pthread_mutex_unlock(&c->mu);
  if (held) return 0;
  if (until != 0) { /* our lost term's key stays until the server's expiry */
    *at = until;
    return 0;
  }
  baton_leader holder;
  memset(&holder, 0, sizeof holder);
  int rc = release_due(e, err);
  if (rc == 0) rc = attempt(e, baton__after(e->batch->cfg.op_timeout_ns), &holder, err);
  if (rc == 0) {
    pthread_mutex_lock(&c->mu);
    baton__stats_acquired(e, e->term.began - e->runner_since);
    e->runner_since = 0;
    pthread_mutex_unlock(&c->mu);
    return 0;
  }
  if (rc == BATON_EHELD) {
    baton__look_arming(&e->runner_look);
    return c->backend->watch(s, &e->candidate, &holder, baton__look_wake, &e->runner_look, at,
                             batch_deadline(e, INT64_MAX), err);
  }
  if (rc == BATON_ESESSION) {
    pthread_mutex_lock(&c->mu);
    baton__renew_soon(e->batch, baton__now());
    pthread_mutex_unlock(&c->mu);
  }
  return rc;
}

/* The looker's turn of candidate mode: a term is searched for until one
 * is held; its end (term.c) wakes this look again. */
static void runner_step(baton_election *e) {
  baton_client *c = e->client;
  baton_look *k = &e->runner_look;
  pthread_mutex_lock(&c->mu);
  int64_t now = baton__now();
  if (stopping(e)) {
    if (e->runner == BATON_RUNNER_RUNNING) e->runner = BATON_RUNNER_ENDED;
    pthread_mutex_unlock(&c->mu);
    return;
  }
  baton__term_expire(e, now);
  bool held = e->term.held;
  if (!held && e->runner_since == 0) {
    e->runner_since = now;
    BATON__COUNT(e, campaigns);
  }
  if (held) e->runner_since = 0; /* a caller's campaign won it */
  bool opened = e->batch->session != NULL;
  pthread_mutex_unlock(&c->mu);
  if (held) return;
  baton_error err = {0};
  int64_t at = INT64_MAX;
  int rc = opened ? 0 : baton__batch_open(e->batch, INT64_MAX, &err);
  if (rc == 0) {
    /* A caller's campaign holds the candidate: it wakes this look when it
     * returns; the time is a second line of defence. */
    if (pthread_mutex_trylock(&e->op) != 0) {
      baton__look_at(k, baton__after(BATON_WAIT_PASS_NS));
      return;
    }
    rc = runner_try(e, &at, &err);
    pthread_mutex_unlock(&e->op);
  }
  if (rc == 0) {
    k->failures = 0;
    baton__look_at(k, at);
    return;
  }
  pthread_mutex_lock(&c->mu);
  BATON__COUNT(e, retries);
  pthread_mutex_unlock(&c->mu);
  baton__log(&c->cfg, BATON_LOG_INFO, "'%s': candidate mode's attempt failed (%s); retrying",
             e->name, err.message);
  baton__look_at(k, baton__after(baton__config_backoff(&c->cfg, k->failures++)));
}

void baton__look_step(baton_look *k) {
  if (k->observer)
    observe_step(k);
  else
    runner_step(k->election);
}

/* Candidate mode on the looker ends: no step runs after, no watch stays
 * armed, and the queue entry of a search under way goes. */
static void runner_look_end(baton_election *e) {
  baton_client *c = e->client;
  baton__look_end(&e->runner_look);
  /* A caller's campaign that holds the candidate unwatched it at its start
   * and cleans up at its end: it must not hold this call up. */
  if (pthread_mutex_trylock(&e->op) != 0) return;
  pthread_mutex_lock(&c->mu);
  baton__term_expire(e, baton__now());
  bool held = e->term.held;
  baton_session *s = e->batch->session;
  e->runner_since = 0;
  pthread_mutex_unlock(&c->mu);
  if (s != NULL) c->backend->unwatch(s, &e->candidate);
  if (s != NULL && !held) clean_up(e);
  pthread_mutex_unlock(&e->op);
}

void baton__candidates_step(baton_client *c) {
  /* One try for each running election without a term: the campaign the
   * thread would run, never blocking. A campaign's backend call may run
   * this client's background work (tests interleave so); it must not
   * start candidate campaigns again. Elections are opened and closed only
   * on this (the only) thread, so the list holds still while unlocked. */
  static _Thread_local bool busy;
  if (busy) return;
  busy = true;
  pthread_mutex_lock(&c->mu);
  for (baton_election *e = c->elections; e != NULL; e = e->next) {
    if (e->runner != BATON_RUNNER_RUNNING) continue;
    if (stopping(e)) {
      e->runner = BATON_RUNNER_ENDED;
      continue;
    }
    baton__term_expire(e, baton__now());
    if (e->term.held) continue;
    pthread_mutex_unlock(&c->mu);
    campaign_how how = {.deadline = baton__after(e->batch->cfg.op_timeout_ns), .once = true,
                        .runner = true};
    baton_error err = {0};
    campaign(e, &how, NULL, NULL, &err);
    pthread_mutex_lock(&c->mu);
  }
  pthread_mutex_unlock(&c->mu);
  busy = false;
}

/* End candidate mode and join its thread, once whoever asks: a second
 * caller waits for the first. Returns whether it was campaigning (not
 * already ended by a resign). Needs client->mu; drops it while joining. */
static bool runner_end_locked(baton_election *e) {
  baton_client *c = e->client;
  while (e->runner == BATON_RUNNER_JOINING)
    baton__cond_wait_until(&c->changed, &c->mu, baton__after(BATON_WAIT_PASS_NS));
  bool active = e->runner == BATON_RUNNER_RUNNING && !e->stop_requested;
  if (e->runner == BATON_RUNNER_IDLE) return false;
  if (e->runner == BATON_RUNNER_RUNNING) {
    /* Its campaign may be waiting on the cancel descriptor, which all of
     * this election's campaigns share: they all end. */
    e->stop_requested = true;
    e->cancel_requested = true;
    poke(e->cancel_fd);
    pthread_cond_broadcast(&c->changed);
  }
  e->runner = BATON_RUNNER_JOINING;
  pthread_mutex_unlock(&c->mu);
  if (looks(c))
    runner_look_end(e);
  else if (!c->manual)
    pthread_join(e->runner_thread, NULL);
  pthread_mutex_lock(&c->mu);
  e->runner = BATON_RUNNER_IDLE;
  e->stop_requested = false;
  /* The cancel was ours, not a caller's: it must not end a later one. */
  if (e->campaigning == 0) e->cancel_requested = false;
  pthread_cond_broadcast(&c->changed);
  return active;
}

int baton_election_start(baton_election *e, baton_error *err) {
  if (e == NULL) return baton__error(err, BATON_EINVAL, "start: election is NULL");
  baton_client *c = e->client;
  if (c->cfg.read_only) return read_only_error(e, err);
  pthread_mutex_lock(&c->mu);
  int rc = 0;
  if (!(e->runner == BATON_RUNNER_RUNNING && !e->stop_requested)) {
    /* A runner that ended (after a resign) or is ending is joined first;
     * a start that raced this one may have started a new one meanwhile. */
    runner_end_locked(e);
    if (!e->closing && e->runner == BATON_RUNNER_IDLE) {
      e->runner = BATON_RUNNER_RUNNING;
      if (looks(c))
        rc = baton__look_start(&e->runner_look);
      else
        rc = c->manual ? 0 : pthread_create(&e->runner_thread, NULL, runner_main, e);
      if (rc != 0) e->runner = BATON_RUNNER_IDLE;
    }
  }
  bool closing = e->closing;
  pthread_mutex_unlock(&c->mu);
  if (closing) return baton__error(err, BATON_ECLOSED, "start: '%s' is closing", e->name);
  return rc == 0 ? baton__ok(err) : baton__error(err, BATON_ENOMEM, "start: cannot start a thread");
}

void baton_election_stop(baton_election *e) {
  if (e == NULL) return;
  pthread_mutex_lock(&e->client->mu);
  bool active = runner_end_locked(e);
  pthread_mutex_unlock(&e->client->mu);
  if (active) baton_election_resign(e, NULL);
}

int baton__election_campaigns(baton_election *e) {
  pthread_mutex_lock(&e->client->mu);
  int n = e->campaigning;
  pthread_mutex_unlock(&e->client->mu);
  return n;
}

/* ---- locks: an election by another name --------------------------------- */

static baton_election *as_election(baton_lock *l) { return (baton_election *)(void *)l; }

int baton_lock_open(baton_lock **out, baton_client *c, const char *name, baton_event_cb on_event,
                    void *udata, baton_error *err) {
  return baton_election_open((baton_election **)(void *)out, c, name, on_event, udata, err);
}

int baton_lock_open_with(baton_lock **out, baton_client *c, const char *name,
                         const baton_election_options *opts, baton_event_cb on_event, void *udata,
                         baton_error *err) {
  return baton_election_open_with((baton_election **)(void *)out, c, name, opts, on_event, udata,
                                  err);
}

void baton_lock_close(baton_lock *l) { baton_election_close(as_election(l)); }

int baton_lock_acquire(baton_lock *l, int64_t timeout_ms, uint64_t *token, baton_error *err) {
  return baton_election_campaign(as_election(l), timeout_ms, token, err);
}

int baton_lock_try_acquire(baton_lock *l, uint64_t *token, baton_error *err) {
  return baton_election_try_campaign(as_election(l), token, NULL, err);
}

int baton_lock_release(baton_lock *l, baton_error *err) {
  return baton_election_resign(as_election(l), err);
}

bool baton_lock_held(baton_lock *l, uint64_t *token, int64_t *remaining_ms) {
  return baton_election_is_leader(as_election(l), token, remaining_ms);
}

void baton_lock_cancel(baton_lock *l) { baton_election_cancel(as_election(l)); }
