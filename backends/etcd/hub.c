/* hub.c — the etcd backend's subscriptions (watch, unwatch): ONE watch
 * stream per session, on the session's whole key prefix, read by ONE
 * thread, that demultiplexes every event by name to the armed watches.
 * 10,000 observed names or queued candidates cost one HTTP stream, one
 * TCP connection and one thread, not one of each per name.
 *
 * The stream. It watches every key under the URI's prefix (es->prefix; an
 * empty prefix is the whole key space, key and range_end "\0"), starting
 * at the revision after the first watch's range. An event's name is the
 * part of its key after the prefix up to the first '/': the range of a
 * name, `<prefix><name>/`, holds exactly the keys whose name that is (a
 * name has no '/'). A proclaimed term's identity key `<name>#id/..` has a
 * '#' in that part, which no name has: no watch sees it (the candidate
 * key changes in the same transaction, and that one is seen). A fixed
 * lease's key `<name>/<hex>.fixed` is a key of its name like any other; it
 * goes with its own lease, and etcd sends that DELETE too.
 *
 * What wakes whom. An observer that saw leader key L wakes on L's DELETE
 * or on a write to L (a proclaim; not for a fixed lease, whose extend
 * rewrites its key without changing what an observer sees); one that saw
 * nobody wakes on the first PUT of its name (keys made later are younger
 * than L, so no other event can change who leads). A queued candidate
 * wakes on the DELETE of its predecessor, the key just older than its own,
 * or on any event on its own key. So one release wakes one waiter of a
 * name however many queue behind it: each waits for another key.
 *
 * No missed event. Each watch ranges first, at revision R0 (a
 * linearizable read), and decides from what it read, as the blocking wait
 * does (watch.c): what matters from then on is an event of revision
 * > R0. The stream delivers events in revision order, one revision's
 * events in one message; H is the revision delivered up to, and a ring
 * keeps the last HUB_RING events (key, DELETE or not, revision), every
 * event in [floor, H]. Arming under the hub's lock: when R0 >= H, every
 * event > R0 is still to come and is matched as it comes (events <= R0
 * are skipped by revision). When R0 < H, the events in (R0, H] have passed:
 * if the ring holds them all (floor <= R0 + 1) they are matched now, by
 * revision, exactly as if they came live; if not, the watch wakes at once
 * (a spurious wake-up, which the contract allows: the core looks again
 * and arms after a fresh range). Either way each event > R0 is matched
 * exactly once, in revision order.
 *
 * Next in line. When the range shows our key as we made it and exactly
 * one older key P, the revision R of P's DELETE proves the election, as
 * in watch.c: from R0 on the set of keys older than ours only shrinks,
 * and if no event up to and including revision R touched our key, ours
 * was the lowest at R. The hub matches a whole revision at once (live: the
 * run of one message's events with that revision; at arm: the ring's), so
 * an event on our key in P's revision voids the proof (then it wakes
 * without one). The proof goes to the candidate's next acquire, which
 * needs no request.
 *
 * Breaks. A stream that ends, fails or is refused by its member resumes,
 * on the next member and with a bounded back-off once every member failed
 * in a row, at H + 1: nothing is missed, so nobody is woken. A member
 * that hangs says nothing: the stream follows the transport's member (a
 * request that failed elsewhere moves it on) within a second, and starts
 * anew after HUB_STREAM_NS anyway (TCP keepalives find a dead peer
 * sooner). Progress notifications (etcd sends one every 10 minutes by
 * default, only to a watcher that has had every event) move H on while
 * the prefix is quiet, so a resume rarely meets a compaction. A resume
 * refused because H + 1 was compacted wakes every armed watch and goes on
 * from the compaction. While
 * no stream is up, watches still arm (the ring and H keep them right) and
 * are told to look again after the op timeout; a break that lasts an op
 * timeout wakes the watches armed before it too, once (then the core
 * looks every op timeout until the stream is back: with many names, a
 * read per name and op timeout, the price of not waiting blind). A new
 * session lease (renew, after the old one expired) wakes every watch:
 * their keys went with the old lease.
 *
 * Measured (tests/etcd/watch_test.c, etcd 3.4.23, loopback, Debug build):
 * streams per session: 1, whatever the number of names. 10,000 observer
 * watches on 10,000 names: the process went from 1 to 2 threads and from
 * 12 to 27 descriptors with the first 200 armed (the hub's thread, the
 * hub's conn: its TCP socket and its multi handle's wake-up pair, and the
 * pooled conns of the test's 4 arming threads), and stayed at 2 and 27
 * with all 10,000 armed; 9,800 armed in about 4.3 s (one range each). One
 * release wakes 1 of 1,000 queued candidates of a session.
 *
 * Many creates on one stream instead? The gateway's /v3/watch does read a
 * stream of requests from the request body: two create_requests in one
 * body make two watches on one HTTP stream (watch_id 0, omitted as a zero,
 * and 1; every event message names its watch_id), and a chunked body
 * left open takes a create sent a second later too (both seen with curl
 * on 3.4.23). So one stream per session could also carry a watch per armed
 * name. The prefix watch is the better fit here: one watcher on the server
 * instead of one per armed name, no create and cancel round trip per arm
 * and unwatch (unwatch must not block on I/O), no watch_id bookkeeping
 * across resumes, and an upload that libcurl keeps paused between
 * requests is one more state to get wrong. Its cost: every change under
 * the prefix reaches every session watching it, wanted or not (a queue of
 * 1,000 on one name is 1,000 events to each such session), so a
 * deployment that shares one prefix among unrelated busy users should
 * give baton a prefix of its own (the URI's path). */
