/* postgres.c — the postgres:// backend: one libpq session per client holds
 * every name as a session-level advisory lock; the session's
 * idle_session_timeout is the TTL, so the server ends a silent holder's
 * session, and its locks, no earlier than a TTL after its last renewal.
 * The fencing token is a durable row raised in the statement that takes
 * the lock. Waiters LISTEN on one connection per client and are woken by
 * the NOTIFY of a release, with a re-check at the holder's expiry (or
 * soon, for a holder that is not baton). The
 * table the core calls.
 *
 * Round trips: open 2 (connect, then the session's settings, the token
 * table if missing and the pooler check in one); acquire 1; release 1
 * (and an UNLISTEN on the listener when the candidate had waited);
 * renew 1 for any number of names; leader 1 (on a connection of its own,
 * opened by the first look: 2 more); wait: the first one of a campaign
 * LISTENs on the client's one listener connection (opened by the
 * client's first wait: 1 more, the connect; its settings go with the
 * LISTEN), later ones send nothing for a candidate and one leader look
 * for an observer; a probe (SELECT 1) on a listener silent for a second
 * when a wait ends without a notification; a fixed lease's acquire,
 * extend and release 1 each, on the reader connection; watch: the first
 * one of a candidate LISTENs as wait does, later ones send nothing, and
 * an observer's look at the leader each time. */
#include "postgres.h"
#include "lazy_pq.h"
#include "sql.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define BATON_PG_PORT "5432" /* when the URI names none: PostgreSQL's own */
#define BATON_PG_MIN_VERSION 140000 /* idle_session_timeout came in 14 */
#define BATON_PG_NS_PER_S (1000 * BATON_NS_PER_MS)

BATON_DLIB_DEFINE(baton__pq, BATON_PQ_SYMS, "libpq.so.5", "postgres:// needs libpq")

/* How long after the holder's expiry a waiter looks again: the server's
 * timer fires, the backend exits and its locks go. */
#define BATON_PG_RECHECK_SLACK_NS (20 * BATON_NS_PER_MS)
/* A holder we cannot see expire (not idle, not ours, not visible): looked
 * at again this often. */
#define BATON_PG_FOREIGN_RECHECK_NS (250 * BATON_NS_PER_MS)

/* ---- helpers ---------------------------------------------------------------- */

static baton_pg_session *session_of(baton_session *bs) { return (baton_pg_session *)bs; }

static int64_t ttl_ms(const baton_pg_session *s) { return s->base.cfg->ttl_ns / BATON_NS_PER_MS; }

static void copy_identity(baton_leader *out, const char *v) {
  snprintf(out->identity, sizeof out->identity, "%s", v != NULL ? v : "");
}

static uint64_t to_u64(const char *v) { return v != NULL ? strtoull(v, NULL, 10) : 0; }

static int check_candidate(const baton_session *bs, const baton_candidate *c, const char *what,
                           baton_error *err) {
  if (bs == NULL || c == NULL || c->name == NULL || c->identity == NULL)
    return baton__error(err, BATON_EINVAL, "postgres: %s: NULL session or candidate", what);
  return baton_election_name_check(c->name, err);
}

/* ---- the name and channel indexes ------------------------------------------- */

/* Two chained hash tables over the same entries (baton_pg_name), one by
 * name and one by channel, of the same size: they grow together when
 * there are more names than chains, so that a chain holds about one
 * entry. A table that cannot grow (no memory) stays as it is, slower
 * only. All of it needs s->lmu. */

#define BATON_PG_INDEX_MIN 64

static size_t index_hash(const char *key) {
  uint64_t h = 14695981039346656037u; /* FNV-1a */
  for (const unsigned char *c = (const unsigned char *)key; *c != 0; c++)
    h = (h ^ *c) * 1099511628211u;
  return (size_t)(h ^ (h >> 32));
}

static void index_grow(baton_pg_session *s) {
  if (s->nnames < s->nbuckets) return;
  size_t n = s->nbuckets == 0 ? BATON_PG_INDEX_MIN : 2 * s->nbuckets;
  baton_pg_name **nidx = baton__calloc(n, sizeof *nidx);
  baton_pg_name **cidx = baton__calloc(n, sizeof *cidx);
  if (nidx == NULL || cidx == NULL) {
    baton__free(nidx);
    baton__free(cidx);
    return;
  }
  for (size_t i = 0; i < s->nbuckets; i++) {
    for (baton_pg_name *e = s->nidx[i], *next; e != NULL; e = next) {
      next = e->nnext;
      size_t b = index_hash(e->name) & (n - 1);
      e->nnext = nidx[b];
      nidx[b] = e;
    }
    for (baton_pg_name *e = s->cidx[i], *next; e != NULL; e = next) {
      next = e->cnext;
      size_t b = index_hash(e->channel) & (n - 1);
      e->cnext = cidx[b];
      cidx[b] = e;
    }
  }
  baton__free(s->nidx);
  baton__free(s->cidx);
  s->nidx = nidx;
  s->cidx = cidx;
  s->nbuckets = n;
}

/* The entry of `name`, or NULL. */
static baton_pg_name *name_find(const baton_pg_session *s, const char *name) {
  if (s->nbuckets == 0) return NULL;
  for (baton_pg_name *e = s->nidx[index_hash(name) & (s->nbuckets - 1)]; e != NULL; e = e->nnext)
    if (strcmp(e->name, name) == 0) return e;
  return NULL;
}

/* The entry whose channel is `channel`, or NULL. */
static baton_pg_name *chan_find(const baton_pg_session *s, const char *channel) {
  if (s->nbuckets == 0) return NULL;
  for (baton_pg_name *e = s->cidx[index_hash(channel) & (s->nbuckets - 1)]; e != NULL;
       e = e->cnext)
    if (strcmp(e->channel, channel) == 0) return e;
  return NULL;
}

/* p joins the entry of its name, made if it is the first. */
static int name_join(baton_pg_session *s, baton_pg_cand *p) {
  baton_pg_name *e = name_find(s, p->name);
  if (e == NULL) {
    size_t len = strlen(p->name);
    index_grow(s);
    if (s->nbuckets == 0 || (e = baton__calloc(1, sizeof *e + len + 1)) == NULL)
      return BATON_ENOMEM;
    memcpy(e->name, p->name, len + 1);
    size_t b = index_hash(e->name) & (s->nbuckets - 1);
    e->nnext = s->nidx[b];
    s->nidx[b] = e;
    s->nnames++;
  }
  p->ent = e;
  p->mprev = NULL;
  p->mnext = e->members;
  if (p->mnext != NULL) p->mnext->mprev = p;
  e->members = p;
  return 0;
}

/* Take e out of the chain that starts at *head and links through the
 * field at `off` (nnext or cnext). */
static void chain_drop(baton_pg_name **head, baton_pg_name *e, size_t off) {
  for (baton_pg_name **at = head; *at != NULL; at = (baton_pg_name **)((char *)*at + off))
    if (*at == e) {
      *at = *(baton_pg_name **)((char *)e + off);
      return;
    }
}

/* p leaves its name's entry, which goes with its last candidate. */
static void name_leave(baton_pg_session *s, baton_pg_cand *p) {
  baton_pg_name *e = p->ent;
  if (e == NULL) return;
  if (p->mprev != NULL) p->mprev->mnext = p->mnext;
  else e->members = p->mnext;
  if (p->mnext != NULL) p->mnext->mprev = p->mprev;
  p->mnext = p->mprev = NULL;
  p->ent = NULL;
  if (e->members != NULL) return;
  chain_drop(&s->nidx[index_hash(e->name) & (s->nbuckets - 1)], e,
             offsetof(baton_pg_name, nnext));
  if (e->indexed)
    chain_drop(&s->cidx[index_hash(e->channel) & (s->nbuckets - 1)], e,
               offsetof(baton_pg_name, cnext));
  s->nnames--;
  baton__free(e);
}

/* The server told the channel of e's name: notifications find it now. */
static void chan_learn(baton_pg_session *s, baton_pg_name *e, const char *channel) {
  if (e == NULL || e->indexed) return;
  snprintf(e->channel, sizeof e->channel, "%s", channel);
  size_t b = index_hash(e->channel) & (s->nbuckets - 1);
  e->cnext = s->cidx[b];
  s->cidx[b] = e;
  e->indexed = true;
}

/* c's state, made and listed on first use. Needs s->mu; takes s->lmu. */
static int cand_state(baton_pg_session *s, baton_candidate *c, baton_pg_cand **out,
                      baton_error *err) {
  if (c->priv == NULL) {
    baton_pg_cand *p = baton__calloc(1, sizeof *p);
    if (p == NULL) return baton__error(err, BATON_ENOMEM, "postgres: out of memory");
    p->name = c->name;
    p->wake_fd = -1;
    pthread_mutex_lock(&s->lmu);
    int rc = name_join(s, p);
    pthread_mutex_unlock(&s->lmu);
    if (rc != 0) {
      baton__free(p);
      return baton__error(err, BATON_ENOMEM, "postgres: out of memory");
    }
    p->next = s->cands;
    if (p->next != NULL) p->next->prev = p;
    s->cands = p;
    c->priv = p;
  }
  *out = c->priv;
  return 0;
}

/* When a waiter looks again at a holder idle for idle_ms (< 0: unknown):
 * just after the server's expiry of that session, if it is a session that
 * could be ours (idle less than a TTL), else soon. A fixed lease with
 * fixed_ms left (< 0: none): just after its end. */
static int64_t recheck_after(const baton_pg_session *s, int64_t idle_ms, int64_t fixed_ms) {
  if (fixed_ms >= 0) return fixed_ms * BATON_NS_PER_MS + BATON_PG_RECHECK_SLACK_NS;
  int64_t ttl = s->base.cfg->ttl_ns;
  if (idle_ms < 0 || idle_ms * BATON_NS_PER_MS > ttl) return BATON_PG_FOREIGN_RECHECK_NS;
  return ttl - idle_ms * BATON_NS_PER_MS + BATON_PG_RECHECK_SLACK_NS;
}

/* Take s->mu by `deadline` (library clock), or BATON_ETIMEDOUT: a request
 * holds it for a whole round trip, and a call must not wait past its own
 * deadline for another's (renew least of all). pthread_mutex_timedlock
 * takes a CLOCK_REALTIME time: the time left is added to it. */
static int lock_by(baton_pg_session *s, pthread_mutex_t *mu, int64_t deadline, const char *what,
                   baton_error *err) {
  if (deadline == INT64_MAX) return pthread_mutex_lock(mu) == 0 ? 0 : BATON_EINVAL;
  int64_t left = deadline - baton__now();
  if (left < 0) left = 0;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t nsec = (int64_t)ts.tv_nsec + left % BATON_PG_NS_PER_S;
  ts.tv_sec += (time_t)(left / BATON_PG_NS_PER_S + nsec / BATON_PG_NS_PER_S);
  ts.tv_nsec = (long)(nsec % BATON_PG_NS_PER_S);
  if (pthread_mutex_timedlock(mu, &ts) == 0) return 0;
  return baton__error(err, BATON_ETIMEDOUT,
                      "%s: %s: the session was busy with another request until the deadline",
                      s->label, what);
}

