/* mem.c — the in-memory backend of the model test (see mem.h). The server
 * acts on a request when it arrives, which is when the call begins; only
 * the reply is late, lost or never comes. */
#include "mem.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS 4096     /* keys ever made in one schedule */
#define MAX_SESSIONS 256  /* sessions ever made in one schedule */
#define MAX_REMOVALS 4096

typedef struct mem_key {
  char name[BATON_NAME_MAX + 1];
  char identity[BATON_IDENTITY_MAX + 1];
  uint64_t owner;      /* the candidate's serial */
  uint64_t token;      /* its revision: the fencing token */
  int session;         /* memq: the session it lives on */
  int64_t expires;     /* memttl: when the server drops it */
  int64_t begun;       /* when an acquire's success for it reached its
                          owner (a term may start then), 0 = never */
  int64_t begun_sent;  /* that acquire's send time */
  unsigned proclaims;  /* values written to it (proclaim) */
  bool lease;          /* a fixed lease's (owner: a serial of its own) */
  bool alive;
} mem_key;

typedef struct mem_server_session {
  bool alive;
  int64_t expires;
} mem_server_session;

/* A renewal (or acquire, or session opening) whose success reached the
 * owner: of a memttl key, or of a memq session. */
typedef struct mem_heard {
  size_t key;          /* memttl: the key's index */
  int session;         /* memq: the session, 0 for a key's */
  int64_t sent, at;
} mem_heard;

#define MAX_HEARD 65536

static struct {
  mem_hooks hooks;
  uint64_t revision;
  uint64_t serials;
  mem_key keys[MAX_KEYS];
  size_t nkeys;
  mem_server_session sessions[MAX_SESSIONS];
  int nsessions;
  mem_removal removals[MAX_REMOVALS];
  size_t nremovals;
  mem_heard heard[MAX_HEARD];
  size_t nheard;
  int64_t lifetime;    /* the owners' local lifetime of a renewal */
  int64_t calls[64];   /* the deadlines of the calls under way, nested */
  int depth;
  int cut;             /* memq: a session whose renewals cannot get through */
} server;

/* The client's side of a session. */
typedef struct mem_session {
  baton_session base;
  bool queue;           /* memq */
  int id;               /* memq: the server session in use */
  bool expiry_told;     /* memq: renew said ESESSION for it */
} mem_session;

/* A candidate's state. */
typedef struct mem_cand {
  uint64_t serial;
  bool pending;         /* an acquire's outcome is unknown to it */
  uint64_t seen;        /* the holder's token when it last had to wait */
} mem_cand;

void mem_reset(const mem_hooks *hooks, int64_t lifetime) {
  memset(&server, 0, sizeof server);
  server.hooks = *hooks;
  server.lifetime = lifetime;
}

/* Let time pass until `until`, but never past the deadline of a call that
 * encloses this one (a call the test runs while another is in flight, as
 * a thread would): every call returns by its deadline, and the core relies
 * on it. */
static void idle_to(int64_t until) {
  for (int i = 0; i + 1 < server.depth; i++)
    if (server.calls[i] < until) until = server.calls[i];
  server.hooks.idle(server.hooks.ctx, until);
}

static void call_begin(int64_t deadline) {
  if (server.depth == (int)(sizeof server.calls / sizeof server.calls[0])) abort();
  server.calls[server.depth++] = deadline;
}

static int call_end(int rc) {
  server.depth--;
  return rc;
}

static void heard(size_t key, int session, int64_t sent) {
  if (server.nheard == MAX_HEARD) abort(); /* a schedule is far shorter */
  server.heard[server.nheard++] = (mem_heard){key, session, sent, baton__now()};
}

/* The owner's rule, computed here on its own as the test's oracle: a term
 * begun at `begun` on a lease renewed at `s` lives until s + lifetime;
 * each success heard before that deadline moves s to its send time; at
 * the first deadline reached with none, the term is over, and its key may
 * go at s + ttl. */
