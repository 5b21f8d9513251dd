/* sub.c — a session's one subscriber connection, shared by the waits of all
 * its candidates: the pub/sub channels that wake them, so waiters sleep on
 * the server's word instead of polling, and 1,000 waiting elections cost
 * one connection, not 1,000.
 *
 * The hub. A channel is SUBSCRIBEd when the first candidate of its name
 * needs it and UNSUBSCRIBEd when the last one is forgotten (a count of
 * interest per channel, in a hash table keyed by channel). One reader
 * thread per session, started at the first wait, polls the connection,
 * counts the messages of each channel, and wakes the blocked waits of that
 * channel (each blocks on a condition variable of its own). It also polls
 * the cancel descriptor of every blocked wait, so a cancel ends its wait at
 * once although the wait itself sleeps on a condition variable: a wait
 * then costs no descriptor of its own. Writes (SUBSCRIBE, UNSUBSCRIBE) are
 * made by the waiting threads under the hub's lock; the reader only reads.
 *
 * Confirmations. Every channel named in SUBSCRIBE or UNSUBSCRIBE gets one
 * reply, in order, so the n-th such reply confirms the n-th channel sent.
 * A subscription counts once its reply was read: then the server has it,
 * and the look that follows cannot miss a release.
 *
 * A subscriber that breaks (a server restart, CLIENT KILL) wakes every
 * blocked wait ("look again") and raises the epoch: a candidate whose
 * subscription is of an older epoch subscribes again at its next wait,
 * which reopens the connection with every channel that has interest.
 *
 * Armed watches. Besides the blocked waits (a thread each), a channel
 * lists the watches armed on it (the table's watch: one-shot, no thread),
 * in the order they armed. A message wakes every armed observer, but of
 * the armed candidates only the first: one release frees the name for one
 * of them, and waking 1,000 would cost 1,000 acquires for one term. That
 * one owes the wake to the next: stopped before it looks (unwatched or
 * forgotten), it passes it on at once (the core unwatches a woken
 * candidate only when it leaves instead of looking, so nobody else would
 * use it). A broken subscriber wakes every armed watch. The hubs of a
 * redlock:// session share a table of the releases heard
 * (baton_redis_served): each instance publishes its copy, and candidates
 * are woken by the quorum-th. */
#include "redis.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define HUB_BUCKETS_MIN 64   /* the table's first size; it doubles as channels come */
#define HUB_SUBSCRIBE_CHUNK 500 /* channels one SUBSCRIBE names at the most */
#define UNCONFIRMED UINT64_MAX
typedef struct wnode wnode;

typedef struct baton_redis_chan {
  uint32_t refs;                  /* candidates with interest */
  uint16_t len;                   /* strlen(name) */
  uint8_t slot;                   /* its place in a subscription's chan[] and
                                     arm[]: 0 for NAME/released, 1 for
                                     NAME/elected */
  uint64_t count;                 /* messages read on it */
  uint64_t confirm_at;            /* the reply number confirming its SUBSCRIBE
                                     on the current connection, or UNCONFIRMED */
  baton_redis_arm *head, *tail;   /* watches armed on it, oldest first */
  wnode *waiters;                 /* blocked waits on it: a message wakes
                                     these, not a walk of the hub's all */
  struct baton_redis_chan *next;  /* hash chain */
  /* The hub's queue of channels to SUBSCRIBE: exactly those with
   * confirm_at == UNCONFIRMED, so a subscribe sends only what is new. */
  struct baton_redis_chan *qprev, *qnext;
  uint64_t hash;                  /* of name: the table grows without rereading it */
  char name[];                    /* "NAME/released" or "NAME/elected", made at
                                     its length: a name is mostly far shorter
                                     than BATON_NAME_MAX */
} baton_redis_chan;

/* A blocked wait, on its caller's stack, listed on every hub it waits on. */
typedef struct waiter waiter;
struct wnode {
  waiter *w;
  const baton_redis_sub *sub;     /* what it waits for on this hub */
  bool cancel_seen;               /* this hub's reader saw its cancel (the
                                     waiter's own flag is under its mu) */
  struct wnode *prev, *next;      /* the hub's list */
  baton_redis_chan *chan[2];      /* sub's channels it is listed on, or NULL */
  struct wnode *cprev[2], *cnext[2]; /* chan[k]'s list */
};
struct waiter {
  pthread_mutex_t mu;
  pthread_cond_t cond;            /* CLOCK_MONOTONIC */
  bool woken;                     /* a message, or the subscriber broke */
  bool cancelled;                 /* its cancel_fd turned readable */
  int cancel_fd;                  /* -1: none */
  wnode nodes[BATON_URI_MAX_HOSTS];
};