#include "etcd.h"

#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define HUB_RING 4096                               /* events kept for late arms */
#define HUB_RING_FIRST 64                           /* the ring's first size: it grows */
#define HUB_BUCKETS_FIRST 1024                      /* hash chains at first */
#define HUB_POLL_NS (1 * BATON_NS_PER_S)            /* the reader looks around this often */
#define HUB_STREAM_NS (1800 * (int64_t)BATON_NS_PER_S) /* a stream's life; it resumes after */
#define HUB_STREAM_SLACK_NS (5 * BATON_NS_PER_S)    /* libcurl's own bound beyond that */
#define HUB_STEADY_NS (5 * BATON_NS_PER_S)          /* a stream that lived this long was no failure */

enum { SUB_IDLE = 0, SUB_ARMED = 1, SUB_PENDING = 2 };

/* One event as the hub matches it: live (pointing into a message) or in
 * the ring (owning its key). */
typedef struct hub_ev {
  char *key;
  size_t len;
  bool del;
  int64_t rev;
  size_t scope_len; /* deliver's: of scope_of, and its hash */
  uint32_t scope_hash;
} hub_ev;

struct baton_etcd_hub {
  baton_etcd_session *es;
  pthread_mutex_t mu;            /* guards everything below but conn */
  bool running;                  /* the reader thread exists */
  bool stop;                     /* close asks the reader to end */
  pthread_t reader;
  baton_etcd_conn *conn;         /* the reader's own (its stream) */
  baton_etcd_sub **buckets;      /* armed watches by hash of scope */
  size_t nbuckets;               /* a power of two */
  size_t narmed;                 /* watches in buckets */
  baton_etcd_sub *pending;       /* to wake at once, by the reader */
  bool positioned;               /* h and floor are set (a first range) */
  int64_t h;                     /* events are delivered up to here (H) */
  int64_t floor;                 /* the ring holds every event in [floor, h] */
  bool up;                       /* a stream is created and read now */
  int64_t down_since;            /* when the last stream broke; 0 while up */
  bool down_woken;               /* this break already woke every watch */
  hub_ev *ring;                  /* the last events, oldest at ring_head */
  size_t ring_head, ring_n, ring_cap;
  uint64_t streams, compactions, wakes; /* figures for tests */
};

static uint32_t hash_of(const char *p, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 16777619u;
  return h;
}

static bool same(const char *a, size_t alen, const char *b, size_t blen) {
  return b != NULL && alen == blen && memcmp(a, b, alen) == 0;
}

/* The scope `<prefix><name>/` of an event's key: its length, 0 if the key
 * has no name under the prefix. */
static size_t scope_of(const baton_etcd_hub *h, const char *key, size_t len) {
  size_t plen = strlen(h->es->prefix);
  if (len <= plen || memcmp(key, h->es->prefix, plen) != 0) return 0;
  const char *slash = memchr(key + plen, '/', len - plen);
  return slash != NULL && slash > key + plen ? (size_t)(slash - key) + 1 : 0;
}

/* ---- Matching --------------------------------------------------------------- */

/* Whether the events ev[0..n), all of one revision, wake s; *won gets the
 * revision a next-in-line win was proved at (0: none). The whole revision
 * at once: an event on our key anywhere in it voids the proof. */
static bool verdict(const baton_etcd_sub *s, const hub_ev *ev, size_t n, int64_t *won) {
  *won = 0;
  bool own = false, pred = false;
  for (size_t i = 0; i < n; i++) {
    const hub_ev *e = &ev[i];
    if (e->len < s->scope_len || memcmp(e->key, s->scope, s->scope_len) != 0) continue;
    if (s->kind == BATON_ETCD_SUB_OBSERVER) {
      if (s->other == NULL ? !e->del
                           : same(e->key, e->len, s->other, s->other_len) &&
                                 (e->del || !s->other_fixed))
        return true;
    } else if (s->kind == BATON_ETCD_SUB_QUEUED) {
      own |= same(e->key, e->len, s->own, s->own_len);
      if (e->del && same(e->key, e->len, s->other, s->other_len)) {
        pred = true;
        if (s->next_in_line) *won = e->rev;
      }
    }
  }
  if (own) *won = 0;
  return own || pred;
}