/* Notifications that came before a look are answered by it, a wake it
 * owed too. lmu is never held across a request, so this never waits for
 * one. */
static void clear_woken(baton_pg_session *s, baton_pg_cand *p) {
  pthread_mutex_lock(&s->lmu);
  p->woken = false;
  p->owes = false;
  pthread_mutex_unlock(&s->lmu);
}

/* Whether any candidate holds, or may hold, a lock of the session.
 * Needs s->mu. */
static bool holds_any(const baton_pg_session *s) {
  for (const baton_pg_cand *p = s->cands; p != NULL; p = p->next)
    if (p->locked) return true;
  return false;
}

/* The session connection broke: its locks are gone or going. Needs s->mu. */
static void session_broke(baton_pg_session *s) {
  baton__pg_drop(&s->conn);
  if (!s->dead)
    baton__log(s->base.cfg, BATON_LOG_WARN,
               "%s: the session's connection broke; its advisory locks end with it", s->label);
  s->dead = true;
}

static int dead_error(baton_pg_session *s, baton_error *err) {
  return baton__error(err, BATON_ESESSION,
                      "%s: the session ended (its connection broke); the next renew opens a new "
                      "one",
                      s->label);
}

static void listener_drain(baton_pg_session *s);
static void unsubscribe(baton_pg_session *s, baton_pg_cand *p, bool gone);
static void listener_thread_stop(baton_pg_session *s);
static void pass_on(baton_pg_session *s, baton_pg_cand *p);

/* ---- open and close --------------------------------------------------------- */

static void session_free(baton_pg_session *s) {
  if (s == NULL) return;
  listener_thread_stop(s); /* before the listener it reads goes */
  baton__pg_drop(&s->conn);
  baton__pg_drop(&s->reader);
  baton__pg_drop(&s->listener);
  for (size_t i = 0; i < s->nkeys; i++) {
    if (s->values[i] == s->password) explicit_bzero(s->values[i], strlen(s->values[i]));
    baton__free(s->keys[i]);
    baton__free(s->values[i]);
  }
  baton__free(s->keys);
  baton__free(s->values);
  /* Candidates not forgotten leave their entries behind. */
  for (size_t i = 0; i < s->nbuckets; i++)
    for (baton_pg_name *e = s->nidx[i], *next; e != NULL; e = next) {
      next = e->nnext;
      baton__free(e);
    }
  baton__free(s->nidx);
  baton__free(s->cidx);
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->rmu);
  pthread_mutex_destroy(&s->liomu);
  pthread_mutex_destroy(&s->lmu);
  baton__free(s);
}

static int add_key(baton_pg_session *s, const char *key, const char *value) {
  char *k = baton__strdup(key), *v = baton__strdup(value);
  if (k == NULL || v == NULL) {
    baton__free(k);
    baton__free(v);
    return BATON_ENOMEM;
  }
  s->keys[s->nkeys] = k;
  s->values[s->nkeys++] = v;
  return 0;
}

/* Check the URI's parameters with libpq's own parser, before any
 * connection: an unknown one is the caller's mistake. */
static int check_params(const baton_uri *uri, baton_error *err) {
  if (uri->nparams == 0) return 0;
  /* A password in a parameter would be a second one, kept nowhere safe
   * (wiped on close, kept out of messages): the userinfo's, or the
   * option's, is the one. */
  for (size_t i = 0; i < uri->nparams; i++)
    if (strcmp(uri->params[i].key, "password") == 0 ||
        strcmp(uri->params[i].key, "sslpassword") == 0)
      return baton__error(err, BATON_EINVAL,
                          "postgres://: ?%s= is not taken: give the password in the URI's "
                          "userinfo (postgres://user:password@host/db), or with "
                          "--password-file (baton_options.password)",
                          uri->params[i].key);
  size_t size = 1;
  for (size_t i = 0; i < uri->nparams; i++)
    size += 4 + strlen(uri->params[i].key) + 2 * strlen(uri->params[i].value);
  char *text = baton__calloc(1, size), *w = text;
  if (text == NULL) return baton__error(err, BATON_ENOMEM, "postgres: out of memory");
  for (size_t i = 0; i < uri->nparams; i++) {
    w += sprintf(w, "%s='", uri->params[i].key);
    for (const char *v = uri->params[i].value; *v != '\0'; v++) {
      if (*v == '\'' || *v == '\\') *w++ = '\\';
      *w++ = *v;
    }
    *w++ = '\'';
    *w++ = ' ';
  }
  *w = '\0';
  char *msg = NULL;
  PQconninfoOption *opts = PQconninfoParse(text, &msg);
  baton__free(text);
  if (opts != NULL) {
    PQconninfoFree(opts);
    return 0;
  }
  char line[160] = "out of memory";
  if (msg != NULL) {
    snprintf(line, sizeof line, "%.*s", (int)strcspn(msg, "\n"), msg);
    PQfreemem(msg);
  }
  return baton__error(err, BATON_EINVAL, "postgres://: a parameter libpq does not take: %s",
                      line);
}

/* libpq's keywords for the URI: hosts and ports (several make libpq try
 * them in turn), the database, user and password, then the URI's own
 * parameters (sslmode, options=-csearch_path=..., and so on). */
static int build_keys(baton_pg_session *s, const baton_uri *uri, const baton_config *cfg) {
  size_t cap = 8 + uri->nparams;
  s->keys = baton__calloc(cap, sizeof *s->keys);
  s->values = baton__calloc(cap, sizeof *s->values);
  if (s->keys == NULL || s->values == NULL) return BATON_ENOMEM;
  char hosts[1200] = "", ports[200] = "";
  for (size_t i = 0; i < uri->nhosts; i++) {
    char port[16];
    snprintf(port, sizeof port, "%d", uri->hosts[i].port);
    size_t hl = strlen(hosts), pl = strlen(ports);
    snprintf(hosts + hl, sizeof hosts - hl, "%s%s", i ? "," : "", uri->hosts[i].host);
    snprintf(ports + pl, sizeof ports - pl, "%s%s", i ? "," : "",
             uri->hosts[i].port != 0 ? port : BATON_PG_PORT);
  }
  const char *db = uri->path[0] == '/' ? uri->path + 1 : uri->path;
  int rc = add_key(s, "host", hosts);
  if (rc == 0) rc = add_key(s, "port", ports);
  if (rc == 0 && db[0] != '\0') rc = add_key(s, "dbname", db);
  if (rc == 0 && cfg->username != NULL) rc = add_key(s, "user", cfg->username);
  if (rc == 0) rc = add_key(s, "fallback_application_name", "baton");
  for (size_t i = 0; rc == 0 && i < uri->nparams; i++)
    rc = add_key(s, uri->params[i].key, uri->params[i].value);
  if (rc == 0 && cfg->password != NULL) {
    rc = add_key(s, "password", cfg->password);
    if (rc == 0) s->password = s->values[s->nkeys - 1];
  }
  return rc;
}

/* Connect the session and set it up: the lease, the token table, and the
 * check that no pooler stands between us and the server. Needs s->mu (or
 * the session not shared yet). */
static int session_connect(baton_pg_session *s, int64_t deadline, baton_error *err) {
  int64_t sent = baton__now();
  PGconn *pg = NULL;
  int rc = baton__pg_connect(&pg, s, deadline, -1, err);
  if (rc != 0) return rc;
  int version = PQserverVersion(pg);
  if (version < BATON_PG_MIN_VERSION) {
    PQfinish(pg);
    return baton__error(err, BATON_EREFUSED,
                        "%s: the server is PostgreSQL %d.%d; baton needs 14 or later "
                        "(idle_session_timeout is the server-side lease)",
                        s->label, version / 10000, version % 10000);
  }
  baton_pg_conn k = {.pg = pg};
  char sql[sizeof baton_pg_setup_fmt + sizeof baton_pg_prepare_sql + 100];
  long long ttl = (long long)ttl_ms(s);
  long long op = (long long)(s->base.cfg->op_timeout_ns / BATON_NS_PER_MS);
  if (s->base.cfg->read_only)
    snprintf(sql, sizeof sql, baton_pg_setup_ro_fmt, ttl, ttl, op > 0 ? op : ttl);
  else
    snprintf(sql, sizeof sql, baton_pg_setup_fmt, ttl, ttl, ttl, op > 0 ? op : ttl,
             baton_pg_prepare_sql);
  PGresult *r = NULL;
  bool broken;
  /* Two sessions creating the table at once: one of them fails, and sees
   * it made on its second try. */
  for (int attempt = 0; attempt < 2; attempt++) {
    rc = baton__pg_exec(&k, s, sql, 0, NULL, &r, deadline, "session set-up", &broken, err);
    if (rc != BATON_EREFUSED || broken) break;
  }
  if (rc == BATON_EAUTH) {
    char why[256];
    snprintf(why, sizeof why, "%s", err != NULL ? err->message : "");
    rc = baton__error(err, BATON_EAUTH,
                      "%.150s (the role needs CREATE on the schema for the token table "
                      "baton_token, or the table made beforehand: see the README)",
                      why);
  }
  if (rc == 0 && (PQntuples(r) != 1 || PQnfields(r) != 2 ||
                  PQgetlength(r, 0, 1) >= (int)sizeof s->started))
    rc = baton__pg_bad_reply(s, "session set-up", err);
  if (rc == 0 && atoi(PQgetvalue(r, 0, 0)) != PQbackendPID(pg))
    rc = baton__error(err, BATON_EREFUSED,
                      "%s: the connection goes through a pooler (backend pid %s, but the "
                      "server said %d at connect): session-level advisory locks need a direct "
                      "connection to the server",
                      s->label, PQgetvalue(r, 0, 0), PQbackendPID(pg));
  if (rc == 0) snprintf(s->started, sizeof s->started, "%s", PQgetvalue(r, 0, 1));
  if (r != NULL) PQclear(r);
  if (rc != 0) {
    baton__pg_drop(&k);
    return rc;
  }
  s->heard = sent;
  s->conn = k;
  s->gen++;
  s->dead = false;
  s->reported = false;
  s->base.server_ttl_ns = s->base.cfg->ttl_ns;
  return 0;
}

