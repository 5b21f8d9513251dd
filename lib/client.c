/* client.c — the client: its backend sessions (one per batch of elections
 * with equal timing), and the background thread that renews each batch's
 * terms in one round trip, ends terms at their local
 * deadline (term.c decides), runs the callbacks in order and deletes the
 * keys lost terms left once the server's expiry could have come. A manual
 * client (tests) has no thread: baton__client_run() does the same work on
 * the caller's thread and the injected clock. */
#include "core.h"

#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

static int64_t renew_interval(const baton_batch *b) {
  return baton__renew_interval(&b->cfg, b->server_ttl_ns);
}

/* Whether the background thread has a renewal of b to send. Queueing
 * backends keep a session alive even with no term held (queued keys live
 * on it). A batch whose session is not open yet has nothing to renew. */
static bool renewal_needed(const baton_batch *b) {
  return b->session != NULL && !b->cfg.read_only &&
         (b->nheld > 0 || !baton__term_ttl(b->client));
}

/* End every term whose deadline passed; the earliest deadline among the
 * terms still held, INT64_MAX if none. Walks every election: the
 * background step calls it only once c->earliest is reached. */
static int64_t expire_terms(baton_client *c, int64_t now) {
  int64_t earliest = INT64_MAX;
  for (baton_election *e = c->elections; e != NULL; e = e->next) {
    baton__term_expire(e, now);
    int64_t d = baton__term_deadline(e);
    if (e->term.held && d < earliest) earliest = d;
  }
  return earliest;
}

/* ---- renewal ------------------------------------------------------------- */

#define BATON_RENEW_FIRST 16 /* the renewal buffers' first size, in terms */

static int grow_renew_buffers(baton_client *c, size_t n) {
  if (n <= c->renew_cap) return 0;
  size_t cap = c->renew_cap ? c->renew_cap : BATON_RENEW_FIRST;
  while (cap < n) cap *= 2;
  void *a = baton__realloc(c->renew_elections, cap * sizeof *c->renew_elections);
  if (a != NULL) c->renew_elections = a;
  void *b = baton__realloc(c->renew_candidates, cap * sizeof *c->renew_candidates);
  if (b != NULL) c->renew_candidates = b;
  void *g = baton__realloc(c->renew_generations, cap * sizeof *c->renew_generations);
  if (g != NULL) c->renew_generations = g;
  void *d = baton__realloc(c->renew_gone, cap * sizeof *c->renew_gone);
  if (d != NULL) c->renew_gone = d;
  if (a == NULL || b == NULL || g == NULL || d == NULL) return BATON_ENOMEM;
  c->renew_cap = cap;
  return 0;
}

static void renew_succeeded(baton_batch *b, size_t n, int64_t sent, int64_t now) {
  baton_client *c = b->client;
  c->stats.renewal_requests_ok++;
  baton__histogram_add(&c->stats.renewal, now - sent);
  /* Headroom: what was left of each term when the renewal came back,
   * before it moves the deadline (the session's lease, for queueing
   * backends, moves first below). */
  for (size_t i = 0; i < n; i++) {
    baton_election *e = c->renew_elections[i];
    if (!e->term.held || e->term.generation != c->renew_generations[i] || c->renew_gone[i] ||
        e->term.watchdog_fired)
      continue;
    int64_t left = baton__term_deadline(e) - now;
    if (left > 0) baton__stats_renewed(e, left);
  }
  if (b->renew_failures > 0)
    baton__log(&c->cfg, BATON_LOG_INFO, "renewal succeeded after %u failed", b->renew_failures);
  b->renew_failures = 0;
  b->last_renew_error = 0;
  b->last_renew_sent = sent;
  b->next_renew = baton__add_sat(sent, renew_interval(b));
  baton__session_renewed(b, sent, now);
  for (size_t i = 0; i < n; i++)
    baton__term_renewed(c->renew_elections[i], c->renew_generations[i], c->renew_gone[i], sent,
                        now);
  c->earliest = INT64_MIN; /* the deadlines moved: the next step finds the first */
}