/* ---- The table and the wake-ups (all need h->mu) ---------------------------- */

static void chain_unlink(baton_etcd_sub **head, baton_etcd_sub *s) {
  if (s->prev != NULL) s->prev->next = s->next;
  else *head = s->next;
  if (s->next != NULL) s->next->prev = s->prev;
  s->prev = s->next = NULL;
}

static void chain_push(baton_etcd_sub **head, baton_etcd_sub *s) {
  s->prev = NULL;
  s->next = *head;
  if (*head != NULL) (*head)->prev = s;
  *head = s;
}

/* Double the buckets when chains grow long; on no memory keep them. */
static void table_grow(baton_etcd_hub *h) {
  size_t n = h->nbuckets * 2;
  baton_etcd_sub **b = baton__calloc(n, sizeof *b);
  if (b == NULL) return;
  for (size_t i = 0; i < h->nbuckets; i++)
    while (h->buckets[i] != NULL) {
      baton_etcd_sub *s = h->buckets[i];
      chain_unlink(&h->buckets[i], s);
      chain_push(&b[s->hash & (n - 1)], s);
    }
  baton__free(h->buckets);
  h->buckets = b;
  h->nbuckets = n;
}

/* Take s out of wherever it is (table or pending list): idle. */
static void disarm(baton_etcd_hub *h, baton_etcd_sub *s) {
  if (s->state == SUB_ARMED) {
    chain_unlink(&h->buckets[s->hash & (h->nbuckets - 1)], s);
    h->narmed--;
  } else if (s->state == SUB_PENDING) {
    chain_unlink(&h->pending, s);
  }
  s->state = SUB_IDLE;
}

/* Wake s now, on the reader's thread (the caller). */
static void fire(baton_etcd_hub *h, baton_etcd_sub *s, int64_t won) {
  disarm(h, s);
  s->won = won;
  h->wakes++;
  s->wake(s->ctx);
}

/* Have the reader wake s: a thread other than a watch caller's, which may
 * hold the core's locks. */
static void pend(baton_etcd_hub *h, baton_etcd_sub *s, int64_t won) {
  disarm(h, s);
  s->won = won;
  s->state = SUB_PENDING;
  chain_push(&h->pending, s);
  baton__etcd_conn_wake(h->conn);
}

static void drain(baton_etcd_hub *h) {
  while (h->pending != NULL) fire(h, h->pending, h->pending->won);
}

/* Double the ring, up to HUB_RING; false when it cannot grow. */
static bool ring_grow(baton_etcd_hub *h) {
  size_t cap = h->ring_cap == 0 ? HUB_RING_FIRST : h->ring_cap * 2;
  if (cap > HUB_RING) return false;
  hub_ev *r = baton__calloc(cap, sizeof *r);
  if (r == NULL) return false;
  for (size_t i = 0; i < h->ring_n; i++) r[i] = h->ring[(h->ring_head + i) % h->ring_cap];
  baton__free(h->ring);
  h->ring = r;
  h->ring_cap = cap;
  h->ring_head = 0;
  return true;
}

/* Keep an event in the ring, dropping the oldest when full. */
static void ring_push(baton_etcd_hub *h, const hub_ev *e) {
  if (h->ring_n == h->ring_cap && !ring_grow(h) && h->ring_n > 0) {
    hub_ev *old = &h->ring[h->ring_head];
    if (old->rev + 1 > h->floor) h->floor = old->rev + 1;
    baton__free(old->key);
    old->key = NULL;
    h->ring_head = (h->ring_head + 1) % h->ring_cap;
    h->ring_n--;
  }
  char *key = h->ring_cap > 0 ? baton__strndup(e->key, e->len) : NULL;
  if (key == NULL) {
    /* The ring cannot vouch for this revision: arms before it wake. */
    h->floor = e->rev + 1;
    return;
  }
  hub_ev *slot = &h->ring[(h->ring_head + h->ring_n) % h->ring_cap];
  *slot = (hub_ev){.key = key, .len = e->len, .del = e->del, .rev = e->rev};
  h->ring_n++;
}

/* By name (scope), so that a revision's events of one name lie together. */
static int by_scope(const void *pa, const void *pb) {
  const hub_ev *a = pa, *b = pb;
  if (a->scope_hash != b->scope_hash) return a->scope_hash < b->scope_hash ? -1 : 1;
  if (a->scope_len != b->scope_len) return a->scope_len < b->scope_len ? -1 : 1;
  return memcmp(a->key, b->key, a->scope_len);
}