static int session_open(baton_session **out, const baton_uri *uri, const baton_config *cfg,
                        int64_t deadline, baton_error *err) {
  if (out == NULL || uri == NULL || cfg == NULL)
    return baton__error(err, BATON_EINVAL, "postgres: open: NULL argument");
  *out = NULL;
  int rc = baton__dlib_load(&baton__pq_lib, err);
  if (rc != 0) return rc;
  rc = check_params(uri, err);
  if (rc != 0) return rc;
  if (cfg->ttl_ns < BATON_NS_PER_MS)
    return baton__error(err, BATON_EINVAL, "postgres://: the TTL must be at least 1 ms");
  baton_pg_session *s = baton__calloc(1, sizeof *s);
  if (s == NULL) return baton__error(err, BATON_ENOMEM, "postgres: out of memory");
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->rmu, NULL);
  pthread_mutex_init(&s->liomu, NULL);
  pthread_mutex_init(&s->lmu, NULL);
  s->lfd = -1;
  s->lctl = -1;
  s->base.cfg = cfg;
  if (build_keys(s, uri, cfg) != 0) {
    session_free(s);
    return baton__error(err, BATON_ENOMEM, "postgres: out of memory");
  }
  const baton_uri_host *h = &uri->hosts[0];
  snprintf(s->label, sizeof s->label,
           strchr(h->host, ':') ? "postgres://[%.200s]:%d%s%.64s" : "postgres://%.200s:%d%s%.64s",
           h->host, h->port != 0 ? h->port : atoi(BATON_PG_PORT), uri->nhosts > 1 ? ",...": "",
           uri->path);
  rc = session_connect(s, deadline, err);
  if (rc != 0) {
    session_free(s);
    return rc;
  }
  *out = &s->base;
  return 0;
}

static void session_close(baton_session *bs) {
  baton_pg_session *s = session_of(bs);
  if (s == NULL) return;
  if (!s->dead && s->conn.pg != NULL && !s->base.cfg->read_only) {
    baton_error ignored;
    bool broken;
    const char *params[] = {s->started};
    baton__pg_exec(&s->conn, s, BATON_PG_CLOSE_SQL, 1, params, NULL,
                   baton__after(s->base.cfg->op_timeout_ns), "close", &broken, &ignored);
  }
  session_free(s);
}

/* ---- acquire ------------------------------------------------------------------ */

/* Another candidate of this session holds c's name: the server would give
 * us the lock again (advisory locks are re-entrant per session), so the
 * answer is ours to give. Needs s->mu. */
static const baton_pg_cand *local_holder(baton_pg_session *s, const baton_pg_cand *p) {
  const baton_pg_cand *found = NULL;
  pthread_mutex_lock(&s->lmu); /* for the list of p's name; locked and gen are under mu */
  for (const baton_pg_cand *o = p->ent != NULL ? p->ent->members : NULL; o != NULL && !found;
       o = o->mnext)
    if (o != p && o->locked && o->gen == s->gen) found = o;
  pthread_mutex_unlock(&s->lmu);
  return found;
}

/* The statement failed after it may have taken the lock: let it go, so
 * that no lock outlives a failed transaction. Needs s->mu. */
static void undo_lock(baton_pg_session *s, baton_pg_cand *p, int64_t deadline) {
  const char *params[] = {p->name};
  baton_error ignored;
  bool broken = false;
  int rc = baton__pg_exec_prepared(&s->conn, s, BATON_PG_UNLOCK, 1, params, NULL, deadline, "unlock",
                          &broken,
                          &ignored);
  if (broken) session_broke(s);
  if (rc == 0) p->locked = false;
}

static int acquire(baton_session *bs, baton_candidate *c, baton_leader *holder, int64_t deadline,
                   baton_error *err) {
  baton_pg_session *s = session_of(bs);
  int rc = check_candidate(bs, c, "acquire", err);
  if (rc != 0) return rc;
  /* Before the look is sent. */
  if (c->priv != NULL) clear_woken(s, c->priv);
  if ((rc = lock_by(s, &s->mu, deadline, "acquire", err)) != 0) return rc;
  baton_pg_cand *p = NULL;
  rc = cand_state(s, c, &p, err);
  if (rc != 0) goto out;
  p->acquired = true;
  if (s->dead || s->conn.pg == NULL) {
    rc = dead_error(s, err);
    goto out;
  }
  const baton_pg_cand *other = local_holder(s, p);
  if (other != NULL) {
    baton_leader who = {.token = other->token};
    copy_identity(&who, c->identity);
    if (holder != NULL) *holder = who;
    p->recheck_at = 0;
    rc = baton__error(err, BATON_EHELD, "%s: '%s' is held by another election of this client",
                      s->label, c->name);
    goto out;
  }
  if (p->gen != s->gen) p->locked = false;
  bool maybe_ours = p->locked; /* an earlier attempt's outcome is unknown */
  /* From here until the reply, the outcome is unknown: the lock may be
   * ours. The statement is idempotent, so the next acquire settles it,
   * and release lets go of it. */
  p->locked = true;
  p->won = false;
  p->gen = s->gen;
  char ttl[24];
  snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms(s));
  const char *params[] = {c->name, c->identity, ttl, s->started, maybe_ours ? "t" : "f"};
  PGresult *r = NULL;
  bool broken = false;
  int64_t sent = baton__now();
  rc = baton__pg_exec_prepared(&s->conn, s, BATON_PG_ACQUIRE, 5, params, &r, deadline, "acquire",
                      &broken, err);
  if (broken) {
    session_broke(s);
    goto out;
  }
  if (rc != 0) {
    if (rc != BATON_ETIMEDOUT) undo_lock(s, p, deadline);
    goto out;
  }
  int64_t now = baton__now();
  s->heard = sent;
  if (PQntuples(r) != 1 || PQnfields(r) != 11) {
    PQclear(r);
    undo_lock(s, p, deadline);
    rc = baton__pg_bad_reply(s, "acquire", err);
    goto out;
  }
  bool got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
  uint64_t token = to_u64(PQgetvalue(r, 0, 1));
  baton_leader who = {.token = PQgetisnull(r, 0, 3) ? 0 : to_u64(PQgetvalue(r, 0, 3))};
  copy_identity(&who, PQgetisnull(r, 0, 2) ? "" : PQgetvalue(r, 0, 2));
  int64_t wait_ms = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
  int64_t idle_ms = PQgetisnull(r, 0, 5) ? -1 : strtoll(PQgetvalue(r, 0, 5), NULL, 10);
  bool foreign = strcmp(PQgetvalue(r, 0, 8), "t") == 0;
  int64_t fixed_ms = PQgetisnull(r, 0, 9) ? -1 : strtoll(PQgetvalue(r, 0, 9), NULL, 10);
  bool by_lease = strcmp(PQgetvalue(r, 0, 10), "1") == 0;
  PQclear(r);
  if (by_lease) {
    /* A fixed lease holds the name: the statement let go of the lock it
     * took. Its release notifies; its expiry is looked for at its end,
     * or soon when this statement's snapshot did not show it yet. */
    p->locked = false;
    p->recheck_at =
        now + baton__next_look(&p->foreign_poll_ns, recheck_after(s, -1, fixed_ms), fixed_ms < 0);
    if (holder != NULL) *holder = who;
    if (fixed_ms < 0)
      rc = baton__error(err, BATON_EHELD,
                        "%s: '%s' changed while it was looked at (a fixed lease or a term this "
                        "look's snapshot did not show): looked at again soon",
                        s->label, c->name);
    else
      rc = baton__error(err, BATON_EHELD,
                        "%s: '%s' is held by a fixed lease of '%.64s' (token %" PRIu64 ")",
                        s->label, c->name, who.identity, who.token);
    goto out;
  }
  if (got && token == 0 && wait_ms <= 0) {
    undo_lock(s, p, deadline);
    rc = baton__pg_bad_reply(s, "acquire", err);
    goto out;
  }
  if (!got) {
    p->locked = false;
    p->recheck_at =
        now + baton__next_look(&p->foreign_poll_ns, recheck_after(s, idle_ms, -1), foreign);
    if (holder != NULL) *holder = who;
    rc = baton__error(err, BATON_EHELD, "%s: '%s' is held by '%.64s' (token %" PRIu64 ")",
                      s->label, c->name, who.identity, who.token);
    goto out;
  }
  if (wait_ms > 0) {
    /* The previous term did not end by a release, and its holder may
     * still believe in it (until its last heartbeat + TTL, or until the
     * server's start + TTL after a restart). Keep the lock, and take the
     * term once that time has passed. */
    p->recheck_at = now + wait_ms * BATON_NS_PER_MS;
    if (holder != NULL) *holder = who;
    rc = baton__error(err, BATON_EHELD,
                      "%s: the previous term of '%s' (token %" PRIu64 ", '%.64s') may be believed "
                      "for %lld ms more: the name is taken then",
                      s->label, c->name, who.token, who.identity, (long long)wait_ms);
    goto out;
  }
  p->won = true;
  p->token = token;
  p->recheck_at = 0;
  p->foreign_poll_ns = 0;
  c->token = token;
  rc = 0;
out:
  pthread_mutex_unlock(&s->mu);
  return rc;
}

/* ---- release, renew, leader -------------------------------------------------- */

static int release_lock(baton_session *bs, baton_candidate *c, int64_t deadline,
                        baton_error *err) {
  baton_pg_session *s = session_of(bs);
  int rc = check_candidate(bs, c, "release", err);
  if (rc != 0) return rc;
  baton_pg_cand *p = c->priv;
  if (p == NULL) return 0;
  if ((rc = lock_by(s, &s->mu, deadline, "release", err)) != 0) return rc;
  if (!p->locked || p->gen != s->gen || s->dead || s->conn.pg == NULL) {
    /* Nothing of ours, or it went with a session that ended. */
    p->locked = p->won = false;
    pthread_mutex_unlock(&s->mu);
    return 0;
  }
  const char *params[] = {c->name, s->started};
  bool broken = false;
  int64_t sent = baton__now();
  rc = baton__pg_exec_prepared(&s->conn, s, BATON_PG_RELEASE, 2, params, NULL, deadline, "release",
                      &broken,
                      err);
  if (rc == 0) s->heard = sent;
  if (broken) {
    session_broke(s);
    rc = 0; /* the lock ends with the session */
  }
  if (rc == 0) p->locked = p->won = false;
  pthread_mutex_unlock(&s->mu);
  return rc;
}

/* The core releases a candidate when its campaign or its term ends: it
 * waits no more, so its channel is let go of too (see unsubscribe). */
static int release(baton_session *bs, baton_candidate *c, int64_t deadline, baton_error *err) {
  int rc = release_lock(bs, c, deadline, err);
  if (bs != NULL && c != NULL && c->priv != NULL) {
    baton_pg_session *s = session_of(bs);
    pthread_mutex_lock(&s->lmu);
    pass_on(s, c->priv); /* a wake it took and leaves unused */
    pthread_mutex_unlock(&s->lmu);
    unsubscribe(s, c->priv, false);
  }
  return rc;
}

/* A text[] literal of the names: {"a","b"} (names need no escaping). */
static char *names_array(baton_candidate *const *held, const size_t *idx, size_t m) {
  size_t size = 3;
  for (size_t j = 0; j < m; j++) size += strlen(held[idx[j]]->name) + 3;
  char *a = baton__calloc(1, size), *w = a;
  if (a == NULL) return NULL;
  *w++ = '{';
  for (size_t j = 0; j < m; j++) w += sprintf(w, "%s\"%s\"", j ? "," : "", held[idx[j]]->name);
  *w++ = '}';
  *w = '\0';
  return a;
}

