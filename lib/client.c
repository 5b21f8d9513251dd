/* client.c — the client: backend session, the background thread that renews
 * every term and ends terms at their local deadline, and the event queue
 * whose callbacks that thread runs. */
#include "core.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- small time helpers ------------------------------------------------ */

int64_t baton__after(int64_t ns) {
  int64_t now = baton__now();
  return ns >= INT64_MAX - now ? INT64_MAX : now + ns;
}

static void timed_wait(pthread_cond_t *cond, pthread_mutex_t *mu, int64_t deadline) {
  if (deadline == INT64_MAX) {
    pthread_cond_wait(cond, mu);
    return;
  }
  struct timespec ts = {.tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000};
  pthread_cond_timedwait(cond, mu, &ts);
}

void baton__wait_changed(baton_client *c, int64_t deadline) {
  timed_wait(&c->changed, &c->mu, deadline);
}

bool baton__sleep_or_fd(int64_t ns, int fd) {
  int64_t deadline = baton__after(ns);
  struct pollfd p = {.fd = fd, .events = POLLIN};
  for (int i = 0; i < 1000; i++) {
    int ms = baton__ms_until(deadline);
    if (ms == 0) return false;
    int n = poll(&p, fd >= 0 ? 1 : 0, ms);
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
  return false;
}

static bool term_ttl(const baton_client *c) {
  return (c->backend->caps & BATON_CAP_TERM_TTL) != 0;
}

static int64_t lifetime(const baton_client *c) {
  return baton__lifetime(&c->cfg, c->session->server_ttl_ns);
}

static int64_t renew_interval(const baton_client *c) {
  return baton__renew_interval(&c->cfg, c->session->server_ttl_ns);
}

/* ---- events ------------------------------------------------------------ */

void baton__event_queue(baton_election *e, baton_event_type type, baton_lost_reason reason,
                        int error, const baton_leader *leader, const char *message) {
  baton_client *c = e->client;
  if (e->on_event == NULL || e->closing) return;
  baton_event_node *n = baton__calloc(1, sizeof *n);
  if (n == NULL) return; /* the state (is_leader) stays right; only the call is lost */
  n->election = e;
  n->event.type = type;
  n->event.name = e->name;
  n->event.token = e->token;
  n->event.reason = reason;
  n->event.error = error;
  if (leader != NULL) {
    n->leader = *leader;
    n->event.leader = &n->leader;
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
  pthread_cond_signal(&c->wake);
}

/* Drop e's queued events (e is closing). */
static void events_drop(baton_client *c, const baton_election *e) {
  baton_event_node **p = &c->events;
  c->events_tail = NULL;
  while (*p != NULL) {
    baton_event_node *n = *p;
    if (e == NULL || n->election == e) {
      *p = n->next;
      baton__free(n);
    } else {
      c->events_tail = n;
      p = &n->next;
    }
  }
}

static void deliver_one(baton_client *c) {
  baton_event_node *n = c->events;
  c->events = n->next;
  if (c->events == NULL) c->events_tail = NULL;
  baton_election *e = n->election;
  c->in_callback = e;
  pthread_mutex_unlock(&c->mu);
  e->on_event(&n->event, e->udata);
  pthread_mutex_lock(&c->mu);
  c->in_callback = NULL;
  pthread_cond_broadcast(&c->changed);
  baton__free(n);
}

/* ---- terms ------------------------------------------------------------- */

int64_t baton__term_deadline(const baton_election *e) {
  const baton_client *c = e->client;
  return baton__lease_deadline(term_ttl(c) ? &e->lease : &c->session_lease);
}

void baton__term_lose(baton_election *e, baton_lost_reason reason, const char *message) {
  if (!e->held) return;
  e->held = false;
  e->lost_reason = reason;
  baton__event_queue(e, BATON_EVENT_LOST, reason, 0, NULL, message);
  pthread_cond_broadcast(&e->client->changed);
}

void baton__renew_soon(baton_client *c) {
  c->next_renew = baton__now();
  pthread_cond_signal(&c->wake);
}

void baton__term_expire(baton_election *e, int64_t now) {
  baton_client *c = e->client;
  if (!e->held || now < baton__term_deadline(e)) return;
  bool unreachable = c->last_renew_error == BATON_ECONNECT;
  char msg[160];
  snprintf(msg, sizeof msg, "local deadline passed %s",
           unreachable ? "while the backend was unreachable"
           : c->renew_failures > 0 ? "after failed renewals"
                                   : "with no successful renewal in time");
  /* The key is ours until the server's own expiry, counted from the same
   * send time with the server's TTL: deleting it sooner would let the next
   * leader in inside the margin that the caller's step-down relies on. */
  const baton_lease *l = term_ttl(c) ? &e->lease : &c->session_lease;
  int64_t server_ttl = c->session->server_ttl_ns > 0 ? c->session->server_ttl_ns : c->cfg.ttl_ns;
  baton__term_lose(e, unreachable ? BATON_LOST_CONNECTION : BATON_LOST_DEADLINE, msg);
  e->needs_release = true;
  e->release_retry_at = l->sent + server_ttl;
}

static void expire_terms(baton_client *c, int64_t now) {
  for (baton_election *e = c->elections; e != NULL; e = e->next) baton__term_expire(e, now);
}

/* The earliest local deadline among held terms, INT64_MAX if none. */
static int64_t earliest_deadline(const baton_client *c, size_t *held) {
  int64_t earliest = INT64_MAX;
  size_t n = 0;
  for (const baton_election *e = c->elections; e != NULL; e = e->next) {
    if (!e->held) continue;
    n++;
    int64_t d = baton__term_deadline(e);
    if (d < earliest) earliest = d;
  }
  if (held != NULL) *held = n;
  return earliest;
}

int baton__term_start(baton_election *e, int64_t sent, baton_error *err) {
  baton_client *c = e->client;
  /* A term lives as long as the session: one won while the session's
   * renewals fail would end within moments. Renew first; the campaign
   * keeps its place and looks again. */
  int64_t now = baton__now();
  if (!term_ttl(c) && (c->renew_failures > 0 || !baton__lease_live(&c->session_lease, now))) {
    baton__renew_soon(c);
    return baton__error(err, BATON_ESESSION,
                        "%s: elected while the session's renewals fail; renewing first", e->name);
  }
  size_t others = 0;
  earliest_deadline(c, &others);
  e->held = true;
  e->token = e->candidate.token;
  e->generation++;
  e->needs_release = false;
  if (term_ttl(c)) {
    baton__lease_start(&e->lease, sent, lifetime(c));
    int64_t due = sent + renew_interval(c);
    if (others == 0 || due < c->next_renew) c->next_renew = due;
  }
  baton__event_queue(e, BATON_EVENT_ELECTED, 0, 0, NULL, NULL);
  /* Wake the background thread only if it would sleep past what the new
   * term needs (a context switch per acquire otherwise). */
  int64_t due = term_ttl(c) ? c->next_renew : baton__term_deadline(e);
  if (due < c->background_sleeps_until) pthread_cond_signal(&c->wake);
  return 0;
}

/* Whether the background thread has a renewal to send. Queueing backends
 * keep their session alive even with no term held (queued keys live on it). */
static bool renewal_needed(const baton_client *c, size_t held) {
  return held > 0 || !term_ttl(c);
}

static int grow_renew_buffers(baton_client *c, size_t n) {
  if (n <= c->renew_cap) return 0;
  size_t cap = c->renew_cap ? c->renew_cap : 16;
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

static void renew_succeeded(baton_client *c, size_t n, int64_t sent) {
  c->renew_failures = 0;
  c->last_renew_error = 0;
  c->last_renew_sent = sent;
  c->next_renew = sent + renew_interval(c);
  if (!term_ttl(c)) {
    c->session_lease.lifetime = lifetime(c);
    baton__lease_renewed(&c->session_lease, sent);
  }
  for (size_t i = 0; i < n; i++) {
    baton_election *e = c->renew_elections[i];
    if (!e->held || e->generation != c->renew_generations[i]) continue;
    if (c->renew_gone[i])
      baton__term_lose(e, BATON_LOST_KEY_GONE, "the backend no longer has the key");
    else if (term_ttl(c))
      baton__lease_renewed(&e->lease, sent);
  }
}

static void renew_failed(baton_client *c, size_t n, const baton_error *err) {
  c->renew_failures++;
  c->last_renew_error = err->code;
  int64_t now = baton__now();
  c->next_renew = baton__next_renew(&c->cfg, renew_interval(c), c->last_renew_sent,
                                    c->renew_failures, now);
  for (size_t i = 0; i < n; i++) {
    baton_election *e = c->renew_elections[i];
    if (e->held && e->generation == c->renew_generations[i])
      baton__event_queue(e, BATON_EVENT_RENEW_FAILED, 0, err->code, NULL, err->message);
  }
}

static void session_expired(baton_client *c, const baton_error *err) {
  baton__lease_start(&c->session_lease, INT64_MIN, 0);
  for (baton_election *e = c->elections; e != NULL; e = e->next)
    baton__term_lose(e, BATON_LOST_SESSION_EXPIRED, err->message);
  /* Open the next session soon, with back-off if that keeps failing. */
  c->renew_failures++;
  c->last_renew_error = err->code;
  c->next_renew = baton__now() + baton__backoff(&c->cfg, c->renew_failures - 1);
}

/* One renewal round trip for the session and every held term. Called with
 * c->mu held; drops it during the request. */
static void renew_once(baton_client *c) {
  size_t n = 0;
  int64_t earliest = earliest_deadline(c, &n);
  baton_error err = {0};
  if (grow_renew_buffers(c, n) != 0) {
    baton__error(&err, BATON_ENOMEM, "renew: out of memory for %zu terms", n);
    renew_failed(c, 0, &err);
    return;
  }
  size_t i = 0;
  for (baton_election *e = c->elections; e != NULL; e = e->next) {
    if (!e->held) continue;
    e->pins++;
    c->renew_elections[i] = e;
    c->renew_candidates[i] = &e->candidate;
    c->renew_generations[i] = e->generation;
    c->renew_gone[i] = false;
    i++;
  }
  /* The request may not outlast the first term's deadline: that term must
   * be declared lost on time, by this thread. */
  int64_t sent = baton__now();
  int64_t deadline = sent + c->cfg.op_timeout_ns;
  if (earliest < deadline) deadline = earliest;
  pthread_mutex_unlock(&c->mu);
  int rc = c->backend->renew(c->session, c->renew_candidates, n, c->renew_gone, deadline, &err);
  pthread_mutex_lock(&c->mu);
  for (i = 0; i < n; i++) c->renew_elections[i]->pins--;
  pthread_cond_broadcast(&c->changed);
  if (rc == 0)
    renew_succeeded(c, n, sent);
  else if (rc == BATON_ESESSION)
    session_expired(c, &err);
  else
    renew_failed(c, n, &err);
}

/* A lost term's key may still sit on the server (a queue head that blocks
 * everyone else): delete it, unless a campaign is about to do so. */
static bool release_one_lost(baton_client *c, int64_t now) {
  for (baton_election *e = c->elections; e != NULL; e = e->next) {
    if (!e->needs_release || e->held || e->closing || now < e->release_retry_at) continue;
    if (pthread_mutex_trylock(&e->op) != 0) {
      /* A campaign has it and releases first itself; look again later
       * rather than spin. */
      e->release_retry_at = now + renew_interval(c);
      continue;
    }
    e->pins++;
    int64_t earliest = earliest_deadline(c, NULL);
    int64_t deadline = now + c->cfg.op_timeout_ns;
    if (earliest < deadline) deadline = earliest;
    pthread_mutex_unlock(&c->mu);
    baton_error err = {0};
    int rc = c->backend->release(c->session, &e->candidate, deadline, &err);
    pthread_mutex_lock(&c->mu);
    pthread_mutex_unlock(&e->op);
    e->pins--;
    if (rc == 0 && !e->held)
      e->needs_release = false;
    else
      e->release_retry_at = baton__now() + renew_interval(c);
    pthread_cond_broadcast(&c->changed);
    return true;
  }
  return false;
}

static int64_t next_release_retry(const baton_client *c) {
  int64_t t = INT64_MAX;
  for (const baton_election *e = c->elections; e != NULL; e = e->next)
    if (e->needs_release && !e->held && !e->closing && e->release_retry_at < t)
      t = e->release_retry_at;
  return t;
}

/* The background thread: deadlines first, then renewal, then callbacks,
 * then leftover keys; sleeps until the next of those is due. */
static void *background(void *arg) {
  baton_client *c = arg;
  pthread_mutex_lock(&c->mu);
  while (!c->closing) {
    int64_t now = baton__now();
    expire_terms(c, now);
    size_t held = 0;
    int64_t earliest = earliest_deadline(c, &held);
    if (renewal_needed(c, held) && now >= c->next_renew) {
      renew_once(c);
      continue;
    }
    if (c->events != NULL) {
      deliver_one(c);
      continue;
    }
    if (release_one_lost(c, now)) continue;
    int64_t wake = earliest;
    if (renewal_needed(c, held) && c->next_renew < wake) wake = c->next_renew;
    int64_t retry = next_release_retry(c);
    if (retry < wake) wake = retry;
    c->background_sleeps_until = wake;
    timed_wait(&c->wake, &c->mu, wake);
    c->background_sleeps_until = INT64_MIN;
  }
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

/* ---- open and close ---------------------------------------------------- */

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
  baton__free(c->renew_elections);
  baton__free(c->renew_candidates);
  baton__free(c->renew_generations);
  baton__free(c->renew_gone);
  baton__free(c);
}

static int init_sync(baton_client *c) {
  pthread_condattr_t attr;
  if (pthread_condattr_init(&attr) != 0) return -1;
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  int rc = pthread_mutex_init(&c->mu, NULL);
  if (rc == 0 && (rc = pthread_cond_init(&c->wake, &attr)) != 0) pthread_mutex_destroy(&c->mu);
  if (rc == 0 && (rc = pthread_cond_init(&c->changed, &attr)) != 0) {
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->mu);
  }
  pthread_condattr_destroy(&attr);
  return rc;
}

static void destroy_sync(baton_client *c) {
  pthread_cond_destroy(&c->changed);
  pthread_cond_destroy(&c->wake);
  pthread_mutex_destroy(&c->mu);
}

int baton_client_open(baton_client **out, const char *uri, const baton_options *opts,
                      baton_error *err) {
  if (err != NULL) {
    err->code = 0;
    err->message[0] = '\0';
  }
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
  if (init_sync(c) != 0) {
    client_free(c);
    return baton__error(err, BATON_ENOMEM, "client_open: cannot create locks");
  }
  int64_t sent = baton__now();
  rc = c->backend->open(&c->session, &c->uri, &c->cfg,
                        sent + c->cfg.connect_timeout_ns + c->cfg.op_timeout_ns, err);
  if (rc != 0) {
    destroy_sync(c);
    client_free(c);
    return rc;
  }
  c->session->backend = c->backend;
  c->session->cfg = &c->cfg;
  baton__lease_start(&c->session_lease, term_ttl(c) ? INT64_MIN : sent, lifetime(c));
  c->last_renew_sent = sent;
  c->next_renew = sent + renew_interval(c);
  c->background_sleeps_until = INT64_MIN;
  if (pthread_create(&c->thread, NULL, background, c) != 0) {
    c->backend->close(c->session);
    destroy_sync(c);
    client_free(c);
    return baton__error(err, BATON_ENOMEM, "client_open: cannot start the background thread");
  }
  *out = c;
  return 0;
}

void baton_client_close(baton_client *c) {
  if (c == NULL) return;
  pthread_mutex_lock(&c->mu);
  c->ending = true;
  pthread_mutex_unlock(&c->mu);
  for (int i = 0; i < 1000000; i++) {
    pthread_mutex_lock(&c->mu);
    baton_election *e = c->elections;
    pthread_mutex_unlock(&c->mu);
    if (e == NULL) break;
    baton_election_close(e);
  }
  pthread_mutex_lock(&c->mu);
  c->closing = true;
  events_drop(c, NULL);
  pthread_cond_signal(&c->wake);
  pthread_mutex_unlock(&c->mu);
  pthread_join(c->thread, NULL);
  c->backend->close(c->session);
  destroy_sync(c);
  client_free(c);
}

const char *baton_client_identity(const baton_client *c) {
  return c != NULL ? c->identity : NULL;
}

void baton__client_detach(baton_client *c, baton_election *e) {
  pthread_mutex_lock(&c->mu);
  if (e->prev != NULL)
    e->prev->next = e->next;
  else if (c->elections == e)
    c->elections = e->next;
  if (e->next != NULL) e->next->prev = e->prev;
  e->prev = e->next = NULL;
  events_drop(c, e);
  bool on_background = pthread_equal(pthread_self(), c->thread);
  for (int i = 0; i < 100000 && (e->pins > 0 || (c->in_callback == e && !on_background)); i++)
    baton__wait_changed(c, baton__after(100000000));
  pthread_mutex_unlock(&c->mu);
}