/* Events of revision ev[0].rev: match them against the armed watches of
 * their names, then keep them. Each name's watches are judged against
 * that name's events only: a lease that held 10,000 names ends in one
 * revision of 10,000 DELETEs. Reorders ev. */
static void deliver(baton_etcd_hub *h, hub_ev *ev, size_t n) {
  int64_t rev = ev[0].rev;
  for (size_t i = 0; i < n; i++) {
    ev[i].scope_len = scope_of(h, ev[i].key, ev[i].len);
    ev[i].scope_hash = hash_of(ev[i].key, ev[i].scope_len);
  }
  if (n > 1) qsort(ev, n, sizeof *ev, by_scope);
  for (size_t i = 0, end; i < n; i = end) {
    for (end = i + 1; end < n && by_scope(&ev[i], &ev[end]) == 0; end++) {
    }
    if (ev[i].scope_len == 0) continue; /* not a name's key */
    baton_etcd_sub *s = h->buckets[ev[i].scope_hash & (h->nbuckets - 1)], *next;
    for (; s != NULL; s = next) {
      next = s->next; /* fire unlinks s only */
      int64_t won;
      if (s->hash == ev[i].scope_hash && s->r0 < rev && verdict(s, ev + i, end - i, &won))
        fire(h, s, won);
    }
  }
  for (size_t i = 0; i < n; i++) ring_push(h, &ev[i]);
  if (rev > h->h) h->h = rev;
}

/* At arm time, the events (s->r0, h] from the ring, revision by revision:
 * true when they wake s (*won as verdict). */
static bool ring_verdict(const baton_etcd_hub *h, const baton_etcd_sub *s, int64_t *won) {
  hub_ev run[64];
  size_t n = 0;
  bool woken = false;
  for (size_t i = 0; i <= h->ring_n && !woken; i++) {
    const hub_ev *e = i < h->ring_n ? &h->ring[(h->ring_head + i) % h->ring_cap] : NULL;
    if (e != NULL && e->rev <= s->r0) continue;
    /* A revision ends at the next one (or the ring's end); a revision of
     * more than 64 events is judged in parts, which can only lose a
     * next-in-line proof (its own key is then not checked in the other
     * parts): the acquire after the wake-up then asks. */
    if (n > 0 && (e == NULL || e->rev != run[0].rev || n == 64)) {
      woken = verdict(s, run, n, won);
      if (woken && n == 64) *won = 0;
      n = 0;
    }
    if (e != NULL && !woken) run[n++] = *e;
  }
  return woken;
}

/* Arm s, armed after a range at s->r0 (see the top of the file). */
static void arm(baton_etcd_hub *h, baton_etcd_sub *s) {
  if (s->kind != BATON_ETCD_SUB_LEASE) {
    if (!h->positioned) {
      /* The first range places the stream: it starts right after it. */
      h->positioned = true;
      h->h = s->r0;
      h->floor = s->r0 + 1;
      baton__etcd_conn_wake(h->conn);
    }
    if (s->r0 < h->h) {
      int64_t won = 0;
      if (h->floor > s->r0 + 1 || ring_verdict(h, s, &won)) {
        pend(h, s, won);
        return;
      }
    }
  }
  if (h->narmed >= 2 * h->nbuckets) table_grow(h);
  chain_push(&h->buckets[s->hash & (h->nbuckets - 1)], s);
  h->narmed++;
  s->state = SUB_ARMED;
}

/* ---- The reader ---------------------------------------------------------------- */

/* A stream message's events, revision by revision. Needs h->mu. */
static void on_events(baton_etcd_hub *h, const baton_etcd_watch_msg *m, hub_ev *run) {
  size_t n = 0;
  for (size_t i = 0; i <= m->nevents; i++) {
    const baton_etcd_event *e = i < m->nevents ? &m->events[i] : NULL;
    if (n > 0 && (e == NULL || e->kv.mod_revision != run[0].rev)) {
      deliver(h, run, n);
      n = 0;
    }
    if (e != NULL)
      run[n++] = (hub_ev){.key = e->kv.key, .len = e->kv.key_len, .del = e->is_delete,
                          .rev = e->kv.mod_revision};
  }
}

/* What one stream message asks of the reader. */
typedef enum { MSG_KEEP, MSG_RESUME, MSG_FAILED } msg_verdict;