/* After ESESSION: a fresh session. Every held term is gone. Needs s->mu. */
static int new_session(baton_pg_session *s, size_t n, bool *gone, int64_t deadline,
                       baton_error *err) {
  int rc = session_connect(s, deadline, err);
  if (rc != 0) return rc;
  baton__log(s->base.cfg, BATON_LOG_INFO, "%s: new session (backend pid %d) after the last one ended",
             s->label, PQbackendPID(s->conn.pg));
  for (size_t i = 0; i < n; i++) gone[i] = true;
  return 0;
}

static int check_held(baton_pg_session *s, baton_candidate *const *held, size_t n, bool *gone,
                      int64_t deadline, baton_error *err) {
  size_t *idx = baton__calloc(n + 1, sizeof *idx);
  if (idx == NULL) return baton__error(err, BATON_ENOMEM, "postgres: renew: out of memory");
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    const baton_pg_cand *p = held[i] != NULL ? held[i]->priv : NULL;
    if (p == NULL || !p->locked || p->gen != s->gen)
      gone[i] = true; /* never taken, released, or from a session that ended */
    else
      idx[m++] = i;
  }
  char *array = m > 0 ? names_array(held, idx, m) : NULL;
  const char *params[] = {array, s->started};
  int64_t sent = baton__now();
  PGresult *r = NULL;
  bool broken = false;
  int rc = m > 0 && array == NULL ? baton__error(err, BATON_ENOMEM, "postgres: out of memory")
           : m > 0 ? baton__pg_exec_prepared(&s->conn, s, BATON_PG_RENEW, 2, params, &r, deadline,
                                    "renew", &broken, err)
                   : baton__pg_exec(&s->conn, s, "SELECT 1", 0, NULL, &r, deadline, "renew",
                                    &broken, err);
  if (rc == 0) s->heard = sent;
  if (rc == 0 && m > 0) {
    if (PQnfields(r) != 1) rc = baton__pg_bad_reply(s, "renew", err);
    /* The names reported missing: usually none. */
    for (int row = 0; rc == 0 && row < PQntuples(r); row++) {
      const char *name = PQgetvalue(r, row, 0);
      for (size_t j = 0; j < m; j++)
        if (strcmp(held[idx[j]]->name, name) == 0) gone[idx[j]] = true;
    }
  }
  if (r != NULL) PQclear(r);
  baton__free(array);
  baton__free(idx);
  /* A broken session connection cannot be resumed: its locks end with it
   * (now, or at the server's idle timeout). The next renews say so. */
  if (broken) session_broke(s);
  if (broken && rc == BATON_ESESSION) s->reported = true; /* the server said so */
  return rc;
}

static int renew(baton_session *bs, baton_candidate *const *held, size_t n, bool *gone,
                 int64_t deadline, baton_error *err) {
  baton_pg_session *s = session_of(bs);
  if (s == NULL || (n > 0 && (held == NULL || gone == NULL)))
    return baton__error(err, BATON_EINVAL, "postgres: renew: NULL argument");
  for (size_t i = 0; i < n; i++) {
    if (held[i] == NULL || held[i]->name == NULL)
      return baton__error(err, BATON_EINVAL, "postgres: renew: NULL candidate");
    gone[i] = false;
  }
  int rc = lock_by(s, &s->mu, deadline, "renew", err);
  if (rc != 0) return rc;
  if (s->dead && !s->reported && baton__now() < baton__add_sat(s->heard, s->base.cfg->ttl_ns)) {
    /* The server may keep the session until then: until it surely has
     * ended, its terms are unreachable, not gone. */
    rc = baton__error(err, BATON_ECONNECT,
                      "%s: the session's connection broke; the server ends the session within "
                      "%lld ms",
                      s->label,
                      (long long)((baton__add_sat(s->heard, s->base.cfg->ttl_ns) - baton__now()) /
                                  BATON_NS_PER_MS));
  } else if (s->dead && !s->reported) {
    s->reported = true;
    rc = dead_error(s, err);
  } else if (s->dead) {
    rc = new_session(s, n, gone, deadline, err);
    if (rc != 0) baton__error_prefix(err, "new session");
  } else {
    rc = check_held(s, held, n, gone, deadline, err);
  }
  pthread_mutex_unlock(&s->mu);
  listener_drain(s);
  return rc;
}

/* The reader connection: leader looks of a client that may hold names,
 * and its fixed leases (which no session holds). It holds no lock past a
 * statement, so the server never ends it when idle; it commits
 * synchronously, as the session does, for the leases' tokens. Needs
 * s->rmu. */
static int reader_connect(baton_pg_session *s, int64_t deadline, baton_error *err) {
  baton_pg_conn k = {0};
  int rc = baton__pg_connect(&k.pg, s, deadline, -1, err);
  if (rc != 0) return rc;
  char sql[200];
  long long op = (long long)(s->base.cfg->op_timeout_ns / BATON_NS_PER_MS);
  snprintf(sql, sizeof sql,
           "SET synchronous_commit = on; SET idle_session_timeout = 0; "
           "SET tcp_user_timeout = %lld; SET statement_timeout = %lld",
           (long long)ttl_ms(s), op > 0 ? op : (long long)ttl_ms(s));
  bool broken;
  rc = baton__pg_exec(&k, s, sql, 0, NULL, NULL, deadline, "leader connection", &broken, err);
  if (rc != 0) {
    baton__pg_drop(&k);
    return rc;
  }
  s->reader = k;
  return 0;
}

/* One statement on k, ended by cancel_fd (< 0: none) as well. */
static int exec_cancellable(baton_pg_session *s, baton_pg_conn *k, const char *sql, int nparams,
                            const char *const *params, PGresult **r, int64_t deadline,
                            int cancel_fd, const char *what, bool *broken, baton_error *err) {
  k->watch_cancel = cancel_fd >= 0;
  k->cancel_fd = cancel_fd;
  int rc = baton__pg_exec(k, s, sql, nparams, params, r, deadline, what, broken, err);
  k->watch_cancel = false;
  return rc;
}

/* One statement on the reader connection (not a read-only client's),
 * opened first when there is none. One left unfinished (timed out,
 * cancelled) is closed, so that no later request waits for it. A reader
 * that broke while idle is opened anew once when `again`: for a statement
 * that may run twice (a look); a write whose outcome is unknown is not
 * sent again. */
static int reader_exec(baton_pg_session *s, const char *sql, int nparams,
                       const char *const *params, PGresult **r, int64_t deadline, int cancel_fd,
                       bool again, const char *what, baton_error *err) {
  int rc = lock_by(s, &s->rmu, deadline, what, err);
  if (rc != 0) return rc;
  for (int attempt = 0; attempt < 2; attempt++) {
    bool fresh = s->reader.pg == NULL, broken = false;
    rc = fresh ? reader_connect(s, deadline, err) : 0;
    if (rc == 0)
      rc = exec_cancellable(s, &s->reader, sql, nparams, params, r, deadline, cancel_fd, what,
                            &broken, err);
    if (broken || s->reader.busy) baton__pg_drop(&s->reader);
    if (!broken || fresh || !again) break;
  }
  pthread_mutex_unlock(&s->rmu);
  return rc;
}

/* Who leads name: 1 (with *out, the holder's idle ms, -1 unknown, and
 * when a fixed lease holds it its ms left, else -1), 0 none, or an error.
 * On the reader connection (a read-only client's: its session connection,
 * which nothing else uses); an observer's wait passes its cancel_fd (else
 * -1). */
static int read_leader(baton_pg_session *s, const char *name, baton_leader *out,
                       int64_t *idle_ms, int64_t *fixed_ms, char *value, size_t size,
                       size_t *len, int64_t deadline, int cancel_fd, baton_error *caller_err) {
  baton_error local = {0}, *err = caller_err != NULL ? caller_err : &local;
  const char *params[] = {name};
  bool broken = false;
  PGresult *r = NULL;
  int rc;
  if (!s->base.cfg->read_only) {
    /* Off the session connection: a leader look never makes a renewal
     * wait, nor waits for an acquire. */
    rc = reader_exec(s, BATON_PG_LEADER_SQL, 1, params, &r, deadline, cancel_fd, true, "leader",
                     err);
  } else {
    if ((rc = lock_by(s, &s->mu, deadline, "leader", err)) != 0) return rc;
    if ((s->dead || s->conn.pg == NULL) && !holds_any(s)) {
      /* Nothing of ours ended with it (a read-only client's, say): a new
       * session loses nothing. */
      rc = session_connect(s, deadline, err);
      if (rc != 0) baton__error_prefix(err, "new session");
    } else if (s->dead || s->conn.pg == NULL) {
      rc = dead_error(s, err);
    }
    if (rc == 0)
      rc = exec_cancellable(s, &s->conn, BATON_PG_LEADER_SQL, 1, params, &r, deadline, cancel_fd,
                            "leader", &broken, err);
    /* It holds nothing: a look left unfinished ends it, and the next look
     * opens a new one. */
    if (broken || s->conn.busy) session_broke(s);
    pthread_mutex_unlock(&s->mu);
  }
  /* No token table yet (a read-only client makes none): no leader. */
  if (rc == BATON_EREFUSED && strstr(err->message, "(SQLSTATE 42P01)") != NULL)
    return 0;
  if (rc != 0) return rc;
  memset(out, 0, sizeof *out);
  baton__value_copy(value, size, len, "", 0);
  if (PQnfields(r) != 6 || PQntuples(r) > 1) {
    PQclear(r);
    return baton__pg_bad_reply(s, "leader", err);
  }
  rc = PQntuples(r);
  if (rc == 1) {
    copy_identity(out, PQgetvalue(r, 0, 0));
    out->token = to_u64(PQgetvalue(r, 0, 1));
    *idle_ms = PQgetisnull(r, 0, 2) ? -1 : strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    *fixed_ms = PQgetisnull(r, 0, 5) ? -1 : strtoll(PQgetvalue(r, 0, 5), NULL, 10);
    baton__value_copy(value, size, len, PQgetvalue(r, 0, 3), (size_t)PQgetlength(r, 0, 3));
    out->version = to_u64(PQgetvalue(r, 0, 4));
  }
  PQclear(r);
  return rc;
}

static int leader_value(baton_session *bs, const char *name, baton_leader *out, char *value,
                        size_t size, size_t *len, int64_t deadline, baton_error *err) {
  baton_pg_session *s = session_of(bs);
  if (s == NULL || out == NULL)
    return baton__error(err, BATON_EINVAL, "postgres: leader: NULL argument");
  int rc = baton_election_name_check(name, err);
  if (rc != 0) return rc;
  int64_t idle, fixed;
  rc = read_leader(s, name, out, &idle, &fixed, value, size, len, deadline, -1, err);
  if (rc < 0) return rc;
  if (rc == 0) return baton__error(err, BATON_ENOLEADER, "%s: '%s' has no leader", s->label, name);
  return 0;
}

