/* session.c — sessions on a backend table, its calls with a deadline, and
 * waiter threads, for the tests that drive a table directly. */
#include "session.h"

#include "test.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- sessions ------------------------------------------------------------- */

int kit_open(kit_session *k, const baton_backend *b, const char *uri,
             const baton_options *o, int timeout_ms, baton_error *err) {
  memset(k, 0, sizeof *k);
  k->b = b;
  int rc = baton__uri_parse(&k->uri, uri, err);
  if (rc == 0) rc = baton__config_resolve(&k->cfg, k->identity, o, &k->uri, err);
  if (rc == 0) rc = b->open(&k->s, &k->uri, &k->cfg, kit_deadline(timeout_ms), err);
  if (rc != 0) {
    k->s = NULL;
    baton__uri_free(&k->uri);
    return rc;
  }
  k->s->backend = b;
  k->s->cfg = &k->cfg;
  return 0;
}

int kit_open_as(kit_session *k, const baton_backend *b, const char *uri, const char *identity,
                uint32_t ttl_ms, baton_error *err) {
  baton_options o = {.identity = identity, .ttl_ms = ttl_ms};
  return kit_open(k, b, uri, &o, KIT_CALL_MS, err);
}

void kit_close(kit_session *k) {
  if (k->s != NULL) k->b->close(k->s);
  k->s = NULL;
  baton__uri_free(&k->uri);
}

baton_candidate kit_cand(const kit_session *k, const char *name) {
  baton_candidate c = {.name = name, .identity = k->cfg.identity};
  return c;
}

void kit_forget(kit_session *k, baton_candidate *c) { k->b->forget(k->s, c); }

void kit_drop(kit_session *k, baton_candidate *c) {
  baton_error err;
  kit_release(k, c, &err);
  kit_forget(k, c);
}

/* ---- calls ------------------------------------------------------------------ */

int64_t kit_deadline(int ms) { return baton__now() + (int64_t)ms * BATON_NS_PER_MS; }

int kit_acquire(kit_session *k, baton_candidate *c, baton_leader *holder, baton_error *err) {
  return k->b->acquire(k->s, c, holder, kit_deadline(KIT_CALL_MS), err);
}

int kit_release(kit_session *k, baton_candidate *c, baton_error *err) {
  return k->b->release(k->s, c, kit_deadline(KIT_CALL_MS), err);
}

int kit_leader(kit_session *k, const char *name, baton_leader *out, baton_error *err) {
  return k->b->leader(k->s, name, out, kit_deadline(KIT_CALL_MS), err);
}

int kit_renew(kit_session *k, baton_candidate *const *held, size_t n, bool *gone,
              baton_error *err) {
  return k->b->renew(k->s, held, n, gone, kit_deadline(KIT_CALL_MS), err);
}

int kit_wait(kit_session *k, baton_candidate *c, const baton_leader *seen, int ms,
             baton_error *err) {
  return k->b->wait(k->s, c, seen, kit_deadline(ms), -1, err);
}

/* ---- wait() on a thread ----------------------------------------------------- */

/* One condition for every waiter, so that a test can wait for "any
 * `count` of these" without polling. */
static kit_cond waiters;
static pthread_once_t waiters_once = PTHREAD_ONCE_INIT;

static void waiters_init(void) { kit_cond_init(&waiters); }

static void *waiter_main(void *arg) {
  kit_waiter *w = arg;
  baton_error err = {0};
  w->rc = w->k->b->wait(w->k->s, w->c, w->has_seen ? &w->seen : NULL, w->deadline,
                        w->cancel[0], &err);
  w->err = err;
  w->woke_at = kit_now_ms();
  kit_cond_add(&waiters, &w->done, 1);
  return NULL;
}

int kit_waiter_start(kit_waiter *w, kit_session *k, baton_candidate *c,
                     const baton_leader *seen, int timeout_ms) {
  pthread_once(&waiters_once, waiters_init);
  memset(w, 0, sizeof *w);
  w->k = k;
  w->c = c;
  w->has_seen = seen != NULL;
  if (seen != NULL) w->seen = *seen;
  w->deadline = kit_deadline(timeout_ms);
  if (pipe2(w->cancel, O_CLOEXEC) != 0) return -1;
  if (pthread_create(&w->thread, NULL, waiter_main, w) == 0) return 0;
  close(w->cancel[0]);
  close(w->cancel[1]);
  return -1;
}

int kit_waiters_done(kit_waiter *ws, int n, int count, int ms) {
  pthread_once(&waiters_once, waiters_init);
  int64_t end = kit_now_ms() + ms;
  int done = 0;
  pthread_mutex_lock(&waiters.mu);
  for (;;) {
    done = 0;
    for (int i = 0; i < n; i++) done += ws[i].done;
    if (done >= count || !kit_cond_wait(&waiters, end)) break;
  }
  pthread_mutex_unlock(&waiters.mu);
  return done;
}

int kit_waiter_cancel(kit_waiter *w) { return write(w->cancel[1], "x", 1) == 1 ? 0 : -1; }

void kit_waiter_join(kit_waiter *w) {
  pthread_join(w->thread, NULL);
  close(w->cancel[0]);
  close(w->cancel[1]);
}

/* ---- what a client logs ---------------------------------------------------- */

static void kit_log_line(baton_log_level level, const char *message, void *udata) {
  kit_log *l = udata;
  pthread_mutex_lock(&l->c.mu);
  if (l->n < KIT_LOG_LINES)
    snprintf(l->lines[l->n++], sizeof l->lines[0], "%d %s", (int)level, message);
  else
    l->dropped++;
  pthread_cond_broadcast(&l->c.cond);
  pthread_mutex_unlock(&l->c.mu);
}

void kit_log_attach(kit_log *l, baton_options *o) {
  memset(l, 0, sizeof *l);
  kit_cond_init(&l->c);
  o->log = kit_log_line;
  o->log_udata = l;
  o->log_level = BATON_LOG_DEBUG;
}

const char *kit_log_wait(kit_log *l, const char *needle, int ms) {
  int64_t end = kit_now_ms() + ms;
  const char *found = NULL;
  pthread_mutex_lock(&l->c.mu);
  for (int seen = 0; found == NULL;) {
    for (; found == NULL && seen < l->n; seen++)
      if (strstr(l->lines[seen], needle) != NULL) found = l->lines[seen];
    if (found == NULL && !kit_cond_wait(&l->c, end)) break;
  }
  int dropped = l->dropped;
  pthread_mutex_unlock(&l->c.mu);
  if (found == NULL && dropped > 0)
    TEST_FAIL_("'%s' not among the first %d log lines (%d more were dropped)", needle,
               KIT_LOG_LINES, dropped);
  return found;
}

void kit_log_destroy(kit_log *l) { kit_cond_destroy(&l->c); }