static msg_verdict on_message(baton_etcd_hub *h, const cJSON *payload, bool *progress,
                              baton_error *err) {
  baton_etcd_session *es = h->es;
  baton_etcd_watch_msg m;
  int rc = baton__etcd_gw_watch(payload, &m, err);
  if (rc != 0) {
    baton__etcd_conn_blame(h->conn, rc, err);
    return MSG_FAILED;
  }
  msg_verdict v = MSG_KEEP;
  hub_ev *run = m.nevents > 0 ? baton__calloc(m.nevents, sizeof *run) : NULL;
  pthread_mutex_lock(&h->mu);
  if (m.created) {
    h->up = true;
    h->down_since = 0;
    h->down_woken = false;
  }
  if (h->up && !m.created && !m.canceled && m.nevents == 0 && m.revision > h->h) {
    /* A progress notification: etcd sends it only to a watcher that has
     * been sent every event up to its revision. So no event of ours lies
     * between the last one delivered and it, and the ring still holds
     * every event in [floor, H]. */
    h->h = m.revision;
    *progress = true;
  }
  if (m.nevents > 0 && run == NULL) {
    /* Events we cannot match: everyone looks again, and the ring cannot
     * vouch for them. */
    for (size_t b = 0; b < h->nbuckets; b++)
      while (h->buckets[b] != NULL) fire(h, h->buckets[b], 0);
    h->h = m.events[m.nevents - 1].kv.mod_revision;
    h->floor = h->h + 1;
  } else if (m.nevents > 0) {
    on_events(h, &m, run);
    *progress = true;
  }
  if (m.canceled && m.compact_revision > 0) {
    /* Our resume point was compacted: what came between is lost. */
    for (size_t b = 0; b < h->nbuckets; b++)
      while (h->buckets[b] != NULL) fire(h, h->buckets[b], 0);
    h->h = m.compact_revision - 1;
    h->floor = m.compact_revision;
    h->compactions++;
    v = MSG_RESUME;
  }
  pthread_mutex_unlock(&h->mu);
  baton__free(run);
  if (m.canceled && m.compact_revision <= 0) {
    baton_error ignored;
    if (strstr(m.cancel_reason, "invalid auth token") != NULL &&
        baton__etcd_http_relogin(es->http, h->conn, baton__after(es->base.cfg->op_timeout_ns),
                                 &ignored) == 0) {
      v = MSG_RESUME;
    } else {
      baton__error(err, BATON_ECONNECT, "etcd %s: watch cancelled: %.200s",
                   baton__etcd_conn_member(h->conn), m.cancel_reason);
      v = MSG_FAILED;
    }
  }
  baton__etcd_watch_msg_free(&m);
  return v;
}

/* Start the stream at h->h + 1. */
static int stream_begin(baton_etcd_hub *h, int64_t start, int64_t end, baton_error *err) {
  baton_etcd_session *es = h->es;
  baton_etcd_str body = {0};
  size_t plen = strlen(es->prefix);
  baton__etcd_str_cat(&body, "{\"create_request\":{");
  if (plen > 0)
    baton__etcd_req_key(&body, es->prefix, plen, true);
  else /* every key: "\0" to "\0" ("\0" raised would end the range at "\1") */
    baton__etcd_str_cat(&body, "\"key\":\"AA==\",\"range_end\":\"AA==\"");
  /* Progress notifications move H on while the prefix is quiet, so that a
   * resume does not start from a revision compacted meanwhile. */
  baton__etcd_str_printf(&body, ",\"start_revision\":\"%lld\",\"progress_notify\":true}}",
                         (long long)start);
  int rc = body.oom ? baton__error(err, BATON_ENOMEM, "etcd: out of memory")
                    : baton__etcd_stream_start(h->conn, "/v3/watch", body.p, end, err);
  baton__etcd_str_free(&body);
  return rc;
}

/* The reader's state between passes. */
typedef struct reader {
  bool streaming;        /* a stream was started on conn */
  int64_t began;         /* when */
  int64_t end;           /* when it is started anew */
  unsigned failures;     /* in a row, for the back-off */
  int64_t idle_until;    /* no new stream before this (back-off) */
} reader;

/* End the stream. A failure (`why` says which) counts towards the
 * back-off and moves requests on to the next member; a planned resume
 * (its life is over, the transport moved, a compaction, a new token)
 * does neither. */
static void stream_end(baton_etcd_hub *h, reader *r, bool failed, const baton_error *why) {
  baton__etcd_stream_stop(h->conn);
  r->streaming = false;
  pthread_mutex_lock(&h->mu);
  h->up = false;
  if (h->down_since == 0) h->down_since = baton__now();
  pthread_mutex_unlock(&h->mu);
  if (!failed) return;
  int64_t now = baton__now();
  if (now - r->began >= HUB_STEADY_NS) r->failures = 0;
  if (r->failures == 0)
    baton__log(h->es->base.cfg, BATON_LOG_WARN, "etcd: the watch stream broke (%s); resuming",
               why->message);
  baton__etcd_http_next_member(h->es->http, h->conn, why);
  size_t members = baton__etcd_http_members(h->es->http);
  if (++r->failures >= members)
    r->idle_until = now + baton__config_backoff(h->es->base.cfg, r->failures - members);
}