static void renew_failed(baton_batch *b, size_t n, const baton_error *err, int64_t now) {
  baton_client *c = b->client;
  c->stats.renewal_requests_failed++;
  b->renew_failures++;
  b->last_renew_error = err->code;
  b->next_renew = baton__next_renew(&b->cfg, renew_interval(b), b->last_renew_sent,
                                    b->renew_failures, now);
  baton__log(&c->cfg, BATON_LOG_WARN, "renewal of %zu term(s) failed (%u in a row): %s", n,
             b->renew_failures, err->message);
  for (size_t i = 0; i < n; i++) {
    baton_election *e = c->renew_elections[i];
    /* A term left to its deadline by the watchdog is not being renewed. */
    if (e->term.held && e->term.generation == c->renew_generations[i] &&
        !e->term.watchdog_fired) {
      BATON__COUNT(e, renewals_failed);
      baton__event_queue(e, BATON_EVENT_RENEW_FAILED, 0, err->code, NULL, NULL, err->message);
    }
  }
}

static void session_expired(baton_batch *b, const baton_error *err, int64_t now) {
  baton_client *c = b->client;
  c->stats.renewal_requests_failed++;
  c->stats.sessions_expired++;
  baton__log(&c->cfg, BATON_LOG_WARN, "the backend session expired: %s", err->message);
  baton__session_expired(b, err->message, now);
  /* Open the next session soon, with back-off if that keeps failing. */
  b->renew_failures++;
  b->last_renew_error = err->code;
  b->next_renew = baton__add_sat(now, baton__config_backoff(&b->cfg, b->renew_failures - 1));
}

/* One renewal round trip for b's session and every held term of b. Needs
 * c->mu; drops it during the request. */
static void renew_once(baton_batch *b, int64_t earliest) {
  baton_client *c = b->client;
  size_t n = b->nheld;
  baton_error err = {0};
  if (grow_renew_buffers(c, n) != 0) {
    baton__error(&err, BATON_ENOMEM, "renew: out of memory for %zu terms", n);
    renew_failed(b, 0, &err, baton__now());
    return;
  }
  /* Read before the batch is made: a term whose watchdog interval ended
   * by this send time is not renewed by it. */
  int64_t sent = baton__now();
  bool own_ttl = baton__term_ttl(c);
  int64_t renewed = INT64_MAX; /* the first deadline among the terms it renews */
  size_t i = 0;
  for (baton_election *e = c->elections; e != NULL && i < n; e = e->next) {
    if (!e->term.held || e->batch != b) continue;
    bool fired = baton__term_watchdog_fired(e, sent);
    /* A term on the session stays in the batch (the session's keepalive
     * carries every key on it), but its lease no longer follows. */
    if (fired && own_ttl) continue;
    if (!fired && baton__term_deadline(e) < renewed) renewed = baton__term_deadline(e);
    e->pins++;
    c->renew_elections[i] = e;
    c->renew_candidates[i] = &e->candidate;
    c->renew_generations[i] = e->term.generation;
    c->renew_gone[i] = false;
    i++;
  }
  n = i;
  if (n == 0 && own_ttl) { /* only terms left to their deadline: nothing to send */
    b->next_renew = baton__add_sat(sent, renew_interval(b));
    return;
  }
  /* The request may not outlast the first term's deadline (of any batch):
   * that term must be declared lost on time, by this thread. */
  int64_t deadline = baton__request_deadline(&b->cfg, sent, earliest);
  if (b->renew_failures > 0) c->stats.renewal_retries++;
  pthread_mutex_unlock(&c->mu);
  int rc = c->backend->renew(b->session, c->renew_candidates, n, c->renew_gone, deadline, &err);
  pthread_mutex_lock(&c->mu);
  int64_t now = baton__now();
  b->server_ttl_ns = b->session->server_ttl_ns; /* a new session may grant another */
  for (i = 0; i < n; i++) c->renew_elections[i]->pins--;
  pthread_cond_broadcast(&c->changed);
  /* Cut short by the deadline of a term it does not renew (one whose
   * watchdog fired, or another batch's): the request must end by it all
   * the same, so that its LOST comes on time, and it is not the renewed
   * terms' failure. That term ends now; send again at once, with no
   * failure counted and no back-off. */
  bool cut_short = rc != 0 && rc != BATON_ESESSION && now >= deadline &&
                   deadline < baton__request_deadline(&b->cfg, sent, renewed);
  if (cut_short) {
    baton__log(&c->cfg, BATON_LOG_DEBUG,
               "renewal cut short by the deadline of a term it does not renew; sending again");
    b->next_renew = now;
  } else if (rc == 0)
    renew_succeeded(b, n, sent, now);
  else if (rc == BATON_ESESSION)
    session_expired(b, &err, now);
  else
    renew_failed(b, n, &err, now);
}