struct baton_redis_hub {
  pthread_mutex_t mu;             /* everything below, and I/O on ctx */
  pthread_cond_t cond;            /* replies read, connection made or broken */
  redisContext *ctx;              /* the subscriber; NULL when none */
  bool connecting;                /* a wait is connecting (without mu) */
  uint64_t epoch;                 /* raised when a subscriber breaks; from 1 */
  uint64_t sent, read;            /* channels sent in (UN)SUBSCRIBE, replies read */
  uint64_t follow;                /* the location generation ctx was made for */
  int refused;                    /* an error reply broke it: that error, else 0 */
  char refusal[200];              /* its text */
  baton_redis_chan **buckets;     /* hash chains; NULL until the first channel */
  size_t nbuckets;                /* a power of two, or 0 */
  size_t nchans;                  /* channels in the table */
  baton_redis_chan *qhead, *qtail; /* channels not sent on ctx (UNCONFIRMED) */
  size_t queued;                  /* how many */
  wnode *waiters;                 /* blocked waits */
  baton_redis_served *served;     /* shared with the other instances' hubs, or NULL */
  int wake_fd;                    /* eventfd: the reader rebuilds its poll set */
  bool running, stop;             /* the reader thread */
  pthread_t reader;
  struct pollfd *pfd;             /* the reader's poll set (reader only) */
  size_t pfd_cap;
};

/* ---- the channel table ------------------------------------------------------ */

/* FNV-1a: names and values are short and not chosen by an attacker; 0
 * is kept for "empty". */
static uint64_t hash64(const char *s, size_t len) {
  uint64_t x = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++) x = (x ^ (unsigned char)s[i]) * 1099511628211ull;
  return x != 0 ? x : 1;
}

/* The bucket of hash x: FNV's high bits folded in, as a power-of-two
 * mask keeps only the low ones. */
static size_t bucket(const baton_redis_hub *h, uint64_t x) {
  return (size_t)(x ^ (x >> 29) ^ (x >> 47)) & (h->nbuckets - 1);
}

static baton_redis_chan *chan_find(baton_redis_hub *h, const char *name, size_t len) {
  if (h->nbuckets == 0) return NULL;
  uint64_t x = hash64(name, len);
  for (baton_redis_chan *c = h->buckets[bucket(h, x)]; c != NULL; c = c->next)
    if (c->hash == x && c->len == len && memcmp(c->name, name, len) == 0) return c;
  return NULL;
}

/* Double the table (or make its first), so chains stay about one long
 * and a find costs O(1) at 100,000 names as at 10. Out of memory it
 * stays as it is: longer chains, still correct. */
static void table_grow(baton_redis_hub *h) {
  size_t n = h->nbuckets == 0 ? HUB_BUCKETS_MIN : h->nbuckets * 2;
  baton_redis_chan **grown = baton__calloc(n, sizeof *grown);
  if (grown == NULL) return;
  baton_redis_chan **old = h->buckets;
  size_t nold = h->nbuckets;
  h->buckets = grown;
  h->nbuckets = n;
  for (size_t b = 0; b < nold; b++)
    for (baton_redis_chan *c = old[b], *next; c != NULL; c = next) {
      next = c->next;
      size_t at = bucket(h, c->hash);
      c->next = grown[at];
      grown[at] = c;
    }
  baton__free(old);
}

/* Queue c to be SUBSCRIBEd (its confirm_at is UNCONFIRMED). */
static void queue_add(baton_redis_hub *h, baton_redis_chan *c) {
  c->qnext = NULL;
  c->qprev = h->qtail;
  if (h->qtail != NULL)
    h->qtail->qnext = c;
  else
    h->qhead = c;
  h->qtail = c;
  h->queued++;
}

static void queue_remove(baton_redis_hub *h, baton_redis_chan *c) {
  if (c->qprev != NULL)
    c->qprev->qnext = c->qnext;
  else
    h->qhead = c->qnext;
  if (c->qnext != NULL)
    c->qnext->qprev = c->qprev;
  else
    h->qtail = c->qprev;
  c->qprev = c->qnext = NULL;
  h->queued--;
}

/* A counted reference to channel `name`, made when new. NULL: out of memory. */
static baton_redis_chan *chan_ref(baton_redis_hub *h, const char *name, uint8_t slot) {
  size_t len = strlen(name);
  baton_redis_chan *c = chan_find(h, name, len);
  if (c == NULL) {
    if (h->nchans >= h->nbuckets) table_grow(h); /* load past one a bucket */
    if (h->nbuckets == 0 || (c = baton__calloc(1, sizeof *c + len + 1)) == NULL) return NULL;
    memcpy(c->name, name, len + 1);
    c->len = (uint16_t)len; /* at most BATON_NAME_MAX + 9 */
    c->slot = slot;
    c->hash = hash64(name, len);
    c->confirm_at = UNCONFIRMED;
    queue_add(h, c);
    size_t b = bucket(h, c->hash);
    c->next = h->buckets[b];
    h->buckets[b] = c;
    h->nchans++;
  }
  c->refs++;
  return c;
}

static void chan_unlink(baton_redis_hub *h, baton_redis_chan *c) {
  for (baton_redis_chan **at = &h->buckets[bucket(h, c->hash)]; *at != NULL; at = &(*at)->next)
    if (*at == c) {
      *at = c->next;
      h->nchans--;
      return;
    }
}

/* What a candidate's subscription has heard so far: a change means "look
 * again". Needs h->mu. */
static uint64_t heard(const baton_redis_sub *sub) {
  uint64_t n = 0;
  for (size_t i = 0; i < 2; i++)
    if (sub->chan[i] != NULL) n += sub->chan[i]->count;
  return n;
}

/* ---- blocked waits on a channel ------------------------------------------------ */

