/* election.c — elections: campaign, resign, leadership checks, observing,
 * candidate mode, and the lock flavour on the same machinery. */
#include "core.h"

#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define NS_PER_MS 1000000LL

static void poke(int fd) {
  if (fd < 0) return;
  uint64_t one = 1;
  ssize_t n = write(fd, &one, sizeof one);
  (void)n; /* a full counter is still readable: the wake-up happens */
}

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
    if (e->cancel_requested) poke(e->cancel_fd);
  }
  return 0;
}

static int64_t ms_to_deadline(int64_t timeout_ms) {
  if (timeout_ms < 0) return INT64_MAX;
  return baton__after(timeout_ms > INT64_MAX / NS_PER_MS ? INT64_MAX : timeout_ms * NS_PER_MS);
}

static int64_t op_deadline(const baton_client *c, int64_t limit) {
  int64_t d = baton__after(c->cfg.op_timeout_ns);
  return d < limit ? d : limit;
}

/* ---- open and close ---------------------------------------------------- */

int baton_election_name_check(const char *name, baton_error *err) {
  return baton__name_check(name, err);
}

int baton_election_open(baton_election **out, baton_client *c, const char *name,
                        baton_event_cb on_event, void *udata, baton_error *err) {
  if (out == NULL) return baton__error(err, BATON_EINVAL, "election_open: out is NULL");
  *out = NULL;
  if (c == NULL) return baton__error(err, BATON_EINVAL, "election_open: client is NULL");
  int rc = baton__name_check(name, err);
  if (rc != 0) return rc;
  baton_election *e = baton__calloc(1, sizeof *e);
  if (e == NULL) return baton__error(err, BATON_ENOMEM, "election_open: out of memory");
  e->cancel_fd = e->observe_cancel_fd = -1;
  if (pthread_mutex_init(&e->op, NULL) != 0) {
    baton__free(e);
    return baton__error(err, BATON_ENOMEM, "election_open: cannot create a lock");
  }
  e->client = c;
  snprintf(e->name, sizeof e->name, "%s", name);
  e->on_event = on_event;
  e->udata = udata;
  e->candidate.name = e->name;
  e->candidate.identity = c->cfg.identity;
  e->watch.name = e->name;
  e->watch.identity = c->cfg.identity;
  pthread_mutex_lock(&c->mu);
  e->next = c->elections;
  if (c->elections != NULL) c->elections->prev = e;
  c->elections = e;
  pthread_mutex_unlock(&c->mu);
  *out = e;
  return 0;
}

static int release_now(baton_election *e, baton_error *err);

void baton_election_close(baton_election *e) {
  if (e == NULL) return;
  baton_client *c = e->client;
  baton_election_stop(e);
  baton_election_observe_stop(e);
  pthread_mutex_lock(&c->mu);
  e->closing = true;
  if (e->campaigning > 0) {
    e->cancel_requested = true;
    poke(e->cancel_fd);
  }
  pthread_mutex_unlock(&c->mu);
  pthread_mutex_lock(&e->op); /* a blocked campaign returns first */
  pthread_mutex_lock(&c->mu);
  bool was_held = e->held;
  baton__term_lose(e, BATON_LOST_RESIGNED, "election closed");
  /* When the whole client closes, ending the session (lease revoke, session
   * close) deletes the keys of queueing backends at once. */
  bool session_ends = c->ending && (c->backend->caps & BATON_CAP_TERM_TTL) == 0;
  bool leftover = (was_held || e->needs_release) && !session_ends;
  pthread_mutex_unlock(&c->mu);
  if (leftover) release_now(e, NULL);
  pthread_mutex_unlock(&e->op);
  baton__client_detach(c, e);
  c->backend->forget(c->session, &e->candidate);
  pthread_mutex_destroy(&e->op);
  close_fd(&e->cancel_fd);
  baton__free(e);
}

/* ---- campaign ---------------------------------------------------------- */

/* Delete what a lost or abandoned attempt left on the server. Needs e->op. */
static int release_now(baton_election *e, baton_error *err) {
  baton_client *c = e->client;
  baton_error local = {0};
  int rc = c->backend->release(c->session, &e->candidate, op_deadline(c, INT64_MAX),
                               err != NULL ? err : &local);
  pthread_mutex_lock(&c->mu);
  if (!e->held) e->needs_release = rc != 0;
  if (rc != 0) e->release_retry_at = baton__now() + c->cfg.renew_ns;
  pthread_mutex_unlock(&c->mu);
  return rc;
}

static bool cancelled(baton_election *e) {
  pthread_mutex_lock(&e->client->mu);
  bool yes = e->cancel_requested || e->closing;
  pthread_mutex_unlock(&e->client->mu);
  return yes;
}