static int64_t safe_from(const mem_key *k, size_t index, int64_t ttl) {
  if (k->begun == 0) return INT64_MIN; /* no term ever stood on it */
  bool on_session = k->session > 0;
  int64_t s = on_session ? INT64_MIN : k->begun_sent;
  for (size_t i = 0; i < server.nheard; i++) {
    const mem_heard *h = &server.heard[i];
    bool ours = on_session ? h->session == k->session : h->session == 0 && h->key == index;
    if (!ours) continue;
    if (h->at <= k->begun) {
      if (on_session && h->sent > s) s = h->sent; /* the session's lease at the start */
      continue;
    }
    if (h->at >= s + server.lifetime) break; /* too late: the term ended first */
    if (h->sent > s) s = h->sent;
  }
  return s + ttl;
}

const mem_removal *mem_removals(size_t *n) {
  *n = server.nremovals;
  return server.removals;
}

static int64_t ttl_of(const baton_session *s) { return s->cfg->ttl_ns; }

static mem_fault fault(mem_op op) { return server.hooks.fault(server.hooks.ctx, op); }

static void remove_key(mem_key *k, int64_t now, int64_t ttl, bool by_owner) {
  k->alive = false;
  if (server.nremovals == MAX_REMOVALS) abort(); /* a schedule is far shorter */
  mem_removal *r = &server.removals[server.nremovals++];
  snprintf(r->name, sizeof r->name, "%s", k->name);
  r->token = k->token;
  r->at = now;
  r->safe_from = safe_from(k, (size_t)(k - server.keys), ttl);
  r->by_owner = by_owner;
}

/* The server drops what expired by `now`. */
static void expire_due(int64_t now, int64_t ttl) {
  for (int i = 1; i < server.nsessions; i++) {
    mem_server_session *ss = &server.sessions[i];
    if (!ss->alive || now < ss->expires) continue;
    ss->alive = false;
    for (size_t k = 0; k < server.nkeys; k++)
      if (server.keys[k].alive && server.keys[k].session == i)
        remove_key(&server.keys[k], now, ttl, false);
  }
  for (size_t k = 0; k < server.nkeys; k++)
    if (server.keys[k].alive && server.keys[k].session == 0 && now >= server.keys[k].expires)
      remove_key(&server.keys[k], now, ttl, false);
}

/* The name's leader: memttl's one key, memq's oldest. */
static mem_key *leader_key(const char *name) {
  mem_key *low = NULL;
  for (size_t k = 0; k < server.nkeys; k++) {
    mem_key *key = &server.keys[k];
    if (key->alive && strcmp(key->name, name) == 0 && (low == NULL || key->token < low->token))
      low = key;
  }
  return low;
}

static mem_key *own_key(const char *name, uint64_t owner) {
  for (size_t k = 0; k < server.nkeys; k++) {
    mem_key *key = &server.keys[k];
    if (key->alive && key->owner == owner && strcmp(key->name, name) == 0) return key;
  }
  return NULL;
}

bool mem_holder(const char *name, int64_t ttl, uint64_t *token) {
  expire_due(baton__now(), ttl);
  mem_key *k = leader_key(name);
  *token = k != NULL ? k->token : 0;
  return k != NULL;
}

static mem_key *new_key(const baton_candidate *c, uint64_t owner, int session, int64_t now,
                        int64_t ttl) {
  if (server.nkeys == MAX_KEYS) return NULL;
  mem_key *k = &server.keys[server.nkeys++];
  memset(k, 0, sizeof *k);
  snprintf(k->name, sizeof k->name, "%s", c->name);
  snprintf(k->identity, sizeof k->identity, "%s", c->identity);
  k->owner = owner;
  k->token = ++server.revision;
  k->session = session;
  k->expires = now + ttl;
  k->alive = true;
  return k;
}