static int leader(baton_session *bs, const char *name, baton_leader *out, int64_t deadline,
                  baton_error *err) {
  return leader_value(bs, name, out, NULL, 0, NULL, deadline, err);
}

/* Proclaim on the session connection, where the lock is: the token row's
 * value, only for our term (name, token, this session, the lock held). */
static int proclaim(baton_session *bs, baton_candidate *c, const char *value, int64_t deadline,
                    baton_error *err) {
  baton_pg_session *s = session_of(bs);
  int rc = check_candidate(bs, c, "proclaim", err);
  if (rc != 0) return rc;
  baton_pg_cand *p = c->priv;
  if ((rc = lock_by(s, &s->mu, deadline, "proclaim", err)) != 0) return rc;
  if (p == NULL || !p->won || p->gen != s->gen || s->dead || s->conn.pg == NULL) {
    pthread_mutex_unlock(&s->mu);
    return baton__error(err, BATON_ENOTHOLDER, "%s: proclaim: '%s' holds no term here", s->label,
                        c->name);
  }
  char token[24];
  snprintf(token, sizeof token, "%" PRIu64, p->token);
  const char *params[] = {c->name, token, value, s->started};
  PGresult *r = NULL;
  bool broken = false;
  rc = baton__pg_exec(&s->conn, s, BATON_PG_PROCLAIM_SQL, 4, params, &r, deadline, "proclaim",
                      &broken, err);
  if (broken) session_broke(s);
  pthread_mutex_unlock(&s->mu);
  if (rc != 0) return rc;
  bool shape = PQntuples(r) == 1 && PQnfields(r) == 2;
  bool done = shape && strcmp(PQgetvalue(r, 0, 0), "1") == 0;
  PQclear(r);
  if (!shape) return baton__pg_bad_reply(s, "proclaim", err);
  if (!done)
    return baton__error(err, BATON_ENOTHOLDER,
                        "%s: proclaim: the term %s of '%s' is no longer this session's", s->label,
                        token, c->name);
  return 0;
}

/* No queue: advisory-lock waiters are not listed anywhere. The holder
 * alone, with no TTL left to show for a term (the server ends its session
 * after the holder's own idle_session_timeout, which other sessions
 * cannot read), and a fixed lease's time left. */
static int contenders(baton_session *bs, const char *name, baton_contender *out, size_t cap,
                      size_t *n, int64_t deadline, baton_error *err) {
  baton_leader who;
  int64_t idle = -1, fixed = -1;
  *n = 0;
  int rc = read_leader(session_of(bs), name, &who, &idle, &fixed, NULL, 0, NULL, deadline, -1,
                       err);
  return rc < 0 ? rc : baton__contenders_holder(rc, &who, fixed, out, cap, n);
}

/* ---- fixed leases ------------------------------------------------------------- */

/* A fixed lease is its name's token row (fixed_until, see sql.h), written
 * on the reader connection: no session holds it, so it outlives the
 * client, and a dead session takes nothing of it. */

static int lease_args(baton_session *bs, const char *name, const char *what, baton_error *err) {
  if (bs == NULL || name == NULL)
    return baton__error(err, BATON_EINVAL, "postgres: %s: NULL argument", what);
  return baton_election_name_check(name, err);
}

static int lease_acquire(baton_session *bs, const char *name, const char *identity,
                         int64_t ttl_ns, uint64_t *token, baton_leader *holder, int64_t deadline,
                         baton_error *err) {
  baton_pg_session *s = session_of(bs);
  int rc = lease_args(bs, name, "lease acquire", err);
  if (rc != 0) return rc;
  if (identity == NULL || token == NULL || ttl_ns < BATON_NS_PER_MS)
    return baton__error(err, BATON_EINVAL, "postgres: lease acquire: bad argument");
  char ttl[24], lease_ttl[24];
  snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms(s));
  snprintf(lease_ttl, sizeof lease_ttl, "%lld", (long long)(ttl_ns / BATON_NS_PER_MS));
  const char *params[] = {name, identity, ttl, lease_ttl};
  PGresult *r = NULL;
  rc = reader_exec(s, BATON_PG_LEASE_ACQUIRE_SQL, 4, params, &r, deadline, -1, false,
                   "lease acquire", err);
  if (rc != 0) return rc;
  if (PQntuples(r) != 1 || PQnfields(r) != 6 ||
      (!PQgetisnull(r, 0, 0) && to_u64(PQgetvalue(r, 0, 0)) == 0)) {
    PQclear(r);
    return baton__pg_bad_reply(s, "lease acquire", err);
  }
  if (!PQgetisnull(r, 0, 0)) {
    *token = to_u64(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
  }
  /* The holder as leader shows it, so that a wait past it blocks until
   * it changes; none (token 0) when nobody stands: a session that is not
   * baton's holds the lock, or a term that ended without a release may
   * still be believed (ms). */
  baton_leader who = {0};
  if (!PQgetisnull(r, 0, 3)) {
    copy_identity(&who, PQgetvalue(r, 0, 2));
    who.token = to_u64(PQgetvalue(r, 0, 3));
    who.version = to_u64(PQgetvalue(r, 0, 4));
  }
  long long ms = strtoll(PQgetvalue(r, 0, 5), NULL, 10);
  PQclear(r);
  if (holder != NULL) *holder = who;
  if (who.token != 0)
    return baton__error(err, BATON_EHELD, "%s: '%s' is held by '%.64s' (token %" PRIu64 ")",
                        s->label, name, who.identity, who.token);
  if (ms > 0)
    return baton__error(err, BATON_EHELD,
                        "%s: the previous term of '%s' may be believed for %lld ms more",
                        s->label, name, ms);
  return baton__error(err, BATON_EHELD,
                      "%s: '%s' is held: its lock is taken, by no term that stands (plain SQL, "
                      "or a successor waiting out the previous term), or its row changed while "
                      "it was looked at",
                      s->label, name);
}

/* Extend or release (`sql`, whose first column counts the rows it
 * changed) the lease `token` on name: 0, or BATON_ENOTHOLDER when it is
 * not live. A token above the column's range is no lease's. */
static int lease_change(baton_session *bs, const char *name, uint64_t token, const char *sql,
                        const char *ttl, int64_t deadline, const char *what, baton_error *err) {
  baton_pg_session *s = session_of(bs);
  int rc = lease_args(bs, name, what, err);
  if (rc != 0) return rc;
  char tok[24];
  snprintf(tok, sizeof tok, "%" PRIu64, token);
  const char *params[] = {name, tok, ttl};
  bool done = false;
  if (token != 0 && token <= INT64_MAX) {
    PGresult *r = NULL;
    rc = reader_exec(s, sql, ttl != NULL ? 3 : 2, params, &r, deadline, -1, false, what, err);
    if (rc != 0) return rc;
    bool shape = PQntuples(r) == 1 && PQnfields(r) >= 1;
    done = shape && strcmp(PQgetvalue(r, 0, 0), "1") == 0;
    PQclear(r);
    if (!shape) return baton__pg_bad_reply(s, what, err);
  }
  if (done) return 0;
  return baton__error(err, BATON_ENOTHOLDER,
                      "%s: %s: '%s' has no live fixed lease with token %s (expired, released, "
                      "or another's)",
                      s->label, what, name, tok);
}

static int lease_extend(baton_session *bs, const char *name, uint64_t token, int64_t ttl_ns,
                        int64_t deadline, baton_error *err) {
  if (ttl_ns < BATON_NS_PER_MS)
    return baton__error(err, BATON_EINVAL, "postgres: lease extend: the TTL is under 1 ms");
  char ttl[24];
  snprintf(ttl, sizeof ttl, "%lld", (long long)(ttl_ns / BATON_NS_PER_MS));
  return lease_change(bs, name, token, BATON_PG_LEASE_EXTEND_SQL, ttl, deadline, "lease extend",
                      err);
}

static int lease_release(baton_session *bs, const char *name, uint64_t token, int64_t deadline,
                         baton_error *err) {
  return lease_change(bs, name, token, BATON_PG_LEASE_RELEASE_SQL, NULL, deadline,
                      "lease release", err);
}

/* ---- wait ---------------------------------------------------------------------- */

/* One listener connection per client LISTENs on the channel of every name
 * an election of it waits for. Until the first watch (below) starts the
 * listener thread, no thread of its own reads it: one blocked wait at a
 * time (the reader) polls its socket and hands every
 * notification to the candidates of its channel (a flag, and the
 * candidate's eventfd, which each blocked wait polls); the others poll
 * only their eventfd, so a notification wakes the waiter of its name, not
 * every waiter. A reader that stops waiting hands the role on. A wait
 * never holds the session connection, which renews. A channel is
 * UNLISTENed when its candidate's campaign or term ends (release) or it
 * is forgotten, and the renewal reads what came on the listener while no
 * wait was blocked (a holder's channel, say), so that the server never
 * blocks writing to it (a LISTENing session that is never read holds back
 * the server's whole notification queue).
 *
 * Two locks: liomu for a request on the listener or a read of it (a round
 * trip at most, bounded), and lmu for the state, never held across I/O,
 * so that a look (clear_woken) or a blocked wait never waits for a round
 * trip. liomu is taken before lmu. */

/* The listener's TCP keepalive, so that a connection that died silently
 * (a NAT or firewall forgot it) is noticed even when nothing is sent on
 * it; and a probe: a wait that ended with no word from the listener sends
 * a SELECT 1 on it, when it has been silent this long, and a probe with no
 * reply within the request timeout marks it broken. */
#define BATON_PG_PROBE_AFTER_NS (1000 * BATON_NS_PER_MS)

/* Make p's wait look at its flags again. Needs s->lmu. */
static void nudge(const baton_pg_cand *p) {
  uint64_t one = 1;
  if (p->wake_fd >= 0 && write(p->wake_fd, &one, sizeof one) < 0) {
    /* The counter is full: it is readable anyway. */
  }
}

/* Call p's armed watch, if any, once: it is disarmed first. `one`: the
 * wake is a release that can serve one candidate of the name, which p
 * then owes to the next if it leaves without looking (pass_on). Needs
 * s->lmu: the core's wake only queues work. */
static void fire(baton_pg_session *s, baton_pg_cand *p, bool one) {
  baton_wake_fn fn = p->wfn;
  if (fn == NULL) return;
  p->wfn = NULL;
  s->larmed--;
  p->owes = one;
  fn(p->wctx);
}

/* Tell p's wait, or its watch, to look again. Needs s->lmu. */
static void wake(baton_pg_session *s, baton_pg_cand *p) {
  p->woken = true;
  nudge(p);
  fire(s, p, false);
}

/* The candidate of e's name (not `not`) whose watch was armed first, or
 * NULL: a walk of that name's candidates only. Needs s->lmu. */