/* ---- keys of lost terms --------------------------------------------------- */

/* Delete one leftover key whose time has come, and set c->next_release
 * to the time of the others. A campaign or close that holds the
 * candidate deals with its key itself. */
static bool release_one_lost(baton_client *c, int64_t now, int64_t earliest) {
  baton_election *due = NULL;
  int64_t next = INT64_MAX;
  for (baton_election *e = c->elections; e != NULL; e = e->next) {
    if (!baton__election_releasable(e)) continue;
    if (due == NULL && baton__leftover_due(e, now) && baton__leftover_retry_at(e) <= now) {
      if (pthread_mutex_trylock(&e->op) == 0) {
        due = e;
        continue;
      }
      baton__leftover_postpone(e, baton__add_sat(now, renew_interval(e->batch)));
    }
    int64_t at = baton__leftover_retry_at(e);
    if (at < next) next = at;
  }
  c->next_release = next; /* a failed delete below lowers it again */
  if (due == NULL) return false;
  baton_election *e = due;
  e->pins++;
  int64_t deadline = baton__request_deadline(&e->batch->cfg, now, earliest);
  pthread_mutex_unlock(&c->mu);
  baton_error err = {0};
  int rc = c->backend->release(e->batch->session, &e->candidate, deadline, &err);
  pthread_mutex_lock(&c->mu);
  pthread_mutex_unlock(&e->op);
  e->pins--;
  baton__leftover_released(e, rc, baton__now());
  pthread_cond_broadcast(&c->changed);
  return true;
}

/* ---- the background thread ---------------------------------------------- */

/* One unit of the background thread's work at `now`, in order of urgency:
 * deadlines (and the callbacks up to a LOST they queued), renewal,
 * callbacks, leftover keys. Returns true when it did
 * something; otherwise *wake says when there is work next. */
static bool background_step(baton_client *c, int64_t now, int64_t *wake) {
  if (now >= c->earliest) c->earliest = expire_terms(c, now);
  int64_t earliest = c->earliest;
  /* A LOST just queued goes out before the next renewal: that renewal may
   * block for a whole request time-out (no term's deadline bounds it any
   * more, and the server may not answer), and a holder must hear of its
   * loss at its deadline. */
  if (c->lost_queued > 0) {
    baton__event_deliver_one(c);
    return true;
  }
  for (unsigned i = 0; i < c->nbatches; i++) {
    baton_batch *b = &c->batches[i];
    if (renewal_needed(b) && now >= b->next_renew) {
      renew_once(b, earliest);
      return true;
    }
  }
  if (c->events != NULL) {
    baton__event_deliver_one(c);
    return true;
  }
  if (now >= c->next_release && release_one_lost(c, now, earliest)) return true;
  *wake = earliest;
  for (unsigned i = 0; i < c->nbatches; i++) {
    const baton_batch *b = &c->batches[i];
    if (renewal_needed(b) && b->next_renew < *wake) *wake = b->next_renew;
  }
  if (c->next_release < *wake) *wake = c->next_release;
  return false;
}

/* Sleep until `wake` or until another thread pokes wake_fd. On a timerfd
 * of CLOCK_BOOTTIME, not a condition variable: those time out on
 * CLOCK_MONOTONIC, which stands still while the host is suspended, so a
 * LOST due during a suspend would fire late after the resume. Needs
 * c->mu; drops it while asleep. */
