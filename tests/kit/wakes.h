/* wakes.h — counting the wake-ups of a backend's subscriptions
 * (baton_backend.watch) in the suites that drive one table directly:
 * how many came, when the last one came, on which thread, and how many
 * threads the process runs (a watch must not cost one). */
#ifndef BATON_TEST_KIT_WAKES_H
#define BATON_TEST_KIT_WAKES_H

#include "session.h"
#include "test.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* One watch's wake-ups; every kit_wakes of a case shares one kit_cond. */
typedef struct kit_wakes {
  kit_cond *c;  /* shared, so that one wait sees any of them */
  int n;        /* wake-ups heard (c->mu) */
  int64_t at;   /* kit_now_ms() of the last (c->mu) */
  pthread_t by; /* the thread it came on (c->mu) */
} kit_wakes;

/* The baton_wake_fn: ctx is a kit_wakes. It only counts, as a wake must. */
static inline void kit_on_wake(void *ctx) {
  kit_wakes *w = ctx;
  pthread_mutex_lock(&w->c->mu);
  w->n++;
  w->at = kit_now_ms();
  w->by = pthread_self();
  pthread_cond_broadcast(&w->c->cond);
  pthread_mutex_unlock(&w->c->mu);
}

/* w's count now. */
static inline int kit_wakes_of(kit_wakes *w) {
  pthread_mutex_lock(&w->c->mu);
  int n = w->n;
  pthread_mutex_unlock(&w->c->mu);
  return n;
}

/* The sum of ws[0..n)'s counts once it reaches `count`, or when ms pass. */
static inline int kit_wakes_reach(kit_wakes *ws, int n, int count, int ms) {
  int64_t end = kit_now_ms() + ms;
  pthread_mutex_lock(&ws[0].c->mu);
  int sum = 0;
  for (;;) {
    sum = 0;
    for (int i = 0; i < n; i++) sum += ws[i].n;
    if (sum >= count || !kit_cond_wait(ws[0].c, end)) break;
  }
  pthread_mutex_unlock(&ws[0].c->mu);
  return sum;
}

/* Count w's wake-ups from 0 again. */
static inline void kit_wakes_reset(kit_wakes *w) {
  pthread_mutex_lock(&w->c->mu);
  w->n = 0;
  pthread_mutex_unlock(&w->c->mu);
}

/* After something that must wake exactly one of ws[0..n) (a release seen
 * by a herd): one wakes within wake_ms, and no other follows within
 * quiet_ms (a herd would wake the rest within milliseconds). Returns the
 * index of the one woken, or -1 (reported). */
static inline int kit_wakes_exactly_one(kit_wakes *ws, int n, int wake_ms, int quiet_ms) {
  int64_t t0 = kit_now_ms();
  int first = kit_wakes_reach(ws, n, 1, wake_ms);
  int64_t woke = kit_now_ms() - t0;
  kit_sleep_ms(quiet_ms); /* no event says "nothing more comes" */
  int total = kit_wakes_reach(ws, n, 2, 0);
  int which = -1;
  for (int i = 0; i < n && which < 0; i++)
    if (kit_wakes_of(&ws[i]) > 0) which = i;
  printf("  woke %d of %d watches (#%d) after %lld ms\n", total, n, which, (long long)woke);
  CHECK_EQ(first, 1);
  CHECK_EQ(total, 1);
  return first == 1 && total == 1 ? which : -1;
}

/* A watch case's two sessions on one table and URI (a holder's, a
 * watcher's), a name of its own, and the condition its kit_wakes share. */
typedef struct kit_watch_pair {
  kit_session a, b; /* open until kit_watch_pair_close */
  const char *name; /* kit_name(tag) */
  kit_cond kc;      /* every kit_wakes of the case */
} kit_watch_pair;

/* Open a on uri_a as ida and b on uri_b as idb: true, or false (reported)
 * with nothing left open. */
static inline bool kit_watch_pair_open(kit_watch_pair *p, const baton_backend *t,
                                       const char *uri_a, const char *uri_b, const char *tag,
                                       const char *ida, const char *idb) {
  baton_error err = {0};
  p->name = kit_name(tag);
  int rc = kit_open_as(&p->a, t, uri_a, ida, 0, &err);
  CHECK_OK(rc, &err);
  if (rc != 0) return false;
  rc = kit_open_as(&p->b, t, uri_b, idb, 0, &err);
  CHECK_OK(rc, &err);
  if (rc != 0) {
    kit_close(&p->a);
    return false;
  }
  kit_cond_init(&p->kc);
  return true;
}

static inline void kit_watch_pair_close(kit_watch_pair *p) {
  kit_close(&p->b);
  kit_close(&p->a);
  kit_cond_destroy(&p->kc);
}

