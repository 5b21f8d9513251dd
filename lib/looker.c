/* looker.c — the client's looking threads: candidate mode and observe for
 * every election of a client on BATON_LOOKERS threads, woken by the
 * backend's subscriptions (baton_backend.watch) instead of a thread
 * blocked per name. 10,000 names in candidate mode cost those threads,
 * plus what the backend shares (one subscriber connection, one watch
 * stream). More than one, so that a burst of releases is looked at a
 * few round trips at a time, not one.
 *
 * A look is one name's turn: election.c's step looks (acquire, or reads
 * the leader), arms the backend's one-shot watch and says when to look
 * again without a wake. A look becomes due when its watch wakes it (the
 * due list, in wake order) or its time comes (a min-heap on that time).
 * A look is stepped by one thread at a time (a wake during its step
 * brings it back once the step ends), so each name's steps, and the
 * LEADER_CHANGED events they queue, stay in order.
 *
 * Locks: the looker's mu is taken after client->mu, never before, and
 * held only to move a look between lists; a step runs without it. A
 * backend's wake takes only this mu, so it may come from any backend
 * thread, with the backend's own locks held. */
#include "core.h"

#include <errno.h>

static baton_looker *looker_of(const baton_look *k) { return &k->election->client->looker; }

/* ---- the timer heap, ordered by `at` ------------------------------------- */

static void heap_set(baton_looker *l, size_t i, baton_look *k) {
  l->heap[i] = k;
  k->slot = i;
}

static void heap_up(baton_looker *l, size_t i) {
  baton_look *k = l->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (l->heap[parent]->at <= k->at) break;
    heap_set(l, i, l->heap[parent]);
    i = parent;
  }
  heap_set(l, i, k);
}

static void heap_down(baton_looker *l, size_t i) {
  baton_look *k = l->heap[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= l->nheap) break;
    if (child + 1 < l->nheap && l->heap[child + 1]->at < l->heap[child]->at) child++;
    if (l->heap[child]->at >= k->at) break;
    heap_set(l, i, l->heap[child]);
    i = child;
  }
  heap_set(l, i, k);
}

static void heap_remove(baton_looker *l, baton_look *k) {
  if (k->slot == SIZE_MAX) return;
  size_t i = k->slot;
  k->slot = SIZE_MAX;
  baton_look *last = l->heap[--l->nheap];
  if (last == k) return;
  heap_set(l, i, last);
  heap_up(l, i);
  heap_down(l, last->slot);
}

/* 0, or BATON_ENOMEM with k left out. */
static int heap_add(baton_looker *l, baton_look *k) {
  if (l->nheap == l->heap_cap) {
    size_t cap = l->heap_cap != 0 ? 2 * l->heap_cap : 64;
    baton_look **grown = baton__realloc(l->heap, cap * sizeof *grown);
    if (grown == NULL) return BATON_ENOMEM;
    l->heap = grown;
    l->heap_cap = cap;
  }
  heap_set(l, l->nheap++, k);
  heap_up(l, k->slot);
  return 0;
}

/* ---- the due list, in wake order ----------------------------------------- */

static void due_push(baton_looker *l, baton_look *k) {
  if (k->stepping) { /* after its step: never two steps of one look at once */
    k->again = true;
    return;
  }
  if (k->due) return;
  k->due = true;
  k->next_due = NULL;
  k->prev_due = l->due_tail;
  if (l->due_tail != NULL)
    l->due_tail->next_due = k;
  else
    l->due_head = k;
  l->due_tail = k;
  /* A broadcast: a look_end waits on the same variable. */
  pthread_cond_broadcast(&l->cond);
}

static void due_remove(baton_looker *l, baton_look *k) {
  if (!k->due) return;
  k->due = false;
  if (k->prev_due != NULL)
    k->prev_due->next_due = k->next_due;
  else
    l->due_head = k->next_due;
  if (k->next_due != NULL)
    k->next_due->prev_due = k->prev_due;
  else
    l->due_tail = k->prev_due;
  k->prev_due = k->next_due = NULL;
}

/* Put k in the heap at k->at (none at INT64_MAX) unless it is due anyway;
 * a heap that cannot grow makes it due now (its step backs off). Needs
 * l->mu. */
static void schedule(baton_looker *l, baton_look *k) {
  heap_remove(l, k);
  if (!k->active || k->due || k->at == INT64_MAX) return;
  if (heap_add(l, k) != 0) {
    due_push(l, k);
    return;
  }
  /* The threads sleep until the heap's top: a new top may be earlier. */
  if (k->slot == 0) pthread_cond_broadcast(&l->cond);
}

/* ---- the thread ----------------------------------------------------------- */