static int timed_out(baton_election *e, const baton_leader *holder, baton_error *err) {
  if (holder->token != 0)
    return baton__error(err, BATON_ETIMEDOUT, "campaign for '%s' timed out; held by %s (token %llu)",
                        e->name, holder->identity, (unsigned long long)holder->token);
  return baton__error(err, BATON_ETIMEDOUT, "campaign for '%s' timed out", e->name);
}

/* The campaign loop: attempt, wait for a change, retry transient errors
 * with jittered back-off, until elected, the deadline, or cancellation.
 * `once`: a single attempt. Needs e->op. */
static int campaign_locked(baton_election *e, int64_t deadline, bool once, baton_leader *holder,
                           baton_error *err) {
  baton_client *c = e->client;
  const baton_backend *b = c->backend;
  unsigned attempt = 0;
  int rc = 0;
  memset(holder, 0, sizeof *holder);
  for (;;) {
    if (cancelled(e)) {
      rc = baton__error(err, BATON_ECANCELED, "campaign for '%s' cancelled", e->name);
      break;
    }
    if (baton__now() >= deadline) {
      rc = timed_out(e, holder, err);
      break;
    }
    pthread_mutex_lock(&c->mu);
    bool leftover = e->needs_release;
    pthread_mutex_unlock(&c->mu);
    /* A term of ours that ended locally may still own a key: delete it,
     * or the new term would reuse its token. */
    rc = leftover ? release_now(e, err) : 0;
    if (rc == 0) {
      int64_t sent = baton__now();
      rc = b->acquire(c->session, &e->candidate, holder, op_deadline(c, deadline), err);
      if (rc == 0) {
        /* When the term cannot start, the key stays: no term carried its
         * token yet, and the next look finds it first in line again. */
        pthread_mutex_lock(&c->mu);
        rc = baton__term_start(e, sent, err);
        pthread_mutex_unlock(&c->mu);
        if (rc == 0) return 0;
      } else if (rc == BATON_EHELD) {
        if (once) break;
        attempt = 0;
        pthread_mutex_lock(&c->mu);
        rc = cancel_fd_locked(e, err);
        int fd = e->cancel_fd;
        pthread_mutex_unlock(&c->mu);
        if (rc != 0) break;
        rc = b->wait(c->session, &e->candidate, holder, deadline, fd, err);
        if (rc == 0) continue;
        if (rc == BATON_ETIMEDOUT && baton__now() >= deadline) {
          rc = timed_out(e, holder, err);
          break;
        }
        if (rc == BATON_ECANCELED) break;
      }
    }
    if (rc == BATON_ESESSION) {
      pthread_mutex_lock(&c->mu);
      baton__renew_soon(c);
      pthread_mutex_unlock(&c->mu);
    }
    if (once || !baton__retryable(rc)) break;
    int64_t pause = baton__backoff(&c->cfg, attempt++);
    int64_t left = deadline - baton__now();
    pthread_mutex_lock(&c->mu);
    int fd = cancel_fd_locked(e, NULL) == 0 ? e->cancel_fd : -1;
    pthread_mutex_unlock(&c->mu);
    baton__sleep_or_fd(pause < left ? pause : left, fd);
  }
  /* Leave nothing behind: our queue entry, or a key whose creation we
   * could not confirm. */
  baton_error ignored = {0};
  release_now(e, &ignored);
  return rc;
}

static int campaign(baton_election *e, int64_t deadline, bool once, uint64_t *token,
                    baton_leader *holder, baton_error *err) {
  baton_client *c = e->client;
  pthread_mutex_lock(&c->mu);
  if (e->closing) {
    pthread_mutex_unlock(&c->mu);
    return baton__error(err, BATON_ECLOSED, "election '%s' is closing", e->name);
  }
  e->campaigning++;
  pthread_mutex_unlock(&c->mu);

  pthread_mutex_lock(&e->op);
  baton_leader seen;
  pthread_mutex_lock(&c->mu);
  /* A term past its deadline ends here, before the background thread gets
   * to it: the next term must not inherit its key, nor its token. */
  baton__term_expire(e, baton__now());
  bool already = e->held;
  uint64_t held_token = e->token;
  pthread_mutex_unlock(&c->mu);
  int rc = already ? 0 : campaign_locked(e, deadline, once, &seen, err);
  pthread_mutex_unlock(&e->op);

  pthread_mutex_lock(&c->mu);
  /* A cancel is consumed once every campaign it reached has returned. */
  if (--e->campaigning == 0) {
    if (rc == BATON_ECANCELED) e->cancel_requested = false;
    close_fd(&e->cancel_fd);
  }
  if (rc == 0 && token != NULL) *token = already ? held_token : e->token;
  pthread_mutex_unlock(&c->mu);
  if (rc == BATON_EHELD && holder != NULL) *holder = seen;
  if (rc == BATON_EHELD)
    baton__error(err, BATON_EHELD, "'%s' is held by %s (token %llu)", e->name,
                 seen.token != 0 ? seen.identity : "another holder",
                 (unsigned long long)seen.token);
  return rc;
}