static baton_pg_cand *first_armed(const baton_pg_name *e, const baton_pg_cand *not) {
  baton_pg_cand *first = NULL;
  for (baton_pg_cand *p = e != NULL ? e->members : NULL; p != NULL; p = p->mnext)
    if (p != not && p->wfn != NULL && p->acquired && p->listening &&
        (first == NULL || p->wseq < first->wseq))
      first = p;
  return first;
}

/* p took a release's one wake (fire) and leaves without looking: the next
 * armed candidate of its name gets it; with none armed, every other
 * candidate of the name is marked woken, so that one whose look came
 * before the release finds it when it arms. Needs s->lmu. */
static void pass_on(baton_pg_session *s, baton_pg_cand *p) {
  if (!p->owes) return;
  p->owes = false;
  baton_pg_cand *next = first_armed(p->ent, p);
  if (next != NULL) {
    fire(s, next, true);
    return;
  }
  for (baton_pg_cand *o = p->ent != NULL ? p->ent->members : NULL; o != NULL; o = o->mnext)
    if (o != p && o->listening && o->acquired) wake(s, o);
}

/* The listener broke, or a request on it was left unfinished (it is never
 * reused with half a request): every subscribed candidate looks again,
 * and the next wait opens a new listener. Needs s->lmu. */
static void listener_broke(baton_pg_session *s) {
  if (!s->lbroken)
    baton__log(s->base.cfg, BATON_LOG_INFO,
               "%s: the listener connection broke; its waiters look again, and the next wait "
               "reconnects",
               s->label);
  s->lbroken = true;
  for (baton_pg_cand *p = s->listening; p != NULL; p = p->lnext) {
    if (!p->listening) continue;
    p->listening = false;
    wake(s, p);
  }
}

/* Hand the notifications libpq has read to the candidates of their
 * channel. A release serves one candidate: of the armed candidate
 * watches of its name only the first armed is woken (no herd), the rest
 * stay armed; observers, blocked waits and candidates between a wake and
 * their next watch (whose look may have come before it) are all told.
 * Needs s->liomu; takes s->lmu. */
static void dispatch(baton_pg_session *s) {
  pthread_mutex_lock(&s->lmu);
  /* Bounded by what libpq has read already: PQnotifies reads nothing. */
  PGnotify *n;
  while ((n = PQnotifies(s->listener.pg)) != NULL) {
    /* A proclaim changes nothing for a waiting candidate: observers only.
     * Nor does an election for an armed candidate's watch: the name is
     * taken, and only its release (or the expiry that recheck_at covers)
     * can serve a candidate. */
    bool proclaimed = n->extra != NULL && strcmp(n->extra, "proclaimed") == 0;
    bool elected = n->extra != NULL && strcmp(n->extra, "elected") == 0;
    const baton_pg_name *e = chan_find(s, n->relname); /* NULL: nobody waits on it now */
    baton_pg_cand *first = proclaimed || elected ? NULL : first_armed(e, NULL);
    for (baton_pg_cand *p = e != NULL ? e->members : NULL; p != NULL; p = p->mnext)
      if (p->listening && !(proclaimed && p->acquired) && !(p->acquired && p->wfn != NULL))
        wake(s, p);
    if (first != NULL) fire(s, first, true);
    PQfreemem(n);
  }
  pthread_mutex_unlock(&s->lmu);
}

/* Let go of liomu, and tell the reader (unless it is `self`) and the
 * listener thread to poll the socket again: they stop polling it while a
 * request is on it, and a new listener has a new socket. */
static void listener_unlock(baton_pg_session *s, const baton_pg_cand *self) {
  pthread_mutex_unlock(&s->liomu);
  pthread_mutex_lock(&s->lmu);
  if (s->lreader != NULL && s->lreader != self) nudge(s->lreader);
  uint64_t one = 1;
  if (s->lthread_on && write(s->lctl, &one, sizeof one) < 0) {
    /* The counter is full: it is readable anyway. */
  }
  pthread_mutex_unlock(&s->lmu);
}

/* Mark the listener broken. Needs s->liomu; takes s->lmu. */
static void listener_fail(baton_pg_session *s) {
  pthread_mutex_lock(&s->lmu);
  listener_broke(s);
  pthread_mutex_unlock(&s->lmu);
}

/* Read what came on the listener without blocking: notifications, and the
 * probe's reply. The listener broke, or its probe went unanswered for a
 * request's time: it is marked broken. Needs s->liomu. */
static void listener_read(baton_pg_session *s) {
  PGconn *pg = s->listener.pg;
  if (pg == NULL) return;
  pthread_mutex_lock(&s->lmu);
  bool broken = s->lbroken;
  pthread_mutex_unlock(&s->lmu);
  if (broken) return;
  if (PQconsumeInput(pg) == 0) {
    listener_fail(s);
    return;
  }
  /* Bounded by what libpq has read: a probe has one result and its end. */
  for (int i = 0; s->lprobe_at != 0 && i < 8 && !PQisBusy(pg); i++) {
    PGresult *r = PQgetResult(pg);
    if (r == NULL) {
      __atomic_store_n(&s->lprobe_at, 0, __ATOMIC_RELAXED);
      s->listener.busy = false;
      s->lheard = baton__now();
      break;
    }
    PQclear(r);
  }
  dispatch(s);
  if (s->lprobe_at != 0 && baton__now() - s->lprobe_at > s->base.cfg->op_timeout_ns)
    listener_fail(s);
}

/* Send a SELECT 1 on a listener silent for `after` ns, not
 * waiting for its reply (listener_read takes it): a listener whose TCP
 * connection died silently is found out within a request's time, without
 * delaying the wait that sent it. Needs s->liomu. */
static void listener_probe(baton_pg_session *s, int64_t after) {
  PGconn *pg = s->listener.pg;
  if (pg == NULL || s->lprobe_at != 0 || s->listener.busy) return;
  if (baton__now() - s->lheard < after) return;
  pthread_mutex_lock(&s->lmu);
  bool broken = s->lbroken;
  pthread_mutex_unlock(&s->lmu);
  if (broken) return;
  __atomic_fetch_add(&s->requests, 1, __ATOMIC_RELAXED);
  if (!PQsendQuery(pg, "SELECT 1") || PQflush(pg) < 0) {
    listener_fail(s);
    return;
  }
  /* Half sent (PQflush said 1) or not, the next request on it finishes
   * it first; a reader's round sends the rest. */
  s->listener.busy = true;
  __atomic_store_n(&s->lprobe_at, baton__now(), __ATOMIC_RELAXED);
}

/* Read what came on the listener, after sending the rest of a probe
 * that went out half. Needs s->liomu. */
static void listener_service(baton_pg_session *s) {
  if (s->listener.busy && s->lprobe_at != 0 && PQflush(s->listener.pg) < 0)
    listener_fail(s);
  else
    listener_read(s);
}

/* Read the listener from the renewal, which runs every interval while the
 * client holds a name, so that its notifications never pile up on the
 * server while no wait is blocked. Never waits: a wait or a request busy
 * with it reads it anyway. */
static void listener_drain(baton_pg_session *s) {
  if (pthread_mutex_trylock(&s->liomu) != 0) return;
  if (s->listener.pg != NULL && (!s->listener.busy || s->lprobe_at != 0)) listener_service(s);
  listener_unlock(s, NULL);
}

/* One request on the listener, bounded by `deadline` and not by any
 * waiter's cancel descriptor: the listener is every waiter's, and one
 * waiter's cancel must not break it for the others. Needs s->liomu. */
static int listener_exec(baton_pg_session *s, const char *sql, PGresult **out, int64_t deadline,
                         const char *what, baton_error *err) {
  s->listener.watch_cancel = false;
  bool broken = false;
  int rc = baton__pg_exec(&s->listener, s, sql, 0, NULL, out, deadline, what, &broken, err);
  if (rc == 0) s->lheard = baton__now();
  __atomic_store_n(&s->lprobe_at, 0, __ATOMIC_RELAXED); /* its reply was read away */
  if (broken || s->listener.busy)
    listener_fail(s);
  else
    dispatch(s); /* what came with the reply */
  return rc;
}

/* A new listener: it must not end when idle (a wait can be long), and a
 * dead path must be noticed: TCP keepalives about once per renewal
 * interval, and tcp_user_timeout on both ends. Needs s->liomu. */
static int listener_connect(baton_pg_session *s, int64_t deadline, baton_error *err) {
  long long idle_s = s->base.cfg->renew_ns / BATON_PG_NS_PER_S;
  char idle[24], user_ms[24];
  snprintf(idle, sizeof idle, "%lld", idle_s >= 1 ? idle_s : 1);
  snprintf(user_ms, sizeof user_ms, "%lld", (long long)ttl_ms(s));
  const char *const keys[] = {"keepalives", "keepalives_idle", "keepalives_interval",
                              "keepalives_count", "tcp_user_timeout", NULL};
  const char *const values[] = {"1", idle, "1", "3", user_ms, NULL};
  PGconn *pg = NULL;
  int rc = baton__pg_connect_with(&pg, s, keys, values, deadline, -1, err);
  if (rc != 0) return rc;
  pthread_mutex_lock(&s->lmu);
  if (s->lgen > 0)
    baton__log(s->base.cfg, BATON_LOG_INFO, "%s: listener reconnected", s->label);
  s->listener.pg = pg;
  s->lfd = PQsocket(pg);
  s->lgen++;
  s->lbroken = false;
  pthread_mutex_unlock(&s->lmu);
  s->lheard = baton__now();
  __atomic_store_n(&s->lprobe_at, 0, __ATOMIC_RELAXED);
  return 0;
}

/* Subscribe p on the client's listener, opened first if there is none
 * (or it broke). The caller looks again afterwards with the LISTEN in
 * effect (it has committed when the reply comes), so that no release
 * after that look goes unnoticed. Needs s->liomu. */