static void holder_of(baton_leader *out, const mem_key *k) {
  if (out == NULL) return;
  memset(out, 0, sizeof *out);
  if (k == NULL) return;
  out->token = k->token;
  snprintf(out->identity, sizeof out->identity, "%s", k->identity);
}

static mem_cand *cand_of(baton_candidate *c) {
  if (c->priv == NULL) {
    mem_cand *m = calloc(1, sizeof *m);
    if (m == NULL) abort();
    m->serial = ++server.serials;
    c->priv = m;
  }
  return c->priv;
}

/* A reply that comes late: time passes first, up to just past the
 * deadline. */
static void late(const baton_session *s, int64_t now, int64_t deadline) {
  int64_t span = deadline - now + 1000000;
  if (span <= 0) span = 1;
  (void)s;
  idle_to(now + (int64_t)(server.hooks.random(server.hooks.ctx) % (uint64_t)span));
}


/* The common prologue: the fault for this call, what to say if the request
 * never arrives. Returns 0 when the server acts on it. */
static int arrive(const baton_session *s, mem_op op, mem_fault *f, int64_t deadline,
                  baton_error *err) {
  *f = fault(op);
  if (*f == MEM_FAIL) return baton__error(err, BATON_ECONNECT, "mem: connection refused");
  if (*f == MEM_STALL && server.hooks.random(server.hooks.ctx) % 2 == 0) {
    idle_to(deadline);
    return baton__error(err, BATON_ETIMEDOUT, "mem: no reply (never arrived)");
  }
  expire_due(baton__now(), ttl_of(s));
  return 0;
}

/* The common epilogue: what the caller hears once the server acted.
 * Returns 0 when the reply arrives. */
static int depart(const baton_session *s, mem_fault f, int64_t sent, int64_t deadline,
                  baton_error *err) {
  switch (f) {
  case MEM_LOST_REPLY:
    return baton__error(err, BATON_ETIMEDOUT, "mem: reply lost");
  case MEM_STALL:
    idle_to(deadline);
    return baton__error(err, BATON_ETIMEDOUT, "mem: no reply");
  case MEM_LATE:
    late(s, sent, deadline);
    return 0;
  default:
    return 0;
  }
}

/* ---- the table ------------------------------------------------------------ */

static int mem_open(baton_session **out, const baton_uri *uri, const baton_config *cfg,
                    int64_t deadline, baton_error *err) {
  (void)deadline;
  mem_session *s = calloc(1, sizeof *s);
  if (s == NULL) return baton__error(err, BATON_ENOMEM, "mem: out of memory");
  s->base.cfg = cfg;
  s->queue = strcmp(uri->scheme, "memq") == 0;
  if (s->queue) {
    if (server.nsessions == 0) server.nsessions = 1; /* 0 means "no session" */
    if (server.nsessions == MAX_SESSIONS) {
      free(s);
      return baton__error(err, BATON_EREFUSED, "mem: too many sessions");
    }
    s->id = server.nsessions++;
    int64_t now = baton__now();
    server.sessions[s->id] = (mem_server_session){true, now + cfg->ttl_ns};
    heard(0, s->id, now);
  }
  *out = &s->base;
  return 0;
}

static void mem_close(baton_session *bs) {
  mem_session *s = (mem_session *)bs;
  int64_t now = baton__now();
  if (s->queue && server.sessions[s->id].alive) {
    expire_due(now, ttl_of(bs));
    server.sessions[s->id].alive = false;
    for (size_t k = 0; k < server.nkeys; k++)
      if (server.keys[k].alive && server.keys[k].session == s->id)
        remove_key(&server.keys[k], now, ttl_of(bs), true);
  }
  free(s);
}

/* memttl: SET NX PX, or our own key: the lost reply of this attempt (it
 * won), or our previous term's (replaced by a new term). */