/* One pass of the reader without the lock: start a stream, read one
 * message, or sleep until there is something to do (a wake-up of the
 * conn: a watch pending or placed, close). Each pass blocks HUB_POLL_NS at
 * the most. */
static void reader_pass(baton_etcd_hub *h, reader *r, bool positioned, int64_t start) {
  baton_etcd_session *es = h->es;
  baton_error err = {0};
  int64_t now = baton__now();
  if (!r->streaming) {
    if (!positioned || now < r->idle_until) {
      int64_t until = positioned ? r->idle_until : now + HUB_POLL_NS;
      baton__etcd_conn_idle(h->conn, until, until, -1);
      return;
    }
    r->began = now;
    r->end = now + HUB_STREAM_NS;
    if (stream_begin(h, start, r->end + HUB_STREAM_SLACK_NS, &err) != 0) {
      r->streaming = true;
      stream_end(h, r, true, &err);
      return;
    }
    r->streaming = true;
    pthread_mutex_lock(&h->mu);
    h->streams++;
    pthread_mutex_unlock(&h->mu);
    return;
  }
  cJSON *root = NULL;
  const cJSON *payload;
  int grpc = 0;
  int rc = baton__etcd_stream_next(h->conn, &root, &payload, &grpc, now + HUB_POLL_NS, -1, &err);
  bool progress = false;
  msg_verdict v = MSG_KEEP;
  if (rc == 0) {
    v = on_message(h, payload, &progress, &err);
  } else if (rc == 1) {
    /* Nothing came: follow the transport to another member, or start
     * anew once the stream's life is over (from H + 1: nothing lost). */
    if (baton__etcd_conn_stale(h->conn) || now >= r->end) v = MSG_RESUME;
  } else if (grpc == BATON_ETCD_GRPC_UNAUTHENTICATED &&
             baton__etcd_http_relogin(es->http, h->conn, baton__after(es->base.cfg->op_timeout_ns),
                                      &err) == 0) {
    v = MSG_RESUME;
  } else {
    v = MSG_FAILED; /* cut, refused, garbage: on to the next member */
  }
  cJSON_Delete(root);
  if (progress) r->failures = 0;
  if (v == MSG_KEEP && now >= r->end) v = MSG_RESUME;
  if (v != MSG_KEEP) stream_end(h, r, v == MSG_FAILED, &err);
}

static void *reader_main(void *arg) {
  baton_etcd_hub *h = arg;
  reader r = {0};
  pthread_mutex_lock(&h->mu);
  /* Bounded: each pass blocks HUB_POLL_NS at the most, and close ends it. */
  while (!h->stop) {
    drain(h);
    /* A stream that stays down (a member or a gateway that keeps refusing
     * watches while requests work) must not leave watches blind: after an
     * op timeout, every watch armed before wakes once, and arms from then
     * on are told to look again after an op timeout. A short break
     * resumes at H + 1 and wakes nobody. */
    if (!h->up && h->down_since != 0 && !h->down_woken &&
        baton__now() - h->down_since >= h->es->base.cfg->op_timeout_ns) {
      h->down_woken = true;
      for (size_t b = 0; b < h->nbuckets; b++)
        while (h->buckets[b] != NULL) fire(h, h->buckets[b], 0);
    }
    bool positioned = h->positioned;
    int64_t start = h->h + 1;
    pthread_mutex_unlock(&h->mu);
    reader_pass(h, &r, positioned, start);
    pthread_mutex_lock(&h->mu);
  }
  pthread_mutex_unlock(&h->mu);
  if (r.streaming) baton__etcd_stream_stop(h->conn);
  return NULL;
}

/* ---- Life ------------------------------------------------------------------------ */

static void hub_free(baton_etcd_hub *h) {
  for (size_t i = 0; i < h->ring_n; i++) baton__free(h->ring[(h->ring_head + i) % h->ring_cap].key);
  baton__free(h->ring);
  baton__free(h->buckets);
  if (h->conn != NULL) baton__etcd_conn_put(h->es->http, h->conn);
  pthread_mutex_destroy(&h->mu);
  baton__free(h);
}