static void background_sleep(baton_client *c, int64_t wake) {
  if (wake != c->timer_armed) {
    int64_t at = wake < 1 ? 1 : wake; /* a zero time would disarm it */
    struct itimerspec its = {{0, 0}, {at / BATON_NS_PER_S, at % BATON_NS_PER_S}};
    if (wake == INT64_MAX) its.it_value = (struct timespec){0, 0};
    timerfd_settime(c->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
    c->timer_armed = wake;
  }
  c->background_sleeps_until = wake;
  pthread_mutex_unlock(&c->mu);
  struct pollfd p[2] = {{.fd = c->wake_fd, .events = POLLIN},
                        {.fd = c->timer_fd, .events = POLLIN}};
  if (poll(p, 2, -1) > 0) {
    uint64_t drained;
    for (int i = 0; i < 2; i++)
      if (p[i].revents != 0 && read(p[i].fd, &drained, sizeof drained) < 0) {
        /* EAGAIN: already drained */
      }
  }
  pthread_mutex_lock(&c->mu);
  c->background_sleeps_until = INT64_MIN;
  if (p[1].revents != 0) c->timer_armed = INT64_MAX; /* it fired: disarmed */
}

static void *background(void *arg) {
  baton_client *c = arg;
  pthread_mutex_lock(&c->mu);
  while (!c->closing) {
    int64_t wake;
    if (!background_step(c, baton__now(), &wake)) background_sleep(c, wake);
  }
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

/* Bounds a manual run: far more steps than any test schedule needs. */
#define BATON_MANUAL_STEPS 100000

int64_t baton__client_run(baton_client *c, bool candidates) {
  int64_t wake = INT64_MAX;
  for (int round = 0; round < (candidates ? 2 : 1); round++) {
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < BATON_MANUAL_STEPS && background_step(c, baton__now(), &wake); i++) {
    }
    pthread_mutex_unlock(&c->mu);
    /* Candidate mode's campaigns, in place of their threads; then what
     * they queued. */
    if (candidates && round == 0) baton__candidates_step(c);
  }
  return wake;
}

baton_session *baton__client_session(baton_client *c) { return c->batches[0].session; }

bool baton__client_has_session(baton_client *c, const baton_session *s) {
  pthread_mutex_lock(&c->mu);
  bool yes = false;
  for (unsigned i = 0; i < c->nbatches && !yes; i++) yes = c->batches[i].session == s;
  pthread_mutex_unlock(&c->mu);
  return yes;
}

/* ---- open and close ------------------------------------------------------ */

static const char *own_copy(baton_client *c, size_t slot, const char *s) {
  if (s == NULL) return NULL;
  c->owned[slot] = baton__strdup(s);
  return c->owned[slot];
}

static int copy_strings(baton_client *c, baton_error *err) {
  baton_config *cfg = &c->cfg;
  const char *const in[] = {cfg->username, cfg->password, cfg->tls_ca_file, cfg->tls_cert_file,
                            cfg->tls_key_file};
  const char **out[] = {&cfg->username, &cfg->password, &cfg->tls_ca_file, &cfg->tls_cert_file,
                        &cfg->tls_key_file};
  for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
    *out[i] = own_copy(c, i, in[i]);
    if (in[i] != NULL && *out[i] == NULL)
      return baton__error(err, BATON_ENOMEM, "client: out of memory");
  }
  return 0;
}