static int acquire_ttl(mem_session *s, baton_candidate *c, mem_cand *m, baton_leader *holder,
                       int64_t now, baton_error *err) {
  int64_t ttl = ttl_of(&s->base);
  mem_key *k = leader_key(c->name);
  if (k != NULL && k->owner == m->serial && m->pending && k->begun == 0) {
    k->expires = now + ttl; /* the lost reply of this attempt: it won */
  } else if (k != NULL && k->owner == m->serial) {
    remove_key(k, now, ttl, true);
    k = new_key(c, m->serial, 0, now, ttl);
  } else if (k != NULL) {
    holder_of(holder, k);
    m->seen = k->token;
    return baton__error(err, BATON_EHELD, "mem: held");
  } else {
    k = new_key(c, m->serial, 0, now, ttl);
  }
  if (k == NULL) return baton__error(err, BATON_EREFUSED, "mem: out of keys");
  c->token = k->token;
  return 0;
}

/* memq: enqueue once, then rank. */
static int acquire_queue(mem_session *s, baton_candidate *c, mem_cand *m, baton_leader *holder,
                         int64_t now, baton_error *err) {
  if (!server.sessions[s->id].alive)
    return baton__error(err, BATON_ESESSION, "mem: the session expired");
  mem_key *own = own_key(c->name, m->serial);
  if (own != NULL && own->session != s->id) own = NULL; /* died with its session */
  if (own == NULL) own = new_key(c, m->serial, s->id, now, 0);
  if (own == NULL) return baton__error(err, BATON_EREFUSED, "mem: out of keys");
  mem_key *low = leader_key(c->name);
  if (low != own) {
    holder_of(holder, low);
    m->seen = low->token;
    return baton__error(err, BATON_EHELD, "mem: held");
  }
  c->token = own->token;
  return 0;
}

static int mem_acquire_call(baton_session *bs, baton_candidate *c, baton_leader *holder,
                       int64_t deadline, baton_error *err) {
  mem_session *s = (mem_session *)bs;
  mem_cand *m = cand_of(c);
  int64_t sent = baton__now();
  mem_fault f;
  int rc = arrive(bs, MEM_ACQUIRE, &f, deadline, err);
  if (rc != 0) {
    if (f == MEM_STALL) m->pending = true;
    return rc;
  }
  baton_error local = {0};
  rc = s->queue ? acquire_queue(s, c, m, holder, sent, &local)
                : acquire_ttl(s, c, m, holder, sent, &local);
  if (f == MEM_SWAP && s->queue && rc == 0) {
    /* The session dies while the reply travels (its renewals cannot get
     * through), and the client notices and replaces it before the reply
     * arrives. */
    int old = s->id;
    server.cut = old;
    idle_to(server.sessions[old].expires);
    server.cut = 0;
    /* On the injected clock, a tick a pass: the session is replaced
     * within ten TTLs or the call's deadline, or not at all. */
    int64_t tick = ttl_of(bs) / 40, give_up = baton__now() + 10 * ttl_of(bs);
    while (s->id == old && baton__now() < deadline && baton__now() < give_up) {
      server.hooks.run(server.hooks.ctx, bs);
      if (s->id == old) idle_to(baton__now() + tick);
    }
  }
  int told = depart(bs, f, sent, deadline, err);
  if (told != 0) {
    m->pending = true; /* the outcome is unknown to the caller */
    return told;
  }
  m->pending = false;
  if (rc != 0 && err != NULL) *err = local;
  mem_key *k = rc == 0 ? own_key(c->name, m->serial) : NULL;
  if (k != NULL) {
    k->begun = baton__now();
    k->begun_sent = sent;
  }
  return rc;
}

static bool readable(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return fd >= 0 && poll(&p, 1, 0) == 1;
}

/* Whether what the candidate waits for may have changed. */
static bool changed(const mem_session *s, const baton_candidate *c, const mem_cand *m,
                    const baton_leader *seen) {
  mem_key *low = leader_key(c->name);
  uint64_t was = c->priv != NULL && m->seen != 0 ? m->seen : seen != NULL ? seen->token : 0;
  if (s->queue && !server.sessions[s->id].alive) return true;
  return (low != NULL ? low->token : 0) != was;
}