static void wnode_chan_add(wnode *n, size_t k, baton_redis_chan *c) {
  n->chan[k] = c;
  n->cprev[k] = NULL;
  n->cnext[k] = c->waiters;
  if (c->waiters != NULL) c->waiters->cprev[c->waiters->chan[0] == c ? 0 : 1] = n;
  c->waiters = n;
}

static void wnode_chan_remove(wnode *n, size_t k) {
  baton_redis_chan *c = n->chan[k];
  if (c == NULL) return;
  wnode *p = n->cprev[k], *q = n->cnext[k];
  if (p != NULL)
    p->cnext[p->chan[0] == c ? 0 : 1] = q;
  else
    c->waiters = q;
  if (q != NULL) q->cprev[q->chan[0] == c ? 0 : 1] = p;
  n->chan[k] = NULL;
  n->cprev[k] = n->cnext[k] = NULL;
}

/* ---- armed watches -------------------------------------------------------------- */

static void arm_unlist(baton_redis_chan *c, baton_redis_arm *a) {
  if (a->w == NULL) return;
  if (a->prev != NULL)
    a->prev->next = a->next;
  else
    c->head = a->next;
  if (a->next != NULL)
    a->next->prev = a->prev;
  else
    c->tail = a->prev;
  *a = (baton_redis_arm){0};
}

static void arm_append(baton_redis_chan *c, baton_redis_arm *a, baton_redis_watch *w) {
  *a = (baton_redis_arm){.w = w, .prev = c->tail};
  if (c->tail != NULL)
    c->tail->next = a;
  else
    c->head = a;
  c->tail = a;
}

/* The subscription whose arm[c->slot] a is: arms are listed on the
 * channel of their slot only. */
static baton_redis_sub *sub_of_arm(const baton_redis_chan *c, baton_redis_arm *a) {
  return (baton_redis_sub *)(void *)((char *)(a - c->slot) - offsetof(baton_redis_sub, arm));
}

/* Take w's one wake: whether the caller owns it (and must call it). */
static bool claim(baton_redis_watch *w) {
  int one = 1;
  return __atomic_compare_exchange_n(&w->armed, &one, 0, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE);
}

/* A message on c: wake its armed observers (unless `observers` is false:
 * a wake passed on concerns candidates only) and its first listed
 * candidate, which then owes the wake (disarm). One-shot: who is woken
 * leaves the list. A candidate listed but disarmed was woken by another
 * hub for this same release (redlock://), or is being unwatched (which
 * passes the wake on) or armed again (which hears the message): it is the
 * one all the same, else every instance's copy of one release would wake
 * another candidate. A look (sub_look) unlists a candidate woken, so a
 * listing left behind never outlives its look. Needs h->mu. */
static void wake_armed(baton_redis_chan *c, bool observers, bool candidates) {
  bool one = !candidates;
  for (baton_redis_arm *a = c->head, *next; a != NULL; a = next) {
    next = a->next;
    baton_redis_watch *w = a->w;
    if (w->candidate ? one : !observers) continue;
    baton_redis_sub *sub = sub_of_arm(c, a);
    arm_unlist(c, a);
    bool mine = claim(w);
    if (w->candidate) {
      one = true;
      sub->owes = true;
    }
    if (mine) w->wake(w->ctx);
  }
}

/* Take sub's watch out of its channels' lists; a wake it owes is used
 * (it looks, or arms again) or, when `passes_on`, woken in the next
 * armed candidate (it leaves instead). Needs h->mu. */
static void disarm(baton_redis_sub *sub, bool passes_on) {
  for (size_t i = 0; i < 2; i++)
    if (sub->chan[i] != NULL) arm_unlist(sub->chan[i], &sub->arm[i]);
  if (!sub->owes) return;
  sub->owes = false;
  if (passes_on && sub->chan[0] != NULL) wake_armed(sub->chan[0], false, true);
}

/* ---- waking ------------------------------------------------------------------ */

static void wake_waiter(waiter *w, bool cancelled) {
  pthread_mutex_lock(&w->mu);
  if (cancelled)
    w->cancelled = true;
  else
    w->woken = true;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->mu);
}

static void nudge(baton_redis_hub *h) {
  uint64_t one = 1;
  if (h->wake_fd >= 0 && write(h->wake_fd, &one, sizeof one) < 0) {
    /* The counter is full: it is readable anyway. */
  }
}

/* The subscriber is gone: every wait looks again, every subscription is of
 * an older epoch now. Needs h->mu. */
static void hub_break(baton_redis_hub *h) {
  if (h->ctx != NULL) redisFree(h->ctx);
  h->ctx = NULL;
  h->epoch++;
  for (size_t b = 0; b < h->nbuckets; b++)
    for (baton_redis_chan *c = h->buckets[b]; c != NULL; c = c->next) {
      if (c->confirm_at != UNCONFIRMED) { /* the next connection needs it again */
        c->confirm_at = UNCONFIRMED;
        queue_add(h, c);
      }
      while (c->head != NULL) { /* every armed watch, candidates too */
        baton_redis_watch *w = c->head->w;
        arm_unlist(c, c->head);
        if (claim(w)) w->wake(w->ctx);
      }
    }
  for (wnode *n = h->waiters; n != NULL; n = n->next) wake_waiter(n->w, false);
  pthread_cond_broadcast(&h->cond);
}