/* A herd case: a watch pair in which a's candidate holds the name and n
 * candidates of b wait on it, not armed yet, each counted in its own
 * kit_wakes. */
typedef struct kit_herd {
  kit_watch_pair p;    /* a holds the name, b's candidates wait */
  baton_candidate ca;  /* a's candidate: the holder once open */
  baton_candidate *cs; /* n candidates of b on the name, cs[i] in slot i (owned) */
  kit_wakes *ws;       /* ws[i] counts cs[i]'s wake-ups, on p.kc (owned) */
  int armed;           /* cs[0..armed) are the case's to undo (it counts them) */
} kit_herd;

/* Open the pair on uri twice as "holder" and "herd" (a name of `tag`),
 * make the n candidates and their counts, and acquire ca (checked, as
 * the case would). true, or false (reported) with nothing left open. */
static inline bool kit_herd_open(kit_herd *h, const baton_backend *t, const char *uri,
                                 const char *tag, int n) {
  *h = (kit_herd){0};
  if (!kit_watch_pair_open(&h->p, t, uri, uri, tag, "holder", "herd")) return false;
  h->cs = calloc((size_t)n, sizeof *h->cs);
  h->ws = calloc((size_t)n, sizeof *h->ws);
  if (h->cs == NULL || h->ws == NULL) {
    TEST_FAIL_("a herd of %d: out of memory", n);
    free(h->cs);
    free(h->ws);
    kit_watch_pair_close(&h->p);
    return false;
  }
  for (int i = 0; i < n; i++) {
    h->cs[i] = kit_cand(&h->p.b, h->p.name);
    h->cs[i].slot = (unsigned)i;
    h->ws[i].c = &h->p.kc;
  }
  baton_error err = {0};
  h->ca = kit_cand(&h->p.a, h->p.name);
  CHECK_OK(kit_acquire(&h->p.a, &h->ca, NULL, &err), &err);
  return true;
}

/* Unwatch and drop cs[0..armed); a second call does nothing. Apart from
 * kit_herd_close for a case that looks at b's session after. */
static inline void kit_herd_drop(kit_herd *h) {
  kit_session *b = &h->p.b;
  for (int i = 0; i < h->armed; i++) b->b->unwatch(b->s, &h->cs[i]);
  for (int i = 0; i < h->armed; i++) kit_drop(b, &h->cs[i]);
  h->armed = 0;
}

/* kit_herd_drop, then drop the holder and close everything. */
static inline void kit_herd_close(kit_herd *h) {
  kit_herd_drop(h);
  kit_drop(&h->p.a, &h->ca);
  free(h->cs);
  free(h->ws);
  kit_watch_pair_close(&h->p);
}

/* Arm c's watch on k with `seen` (may be NULL), counted in w: 0 with
 * *recheck_at (may be NULL), or the error. */
static inline int kit_watch(kit_session *k, baton_candidate *c, const baton_leader *seen,
                            kit_wakes *w, int64_t *recheck_at, baton_error *err) {
  int64_t at = 0;
  int rc = k->b->watch(k->s, c, seen, kit_on_wake, w, &at, kit_deadline(KIT_CALL_MS), err);
  if (recheck_at != NULL) *recheck_at = at;
  return rc;
}

/* n candidates of k on `name` (slots 10 on), each forgotten right after
 * its watch: each looks (acquire, refused) and arms `arms` times in a row
 * (where a first watch wakes at once, 2: the second stays armed), and
 * gone[i] counts from its last watch on, on kc. Whatever the backend's
 * subscriptions do later, gone[0..n) must stay 0. */
static inline void kit_forget_after_watch(kit_session *k, const char *name, kit_cond *kc,
                                          kit_wakes *gone, int n, int arms) {
  baton_error err = {0};
  for (int i = 0; i < n; i++) {
    gone[i] = (kit_wakes){.c = kc};
    baton_candidate cd = kit_cand(k, name);
    cd.slot = 10 + (unsigned)i;
    baton_leader h = {0};
    for (int arm = 0; arm < arms; arm++) {
      CHECK_EQ(kit_acquire(k, &cd, &h, &err), BATON_EHELD);
      kit_wakes_reset(&gone[i]); /* a wake of an earlier watch is its own */
      CHECK_OK(kit_watch(k, &cd, &h, &gone[i], NULL, &err), &err);
    }
    kit_forget(k, &cd);
  }
}

/* Threads of this process now (/proc/self/task), or -1. */
static inline int kit_threads(void) {
  DIR *d = opendir("/proc/self/task");
  if (d == NULL) return -1;
  int n = 0;
  for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

#endif