#define WAIT_TICKS 100000

static int mem_wait_call(baton_session *bs, baton_candidate *c, const baton_leader *seen,
                    int64_t deadline, int cancel_fd, baton_error *err) {
  mem_session *s = (mem_session *)bs;
  mem_cand *m = cand_of(c);
  int64_t tick = ttl_of(bs) / 10;
  for (int i = 0; i < WAIT_TICKS; i++) {
    if (readable(cancel_fd)) return baton__error(err, BATON_ECANCELED, "mem: cancelled");
    int64_t now = baton__now();
    expire_due(now, ttl_of(bs));
    if (changed(s, c, m, seen)) return 0;
    if (now >= deadline) return baton__error(err, BATON_ETIMEDOUT, "mem: wait timed out");
    idle_to(deadline - now < tick ? deadline : now + tick);
  }
  return baton__error(err, BATON_ETIMEDOUT, "mem: wait bound");
}

static int mem_release_call(baton_session *bs, baton_candidate *c, int64_t deadline,
                       baton_error *err) {
  mem_session *s = (mem_session *)bs;
  mem_cand *m = c->priv;
  if (m == NULL) return 0;
  int64_t sent = baton__now();
  mem_fault f;
  int rc = arrive(bs, MEM_RELEASE, &f, deadline, err);
  if (rc != 0) return rc;
  mem_key *k = own_key(c->name, m->serial);
  if (k != NULL && (!s->queue || k->session == s->id)) remove_key(k, sent, ttl_of(bs), true);
  rc = depart(bs, f, sent, deadline, err);
  if (rc == 0) m->pending = false;
  return rc;
}

static int mem_renew_call(baton_session *bs, baton_candidate *const *held, size_t n, bool *gone,
                     int64_t deadline, baton_error *err) {
  mem_session *s = (mem_session *)bs;
  int64_t sent = baton__now();
  for (size_t i = 0; i < n; i++) gone[i] = false;
  expire_due(sent, ttl_of(bs));
  if (s->queue && !server.sessions[s->id].alive && !s->expiry_told) {
    s->expiry_told = true;
    return baton__error(err, BATON_ESESSION, "mem: the session expired");
  }
  if (s->queue && server.cut == s->id)
    return baton__error(err, BATON_ECONNECT, "mem: renewals cut off");
  mem_fault f;
  int rc = arrive(bs, MEM_RENEW, &f, deadline, err);
  if (rc != 0) return rc;
  if (s->queue && s->expiry_told) {
    if (server.nsessions == MAX_SESSIONS) return baton__error(err, BATON_EREFUSED, "mem: full");
    s->id = server.nsessions++;
    server.sessions[s->id] = (mem_server_session){true, sent + ttl_of(bs)};
    s->expiry_told = false;
    for (size_t i = 0; i < n; i++) gone[i] = true;
  } else if (s->queue) {
    server.sessions[s->id].expires = sent + ttl_of(bs);
  }
  for (size_t i = 0; i < n && !s->queue; i++) {
    mem_cand *m = held[i]->priv;
    mem_key *k = m != NULL ? own_key(held[i]->name, m->serial) : NULL;
    if (k != NULL) k->expires = sent + ttl_of(bs);
  }
  rc = depart(bs, f, sent, deadline, err);
  /* What the reply says, and what its owner now knows. */
  for (size_t i = 0; i < n; i++) {
    mem_cand *m = held[i]->priv;
    mem_key *k = m != NULL ? own_key(held[i]->name, m->serial) : NULL;
    if (!gone[i]) gone[i] = k == NULL || (s->queue && k->session != s->id);
    if (rc == 0 && k != NULL && !s->queue) heard((size_t)(k - server.keys), 0, sent);
  }
  if (rc == 0 && s->queue) heard(0, s->id, sent);
  return rc;
}