/* ---- the reader thread -------------------------------------------------------- */

static bool is_kind(const redisReply *r, const char *kind) {
  return r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
         r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, kind) == 0;
}

/* Whether this copy of a release wakes a candidate: yes without a shared
 * table; with one, when it is the table's quorum-th copy of the attempt.
 * An attempt is its value less the token: "<nonce> <identity>" is the
 * same on every instance, while the token of an attempt that did not win
 * is each instance's own vote. Needs h->mu. */
static bool release_due(baton_redis_hub *h, const baton_redis_chan *c, const redisReply *v) {
  baton_redis_served *t = h->served;
  if (t == NULL) return true;
  if (v->type != REDIS_REPLY_STRING) return false;
  const char *space = memchr(v->str, ' ', v->len);
  size_t skip = space != NULL ? (size_t)(space - v->str) : 0;
  uint64_t name = c->hash, value = hash64(v->str + skip, v->len - skip);
  pthread_mutex_lock(&t->mu);
  size_t i = (size_t)(name % BATON_REDIS_SERVED_SLOTS);
  if (t->slot[i].name != name) {
    memset(&t->slot[i], 0, sizeof t->slot[i]);
    t->slot[i].name = name;
  }
  size_t k = 0;
  while (k < BATON_REDIS_SERVED_KEEP && t->slot[i].value[k] != value) k++;
  if (k == BATON_REDIS_SERVED_KEEP) { /* a release not heard before */
    k = t->slot[i].next;
    t->slot[i].next = (unsigned)((k + 1) % BATON_REDIS_SERVED_KEEP);
    t->slot[i].value[k] = value;
    t->slot[i].copies[k] = 0;
  }
  bool due = ++t->slot[i].copies[k] == t->quorum;
  pthread_mutex_unlock(&t->mu);
  return due;
}

/* One reply read on the subscriber. Needs h->mu. */
static void take_reply(baton_redis_hub *h, const redisReply *r) {
  if (is_kind(r, "message") && r->element[1]->type == REDIS_REPLY_STRING) {
    baton_redis_chan *c = chan_find(h, r->element[1]->str, r->element[1]->len);
    if (c == NULL) return; /* unsubscribed since */
    c->count++;
    for (wnode *n = c->waiters; n != NULL; n = n->cnext[n->chan[0] == c ? 0 : 1])
      wake_waiter(n->w, false);
    /* Observers hear every copy (a look more at most); a candidate is
     * woken once the name is free on a quorum (release_due). */
    wake_armed(c, true, release_due(h, c, r->element[2]));
  } else if (is_kind(r, "subscribe") || is_kind(r, "unsubscribe")) {
    h->read++;
    pthread_cond_broadcast(&h->cond);
  } else if (r->type == REDIS_REPLY_ERROR) {
    /* A refused SUBSCRIBE (an ACL without the channel, say) would leave
     * the reply count wrong: the connection goes, and waits say why. */
    bool auth = strncmp(r->str, "NOPERM", 6) == 0 || strncmp(r->str, "NOAUTH", 6) == 0;
    h->refused = auth ? BATON_EAUTH : BATON_EREFUSED;
    snprintf(h->refusal, sizeof h->refusal, "%.190s", r->str);
    hub_break(h);
  }
}

/* Read what came, without blocking. Needs h->mu. */
static void hub_read(baton_redis_hub *h) {
  if (h->ctx == NULL) return;
  if (baton__redis_read_ready(h->ctx) != 0) {
    hub_break(h);
    return;
  }
  for (;;) { /* what was read is finite: each reply consumes some of it */
    void *reply = NULL;
    if (redisReaderGetReply(h->ctx->reader, &reply) != REDIS_OK) {
      hub_break(h);
      return;
    }
    if (reply == NULL) return;
    take_reply(h, reply);
    freeReplyObject(reply);
    if (h->ctx == NULL) return;
  }
}

/* The poll set: the wake descriptor, the subscriber, and the cancel
 * descriptor of every blocked wait not yet cancelled. Needs h->mu. */
static size_t build_poll_set(baton_redis_hub *h) {
  size_t need = 2;
  for (wnode *n = h->waiters; n != NULL; n = n->next) need++;
  if (need > h->pfd_cap) {
    struct pollfd *grown = baton__realloc(h->pfd, need * 2 * sizeof *grown);
    if (grown != NULL) {
      h->pfd = grown;
      h->pfd_cap = need * 2;
    }
  }
  size_t m = 0;
  if (h->pfd_cap < 2) return 0;
  h->pfd[m++] = (struct pollfd){.fd = h->wake_fd, .events = POLLIN};
  h->pfd[m++] = (struct pollfd){.fd = h->ctx != NULL ? h->ctx->fd : -1, .events = POLLIN};
  for (wnode *n = h->waiters; n != NULL && m < h->pfd_cap; n = n->next)
    if (n->w->cancel_fd >= 0 && !n->cancel_seen)
      h->pfd[m++] = (struct pollfd){.fd = n->w->cancel_fd, .events = POLLIN};
  return m;
}