int baton_election_campaign(baton_election *e, int64_t timeout_ms, uint64_t *token,
                            baton_error *err) {
  if (e == NULL) return baton__error(err, BATON_EINVAL, "campaign: election is NULL");
  return campaign(e, ms_to_deadline(timeout_ms), false, token, NULL, err);
}

int baton_election_try_campaign(baton_election *e, uint64_t *token, baton_leader *holder,
                                baton_error *err) {
  if (e == NULL) return baton__error(err, BATON_EINVAL, "try_campaign: election is NULL");
  return campaign(e, baton__after(e->client->cfg.op_timeout_ns), true, token, holder, err);
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
  if (!e->held) {
    pthread_mutex_unlock(&c->mu);
    return baton__error(err, BATON_ENOTHOLDER, "resign: not the leader of '%s'", e->name);
  }
  bool live = baton__now() < baton__term_deadline(e);
  if (live)
    baton__term_lose(e, BATON_LOST_RESIGNED, "resigned");
  else
    baton__term_lose(e, BATON_LOST_DEADLINE, "local deadline passed before resign");
  pthread_mutex_unlock(&c->mu);

  /* The key goes now; if the server cannot be told, release_now leaves it
   * to the background thread. */
  pthread_mutex_lock(&e->op);
  int rc = release_now(e, err);
  pthread_mutex_unlock(&e->op);
  if (!live)
    return baton__error(err, BATON_ENOTHOLDER, "resign: the term on '%s' had already ended",
                        e->name);
  if (rc != 0) baton__error_prefix(err, "resign: the term ended here, but the server was not told");
  return rc;
}

/* ---- leadership -------------------------------------------------------- */

bool baton_election_is_leader(baton_election *e, uint64_t *token, int64_t *remaining_ms) {
  if (token != NULL) *token = 0;
  if (remaining_ms != NULL) *remaining_ms = 0;
  if (e == NULL) return false;
  baton_client *c = e->client;
  pthread_mutex_lock(&c->mu);
  int64_t now = baton__now();
  int64_t deadline = e->held ? baton__term_deadline(e) : INT64_MIN;
  bool live = now < deadline;
  if (live && token != NULL) *token = e->token;
  if (live && remaining_ms != NULL) *remaining_ms = (deadline - now) / NS_PER_MS;
  pthread_mutex_unlock(&c->mu);
  return live;
}

int baton_election_leader(baton_election *e, baton_leader *out, baton_error *err) {
  if (e == NULL || out == NULL)
    return baton__error(err, BATON_EINVAL, "leader: %s is NULL", e == NULL ? "election" : "out");
  memset(out, 0, sizeof *out);
  baton_client *c = e->client;
  int rc = c->backend->leader(c->session, e->name, out, op_deadline(c, INT64_MAX), err);
  if (rc == BATON_ENOLEADER) baton__error(err, rc, "'%s' has no leader", e->name);
  return rc;
}

/* ---- observe ----------------------------------------------------------- */

static bool same_leader(const baton_leader *a, const baton_leader *b) {
  return a->token == b->token && strcmp(a->identity, b->identity) == 0;
}

static bool observing(baton_election *e) {
  pthread_mutex_lock(&e->client->mu);
  bool yes = e->observing;
  pthread_mutex_unlock(&e->client->mu);
  return yes;
}

static void *observe_loop(void *arg) {
  baton_election *e = arg;
  baton_client *c = e->client;
  baton_leader seen = {0};
  bool first = true;
  unsigned attempt = 0;
  while (observing(e)) {
    baton_leader now = {0};
    baton_error err = {0};
    int rc = c->backend->leader(c->session, e->name, &now, op_deadline(c, INT64_MAX), &err);
    if (rc == 0 || rc == BATON_ENOLEADER) {
      if (rc == BATON_ENOLEADER) memset(&now, 0, sizeof now);
      if (first || !same_leader(&now, &seen)) {
        pthread_mutex_lock(&c->mu);
        baton__event_queue(e, BATON_EVENT_LEADER_CHANGED, 0, 0, now.token != 0 ? &now : NULL,
                           NULL);
        pthread_mutex_unlock(&c->mu);
        seen = now;
        first = false;
      }
      /* Bounded: a wait ends at least once a TTL so a missed notification
       * costs one TTL at most. */
      rc = c->backend->wait(c->session, &e->watch, &seen, baton__after(c->cfg.ttl_ns),
                            e->observe_cancel_fd, &err);
      if (rc == 0 || rc == BATON_ETIMEDOUT) {
        attempt = 0;
        continue;
      }
    }
    if (rc == BATON_ECANCELED) break;
    baton__sleep_or_fd(baton__backoff(&c->cfg, attempt++), e->observe_cancel_fd);
  }
  return NULL;
}