static int mem_leader_call(baton_session *bs, const char *name, baton_leader *out, int64_t deadline,
                      baton_error *err) {
  mem_fault f;
  int rc = arrive(bs, MEM_LEADER, &f, deadline, err);
  if (rc != 0) return rc;
  mem_key *k = leader_key(name);
  holder_of(out, k);
  rc = depart(bs, f, baton__now(), deadline, err);
  if (rc != 0) return rc;
  return k != NULL ? 0 : baton__error(err, BATON_ENOLEADER, "mem: no leader");
}

/* Proclaim lands only on the candidate's own live key of its term. */
static int mem_proclaim_call(baton_session *bs, baton_candidate *c, const char *value,
                             int64_t deadline, baton_error *err) {
  (void)value;
  mem_fault f;
  int64_t sent = baton__now();
  int rc = arrive(bs, MEM_PROCLAIM, &f, deadline, err);
  if (rc != 0) return rc;
  mem_key *k = c->priv != NULL ? own_key(c->name, cand_of(c)->serial) : NULL;
  bool ours = k != NULL && k->token == c->token;
  if (ours) k->proclaims++;
  rc = depart(bs, f, sent, deadline, err);
  if (rc != 0) return rc;
  return ours ? 0 : baton__error(err, BATON_ENOTHOLDER, "mem: proclaim: no key of this term");
}

/* ---- fixed leases: keys of their own TTL that nobody renews, on both
 * flavours (a memq lease lives on no session); faults as acquire's,
 * renew's (extend) and release's. */

static mem_key *lease_key(const char *name, uint64_t token) {
  mem_key *k = leader_key(name);
  return k != NULL && k->lease && k->token == token ? k : NULL;
}

static int mem_lease_acquire_call(baton_session *bs, const char *name, const char *identity,
                                  int64_t ttl_ns, uint64_t *token, baton_leader *holder,
                                  int64_t deadline, baton_error *err) {
  int64_t sent = baton__now();
  mem_fault f;
  int rc = arrive(bs, MEM_ACQUIRE, &f, deadline, err);
  if (rc != 0) return rc;
  mem_key *k = leader_key(name);
  if (k != NULL) {
    holder_of(holder, k);
    rc = depart(bs, f, sent, deadline, err);
    return rc != 0 ? rc : baton__error(err, BATON_EHELD, "mem: held by %s", k->identity);
  }
  baton_candidate c = {.name = name, .identity = identity};
  k = new_key(&c, ++server.serials, 0, sent, ttl_ns);
  if (k == NULL) return baton__error(err, BATON_EREFUSED, "mem: out of keys");
  k->lease = true;
  rc = depart(bs, f, sent, deadline, err);
  if (rc == 0) *token = k->token;
  return rc;
}

static int mem_lease_extend_call(baton_session *bs, const char *name, uint64_t token,
                                 int64_t ttl_ns, int64_t deadline, baton_error *err) {
  int64_t sent = baton__now();
  mem_fault f;
  int rc = arrive(bs, MEM_RENEW, &f, deadline, err);
  if (rc != 0) return rc;
  mem_key *k = lease_key(name, token);
  if (k != NULL) k->expires = sent + ttl_ns;
  rc = depart(bs, f, sent, deadline, err);
  if (rc != 0) return rc;
  return k != NULL ? 0 : baton__error(err, BATON_ENOTHOLDER, "mem: no lease %llu on %s",
                                      (unsigned long long)token, name);
}