static int subscribe(baton_pg_session *s, baton_candidate *c, baton_pg_cand *p, int64_t deadline,
                     baton_error *err) {
  pthread_mutex_lock(&s->lmu);
  if (p->lprev == NULL && s->listening != p) {
    p->lnext = s->listening;
    if (p->lnext != NULL) p->lnext->lprev = p;
    s->listening = p;
  }
  bool fresh = s->lbroken || s->listener.pg == NULL;
  if (fresh) {
    /* Waits still polling the old one's socket were woken by
     * listener_broke, and never read it again (its generation is gone). */
    s->lfd = -1;
    s->lbroken = true;
  } else {
    /* Another candidate of the name has its LISTEN in effect on this
     * listener (its reply came): p shares it, with no request. It stays
     * while p listens (unsubscribe counts the name's listeners), and no
     * UNLISTEN can be on its way, since we hold liomu. */
    for (const baton_pg_cand *o = p->ent != NULL ? p->ent->members : NULL; o != NULL;
         o = o->mnext)
      if (o != p && o->listening && o->lgen == s->lgen) {
        snprintf(p->channel, sizeof p->channel, "%s", o->channel);
        p->listening = true;
        p->lgen = s->lgen;
        p->woken = false;
        pthread_mutex_unlock(&s->lmu);
        return 0;
      }
  }
  pthread_mutex_unlock(&s->lmu);
  if (fresh) {
    baton__pg_drop(&s->listener);
    int rc = listener_connect(s, deadline, err);
    if (rc != 0) return rc;
  }
  /* The channel is named by the server ("baton_" || md5(name)), quoted by
   * format(%I); the name itself is of [A-Za-z0-9._:@-], so it needs no
   * quoting in a literal. */
  char head[100] = "";
  if (fresh)
    snprintf(head, sizeof head, "SET idle_session_timeout = 0; SET tcp_user_timeout = %lld; ",
             (long long)ttl_ms(s));
  char sql[sizeof head + 150 + 2 * BATON_NAME_MAX];
  int len = snprintf(sql, sizeof sql,
                     "%sDO $baton$BEGIN EXECUTE pg_catalog.format('LISTEN %%I', 'baton_' || "
                     "md5('%s')); END$baton$; SELECT 'baton_' || md5('%s')",
                     head, c->name, c->name);
  if (len < 0 || (size_t)len >= sizeof sql)
    return baton__error(err, BATON_EINVAL, "%s: listen: the statement for '%.64s' is too long",
                        s->label, c->name);
  PGresult *r = NULL;
  int rc = listener_exec(s, sql, &r, deadline, "listen", err);
  if (rc == 0 && (PQntuples(r) != 1 || PQnfields(r) != 1 ||
                  PQgetlength(r, 0, 0) >= (int)sizeof p->channel ||
                  strspn(PQgetvalue(r, 0, 0), "abcdefghijklmnopqrstuvwxyz0123456789_") !=
                      (size_t)PQgetlength(r, 0, 0)))
    rc = baton__pg_bad_reply(s, "listen", err);
  if (rc != 0 && fresh) {
    /* Its settings were rolled back with the failed statement: a listener
     * the server would end when idle is no listener. */
    listener_fail(s);
  }
  if (rc == 0) {
    pthread_mutex_lock(&s->lmu);
    snprintf(p->channel, sizeof p->channel, "%s", PQgetvalue(r, 0, 0));
    chan_learn(s, p->ent, p->channel);
    p->listening = true;
    p->lgen = s->lgen;
    p->woken = false;
    pthread_mutex_unlock(&s->lmu);
  }
  if (r != NULL) PQclear(r);
  return rc;
}

/* p leaves its blocked wait: when it was the reader, another blocked wait
 * takes the role (it is nudged and finds it free). Needs s->lmu. */
static void stop_waiting(baton_pg_session *s, baton_pg_cand *p) {
  p->waiting = false;
  if (s->lreader != p) return;
  s->lreader = NULL;
  for (baton_pg_cand *o = s->listening; o != NULL; o = o->lnext)
    if (o->waiting) {
      nudge(o);
      break;
    }
}

/* Block until p is woken (1), `until` (0) or cancel_fd is readable
 * (BATON_ECANCELED). A listener that broke wakes it: it looks again. */
static int listen_wait(baton_pg_session *s, baton_pg_cand *p, int64_t until, int cancel_fd) {
  int rc = 0;
  bool skip_socket = false; /* a request is on the listener: its end nudges us */
  pthread_mutex_lock(&s->lmu);
  p->waiting = true;
  pthread_mutex_unlock(&s->lmu);
  for (int round = 0; round < 100000; round++) {
    pthread_mutex_lock(&s->lmu);
    if (s->lfd < 0 && p->listening && p->lgen == s->lgen && !s->lbroken) listener_broke(s);
    bool woken = p->woken || !p->listening || p->lgen != s->lgen || s->lbroken;
    p->woken = false;
    if (s->lreader == NULL && !s->lthread_on) s->lreader = p; /* else the thread reads */
    bool reader = s->lreader == p;
    int fd = s->lfd;
    uint64_t gen = s->lgen;
    pthread_mutex_unlock(&s->lmu);
    if (woken) {
      rc = 1;
      break;
    }
    int64_t by = until;
    int64_t probe_at = __atomic_load_n(&s->lprobe_at, __ATOMIC_RELAXED);
    if (reader && !skip_socket && probe_at != 0) {
      /* A probe is out: the reader judges it within a request's time
       * (read without liomu: a stale value only moves this round's end).
       * Not while a request is on the listener: that request settles the
       * probe, and its end nudges us. */
      int64_t probe_by = baton__add_sat(probe_at, s->base.cfg->op_timeout_ns) + 1;
      if (probe_by < by) by = probe_by;
    }
    bool on_socket = reader && !skip_socket;
    struct pollfd fds[3] = {{.fd = p->wake_fd, .events = POLLIN},
                            {.fd = cancel_fd, .events = POLLIN},
                            {.fd = on_socket ? fd : -1, .events = POLLIN}};
    int k = poll(fds, 3, baton__ms_until(by));
    if (k < 0) continue; /* EINTR */
    if (cancel_fd >= 0 && (fds[1].revents & POLLIN)) {
      rc = BATON_ECANCELED;
      break;
    }
    uint64_t count;
    if ((fds[0].revents & POLLIN) && read(p->wake_fd, &count, sizeof count) < 0) {
      /* Emptied by an earlier round: nothing to read. */
    }
    if (fds[0].revents & POLLIN) skip_socket = false;
    if (k == 0 && baton__now() >= until) break;
    if (!reader || (k > 0 && fds[2].revents == 0)) continue;
    /* The socket is readable, or a probe is due: read it, unless a request
     * is on it (which reads it, and nudges us when it is done). */
    if (pthread_mutex_trylock(&s->liomu) != 0) {
      skip_socket = true;
      continue;
    }
    /* A new listener may have replaced the one polled. */
    if (s->lgen == gen && s->listener.pg != NULL) listener_service(s);
    listener_unlock(s, p);
  }
  if (rc == 0 && pthread_mutex_trylock(&s->liomu) == 0) {
    /* No word from the listener for the whole wait: is it still there? */
    listener_read(s);
    listener_probe(s, BATON_PG_PROBE_AFTER_NS);
    listener_unlock(s, p);
  }
  pthread_mutex_lock(&s->lmu);
  stop_waiting(s, p);
  pthread_mutex_unlock(&s->lmu);
  return rc;
}