static void *reader_main(void *arg) {
  baton_redis_hub *h = arg;
  pthread_mutex_lock(&h->mu);
  while (!h->stop) { /* until the session closes */
    size_t m = build_poll_set(h);
    redisContext *polled = h->ctx;
    pthread_mutex_unlock(&h->mu);
    /* No timeout: every change of the poll set writes wake_fd. */
    int k = m > 0 ? poll(h->pfd, m, -1) : 0;
    pthread_mutex_lock(&h->mu);
    if (k < 0 && errno != EINTR) {
      /* Nothing we passed can make poll fail but a lack of memory:
       * every wait still ends at its re-check time. */
      pthread_mutex_unlock(&h->mu);
      struct timespec pause = {0, 10 * 1000 * 1000};
      nanosleep(&pause, NULL);
      pthread_mutex_lock(&h->mu);
      continue;
    }
    if (k <= 0) continue;
    if (h->pfd[0].revents != 0) {
      uint64_t v;
      if (read(h->wake_fd, &v, sizeof v) < 0) { /* reset; another may come later */
      }
    }
    if (h->pfd[1].revents != 0 && h->ctx == polled) hub_read(h);
    for (size_t i = 2; i < m; i++) {
      if (h->pfd[i].revents == 0) continue;
      for (wnode *n = h->waiters; n != NULL; n = n->next)
        if (n->w->cancel_fd == h->pfd[i].fd && !n->cancel_seen) {
          n->cancel_seen = true;
          wake_waiter(n->w, true);
        }
    }
  }
  pthread_mutex_unlock(&h->mu);
  return NULL;
}

/* ---- the hub's life ------------------------------------------------------------ */

/* A condition variable on CLOCK_MONOTONIC (timed_wait's clock). */
static void cond_init(pthread_cond_t *cond) {
  pthread_condattr_t a;
  pthread_condattr_init(&a);
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  pthread_cond_init(cond, &a);
  pthread_condattr_destroy(&a);
}

int baton__redis_hub_init(baton_redis_session *s) {
  baton_redis_hub *h = baton__calloc(1, sizeof *h);
  if (h == NULL) return BATON_ENOMEM;
  pthread_mutex_init(&h->mu, NULL);
  cond_init(&h->cond);
  h->epoch = 1;
  h->wake_fd = -1;
  s->hub = h;
  return 0;
}

void baton__redis_hub_fini(baton_redis_session *s) {
  baton_redis_hub *h = s->hub;
  if (h == NULL) return;
  pthread_mutex_lock(&h->mu);
  h->stop = true;
  nudge(h);
  bool running = h->running;
  pthread_mutex_unlock(&h->mu);
  if (running) pthread_join(h->reader, NULL);
  if (h->ctx != NULL) redisFree(h->ctx);
  for (size_t b = 0; b < h->nbuckets; b++)
    for (baton_redis_chan *c = h->buckets[b], *next; c != NULL; c = next) {
      next = c->next;
      baton__free(c);
    }
  baton__free(h->buckets);
  if (h->wake_fd >= 0) close(h->wake_fd);
  baton__free(h->pfd);
  pthread_cond_destroy(&h->cond);
  pthread_mutex_destroy(&h->mu);
  baton__free(h);
  s->hub = NULL;
}