int baton_election_observe(baton_election *e, baton_error *err) {
  if (e == NULL) return baton__error(err, BATON_EINVAL, "observe: election is NULL");
  baton_client *c = e->client;
  pthread_mutex_lock(&c->mu);
  if (e->observing || e->closing) {
    bool closing = e->closing;
    pthread_mutex_unlock(&c->mu);
    return closing ? baton__error(err, BATON_ECLOSED, "observe: '%s' is closing", e->name) : 0;
  }
  e->observe_cancel_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  int rc = e->observe_cancel_fd >= 0 ? pthread_create(&e->observer, NULL, observe_loop, e) : -1;
  e->observing = rc == 0;
  if (rc != 0) close_fd(&e->observe_cancel_fd);
  pthread_mutex_unlock(&c->mu);
  return rc == 0 ? 0 : baton__error(err, BATON_ENOMEM, "observe: cannot start a thread");
}

void baton_election_observe_stop(baton_election *e) {
  if (e == NULL) return;
  baton_client *c = e->client;
  pthread_mutex_lock(&c->mu);
  bool was = e->observing;
  e->observing = false;
  if (was) poke(e->observe_cancel_fd);
  pthread_mutex_unlock(&c->mu);
  if (!was) return;
  pthread_join(e->observer, NULL);
  c->backend->forget(c->session, &e->watch);
  e->watch.priv = NULL;
  close_fd(&e->observe_cancel_fd);
}

/* ---- candidate mode ---------------------------------------------------- */

static bool stopping(baton_election *e) {
  pthread_mutex_lock(&e->client->mu);
  bool yes = e->stop_requested || e->closing;
  pthread_mutex_unlock(&e->client->mu);
  return yes;
}

static void *run_loop(void *arg) {
  baton_election *e = arg;
  baton_client *c = e->client;
  unsigned attempt = 0;
  while (!stopping(e)) {
    baton_error err = {0};
    int rc = campaign(e, INT64_MAX, false, NULL, NULL, &err);
    if (rc != 0) {
      /* stop() broadcasts `changed`, so the pause ends early on a stop. */
      int64_t until = baton__after(baton__backoff(&c->cfg, attempt++));
      pthread_mutex_lock(&c->mu);
      if (!e->stop_requested && !e->closing) baton__wait_changed(c, until);
      pthread_mutex_unlock(&c->mu);
      continue;
    }
    attempt = 0;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < 1000000 && e->held && !e->stop_requested && !e->closing; i++)
      baton__wait_changed(c, INT64_MAX);
    bool resigned = !e->held && e->lost_reason == BATON_LOST_RESIGNED;
    pthread_mutex_unlock(&c->mu);
    if (resigned) break;
  }
  return NULL;
}

int baton_election_start(baton_election *e, baton_error *err) {
  if (e == NULL) return baton__error(err, BATON_EINVAL, "start: election is NULL");
  baton_client *c = e->client;
  pthread_mutex_lock(&c->mu);
  if (e->running || e->closing) {
    bool closing = e->closing;
    pthread_mutex_unlock(&c->mu);
    return closing ? baton__error(err, BATON_ECLOSED, "start: '%s' is closing", e->name) : 0;
  }
  e->running = true;
  e->stop_requested = false;
  int rc = pthread_create(&e->runner, NULL, run_loop, e);
  if (rc != 0) e->running = false;
  pthread_mutex_unlock(&c->mu);
  return rc == 0 ? 0 : baton__error(err, BATON_ENOMEM, "start: cannot start a thread");
}

void baton_election_stop(baton_election *e) {
  if (e == NULL) return;
  baton_client *c = e->client;
  pthread_mutex_lock(&c->mu);
  bool was = e->running;
  e->running = false;
  e->stop_requested = true;
  if (e->campaigning > 0) {
    e->cancel_requested = true;
    poke(e->cancel_fd);
  }
  pthread_cond_broadcast(&c->changed);
  pthread_mutex_unlock(&c->mu);
  if (!was) return;
  pthread_join(e->runner, NULL);
  /* The runner may have stopped between campaigns: the cancel was ours,
   * not the caller's, and must not end a later campaign. */
  pthread_mutex_lock(&c->mu);
  if (e->campaigning == 0) e->cancel_requested = false;
  pthread_mutex_unlock(&c->mu);
  baton_election_resign(e, NULL);
}

/* ---- locks: an election by another name ------------------------------- */

static baton_election *as_election(baton_lock *l) { return (baton_election *)(void *)l; }

int baton_lock_open(baton_lock **out, baton_client *c, const char *name, baton_event_cb on_event,
                    void *udata, baton_error *err) {
  return baton_election_open((baton_election **)(void *)out, c, name, on_event, udata, err);
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