/* The next look due at `now`, taken off both lists, or NULL. Needs l->mu. */
static baton_look *take_due(baton_looker *l, int64_t now) {
  baton_look *k = l->due_head;
  if (k == NULL && l->nheap > 0 && l->heap[0]->at <= now) k = l->heap[0];
  if (k == NULL) return NULL;
  due_remove(l, k);
  heap_remove(l, k);
  return k;
}

static void *looker_main(void *arg) {
  baton_looker *l = arg;
  pthread_mutex_lock(&l->mu);
  while (!l->stopping) {
    baton_look *k = take_due(l, baton__now());
    if (k == NULL) {
      baton__cond_wait_until(&l->cond, &l->mu, l->nheap > 0 ? l->heap[0]->at : INT64_MAX);
      continue;
    }
    k->stepping = true;
    k->stepper = pthread_self();
    k->at = INT64_MAX; /* a step that sets no time waits for a wake */
    pthread_mutex_unlock(&l->mu);
    baton__look_step(k);
    pthread_mutex_lock(&l->mu);
    k->stepping = false;
    if (k->again && k->active)
      due_push(l, k); /* the wake supersedes the time the step set */
    else
      schedule(l, k);
    k->again = false;
    pthread_cond_broadcast(&l->cond); /* a look_end may wait for this step */
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

int baton__looker_init(baton_looker *l) {
  memset(l, 0, sizeof *l);
  if (pthread_mutex_init(&l->mu, NULL) != 0) return -1;
  if (baton__cond_init(&l->cond) != 0) {
    pthread_mutex_destroy(&l->mu);
    return -1;
  }
  return 0;
}

void baton__looker_destroy(baton_looker *l) {
  pthread_mutex_lock(&l->mu);
  l->stopping = true;
  pthread_cond_broadcast(&l->cond);
  pthread_mutex_unlock(&l->mu);
  for (unsigned i = 0; i < l->nthreads; i++) pthread_join(l->threads[i], NULL);
  baton__free(l->heap);
  pthread_cond_destroy(&l->cond);
  pthread_mutex_destroy(&l->mu);
}

/* ---- looks ------------------------------------------------------------- */

void baton__look_init(baton_look *k, baton_election *e, bool observer) {
  memset(k, 0, sizeof *k);
  k->election = e;
  k->observer = observer;
  k->slot = SIZE_MAX;
}

int baton__look_start(baton_look *k) {
  baton_looker *l = looker_of(k);
  pthread_mutex_lock(&l->mu);
  int rc = 0;
  while (rc == 0 && l->nthreads < BATON_LOOKERS && !l->stopping) {
    rc = pthread_create(&l->threads[l->nthreads], NULL, looker_main, l);
    if (rc == 0) l->nthreads++;
  }
  rc = l->nthreads > 0 ? 0 : -1; /* fewer than asked still serve */
  if (rc == 0 && !k->active) {
    k->active = true;
    k->failures = 0;
    due_push(l, k);
  }
  pthread_mutex_unlock(&l->mu);
  return rc == 0 ? 0 : BATON_ENOMEM;
}

void baton__look_wake(void *ctx) {
  baton_look *k = ctx;
  baton_looker *l = looker_of(k);
  pthread_mutex_lock(&l->mu);
  k->armed = false; /* one-shot: the wake disarmed it */
  if (k->active) due_push(l, k);
  pthread_mutex_unlock(&l->mu);
}

void baton__look_arming(baton_look *k) {
  baton_looker *l = looker_of(k);
  pthread_mutex_lock(&l->mu);
  k->armed = true;
  pthread_mutex_unlock(&l->mu);
}

bool baton__look_armed(baton_look *k) {
  baton_looker *l = looker_of(k);
  pthread_mutex_lock(&l->mu);
  bool armed = k->armed;
  k->armed = false;
  pthread_mutex_unlock(&l->mu);
  return armed;
}

void baton__look_at(baton_look *k, int64_t at) {
  baton_looker *l = looker_of(k);
  pthread_mutex_lock(&l->mu);
  k->at = at;
  if (!k->stepping) schedule(l, k); /* else when its step ends */
  pthread_mutex_unlock(&l->mu);
}

void baton__look_end(baton_look *k) {
  baton_looker *l = looker_of(k);
  pthread_mutex_lock(&l->mu);
  k->active = false;
  due_remove(l, k);
  heap_remove(l, k);
  /* Bounded: a step ends by its requests' deadlines. A step never ends
   * its own look this way. */
  while (k->stepping && !pthread_equal(pthread_self(), k->stepper))
    baton__cond_wait_until(&l->cond, &l->mu, INT64_MAX);
  pthread_mutex_unlock(&l->mu);
}