/* Start the reader at the first wait. Needs h->mu. */
static int hub_start(baton_redis_hub *h) {
  if (h->running) return 0;
  if (h->wake_fd < 0 && (h->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
    return BATON_ENOMEM;
  /* The reader takes no signal: a process's signals stay with the threads
   * that expect them (it inherits this mask). */
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  int rc = pthread_create(&h->reader, NULL, reader_main, h);
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  if (rc != 0) return BATON_ENOMEM;
  h->running = true;
  return 0;
}

/* Block on cond (made by cond_init) until `deadline` at the latest, or a
 * signal. Needs mu. */
static void timed_wait(pthread_cond_t *cond, pthread_mutex_t *mu, int64_t deadline) {
  int64_t left = deadline - baton__now();
  if (left <= 0) return;
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  int64_t ns = (int64_t)t.tv_nsec + left % BATON_NS_PER_S;
  t.tv_sec += (time_t)(left / BATON_NS_PER_S + ns / BATON_NS_PER_S);
  t.tv_nsec = (long)(ns % BATON_NS_PER_S);
  pthread_cond_timedwait(cond, mu, &t);
}

/* SUBSCRIBE the channels with interest that the current connection lacks
 * (the queue), HUB_SUBSCRIBE_CHUNK per command, all in one write. Needs
 * h->mu and a connection. */
static int send_subscribes(baton_redis_session *s, baton_redis_hub *h, int64_t deadline,
                           baton_error *err) {
  size_t n = h->queued;
  if (n == 0) return 0;
  size_t ncmds = (n + HUB_SUBSCRIBE_CHUNK - 1) / HUB_SUBSCRIBE_CHUNK;
  const char **argv = baton__calloc(n + ncmds, sizeof *argv);
  baton_redis_cmd *cmds = baton__calloc(ncmds, sizeof *cmds);
  if (argv == NULL || cmds == NULL) {
    baton__free(argv);
    baton__free(cmds);
    return baton__error(err, BATON_ENOMEM, "%s: subscribe: out of memory", s->label);
  }
  size_t at = 0, k = 0;
  for (size_t i = 0; i < n; i++) { /* n: the queue's length */
    baton_redis_chan *c = h->qhead;
    queue_remove(h, c);
    if (k == 0 || cmds[k - 1].argc == HUB_SUBSCRIBE_CHUNK + 1) {
      cmds[k++] = (baton_redis_cmd){1, argv + at};
      argv[at++] = "SUBSCRIBE";
    }
    argv[at++] = c->name;
    cmds[k - 1].argc++;
    c->confirm_at = ++h->sent;
  }
  int rc = baton__redis_send(h->ctx, s, cmds, k, deadline, "subscribe", err);
  baton__free(argv);
  baton__free(cmds);
  if (rc != 0) hub_break(h);
  return rc;
}

/* A connection for the hub, made by this wait unless another is making
 * one. Needs h->mu (let go while connecting). */
static int hub_connect(baton_redis_session *s, baton_redis_hub *h, int64_t deadline,
                       baton_error *err) {
  for (int tries = 0; h->ctx == NULL && tries < 1000; tries++) {
    if (baton__now() >= deadline)
      return baton__error(err, BATON_ETIMEDOUT, "%s: subscribe: deadline passed", s->label);
    if (h->connecting) {
      timed_wait(&h->cond, &h->mu, deadline);
      continue;
    }
    h->connecting = true;
    pthread_mutex_unlock(&h->mu);
    redisContext *ctx = NULL;
    int rc = baton__redis_connect(&ctx, s, deadline, err);
    pthread_mutex_lock(&h->mu);
    h->connecting = false;
    pthread_cond_broadcast(&h->cond);
    if (rc != 0) return rc;
    h->ctx = ctx;
    h->sent = h->read = 0;
    h->refused = 0;
    nudge(h); /* poll the new socket */
  }
  return h->ctx != NULL ? 0 : baton__error(err, BATON_ECONNECT, "%s: subscribe: no connection",
                                          s->label);
}

/* ---- what candidates call ---------------------------------------------------- */

static void drop_interest(baton_redis_session *s, baton_redis_hub *h, baton_redis_sub *sub);

/* After a failed subscribe: a channel the server refuses must not go out
 * again with every other candidate's at the next reconnect. Needs h->mu. */
static int sub_failed(baton_redis_session *s, baton_redis_hub *h, baton_redis_sub *sub, int rc) {
  if (rc == BATON_EREFUSED || rc == BATON_EAUTH) drop_interest(s, h, sub);
  return rc;
}

int baton__redis_sub_send(baton_redis_sub *sub, baton_redis_session *s, const char *name,
                          bool observer, uint64_t *epoch, int64_t deadline, baton_error *err) {
  baton_redis_hub *h = s->hub;
  pthread_mutex_lock(&h->mu);
  int rc = hub_start(h);
  if (rc != 0) rc = baton__error(err, rc, "%s: subscribe: no reader thread", s->label);
  for (size_t i = 0; rc == 0 && i < (observer ? 2u : 1u); i++) {
    if (sub->chan[i] != NULL) continue; /* interest kept since an earlier epoch */
    char ch[BATON_NAME_MAX + 16];
    snprintf(ch, sizeof ch, i == 0 ? "%s/released" : "%s/elected", name);
    if ((sub->chan[i] = chan_ref(h, ch, (uint8_t)i)) == NULL)
      rc = baton__error(err, BATON_ENOMEM, "%s: subscribe: out of memory", s->label);
  }
  if (rc == 0) rc = hub_connect(s, h, deadline, err);
  if (rc == 0) rc = send_subscribes(s, h, deadline, err);
  *epoch = h->epoch;
  if (rc != 0) sub_failed(s, h, sub, rc);
  pthread_mutex_unlock(&h->mu);
  return rc;
}

int baton__redis_sub_confirm(baton_redis_sub *sub, baton_redis_session *s, uint64_t epoch,
                             int64_t deadline, baton_error *err) {
  baton_redis_hub *h = s->hub;
  pthread_mutex_lock(&h->mu);
  int rc = 0;
  bool confirmed = false;
  for (int rounds = 0; !confirmed && rounds < 100000; rounds++) {
    confirmed = true;
    for (size_t i = 0; i < 2; i++)
      if (sub->chan[i] != NULL && h->read < sub->chan[i]->confirm_at) confirmed = false;
    if (h->epoch != epoch || h->ctx == NULL) {
      rc = h->refused != 0 ? baton__error(err, h->refused, "%s: subscribe: %s", s->label,
                                          h->refusal)
                           : baton__error(err, BATON_ECONNECT,
                                          "%s: subscribe: the connection broke", s->label);
      break;
    }
    if (confirmed) break; /* in effect on the server */
    if (baton__now() >= deadline) break;
    timed_wait(&h->cond, &h->mu, deadline);
  }
  if (rc == 0 && !confirmed)
    rc = baton__error(err, BATON_ETIMEDOUT, "%s: subscribe: no reply by the deadline", s->label);
  if (rc == 0) {
    sub->epoch = epoch;
    sub->seen = heard(sub);
  }
  rc = rc != 0 ? sub_failed(s, h, sub, rc) : 0;
  pthread_mutex_unlock(&h->mu);
  return rc;
}

int baton__redis_sub_open(baton_redis_sub *sub, baton_redis_session *s, const char *name,
                          bool observer, int64_t deadline, baton_error *err) {
  uint64_t epoch = 0;
  int rc = baton__redis_sub_send(sub, s, name, observer, &epoch, deadline, err);
  return rc != 0 ? rc : baton__redis_sub_confirm(sub, s, epoch, deadline, err);
}

void baton__redis_hub_share(baton_redis_session *s, baton_redis_served *served) {
  pthread_mutex_lock(&s->hub->mu);
  s->hub->served = served;
  pthread_mutex_unlock(&s->hub->mu);
}

int baton__redis_hub_start(baton_redis_session *s) {
  pthread_mutex_lock(&s->hub->mu);
  int rc = hub_start(s->hub);
  pthread_mutex_unlock(&s->hub->mu);
  return rc;
}

bool baton__redis_sub_look(baton_redis_sub *sub, baton_redis_session *s) {
  if (sub->epoch == 0) return false;
  baton_redis_hub *h = s->hub;
  pthread_mutex_lock(&h->mu);
  bool live = h->ctx != NULL && sub->epoch == h->epoch;
  /* A wake owed is answered, and a listing left by another hub's wake
   * goes: a message during the look shows in what it heard. */
  disarm(sub, false);
  if (live)
    sub->seen = heard(sub);
  else
    sub->epoch = 0; /* gone: the next wait subscribes anew */
  pthread_mutex_unlock(&h->mu);
  return live;
}

/* Drop sub's interest. Needs h->mu. */
static void drop_interest(baton_redis_session *s, baton_redis_hub *h, baton_redis_sub *sub) {
  disarm(sub, true);
  for (size_t i = 0; i < 2; i++) {
    baton_redis_chan *c = sub->chan[i];
    if (c == NULL || --c->refs > 0) continue;
    if (h->ctx != NULL && c->confirm_at != UNCONFIRMED) {
      /* Its reply counts as any confirmation does. A failed send breaks
       * the subscriber, which leaves every channel. */
      const char *argv[] = {"UNSUBSCRIBE", c->name};
      baton_redis_cmd cmd = {2, argv};
      h->sent++;
      if (baton__redis_send(h->ctx, s, &cmd, 1, baton__now() + s->base.cfg->op_timeout_ns,
                            "unsubscribe", NULL) != 0)
        hub_break(h);
    }
    if (c->confirm_at == UNCONFIRMED) queue_remove(h, c); /* never to be sent */
    /* A wait still listed on it (its sub dropped under it) hears no more
     * of it, as before; it still wakes when the subscriber breaks. */
    while (c->waiters != NULL) /* each turn takes one off a finite list */
      wnode_chan_remove(c->waiters, c->waiters->chan[0] == c ? 0 : 1);
    chan_unlink(h, c);
    baton__free(c);
  }
  *sub = (baton_redis_sub){0};
}

void baton__redis_sub_close(baton_redis_sub *sub, baton_redis_session *s) {
  baton_redis_hub *h = s->hub;
  if (h == NULL) return;
  pthread_mutex_lock(&h->mu);
  drop_interest(s, h, sub);
  pthread_mutex_unlock(&h->mu);
}

void baton__redis_arm(baton_redis_watch *w, baton_redis_sub *subs, baton_redis_session *ss,
                      size_t n, bool candidate, baton_wake_fn wake, void *ctx) {
  if (n > BATON_URI_MAX_HOSTS) n = BATON_URI_MAX_HOSTS;
  /* Disarmed and out of every list first: a reader that took the last
   * wake has called it once its hub's lock is ours, and no reader reads
   * the fields below until `armed` says so again. */
  __atomic_store_n(&w->armed, 0, __ATOMIC_RELEASE);
  for (size_t i = 0; i < n; i++) {
    pthread_mutex_lock(&ss[i].hub->mu);
    disarm(&subs[i], false);
    pthread_mutex_unlock(&ss[i].hub->mu);
  }
  w->wake = wake;
  w->ctx = ctx;
  if (w->candidate != candidate) w->candidate = candidate; /* set once: readers read it unlocked */
  /* Armed before it is listed anywhere: a message on a hub already listed
   * wakes it, and one on a hub not yet listed shows in what it heard. */
  __atomic_store_n(&w->armed, 1, __ATOMIC_RELEASE);
  size_t listed = 0;
  bool news = false;
  for (size_t i = 0; i < n && !news; i++) {
    baton_redis_sub *sub = &subs[i];
    if (sub->epoch == 0) continue; /* never subscribed there, or known gone */
    baton_redis_hub *h = ss[i].hub;
    pthread_mutex_lock(&h->mu);
    if (sub->epoch != h->epoch || h->ctx == NULL) {
      sub->epoch = 0; /* the next watch subscribes anew */
      news = true;
    } else if (heard(sub) != sub->seen) {
      news = true;
    } else {
      for (size_t k = 0; k < 2; k++)
        if (sub->chan[k] != NULL) arm_append(sub->chan[k], &sub->arm[k], w);
      listed++;
    }
    /* Woken here under the lock, as a reader would: an unwatch that
     * follows waits for it. */
    if (news && claim(w)) wake(ctx);
    pthread_mutex_unlock(&h->mu);
  }
  if (!news && listed == 0 && claim(w)) wake(ctx); /* nothing to listen on: look again */
}

void baton__redis_unwatch(baton_redis_watch *w, baton_redis_sub *subs, baton_redis_session *ss,
                          size_t n) {
  if (n > BATON_URI_MAX_HOSTS) n = BATON_URI_MAX_HOSTS;
  __atomic_store_n(&w->armed, 0, __ATOMIC_RELEASE);
  /* A reader that took the wake before calls it under its hub's lock:
   * once each lock has been ours, no wake runs. */
  for (size_t i = 0; i < n; i++) {
    if (ss[i].hub == NULL) continue;
    pthread_mutex_lock(&ss[i].hub->mu);
    disarm(&subs[i], true);
    pthread_mutex_unlock(&ss[i].hub->mu);
  }
}

void baton__redis_sub_follow(baton_redis_session *s, uint64_t generation) {
  baton_redis_hub *h = s->hub;
  pthread_mutex_lock(&h->mu);
  if (h->follow != generation) {
    h->follow = generation;
    if (h->ctx != NULL) hub_break(h);
  }
  pthread_mutex_unlock(&h->mu);
}

/* Stop waiting on ss[0..n): unlist w from every hub it is listed on. */
static void unlist(waiter *w, baton_redis_session *ss, size_t n) {
  for (size_t i = 0; i < n; i++) {
    wnode *node = &w->nodes[i];
    if (node->w == NULL) continue;
    baton_redis_hub *h = ss[i].hub;
    pthread_mutex_lock(&h->mu);
    if (node->prev != NULL)
      node->prev->next = node->next;
    else
      h->waiters = node->next;
    if (node->next != NULL) node->next->prev = node->prev;
    for (size_t k = 0; k < 2; k++) wnode_chan_remove(node, k);
    if (w->cancel_fd >= 0) nudge(h); /* stop polling a descriptor that may close */
    pthread_mutex_unlock(&h->mu);
  }
}

int baton__redis_sub_wait(baton_redis_sub *subs, baton_redis_session *ss, size_t n,
                          int64_t until, int cancel_fd) {
  if (n > BATON_URI_MAX_HOSTS) n = BATON_URI_MAX_HOSTS;
  waiter w = {.cancel_fd = cancel_fd};
  pthread_mutex_init(&w.mu, NULL);
  cond_init(&w.cond);
  int rc = 0;
  size_t listed = 0;
  /* Listed under each hub's lock after checking what it heard, so no
   * message between the caller's look and this block goes unnoticed. */
  for (size_t i = 0; rc == 0 && i < n; i++) {
    baton_redis_sub *sub = &subs[i];
    if (sub->epoch == 0) continue; /* never subscribed there, or known gone */
    baton_redis_hub *h = ss[i].hub;
    pthread_mutex_lock(&h->mu);
    if (sub->epoch != h->epoch || h->ctx == NULL) {
      sub->epoch = 0; /* said once; the next subscribe makes it anew */
      rc = BATON_ECONNECT;
    } else if (heard(sub) != sub->seen) {
      rc = 1;
    } else {
      wnode *node = &w.nodes[i];
      *node = (wnode){.w = &w, .sub = sub, .next = h->waiters};
      if (h->waiters != NULL) h->waiters->prev = node;
      h->waiters = node;
      for (size_t k = 0; k < 2; k++)
        if (sub->chan[k] != NULL) wnode_chan_add(node, k, sub->chan[k]);
      listed++;
      if (cancel_fd >= 0) nudge(h); /* poll our cancel descriptor too */
    }
    pthread_mutex_unlock(&h->mu);
  }
  if (rc == 0 && listed == 0) {
    rc = baton__wait_for_cancel(cancel_fd, until);
  } else if (rc == 0) {
    pthread_mutex_lock(&w.mu);
    for (int rounds = 0; rounds < 1000000; rounds++) { /* bounded by `until` too */
      if (w.cancelled) {
        rc = BATON_ECANCELED;
        break;
      }
      if (w.woken) {
        rc = 1;
        break;
      }
      if (baton__now() >= until) break;
      timed_wait(&w.cond, &w.mu, until);
    }
    pthread_mutex_unlock(&w.mu);
  }
  unlist(&w, ss, n);
  pthread_cond_destroy(&w.cond);
  pthread_mutex_destroy(&w.mu);
  /* A cancel that came with anything else still wins: it is prompt. */
  struct pollfd p = {.fd = cancel_fd, .events = POLLIN};
  if (rc != BATON_ECANCELED && cancel_fd >= 0 && poll(&p, 1, 0) > 0) rc = BATON_ECANCELED;
  for (size_t i = 0; rc == 1 && i < n; i++) {
    /* A subscriber that broke is said as such: its candidate subscribes anew. */
    if (subs[i].epoch == 0) continue;
    baton_redis_hub *h = ss[i].hub;
    pthread_mutex_lock(&h->mu);
    if (subs[i].epoch != h->epoch || h->ctx == NULL) {
      subs[i].epoch = 0;
      rc = BATON_ECONNECT;
    }
    pthread_mutex_unlock(&h->mu);
  }
  return rc;
}