/* The session's hub, made and its reader started at the first watch. */
static baton_etcd_hub *hub_get(baton_etcd_session *es) {
  pthread_mutex_lock(&es->mu);
  baton_etcd_hub *h = es->hub;
  if (h == NULL && (h = baton__calloc(1, sizeof *h)) != NULL) {
    pthread_mutex_init(&h->mu, NULL);
    h->es = es;
    h->nbuckets = HUB_BUCKETS_FIRST;
    h->buckets = baton__calloc(h->nbuckets, sizeof *h->buckets);
    h->conn = baton__etcd_conn_get(es->http);
    /* The reader takes no signal: a process's signals stay with the
     * threads that expect them (it inherits this mask). */
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    h->running = h->buckets != NULL && h->conn != NULL &&
                 pthread_create(&h->reader, NULL, reader_main, h) == 0;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (h->running) {
      es->hub = h;
    } else {
      hub_free(h);
      h = NULL;
    }
  }
  pthread_mutex_unlock(&es->mu);
  return h;
}

static baton_etcd_hub *hub_of(baton_etcd_session *es) {
  pthread_mutex_lock(&es->mu);
  baton_etcd_hub *h = es->hub;
  pthread_mutex_unlock(&es->mu);
  return h;
}

void baton__etcd_hub_close(baton_etcd_session *es) {
  baton_etcd_hub *h = es->hub;
  if (h == NULL) return;
  pthread_mutex_lock(&h->mu);
  h->stop = true;
  baton__etcd_conn_wake(h->conn);
  pthread_mutex_unlock(&h->mu);
  pthread_join(h->reader, NULL);
  hub_free(h);
  es->hub = NULL;
}

void baton__etcd_hub_wake_all(baton_etcd_session *es) {
  baton_etcd_hub *h = hub_of(es);
  if (h == NULL) return;
  pthread_mutex_lock(&h->mu);
  for (size_t b = 0; b < h->nbuckets; b++)
    while (h->buckets[b] != NULL) pend(h, h->buckets[b], 0);
  pthread_mutex_unlock(&h->mu);
}

void baton__etcd_hub_take_won(baton_etcd_session *es, baton_etcd_cand *ec) {
  baton_etcd_hub *h = hub_of(es);
  if (h == NULL) return;
  pthread_mutex_lock(&h->mu);
  if (ec->sub.won > 0 && ec->sub.state == SUB_IDLE) ec->won_revision = ec->sub.won;
  ec->sub.won = 0;
  pthread_mutex_unlock(&h->mu);
}

void baton__etcd_hub_stats(baton_session *s, baton_etcd_hub_stats *out) {
  memset(out, 0, sizeof *out);
  baton_etcd_hub *h = hub_of((baton_etcd_session *)s);
  if (h == NULL) return;
  pthread_mutex_lock(&h->mu);
  out->streams = h->streams;
  out->compactions = h->compactions;
  out->wakes = h->wakes;
  out->armed = h->narmed;
  out->up = h->up;
  out->delivered = h->h;
  pthread_mutex_unlock(&h->mu);
}

/* ---- watch and unwatch ------------------------------------------------------------ */

/* For tests: what runs between a watch's range and its arm (the window in
 * which the ring rule matters). Set only while no watch runs. */
static void (*between_fn)(void *);
static void *between_arg;

void baton__etcd_hub_test_between(void (*fn)(void *), void *arg) {
  between_fn = fn;
  between_arg = arg;
}

/* The subscription's own copies, freed by sub_clear. */
static int sub_set(baton_etcd_sub *s, baton_etcd_session *es, const char *name, const char *own,
                   size_t own_len, const baton_etcd_kv *other) {
  baton_etcd_str scope = {0};
  baton__etcd_name_prefix(&scope, es, name);
  s->scope = scope.p;
  s->scope_len = scope.len;
  s->hash = scope.p != NULL ? hash_of(scope.p, scope.len) : 0;
  s->own = own != NULL ? baton__strndup(own, own_len) : NULL;
  s->own_len = own_len;
  s->other = other != NULL ? baton__strndup(other->key, other->key_len) : NULL;
  s->other_len = other != NULL ? other->key_len : 0;
  s->other_fixed = other != NULL && baton__etcd_is_fixed(other);
  bool oom = scope.oom || (own != NULL && s->own == NULL) || (other != NULL && s->other == NULL);
  return oom ? BATON_ENOMEM : 0;
}

static void sub_clear(baton_etcd_sub *s) {
  baton__free(s->scope);
  baton__free(s->own);
  baton__free(s->other);
  s->scope = s->own = s->other = NULL;
}

void baton__etcd_unwatch(baton_session *s, baton_candidate *c) {
  baton_etcd_cand *ec = c != NULL ? c->priv : NULL;
  if (s == NULL || ec == NULL) return;
  baton_etcd_hub *h = hub_of((baton_etcd_session *)s);
  if (h == NULL) return;
  /* Under the lock every wake-up runs with: once we have it, none for c
   * is running, and disarmed, none will. */
  pthread_mutex_lock(&h->mu);
  disarm(h, &ec->sub);
  pthread_mutex_unlock(&h->mu);
}