static void client_free(baton_client *c) {
  if (c == NULL) return;
  baton__uri_free(&c->uri);
  for (size_t i = 0; i < sizeof c->owned / sizeof c->owned[0]; i++) baton__free(c->owned[i]);
  baton__free(c->by_name);
  baton__free(c->renew_elections);
  baton__free(c->renew_candidates);
  baton__free(c->renew_generations);
  baton__free(c->renew_gone);
  baton__free(c);
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* The lock, the condition, and for a threaded client its wake-up and timer
 * descriptors. */
static int init_sync(baton_client *c) {
  c->wake_fd = c->timer_fd = -1;
  c->timer_armed = INT64_MAX;
  if (!c->manual) {
    c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    c->timer_fd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
  }
  int rc = !c->manual && (c->wake_fd < 0 || c->timer_fd < 0) ? -1 : 0;
  if (rc == 0) rc = pthread_mutex_init(&c->mu, NULL);
  if (rc == 0 && (rc = pthread_mutex_init(&c->opening, NULL)) != 0) pthread_mutex_destroy(&c->mu);
  if (rc == 0 && (rc = baton__cond_init(&c->changed)) != 0) {
    pthread_mutex_destroy(&c->opening);
    pthread_mutex_destroy(&c->mu);
  }
  if (rc == 0 && (rc = baton__looker_init(&c->looker)) != 0) {
    pthread_cond_destroy(&c->changed);
    pthread_mutex_destroy(&c->opening);
    pthread_mutex_destroy(&c->mu);
  }
  if (rc != 0) {
    close_fd(&c->wake_fd);
    close_fd(&c->timer_fd);
  }
  return rc;
}

static void destroy_sync(baton_client *c) {
  baton__looker_destroy(&c->looker);
  pthread_cond_destroy(&c->changed);
  pthread_mutex_destroy(&c->opening);
  pthread_mutex_destroy(&c->mu);
  close_fd(&c->wake_fd);
  close_fd(&c->timer_fd);
}

/* ---- batches ------------------------------------------------------------- */

/* Whether a and b time terms alike (everything else is the client's). */
static bool same_timing(const baton_config *a, const baton_config *b) {
  return a->ttl_ns == b->ttl_ns && a->renew_ns == b->renew_ns && a->margin_ns == b->margin_ns;
}

int baton__batch_find(baton_client *c, const baton_config *cfg, baton_batch **out,
                      baton_error *err) {
  for (unsigned i = 0; i < c->nbatches; i++)
    if (same_timing(&c->batches[i].cfg, cfg)) {
      *out = &c->batches[i];
      return 0;
    }
  if (c->nbatches == BATON_BATCHES)
    return baton__error(err, BATON_EINVAL,
                        "election options: the client has %d TTL settings besides its own "
                        "already (BATON_ELECTION_TTLS_MAX); use one of them",
                        BATON_ELECTION_TTLS_MAX);
  baton_batch *b = &c->batches[c->nbatches++];
  memset(b, 0, sizeof *b);
  b->client = c;
  b->cfg = *cfg;
  *out = b;
  return 0;
}

/* Open b's backend session now (the caller makes sure nobody else does).
 * It is b's from the moment mu is taken after it: the background thread
 * renews it from then on. */
static int batch_session_open(baton_batch *b, int64_t limit, baton_error *err) {
  baton_client *c = b->client;
  int64_t sent = baton__now();
  baton_session *s = NULL;
  int64_t deadline = sent + b->cfg.connect_timeout_ns + b->cfg.op_timeout_ns;
  int rc = c->backend->open(&s, &c->uri, &b->cfg, deadline < limit ? deadline : limit, err);
  if (rc != 0) return rc;
  s->backend = c->backend;
  s->cfg = &b->cfg;
  pthread_mutex_lock(&c->mu);
  b->session = s;
  b->server_ttl_ns = s->server_ttl_ns;
  baton__lease_start(&b->session_lease, baton__term_ttl(c) ? INT64_MIN : sent,
                     baton__lifetime(&b->cfg, b->server_ttl_ns));
  b->last_renew_sent = sent;
  b->next_renew = baton__add_sat(sent, renew_interval(b));
  baton__wake_by(c, b->next_renew);
  pthread_mutex_unlock(&c->mu);
  return 0;
}

int baton__batch_open(baton_batch *b, int64_t limit, baton_error *err) {
  baton_client *c = b->client;
  pthread_mutex_lock(&c->mu);
  bool open = b->session != NULL;
  pthread_mutex_unlock(&c->mu);
  if (open) return 0;
  /* Opening takes a connect and a request: the lock of the client stays
   * free meanwhile, and a second caller waits on `opening`, then finds the
   * session open. */
  pthread_mutex_lock(&c->opening);
  pthread_mutex_lock(&c->mu);
  open = b->session != NULL;
  pthread_mutex_unlock(&c->mu);
  int rc = open ? 0 : batch_session_open(b, limit, err);
  pthread_mutex_unlock(&c->opening);
  if (rc == 0 && !open)
    baton__log(&c->cfg, BATON_LOG_INFO, "opened a backend session for a TTL of %lld ms",
               (long long)(b->cfg.ttl_ns / BATON_NS_PER_MS));
  if (rc != 0) baton__error_prefix(err, "opening a backend session for the election's TTL");
  return rc;
}

static int client_open(baton_client **out, const char *uri, const baton_options *opts,
                       bool manual, baton_error *err) {
  if (out == NULL) return baton__error(err, BATON_EINVAL, "client_open: out is NULL");
  *out = NULL;
  baton_client *c = baton__calloc(1, sizeof *c);
  if (c == NULL) return baton__error(err, BATON_ENOMEM, "client_open: out of memory");
  int rc = baton__uri_parse(&c->uri, uri, err);
  if (rc == 0) rc = baton__backend_find(&c->backend, c->uri.scheme, err);
  if (rc == 0) rc = baton__config_resolve(&c->cfg, c->identity, opts, &c->uri, err);
  if (rc == 0) rc = copy_strings(c, err);
  if (rc != 0) {
    client_free(c);
    return rc;
  }
  c->manual = manual;
  baton__stats_init(&c->stats.totals);
  if (init_sync(c) != 0) {
    client_free(c);
    return baton__error(err, BATON_ENOMEM, "client_open: cannot create locks or descriptors");
  }
  c->background_sleeps_until = INT64_MIN;
  c->earliest = c->next_release = INT64_MIN; /* the first step walks */
  baton_batch *own = NULL;
  baton__batch_find(c, &c->cfg, &own, NULL); /* the first: it cannot fail */
  rc = batch_session_open(own, INT64_MAX, err);
  if (rc != 0) {
    destroy_sync(c);
    client_free(c);
    return rc;
  }
  if (!manual && pthread_create(&c->thread, NULL, background, c) != 0) {
    c->backend->close(own->session);
    destroy_sync(c);
    client_free(c);
    return baton__error(err, BATON_ENOMEM, "client_open: cannot start the background thread");
  }
  *out = c;
  return baton__ok(err);
}

int baton_client_open(baton_client **out, const char *uri, const baton_options *opts,
                      baton_error *err) {
  return client_open(out, uri, opts, false, err);
}

int baton__client_open_manual(baton_client **out, const char *uri, const baton_options *opts,
                              baton_error *err) {
  return client_open(out, uri, opts, true, err);
}

void baton_client_close(baton_client *c) {
  if (c == NULL) return;
  pthread_mutex_lock(&c->mu);
  c->ending = true;
  pthread_mutex_unlock(&c->mu);
  /* Each close waits, if it must, until a lost term's key may go: only
   * then may the session (and with it every key on it) end. Orphans (closed
   * elections whose key could not be deleted) get a last try, and go. Each
   * close unlinks its election (the client is ending), so the list empties. */
  for (;;) {
    pthread_mutex_lock(&c->mu);
    baton_election *e = c->elections;
    pthread_mutex_unlock(&c->mu);
    if (e == NULL) break;
    baton_election_close(e);
  }
  pthread_mutex_lock(&c->mu);
  c->closing = true; /* every election's events went with its close */
  if (c->wake_fd >= 0) {
    uint64_t one = 1;
    ssize_t n = write(c->wake_fd, &one, sizeof one);
    (void)n;
  }
  pthread_mutex_unlock(&c->mu);
  if (!c->manual) pthread_join(c->thread, NULL);
  for (unsigned i = 0; i < c->nbatches; i++)
    if (c->batches[i].session != NULL) c->backend->close(c->batches[i].session);
  destroy_sync(c);
  client_free(c);
}

const char *baton_client_backend(const baton_client *c) {
  return c != NULL ? c->backend->schemes[0] : NULL;
}

const char *baton_client_identity(const baton_client *c) {
  return c != NULL ? c->identity : NULL;
}