static int wait_change(baton_session *bs, baton_candidate *c, const baton_leader *seen,
                       int64_t deadline, int cancel_fd, baton_error *err) {
  baton_pg_session *s = session_of(bs);
  int rc = check_candidate(bs, c, "wait", err);
  if (rc != 0) return rc;
  baton_pg_cand *p = NULL;
  pthread_mutex_lock(&s->mu);
  rc = cand_state(s, c, &p, err);
  pthread_mutex_unlock(&s->mu);
  if (rc != 0) return rc;
  if ((rc = baton__wait_begin(s->label, c->name, deadline, cancel_fd, err)) != 0) return rc;
  /* A request of the wait (connect and LISTEN, an observer's leader look)
   * is bounded like any other, not by the wait's deadline (which may be
   * never). The observer's look ends at cancel_fd; the listener's
   * requests are every waiter's and do not. */
  int64_t op_by = baton__add_sat(baton__now(), s->base.cfg->op_timeout_ns);
  int64_t bound = op_by < deadline ? op_by : deadline;
  /* A blocked wait polls its own eventfd; a watch needs none (a client
   * watching 10,000 names holds no descriptor per name). */
  pthread_mutex_lock(&s->lmu);
  if (p->wake_fd < 0 && (p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
    pthread_mutex_unlock(&s->lmu);
    return baton__error(err, BATON_ENOMEM, "%s: wait: no eventfd: %s", s->label, strerror(errno));
  }
  bool subscribed = p->listening && p->lgen == s->lgen && !s->lbroken;
  pthread_mutex_unlock(&s->lmu);
  if (!subscribed) {
    /* Subscribe. A candidate returns at once: its caller looks again. An
     * observer looks below, with the LISTEN in effect, and blocks when
     * nothing changed: the core's lease acquire waits on a new observer
     * each time, whose first wait must not return at once. */
    if ((rc = lock_by(s, &s->liomu, bound, "wait", err)) != 0) return rc;
    rc = subscribe(s, c, p, bound, err);
    listener_unlock(s, NULL);
    if (rc != 0 || p->acquired) return rc;
    op_by = baton__add_sat(baton__now(), s->base.cfg->op_timeout_ns);
    bound = op_by < deadline ? op_by : deadline;
  }
  pthread_mutex_lock(&s->lmu);
  if (!p->acquired) p->woken = false; /* the look below answers what came before */
  pthread_mutex_unlock(&s->lmu);
  int64_t until;
  if (p->acquired) {
    until = p->recheck_at != 0 ? p->recheck_at : baton__now() + s->base.cfg->ttl_ns;
  } else {
    static const baton_leader none;
    baton_leader cur;
    int64_t idle = -1, fixed = -1;
    rc = read_leader(s, c->name, &cur, &idle, &fixed, NULL, 0, NULL, bound, cancel_fd, err);
    if (rc < 0) return rc;
    if (!baton__same_leader(rc == 1 ? &cur : &none, seen != NULL ? seen : &none)) return 0;
    until = baton__now() + (rc == 1 ? recheck_after(s, idle, fixed) : s->base.cfg->ttl_ns);
  }
  rc = listen_wait(s, p, until < deadline ? until : deadline, cancel_fd);
  return baton__wait_end(rc, until, deadline, &p->recheck_at, s->label, c->name, err);
}

/* ---- watch ---------------------------------------------------------------------- */

/* A watch is a flag on the candidate's subscription (wfn), set under lmu;
 * whoever reads the listener calls it, once. For that, one thread per
 * session reads the listener from the first watch on: armed watches are
 * not blocked waits, and nobody else would read it while nothing blocks.
 * It takes the reader's part of every blocked wait too (listen_wait),
 * so that one socket has one reader, and it stops at close. */

/* Disarm p's watch. Needs s->lmu. */
static void disarm(baton_pg_session *s, baton_pg_cand *p) {
  if (p->wfn == NULL) return;
  p->wfn = NULL;
  p->wctx = NULL;
  s->larmed--;
}

/* How often the thread probes a silent listener while watches are armed:
 * no more than once a renewal interval. */
static int64_t probe_period(const baton_pg_session *s) {
  int64_t every = s->base.cfg->renew_ns;
  return every > BATON_PG_PROBE_AFTER_NS ? every : BATON_PG_PROBE_AFTER_NS;
}

/* The thread's one round: read what came, and probe while watches are
 * armed (their wake needs a listener that still works). Returns when to
 * look again without a word (a probe to judge or to send), 0: none. */
static int64_t listener_round(baton_pg_session *s, bool armed) {
  pthread_mutex_lock(&s->liomu); /* held by a request for a round trip at most */
  int64_t next = 0;
  if (s->listener.pg != NULL) {
    listener_service(s);
    if (armed) listener_probe(s, probe_period(s));
    pthread_mutex_lock(&s->lmu);
    bool broken = s->lbroken;
    pthread_mutex_unlock(&s->lmu);
    int64_t probe_at = __atomic_load_n(&s->lprobe_at, __ATOMIC_RELAXED);
    if (armed && !broken)
      next = probe_at != 0 ? baton__add_sat(probe_at, s->base.cfg->op_timeout_ns) + 1
                           : baton__add_sat(s->lheard, probe_period(s));
    /* A probe that could not go out (a request on it) is tried again
     * later, not at once in a loop. */
    if (next != 0 && next <= baton__now()) next = baton__after(probe_period(s));
  }
  /* Not listener_unlock: it would nudge this thread, which just looked. */
  pthread_mutex_unlock(&s->liomu);
  pthread_mutex_lock(&s->lmu);
  if (s->lreader != NULL) nudge(s->lreader);
  pthread_mutex_unlock(&s->lmu);
  return next;
}

/* Each round blocks in one poll of at most a second, on the listener's
 * socket (none while it is broken: the next subscription replaces it) and
 * lctl; it ends when close sets lstop. */
static void *listener_main(void *arg) {
  baton_pg_session *s = arg;
  int64_t next = 0;
  for (;;) {
    pthread_mutex_lock(&s->lmu);
    bool stop = s->lstop, armed = s->larmed > 0;
    int fd = s->lbroken ? -1 : s->lfd;
    pthread_mutex_unlock(&s->lmu);
    if (stop) break;
    int64_t by = baton__after(BATON_PG_NS_PER_S);
    if (next != 0 && next < by) by = next;
    struct pollfd fds[2] = {{.fd = s->lctl, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
    if (poll(fds, 2, baton__ms_until(by)) < 0) continue; /* EINTR */
    uint64_t count;
    if ((fds[0].revents & POLLIN) && read(s->lctl, &count, sizeof count) < 0) {
      /* Emptied already. */
    }
    next = listener_round(s, armed);
  }
  return NULL;
}

/* Start the listener thread unless it runs. Needs s->lmu. */
static int listener_thread_start(baton_pg_session *s, baton_error *err) {
  if (s->lthread_on) return 0;
  if (s->lctl < 0 && (s->lctl = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
    return baton__error(err, BATON_ENOMEM, "%s: watch: no eventfd: %s", s->label,
                        strerror(errno));
  /* The listener takes no signal: a process's signals stay with the
   * threads that expect them (it inherits this mask). */
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  int e = pthread_create(&s->lthread, NULL, listener_main, s);
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  if (e != 0)
    return baton__error(err, BATON_ENOMEM, "%s: watch: no listener thread: %s", s->label,
                        strerror(e));
  s->lthread_on = true;
  /* A blocked wait that reads the socket leaves it to the thread. */
  if (s->lreader != NULL) nudge(s->lreader);
  s->lreader = NULL;
  return 0;
}

static void listener_thread_stop(baton_pg_session *s) {
  pthread_mutex_lock(&s->lmu);
  bool on = s->lthread_on;
  s->lstop = true;
  uint64_t one = 1;
  if (on && write(s->lctl, &one, sizeof one) < 0) {
    /* The counter is full: it is readable anyway. */
  }
  pthread_mutex_unlock(&s->lmu);
  if (on) pthread_join(s->lthread, NULL);
  s->lthread_on = false;
  if (s->lctl >= 0) close(s->lctl);
  s->lctl = -1;
}

/* A candidate's watch costs no request once subscribed: the first one
 * LISTENs, and wakes at once, since the look that came before it (the
 * acquire) was not covered by it. An observer's looks at the leader with
 * the watch armed, so that a change during or after that look wakes it.
 * *recheck_at: what acquire or the look said of the holder's expiry (a
 * holder that is not baton: soon, baton__next_look), as wait uses it. */
static int watch(baton_session *bs, baton_candidate *c, const baton_leader *seen,
                 baton_wake_fn wake_fn, void *ctx, int64_t *recheck_at, int64_t deadline,
                 baton_error *err) {
  baton_pg_session *s = session_of(bs);
  int rc = check_candidate(bs, c, "watch", err);
  if (rc != 0) return rc;
  if (wake_fn == NULL || recheck_at == NULL)
    return baton__error(err, BATON_EINVAL, "%s: watch: NULL argument", s->label);
  *recheck_at = INT64_MAX;
  baton_pg_cand *p = NULL;
  pthread_mutex_lock(&s->mu);
  rc = cand_state(s, c, &p, err);
  pthread_mutex_unlock(&s->mu);
  if (rc != 0) return rc;
  pthread_mutex_lock(&s->lmu);
  bool fresh = !(p->listening && p->lgen == s->lgen && !s->lbroken);
  pthread_mutex_unlock(&s->lmu);
  if (fresh) {
    if ((rc = lock_by(s, &s->liomu, deadline, "watch", err)) != 0) return rc;
    rc = subscribe(s, c, p, deadline, err);
    listener_unlock(s, NULL);
    if (rc != 0) return rc;
  }
  pthread_mutex_lock(&s->lmu);
  rc = listener_thread_start(s, err);
  bool now = false;
  if (rc == 0) {
    disarm(s, p); /* armed twice is armed once */
    p->wfn = wake_fn;
    p->wctx = ctx;
    p->wseq = ++s->lseq;
    p->owes = false; /* armed again: a wake it took was used */
    s->larmed++;
    /* A candidate's look came before: what came since, or a listener that
     * broke, is for it. An observer's look comes below. */
    bool gone = !p->listening || p->lgen != s->lgen || s->lbroken;
    now = gone || (p->acquired && (fresh || p->woken));
    p->woken = false;
  }
  pthread_mutex_unlock(&s->lmu);
  if (rc != 0) return rc;
  int64_t until = 0;
  if (p->acquired) {
    until = p->recheck_at != 0 ? p->recheck_at : baton__now() + s->base.cfg->ttl_ns;
  } else if (!now) {
    static const baton_leader none;
    baton_leader cur;
    int64_t idle = -1, fixed = -1;
    int got = read_leader(s, c->name, &cur, &idle, &fixed, NULL, 0, NULL, deadline, -1, err);
    if (got < 0) {
      pthread_mutex_lock(&s->lmu);
      disarm(s, p); /* the core looks again after a back-off */
      pthread_mutex_unlock(&s->lmu);
      return got;
    }
    now = !baton__same_leader(got == 1 ? &cur : &none, seen != NULL ? seen : &none);
    until = baton__now() + (got == 1 ? recheck_after(s, idle, fixed) : s->base.cfg->ttl_ns);
  }
  if (now) {
    pthread_mutex_lock(&s->lmu);
    fire(s, p, false); /* unless the listener was first */
    pthread_mutex_unlock(&s->lmu);
  } else {
    *recheck_at = until;
  }
  return 0;
}

/* The channel stays LISTENed: the next watch needs no request, and
 * release or forget let go of it. A wake p owes passes on at once: the
 * core unwatches a woken candidate only when it leaves instead of
 * looking, so nobody else would use it. */
static void unwatch(baton_session *bs, baton_candidate *c) {
  baton_pg_session *s = session_of(bs);
  if (s == NULL || c == NULL || c->priv == NULL) return;
  baton_pg_cand *p = c->priv;
  pthread_mutex_lock(&s->lmu);
  disarm(s, p);
  pass_on(s, p);
  pthread_mutex_unlock(&s->lmu);
}

/* p waits no more: its channel is UNLISTENed unless another candidate of
 * the client listens on it, so that the server sends nothing for nobody.
 * `gone`: p is being forgotten, so it leaves the list too, and the I/O
 * lock is waited for (a request's time); else (a release) it is only
 * tried: when a request is on the listener the channel stays, and what
 * comes on it is read by the renewals and the next wait. */
static void unsubscribe(baton_pg_session *s, baton_pg_cand *p, bool gone) {
  pthread_mutex_lock(&s->lmu);
  bool listening = p->listening;
  pthread_mutex_unlock(&s->lmu);
  if (!gone && !listening) return;
  int64_t by = baton__after(s->base.cfg->op_timeout_ns);
  bool io = gone ? lock_by(s, &s->liomu, by, "unlisten", NULL) == 0
                 : pthread_mutex_trylock(&s->liomu) == 0;
  pthread_mutex_lock(&s->lmu);
  bool shared = false; /* another candidate of the name listens on the channel */
  for (const baton_pg_cand *o = p->ent != NULL ? p->ent->members : NULL; o != NULL && !shared;
       o = o->mnext)
    shared = o != p && o->listening;
  if (gone) {
    if (p->lprev != NULL) p->lprev->lnext = p->lnext;
    else if (s->listening == p) s->listening = p->lnext;
    if (p->lnext != NULL) p->lnext->lprev = p->lprev;
    p->lnext = p->lprev = NULL;
    if (s->lreader == p) stop_waiting(s, p);
    name_leave(s, p); /* no notification finds it from here */
  }
  bool unlisten = io && p->listening && p->lgen == s->lgen && !s->lbroken && !shared;
  if (unlisten) p->listening = false; /* its next wait subscribes again */
  pthread_mutex_unlock(&s->lmu);
  if (unlisten) {
    char sql[100];
    snprintf(sql, sizeof sql, "UNLISTEN %s", p->channel);
    baton_error ignored;
    listener_exec(s, sql, NULL, by, "unlisten", &ignored);
  }
  if (io) listener_unlock(s, NULL);
}

static void forget(baton_session *bs, baton_candidate *c) {
  baton_pg_session *s = session_of(bs);
  if (s == NULL || c == NULL || c->priv == NULL) return;
  baton_pg_cand *p = c->priv;
  pthread_mutex_lock(&s->mu);
  if (p->prev != NULL) p->prev->next = p->next;
  else s->cands = p->next;
  if (p->next != NULL) p->next->prev = p->prev;
  pthread_mutex_unlock(&s->mu);
  pthread_mutex_lock(&s->lmu);
  disarm(s, p);
  pass_on(s, p);
  pthread_mutex_unlock(&s->lmu);
  unsubscribe(s, p, true);
  if (p->wake_fd >= 0) close(p->wake_fd);
  baton__free(p);
  c->priv = NULL;
}

static const char *const schemes[] = {BATON_SCHEMES_postgres, NULL};

const baton_backend baton_backend_postgres = {
    .schemes = schemes,
    .caps = 0,
    .open = session_open,
    .close = session_close,
    .acquire = acquire,
    .wait = wait_change,
    .release = release,
    .renew = renew,
    .leader = leader,
    .leader_value = leader_value,
    .proclaim = proclaim,
    .forget = forget,
    .contenders = contenders,
    .lease_acquire = lease_acquire,
    .lease_extend = lease_extend,
    .lease_release = lease_release,
    .watch = watch,
    .unwatch = unwatch,
};