/* What the range before arming found. */
typedef struct look {
  baton_etcd_sub_kind kind;
  bool now;                    /* wake at once */
  int64_t r0;                  /* the range's revision */
  const char *own;             /* queued: our key */
  size_t own_len;
  const baton_etcd_kv *other;  /* the key to watch besides */
  bool next_in_line;
} look;

/* An observer: range the leader; at once if it is not what it saw. */
static int look_observer(baton_etcd_session *es, baton_candidate *c, const baton_leader *seen,
                         look *lk, baton_etcd_kv *lead, bool *found, int64_t deadline,
                         baton_error *err) {
  baton_etcd_range_req r = {.sort = 1, .limit = 1};
  size_t n = 0;
  int rc = baton__etcd_range(es, c->name, &r, lead, 1, &n, &lk->r0, deadline, -1, err);
  if (rc != 0) return rc;
  *found = n == 1;
  lk->kind = BATON_ETCD_SUB_OBSERVER;
  lk->other = *found ? lead : NULL;
  lk->now = !baton__etcd_seen_is(lk->other, seen);
  return 0;
}

int baton__etcd_watch(baton_session *s, baton_candidate *c, const baton_leader *seen,
                      baton_wake_fn wake, void *ctx, int64_t *recheck_at, int64_t deadline,
                      baton_error *err) {
  baton_etcd_session *es = (baton_etcd_session *)s;
  if (es == NULL || c == NULL || c->name == NULL || wake == NULL || recheck_at == NULL)
    return baton__error(err, BATON_EINVAL, "etcd: watch needs a session, a candidate and wake");
  baton_etcd_cand *ec = baton__etcd_cand(c);
  baton_etcd_hub *h = ec != NULL ? hub_get(es) : NULL;
  if (h == NULL) return baton__error(err, BATON_ENOMEM, "etcd: no memory or thread for watch");
  baton__etcd_unwatch(s, c); /* one subscription per candidate */
  sub_clear(&ec->sub);
  ec->won_revision = 0; /* only this watch's own look or wake-up may prove a win */
  ec->sub.won = 0;
  uint64_t gen0;
  int64_t lease = baton__etcd_lease(es, &gen0);
  look lk = {.kind = BATON_ETCD_SUB_LEASE};
  baton_etcd_queue_look q = {.n = 0};
  baton_etcd_kv lead;
  bool found = false;
  int rc = 0;
  if (ec->key == NULL || ec->create_revision <= 0) {
    rc = look_observer(es, c, seen, &lk, &lead, &found, deadline, err);
  } else if (lease != 0 && ec->lease != lease) {
    lk.now = true; /* a new lease since acquire: enqueue again */
  } else if (lease != 0) {
    rc = baton__etcd_queue_look(es, c, ec, &q, deadline, -1, err);
    lk.kind = BATON_ETCD_SUB_QUEUED;
    lk.r0 = q.revision;
    lk.now = q.place == BATON_ETCD_GONE || q.place == BATON_ETCD_LEADS;
    lk.own = ec->key;
    lk.own_len = ec->key_len;
    lk.other = q.n > 1 ? &q.kvs[1] : NULL;
    lk.next_in_line = q.place == BATON_ETCD_NEXT;
  } /* else the key went with the lease: only a new one (wake_all) helps */
  baton_etcd_sub *sub = &ec->sub;
  if (rc == 0) {
    sub->kind = lk.kind;
    sub->r0 = lk.r0;
    sub->next_in_line = lk.next_in_line;
    sub->wake = wake;
    sub->ctx = ctx;
    rc = sub_set(sub, es, c->name, lk.own, lk.own_len, lk.other);
    if (rc != 0) rc = baton__error(err, rc, "etcd: out of memory");
  }
  if (found) baton__etcd_kv_free(&lead);
  baton__etcd_queue_look_free(&q);
  if (rc != 0) {
    sub_clear(sub);
    return rc;
  }
  if (between_fn != NULL) between_fn(between_arg);
  pthread_mutex_lock(&h->mu);
  if (lk.now) pend(h, sub, 0);
  else arm(h, sub);
  *recheck_at = h->up ? INT64_MAX : baton__add_sat(baton__now(), es->base.cfg->op_timeout_ns);
  pthread_mutex_unlock(&h->mu);
  /* A lease granted since the look: renew's wake-up of every watch may
   * have come before ours was armed. */
  uint64_t gen;
  baton__etcd_lease(es, &gen);
  if (gen != gen0) {
    pthread_mutex_lock(&h->mu);
    if (sub->state == SUB_ARMED) pend(h, sub, 0);
    pthread_mutex_unlock(&h->mu);
  }
  return 0;
}