static int mem_lease_release_call(baton_session *bs, const char *name, uint64_t token,
                                  int64_t deadline, baton_error *err) {
  int64_t sent = baton__now();
  mem_fault f;
  int rc = arrive(bs, MEM_RELEASE, &f, deadline, err);
  if (rc != 0) return rc;
  mem_key *k = lease_key(name, token);
  if (k != NULL) remove_key(k, sent, ttl_of(bs), true);
  rc = depart(bs, f, sent, deadline, err);
  if (rc != 0) return rc;
  return k != NULL ? 0 : baton__error(err, BATON_ENOTHOLDER, "mem: no lease %llu on %s",
                                      (unsigned long long)token, name);
}

/* Each call, with its deadline on the stack of calls under way. */
static int mem_acquire(baton_session *bs, baton_candidate *c, baton_leader *holder,
                       int64_t deadline, baton_error *err) {
  call_begin(deadline);
  return call_end(mem_acquire_call(bs, c, holder, deadline, err));
}

static int mem_wait(baton_session *bs, baton_candidate *c, const baton_leader *seen,
                    int64_t deadline, int cancel_fd, baton_error *err) {
  call_begin(deadline);
  return call_end(mem_wait_call(bs, c, seen, deadline, cancel_fd, err));
}

static int mem_release(baton_session *bs, baton_candidate *c, int64_t deadline,
                       baton_error *err) {
  call_begin(deadline);
  return call_end(mem_release_call(bs, c, deadline, err));
}

static int mem_renew(baton_session *bs, baton_candidate *const *held, size_t n, bool *gone,
                     int64_t deadline, baton_error *err) {
  call_begin(deadline);
  return call_end(mem_renew_call(bs, held, n, gone, deadline, err));
}

static int mem_leader(baton_session *bs, const char *name, baton_leader *out, int64_t deadline,
                      baton_error *err) {
  call_begin(deadline);
  return call_end(mem_leader_call(bs, name, out, deadline, err));
}

static int mem_proclaim(baton_session *bs, baton_candidate *c, const char *value,
                        int64_t deadline, baton_error *err) {
  call_begin(deadline);
  return call_end(mem_proclaim_call(bs, c, value, deadline, err));
}

static int mem_lease_acquire(baton_session *bs, const char *name, const char *identity,
                             int64_t ttl_ns, uint64_t *token, baton_leader *holder,
                             int64_t deadline, baton_error *err) {
  call_begin(deadline);
  return call_end(
      mem_lease_acquire_call(bs, name, identity, ttl_ns, token, holder, deadline, err));
}

static int mem_lease_extend(baton_session *bs, const char *name, uint64_t token, int64_t ttl_ns,
                            int64_t deadline, baton_error *err) {
  call_begin(deadline);
  return call_end(mem_lease_extend_call(bs, name, token, ttl_ns, deadline, err));
}

static int mem_lease_release(baton_session *bs, const char *name, uint64_t token,
                             int64_t deadline, baton_error *err) {
  call_begin(deadline);
  return call_end(mem_lease_release_call(bs, name, token, deadline, err));
}

static void mem_forget(baton_session *bs, baton_candidate *c) {
  (void)bs;
  free(c->priv);
  c->priv = NULL;
}

static const char *const ttl_schemes[] = {"memttl", NULL};
static const char *const queue_schemes[] = {"memq", NULL};

/* The two flavours differ in their capability only. */
#define MEM_TABLE(schemes_, caps_)                                                         \
  {                                                                                        \
    .schemes = schemes_, .caps = caps_, .open = mem_open, .close = mem_close,              \
    .acquire = mem_acquire, .wait = mem_wait, .release = mem_release, .renew = mem_renew, \
    .leader = mem_leader, .forget = mem_forget, .proclaim = mem_proclaim,                  \
    .lease_acquire = mem_lease_acquire, .lease_extend = mem_lease_extend,                  \
    .lease_release = mem_lease_release,                                                    \
  }

const baton_backend mem_backend_ttl = MEM_TABLE(ttl_schemes, BATON_CAP_TERM_TTL);
const baton_backend mem_backend_queue = MEM_TABLE(queue_schemes, BATON_CAP_QUEUE);
