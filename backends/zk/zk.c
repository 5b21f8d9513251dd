/* zk.c — the zk:// backend: elections as kazoo-compatible ephemeral
 * sequential znodes, one ZooKeeper session per baton session.
 *
 * Layout: NAME is the path <chroot>/<NAME>; each candidate is a child
 * <32 hex guid>__lock__<10 digit sequence> holding the identity. The
 * lowest contender (kazoo's order) leads; its czxid is the fencing token.
 * Once the parent's counter wraps, sequences turn negative and that order
 * is lost: acquire, leader and observe then refuse (names.c, zk.h).
 * A waiter watches only its predecessor, so a release wakes one waiter.
 *
 * Requests: acquire = create + get children (+ get of the holder when one
 * is asked for; a queued candidate's later acquires skip the create);
 * release = delete; renew = one sync (plus a get that sets the watch of
 * each node held since the last renewal: check_held); leader = get
 * children + get; wait and watch = one get that watches the predecessor
 * (an observer: get children + get). A create whose reply was lost
 * (connection loss, time-out) leaves the candidate "pending": the next call lists the
 * children and adopts the node that carries the candidate's guid; forget
 * sweeps that guid in the background (sweep.c).
 *
 * Fixed leases (lease.c) are contenders too: TTL nodes, which a wait
 * behind one does not leave to the server's slow reaper.
 *
 * Sessions: a handle is replaced only after the server expired its session
 * and renew has said so (ESESSION); nodes and queue positions recorded
 * under an older handle are dropped on first use, since they died with it. */
#include "zk.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define BATON_ZK_PORT 2181 /* when the URI names none: ZooKeeper's client port */

/* wait's inner result: nothing changed yet, block. */
#define BATON_ZK_BLOCK 1

static void lock(baton_zk_session *s) { pthread_mutex_lock(&s->mu); }
static void unlock(baton_zk_session *s) { pthread_mutex_unlock(&s->mu); }

static bool conn_expired(baton_zk_conn *conn) {
  lock(conn->s);
  bool e = conn->expired;
  unlock(conn->s);
  return e;
}

static int expired_error(baton_zk_session *s, baton_error *err) {
  return baton__error(err, BATON_ESESSION,
                      "%s: the ZooKeeper session expired; the next renew opens a new one",
                      s->label);
}

int baton__zk_name_begin(baton_zk_session *s, const char *name, baton_zk_conn **conn,
                         char **parent, baton_error *err) {
  *parent = NULL;
  *conn = baton__zk_conn_get(s);
  if (*conn == NULL) return baton__error(err, BATON_ECLOSED, "%s: the session is closed", s->label);
  int rc = conn_expired(*conn) ? expired_error(s, err) : 0;
  if (rc == 0 && (*parent = baton__zk_path(s, name, NULL)) == NULL)
    rc = baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label);
  if (rc != 0) baton__zk_name_end(conn, parent);
  return rc;
}

void baton__zk_name_end(baton_zk_conn **conn, char **parent) {
  baton__free(*parent);
  baton__zk_conn_put(*conn);
  *parent = NULL;
  *conn = NULL;
}

/* ---- Candidates ------------------------------------------------------------ */

/* The fixed lease a watch saw queued ahead is no longer what it waits
 * behind. */
static void forget_lease_locked(baton_zk_cand *k) {
  baton__free(k->lease_pred);
  k->lease_pred = NULL;
  k->lease_version = 0;
  k->lease_end = 0;
}

static void drop_node_locked(baton_zk_session *s, baton_zk_cand *k) {
  baton__free(k->node);
  baton__free(k->pred);
  k->node = k->pred = NULL;
  k->pending = false;
  k->czxid = 0;
  k->watched_gen = 0;
  k->node_gone = false;
  s->watch_bytes -= k->watch_bytes; /* its deletion, or the handle's end, takes the watch */
  k->watch_bytes = 0;
  k->version = 0;
  k->proclaimed = false;
  forget_lease_locked(k);
}

/* A candidate's chain in an index of `size` chains. */
static size_t index_slot(uint64_t id, size_t size) {
  return (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (size - 1);
}

/* Make the index twice as large (at least 64 chains) from the list: true,
 * or false when out of memory (the old index, if any, stays in use with
 * longer chains). */
static bool index_grow_locked(baton_zk_session *s) {
  size_t size = s->index_size != 0 ? 2 * s->index_size : 64;
  baton_zk_cand **index = baton__calloc(size, sizeof *index);
  if (index == NULL) return false;
  for (baton_zk_cand *k = s->cands; k != NULL; k = k->next) {
    size_t i = index_slot(k->id, size);
    k->hnext = index[i];
    index[i] = k;
  }
  baton__free(s->index);
  s->index = index;
  s->index_size = size;
  return true;
}

/* k, just put on the list, into the index too: about one candidate per
 * chain. */
static void index_add_locked(baton_zk_session *s, baton_zk_cand *k) {
  if (++s->ncands > s->index_size && index_grow_locked(s)) return; /* k is in it */
  if (s->index == NULL) return;
  size_t i = index_slot(k->id, s->index_size);
  k->hnext = s->index[i];
  s->index[i] = k;
}

static void index_remove_locked(baton_zk_session *s, baton_zk_cand *k) {
  s->ncands--;
  if (s->index == NULL) return;
  /* Bounded by the chain's length. */
  for (baton_zk_cand **at = &s->index[index_slot(k->id, s->index_size)]; *at != NULL;
       at = &(*at)->hnext)
    if (*at == k) {
      *at = k->hnext;
      break;
    }
}

baton_zk_cand *baton__zk_cand_find_locked(baton_zk_session *s, uint64_t id) {
  if (s->index == NULL) {
    for (baton_zk_cand *k = s->cands; k != NULL; k = k->next)
      if (k->id == id) return k;
    return NULL;
  }
  for (baton_zk_cand *k = s->index[index_slot(id, s->index_size)]; k != NULL; k = k->hnext)
    if (k->id == id) return k;
  return NULL;
}

/* c's state, made on first use (with s->mu held); NULL when out of memory. */
static baton_zk_cand *cand_locked(baton_zk_session *s, baton_candidate *c) {
  if (c->priv != NULL) return c->priv;
  baton_zk_cand *k = baton__calloc(1, sizeof *k);
  if (k == NULL) return NULL;
  k->id = ++s->next_id;
  k->efd = -1;
  baton__zk_guid(k->guid);
  k->next = s->cands;
  if (k->next != NULL) k->next->prev = k;
  s->cands = k;
  index_add_locked(s, k);
  c->priv = k;
  return k;
}

static void cand_free_locked(baton_zk_session *s, baton_zk_cand *k) {
  if (k->prev != NULL) k->prev->next = k->next;
  else s->cands = k->next;
  if (k->next != NULL) k->next->prev = k->prev;
  index_remove_locked(s, k);
  drop_node_locked(s, k);
  if (k->efd >= 0) close(k->efd);
  baton__free(k);
}

/* What acquire, wait and release work with. */
typedef struct cand_op {
  baton_zk_cand *k;    /* the candidate's state */
  baton_zk_conn *conn; /* the current handle, with a reference */
  char *parent;        /* <chroot>/<name> */
  bool stale;          /* state from an expired session was dropped */
} cand_op;

/* Their prologue. State from an earlier handle is dropped (its nodes died
 * when the server expired that session). With `arm`, the candidate's
 * eventfd is made and emptied in the same critical section as the handle
 * is taken, so a new session announced after this point still wakes us. */
static int begin(baton_zk_session *s, baton_candidate *c, bool arm, cand_op *op, baton_error *err) {
  int rc = 0;
  memset(op, 0, sizeof *op);
  op->parent = baton__zk_path(s, c->name, NULL);
  lock(s);
  baton_zk_cand *k = cand_locked(s, c);
  baton_zk_conn *conn = s->conn;
  if (k == NULL || op->parent == NULL) {
    rc = baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label);
  } else if (conn == NULL) {
    rc = baton__error(err, BATON_ECLOSED, "%s: the session is closed", s->label);
  } else {
    if (k->gen != conn->gen) {
      op->stale = k->node != NULL || k->pending;
      drop_node_locked(s, k);
      k->gen = conn->gen;
    }
    if (arm && k->efd < 0) {
      k->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (k->efd < 0)
        rc = baton__error(err, BATON_ENOMEM, "%s: eventfd: %s", s->label, strerror(errno));
    }
    uint64_t drained;
    if (arm && k->efd >= 0 && read(k->efd, &drained, sizeof drained) < 0) {
      /* EAGAIN: nothing to drain. */
    }
    if (rc == 0) conn->refs++;
  }
  unlock(s);
  op->k = k;
  op->conn = rc == 0 ? conn : NULL;
  if (rc != 0) {
    baton__free(op->parent);
    op->parent = NULL;
  }
  return rc;
}

static int end(cand_op *op, int rc) {
  baton__free(op->parent);
  baton__zk_conn_put(op->conn);
  return rc;
}

static char *dup_locked(baton_zk_session *s, char *const *field) {
  lock(s);
  char *copy = *field != NULL ? baton__strdup(*field) : NULL;
  unlock(s);
  return copy;
}

/* ---- open / close ---------------------------------------------------------- */

static const char *const schemes[] = {BATON_SCHEMES_zk, NULL};
static const char *const params[] = {"session_timeout", NULL};

/* The URI path is the chroot: "" or "/a/b", no empty, "." or ".." part. */
static int check_chroot(const char *path, char **out, baton_error *err) {
  size_t len = strlen(path);
  while (len > 0 && path[len - 1] == '/') len--; /* "/" and "/a/" are fine */
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)path[i];
    if (ch <= 0x20 || ch >= 0x7f)
      return baton__error(err, BATON_EINVAL, "zk:// chroot: byte 0x%02x is not allowed", ch);
    if (ch != '/') continue;
    const char *part = path + i + 1, *end = memchr(part, '/', len - i - 1);
    size_t plen = end != NULL ? (size_t)(end - part) : len - i - 1;
    if (plen == 0 || (plen == 1 && part[0] == '.') ||
        (plen == 2 && part[0] == '.' && part[1] == '.'))
      return baton__error(err, BATON_EINVAL, "zk:// chroot '%.64s' has an empty, '.' or '..' part",
                          path);
  }
  *out = baton__strndup(path, len);
  return *out != NULL ? 0 : baton__error(err, BATON_ENOMEM, "zk://: out of memory");
}

static int make_hosts(baton_zk_session *s, const baton_uri *uri, baton_error *err) {
  size_t size = 1;
  for (size_t i = 0; i < uri->nhosts; i++) size += strlen(uri->hosts[i].host) + 8;
  s->hosts = baton__calloc(1, size);
  if (s->hosts == NULL) return baton__error(err, BATON_ENOMEM, "zk://: out of memory");
  size_t len = 0;
  /* The C client splits host and port at the last ':', so an IPv6 address
   * goes without brackets. */
  for (size_t i = 0; i < uri->nhosts; i++)
    len += (size_t)snprintf(s->hosts + len, size - len, "%s%s:%d", i ? "," : "", uri->hosts[i].host,
                            uri->hosts[i].port ? uri->hosts[i].port : BATON_ZK_PORT);
  snprintf(s->label, sizeof s->label, "zk://%s%s", s->hosts, s->chroot);
  return 0;
}

static void session_free(baton_zk_session *s) {
  while (s->cands != NULL) cand_free_locked(s, s->cands); /* each unlinks itself */
  baton__free(s->index);
  pthread_cond_destroy(&s->cond);
  pthread_mutex_destroy(&s->mu);
  baton__free(s->hosts);
  baton__free(s->chroot);
  if (s->auth != NULL) memset(s->auth, 0, strlen(s->auth));
  baton__free(s->auth);
  baton__free(s);
}

static int session_new(baton_zk_session **out, const baton_uri *uri, const baton_config *cfg,
                       baton_error *err) {
  int64_t timeout_ms = cfg->ttl_ns / BATON_NS_PER_MS;
  int rc = baton__uri_check_params(uri, params, err);
  if (rc == 0) rc = baton__uri_param_ms(uri, "session_timeout", 1, INT_MAX, &timeout_ms, err);
  if (rc != 0) return rc;
  if ((cfg->username == NULL) != (cfg->password == NULL))
    return baton__error(err, BATON_EINVAL, "zk:// digest auth needs both a user and a password");
  if (cfg->username != NULL && (cfg->username[0] == '\0' || strchr(cfg->username, ':')))
    return baton__error(err, BATON_EINVAL, "zk:// user name must be non-empty without ':'");

  baton_zk_session *s = baton__calloc(1, sizeof *s);
  if (s == NULL) return baton__error(err, BATON_ENOMEM, "zk://: out of memory");
  baton__cond_init(&s->cond);
  pthread_mutex_init(&s->mu, NULL);
  s->base.cfg = cfg;
  s->timeout_ms = (int)timeout_ms;
  s->acl = &ZOO_OPEN_ACL_UNSAFE;
  rc = check_chroot(uri->path, &s->chroot, err);
  if (rc == 0) rc = make_hosts(s, uri, err);
  if (rc == 0 && cfg->username != NULL) {
    size_t n = strlen(cfg->username) + strlen(cfg->password) + 2;
    s->auth = baton__calloc(1, n);
    if (s->auth == NULL) rc = baton__error(err, BATON_ENOMEM, "zk://: out of memory");
    else snprintf(s->auth, n, "%s:%s", cfg->username, cfg->password);
    s->acl = &ZOO_CREATOR_ALL_ACL; /* only our credentials may touch our nodes */
  }
  if (rc != 0) {
    session_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

static int64_t negotiated_ns(baton_zk_conn *conn) {
  return (int64_t)zoo_recv_timeout(conn->zh) * BATON_NS_PER_MS;
}

static int zk_open(baton_session **out, const baton_uri *uri, const baton_config *cfg,
                   int64_t deadline, baton_error *err) {
  if (out == NULL || uri == NULL || cfg == NULL)
    return baton__error(err, BATON_EINVAL, "zk://: NULL argument to open");
  *out = NULL;
  baton_zk_session *s = NULL;
  int rc = session_new(&s, uri, cfg, err);
  if (rc != 0) return rc;
  baton_zk_conn *conn;
  rc = baton__zk_conn_open(&conn, s, deadline, err);
  if (rc != 0) {
    session_free(s);
    return rc;
  }
  lock(s); /* the session watcher reads s->conn */
  s->conn = conn;
  unlock(s);
  /* The server clamps the timeout to its [min, max]: the core must use
   * what it granted. */
  s->base.server_ttl_ns = negotiated_ns(conn);
  *out = &s->base;
  return 0;
}

static void zk_close(baton_session *bs) {
  if (bs == NULL) return;
  baton_zk_session *s = (baton_zk_session *)bs;
  lock(s);
  baton_zk_conn *conn = s->conn;
  s->conn = NULL;
  unlock(s);
  baton__zk_conn_put(conn); /* closes the ZooKeeper session: our nodes go at once */
  session_free(s);
}

/* ---- acquire --------------------------------------------------------------- */

int baton__zk_make_parents(baton_zk_session *s, baton_zk_conn *conn, const char *parent,
                           int64_t deadline, baton_error *err) {
  char *p = baton__strdup(parent);
  if (p == NULL) return baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label);
  int rc = 0;
  for (char *slash = strchr(p + 1, '/');; slash = strchr(slash + 1, '/')) {
    if (slash != NULL) *slash = '\0';
    baton_zk_reply r;
    baton__zk_create(conn, p, "", ZOO_PERSISTENT, deadline, &r);
    if (r.rc != ZOK && r.rc != ZNODEEXISTS) rc = baton__zk_error(err, conn, r.rc, "create", p);
    baton__zk_reply_free(&r);
    if (rc != 0 || slash == NULL) break;
    *slash = '/';
  }
  baton__free(p);
  return rc;
}

static int create_node(baton_zk_session *s, baton_zk_conn *conn, baton_zk_cand *k,
                       const baton_candidate *c, const char *parent, int64_t deadline,
                       baton_error *err) {
  char child[48];
  snprintf(child, sizeof child, "%s__lock__", k->guid);
  char *prefix = baton__zk_path(s, c->name, child);
  if (prefix == NULL) return baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label);
  int rc = 0;
  for (int tries = 0; tries < 2; tries++) {
    lock(s);
    k->pending = true; /* from here until the server's answer */
    unlock(s);
    baton_zk_reply r;
    baton__zk_create(conn, prefix, c->identity != NULL ? c->identity : "", ZOO_EPHEMERAL_SEQUENTIAL,
                     deadline, &r);
    if (r.rc == ZOK) {
      const char *slash = r.data != NULL ? strrchr(r.data, '/') : NULL;
      char *node = slash != NULL ? baton__strdup(slash + 1) : NULL;
      lock(s);
      k->node = node;
      k->watched_gen = 0;
      k->node_gone = false;
      k->czxid = (uint64_t)r.stat.czxid;
      k->pending = node == NULL; /* out of memory: find it by guid later */
      unlock(s);
      rc = node != NULL ? 0 : baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label);
    } else if (baton__zk_unknown(r.rc)) {
      rc = baton__zk_error(err, conn, r.rc, "create", prefix); /* stays pending */
    } else {
      lock(s);
      k->pending = false; /* the server answered: nothing was made */
      unlock(s);
      if (r.rc == ZNONODE && tries == 0) {
        rc = baton__zk_make_parents(s, conn, parent, deadline, err);
        baton__zk_reply_free(&r);
        if (rc == 0) continue;
        break;
      }
      rc = baton__zk_error(err, conn, r.rc, "create", prefix);
    }
    baton__zk_reply_free(&r);
    break;
  }
  baton__free(prefix);
  return rc;
}

/* Resolve a create with unknown outcome: adopt the lowest child carrying
 * our guid and delete any other (a retried create whose first attempt
 * also landed), so no orphan and no duplicate candidate remain. */
static int recover(baton_zk_session *s, baton_zk_conn *conn, baton_zk_cand *k,
                   const baton_candidate *c, const char *parent, int64_t deadline,
                   baton_error *err) {
  baton_zk_reply r;
  baton__zk_children(conn, parent, 0, deadline, &r);
  if (r.rc != ZOK && r.rc != ZNONODE) {
    int rc = baton__zk_error(err, conn, r.rc, "get children of", parent);
    baton__zk_reply_free(&r);
    return rc;
  }
  const char *best = NULL;
  for (int i = 0; i < r.nkids; i++)
    if (baton__zk_name_has_guid(r.kids[i], k->guid) &&
        (best == NULL || baton__zk_name_cmp(r.kids[i], best) < 0))
      best = r.kids[i];
  for (int i = 0; i < r.nkids; i++) {
    if (r.kids[i] == best || !baton__zk_name_has_guid(r.kids[i], k->guid)) continue;
    char *path = baton__zk_path(s, c->name, r.kids[i]);
    if (path != NULL) baton__zk_delete_async(conn, path);
    baton__free(path);
  }
  char *node = best != NULL ? baton__strdup(best) : NULL;
  lock(s);
  k->node = node;
  k->watched_gen = 0;
  k->node_gone = false;
  k->czxid = 0;                               /* unknown until a stat */
  k->pending = best != NULL && node == NULL; /* out of memory: try again */
  unlock(s);
  baton__zk_reply_free(&r);
  return 0;
}

/* Kazoo's order would put a wrapped sequence first although it came
 * last, so no one can be elected safely until the counter starts again
 * with a new parent. */
int baton__zk_wrapped_error(const baton_zk_session *s, const char *parent, const char *kid,
                            baton_error *err) {
  return baton__error(err, BATON_EREFUSED,
                      "%s: the sequence counter of %s wrapped, so no contender can be ordered; "
                      "once nobody holds the name, delete and recreate that znode "
                      "(contender %.64s)",
                      s->label, parent, kid);
}

/* Our node with a wrapped sequence must not stay in line, where it would
 * look first: delete it and refuse. A node that cannot be deleted now
 * stays recorded, so release (which follows a failed campaign) or forget
 * deletes it. */
static int drop_if_wrapped(baton_zk_session *s, baton_zk_conn *conn, baton_zk_cand *k,
                           const baton_candidate *c, const char *parent, int64_t deadline,
                           baton_error *err) {
  lock(s);
  bool wrapped = k->node != NULL && baton__zk_name_seq(k->node) == BATON_ZK_SEQ_WRAPPED;
  unlock(s);
  if (!wrapped) return 0;
  char *own = dup_locked(s, &k->node);
  if (own == NULL) return baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label);
  char *path = baton__zk_path(s, c->name, own);
  baton_zk_reply r = {.rc = BATON_ZK_NOMEM};
  if (path != NULL) baton__zk_delete(conn, path, deadline, &r);
  if (r.rc == ZOK || r.rc == ZNONODE) {
    lock(s);
    drop_node_locked(s, k);
    unlock(s);
  }
  int rc = baton__zk_wrapped_error(s, parent, own, err);
  baton__zk_reply_free(&r);
  baton__free(path);
  baton__free(own);
  return rc;
}

static int ensure_node(baton_zk_session *s, baton_zk_conn *conn, baton_zk_cand *k,
                       const baton_candidate *c, const char *parent, int64_t deadline,
                       baton_error *err) {
  lock(s);
  bool have = k->node != NULL, pending = k->pending;
  unlock(s);
  int rc = 0;
  if (!have && pending) {
    rc = recover(s, conn, k, c, parent, deadline, err);
    lock(s);
    have = k->node != NULL;
    unlock(s);
  }
  if (rc == 0 && !have) rc = create_node(s, conn, k, c, parent, deadline, err);
  return rc == 0 ? drop_if_wrapped(s, conn, k, c, parent, deadline, err) : rc;
}

/* "<chroot>/<name>#id[/<child>]": beside the election ('#' is no name
 * character), where a proclaimed term keeps its identity, since its
 * node's data became the value. NULL when out of memory. */
static char *identity_path(const baton_zk_session *s, const char *name, const char *child) {
  char side[BATON_NAME_MAX + 4];
  snprintf(side, sizeof side, "%s#id", name);
  return baton__zk_path(s, side, child);
}

/* A fixed lease's node (lease.c): a TTL node, named so, of no session.
 * Its extend rewrites its data (the identity, unchanged) to stamp the
 * mtime, which raises the data version: that version is no proclaim. */
static bool lease_node(const char *child, const struct Stat *st) {
  return child != NULL && baton__zk_name_ttl(child) != 0 && st->ephemeralOwner == 0;
}

/* Once the term proclaimed, its identity is read beside the node. A
 * lease never proclaims: its version is 0 and its data the identity, however
 * often it was extended. */
int baton__zk_read_leader(baton_zk_session *s, baton_zk_conn *conn, const char *name,
                          const char *child, baton_leader *out, char *value, size_t size,
                          size_t *len, int64_t deadline, baton_error *err) {
  char *path = baton__zk_path(s, name, child);
  if (path == NULL) return baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label);
  baton_zk_reply r;
  baton__zk_get(conn, path, 0, deadline, &r);
  int rc = 0;
  if (r.rc == ZOK) {
    memset(out, 0, sizeof *out);
    out->token = (uint64_t)r.stat.czxid;
    out->version =
        r.stat.version > 0 && !lease_node(child, &r.stat) ? (uint64_t)r.stat.version : 0;
    const char *id = r.data;
    int idlen = r.len;
    baton_zk_reply side = {.rc = ZNONODE};
    baton__value_copy(value, size, len, "", 0);
    if (out->version > 0) {
      baton__value_copy(value, size, len, r.data != NULL ? r.data : "",
                        r.len > 0 ? (size_t)r.len : 0);
      char *at = identity_path(s, name, child);
      side.rc = BATON_ZK_NOMEM;
      if (at != NULL) baton__zk_get(conn, at, 0, deadline, &side);
      if (side.rc != ZOK && side.rc != ZNONODE) rc = baton__zk_error(err, conn, side.rc, "get", at);
      if (side.rc == ZNONODE) {
        /* No identity node: a release between the two reads (the term's
         * node goes too: look again), or data changed by another client
         * on a node that still stands: then the data stands for the
         * identity, as before. */
        baton_zk_reply again;
        baton__zk_get(conn, path, 0, deadline, &again);
        if (again.rc == ZNONODE || (again.rc == ZOK && again.stat.czxid != r.stat.czxid))
          rc = BATON_ZK_LOST;
        else if (again.rc != ZOK)
          rc = baton__zk_error(err, conn, again.rc, "get", path);
        baton__zk_reply_free(&again);
      }
      if (side.rc == ZOK) id = side.data, idlen = side.len;
      baton__free(at);
    }
    if (rc == 0 && id != NULL && idlen > 0)
      snprintf(out->identity, sizeof out->identity, "%.*s",
               idlen < BATON_IDENTITY_MAX ? idlen : BATON_IDENTITY_MAX, id);
    baton__zk_reply_free(&side);
  } else {
    rc = r.rc == ZNONODE ? BATON_ZK_LOST : baton__zk_error(err, conn, r.rc, "get", path);
  }
  baton__zk_reply_free(&r);
  baton__free(path);
  return rc;
}

const char *baton__zk_lowest(const baton_zk_reply *r, const char *own, const char **pred,
                             bool *found, const char **wrapped) {
  const char *low = NULL;
  if (pred != NULL) *pred = NULL;
  if (found != NULL) *found = false;
  *wrapped = NULL;
  for (int i = 0; i < r->nkids; i++) {
    const char *kid = r->kids[i];
    int64_t seq = baton__zk_name_seq(kid);
    if (seq == BATON_ZK_SEQ_WRAPPED && *wrapped == NULL) *wrapped = kid;
    if (seq < 0) continue; /* BATON_ZK_SEQ_NONE: a foreign child, not a contender */
    if (low == NULL || baton__zk_name_cmp(kid, low) < 0) low = kid;
    if (own == NULL) continue;
    if (strcmp(kid, own) == 0) *found = true;
    else if (baton__zk_name_cmp(kid, own) < 0 &&
             (*pred == NULL || baton__zk_name_cmp(kid, *pred) > 0))
      *pred = kid;
  }
  return low;
}

/* List the contenders: 0 when c's node is the lowest (token set), EHELD
 * with the predecessor noted for wait, BATON_ZK_LOST when c's node is gone. */
static int rank(baton_zk_session *s, baton_zk_conn *conn, baton_zk_cand *k, baton_candidate *c,
                const char *parent, baton_leader *holder, int64_t deadline, baton_error *err) {
  char *own = dup_locked(s, &k->node);
  if (own == NULL) return baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label);
  baton_zk_reply r;
  baton__zk_children(conn, parent, 0, deadline, &r);
  const char *pred = NULL, *low = NULL, *wrapped = NULL;
  bool found = false;
  int rc = 0;
  if (r.rc == ZOK) low = baton__zk_lowest(&r, own, &pred, &found, &wrapped);
  else if (r.rc != ZNONODE) rc = baton__zk_error(err, conn, r.rc, "get children of", parent);
  if (wrapped != NULL) {
    rc = baton__zk_wrapped_error(s, parent, wrapped, err);
  } else if (rc == 0 && !found) {
    lock(s);
    drop_node_locked(s, k); /* deleted behind our back: enqueue again */
    unlock(s);
    rc = BATON_ZK_LOST;
  } else if (rc == 0 && pred == NULL) {
    lock(s);
    uint64_t czxid = k->czxid;
    baton__free(k->pred);
    k->pred = NULL;
    unlock(s);
    if (czxid == 0) { /* adopted by guid: its czxid is still unknown */
      baton_leader me;
      rc = baton__zk_read_leader(s, conn, c->name, own, &me, NULL, 0, NULL, deadline, err);
      czxid = me.token;
      lock(s);
      if (rc == 0) k->czxid = czxid, k->version = (int)me.version;
      else if (rc == BATON_ZK_LOST) drop_node_locked(s, k);
      unlock(s);
    }
    if (rc == 0) c->token = czxid;
  } else if (rc == 0) {
    char *p = baton__strdup(pred);
    lock(s);
    baton__free(k->pred);
    k->pred = p;
    unlock(s);
    baton_leader who = {0};
    if (holder != NULL &&
        baton__zk_read_leader(s, conn, c->name, low, &who, NULL, 0, NULL, deadline, err) == 0)
      *holder = who;
    rc = baton__error(err, BATON_EHELD, "%s: %s is held by %s (token %llu)", s->label, c->name,
                      who.identity[0] ? who.identity : "another contender",
                      (unsigned long long)who.token);
  }
  baton__zk_reply_free(&r);
  baton__free(own);
  return rc;
}

static int zk_acquire(baton_session *bs, baton_candidate *c, baton_leader *holder,
                      int64_t deadline, baton_error *err) {
  baton_zk_session *s = (baton_zk_session *)bs;
  if (holder != NULL) memset(holder, 0, sizeof *holder);
  cand_op op;
  int rc = begin(s, c, false, &op, err);
  if (rc != 0) return rc;
  rc = conn_expired(op.conn) ? expired_error(s, err) : BATON_ZK_LOST;
  /* Our node may vanish between create and list (deleted by an operator):
   * then enqueue again, a bounded number of times. */
  for (int attempt = 0; rc == BATON_ZK_LOST && attempt < 3; attempt++) {
    rc = ensure_node(s, op.conn, op.k, c, op.parent, deadline, err);
    if (rc == 0) rc = rank(s, op.conn, op.k, c, op.parent, holder, deadline, err);
  }
  if (rc == BATON_ZK_LOST)
    rc = baton__error(err, BATON_EREFUSED, "%s: our node under %s keeps vanishing", s->label,
                      op.parent);
  return end(&op, rc);
}

/* ---- wait ------------------------------------------------------------------ */

/* An observer: has the leader changed from `seen` already? The children
 * watch (or, while the name has no node, a creation watch) wakes us on
 * any later change. A leader that is a fixed lease sets *lease_end
 * (baton__zk_lease_end). */
static int observe(baton_zk_session *s, baton_zk_conn *conn, baton_zk_cand *k, const char *name,
                   const char *parent, const baton_leader *seen, int64_t *lease_end,
                   int64_t deadline, baton_error *err) {
  baton_zk_reply r;
  baton__zk_children(conn, parent, k->id, deadline, &r);
  int rc;
  if (r.rc == ZNONODE) {
    baton__zk_reply_free(&r);
    if (seen->token != 0) return 0;
    baton__zk_exists(conn, parent, k->id, deadline, &r);
    rc = r.rc == ZOK       ? 0
         : r.rc == ZNONODE ? BATON_ZK_BLOCK
                           : baton__zk_error(err, conn, r.rc, "exists", parent);
    baton__zk_reply_free(&r);
    return rc;
  }
  if (r.rc != ZOK) {
    rc = baton__zk_error(err, conn, r.rc, "get children of", parent);
    baton__zk_reply_free(&r);
    return rc;
  }
  const char *wrapped, *low = baton__zk_lowest(&r, NULL, NULL, NULL, &wrapped);
  if (wrapped != NULL) {
    rc = baton__zk_wrapped_error(s, parent, wrapped, err);
    baton__zk_reply_free(&r);
    return rc;
  }
  if (low == NULL || seen->token == 0) {
    rc = (low == NULL) == (seen->token == 0) ? BATON_ZK_BLOCK : 0;
    baton__zk_reply_free(&r);
    return rc;
  }
  /* The czxid tells terms apart, the data version a proclaim: one get
   * reads both and watches the leader's node for the next proclaim (the
   * children watch sees it go). A lease's version counts its extends, no
   * value change: its czxid alone is compared. */
  char *path = baton__zk_path(s, name, low);
  baton_zk_reply g = {.rc = BATON_ZK_NOMEM};
  if (path != NULL) baton__zk_get(conn, path, k->id, deadline, &g);
  if (g.rc == ZOK) *lease_end = baton__zk_lease_end(s, low, &g.stat);
  rc = g.rc == ZOK       ? ((uint64_t)g.stat.czxid == seen->token &&
                                    (lease_node(low, &g.stat) ||
                                     (uint64_t)g.stat.version == seen->version)
                                ? BATON_ZK_BLOCK
                                : 0)
       : g.rc == ZNONODE ? 0
                         : baton__zk_error(err, conn, g.rc, "get", path);
  baton__zk_reply_free(&g);
  baton__zk_reply_free(&r);
  baton__free(path);
  return rc;
}

/* Block on the candidate's eventfd, cancel_fd and the deadline. */
static int block(baton_zk_session *s, int efd, int64_t deadline, int cancel_fd, baton_error *err) {
  struct pollfd fds[2] = {{.fd = efd, .events = POLLIN}, {.fd = cancel_fd, .events = POLLIN}};
  for (;;) {
    int64_t now = baton__now();
    if (now >= deadline) return baton__error(err, BATON_ETIMEDOUT, "%s: wait timed out", s->label);
    int n = poll(fds, 2, baton__ms_until(deadline));
    if (n < 0 && errno != EINTR)
      return baton__error(err, BATON_ECONNECT, "%s: poll: %s", s->label, strerror(errno));
    if (n > 0 && fds[1].revents != 0)
      return baton__error(err, BATON_ECANCELED, "%s: wait cancelled", s->label);
    if (n > 0 && fds[0].revents != 0) return 0;
  }
}

/* Block until a watch fires or, when what we wait behind is a fixed
 * lease, until it has surely ended (lease_end, 0: none): the server's
 * reaper may delete it a minute later. A candidate then deletes the lease
 * node `path` if still unchanged (`version`), as the reaper would; an
 * observer just looks again (a lease acquire reads the server's clock). */
static int block_round(baton_zk_session *s, baton_candidate *c, int64_t lease_end,
                       const char *path, int version, int64_t deadline, int cancel_fd,
                       bool *observer, baton_error *err) {
  lock(s);
  int efd = ((baton_zk_cand *)c->priv)->efd;
  unlock(s);
  if (lease_end == 0 || lease_end >= deadline) return block(s, efd, deadline, cancel_fd, err);
  baton_error why = {0};
  int rc = block(s, efd, lease_end, cancel_fd, &why);
  if (rc != BATON_ETIMEDOUT) {
    if (rc != 0 && err != NULL) *err = why;
    return rc;
  }
  *observer = false;
  cand_op op;
  if (path != NULL && begin(s, c, false, &op, &why) == 0) {
    baton_zk_reply r;
    baton__zk_delete_version(op.conn, path, version, deadline, &r);
    baton__zk_reply_free(&r);
    end(&op, 0);
  }
  return 0;
}

/* What one look (look) found out beside its answer. */
typedef struct look_out {
  char *pred;        /* a queued candidate's predecessor, NULL for an observer */
  char *path;        /* its path */
  int version;       /* its data version as read */
  int64_t lease_end; /* when what c waits behind has surely ended if it is
                        a fixed lease (baton__zk_lease_end), 0: it is none */
  bool observer;     /* c looked as an observer */
} look_out;

static void look_free(look_out *lk) {
  baton__free(lk->pred);
  baton__free(lk->path);
  memset(lk, 0, sizeof *lk);
}

/* One look at what c waits for, with the watch that fires when it
 * changes set on the server: BATON_ZK_BLOCK when nothing changed yet, 0
 * to look again now, or an error. wait blocks on the watch, watch arms
 * it. While the session is expired nothing is set: renew's new session
 * signals every candidate. */
static int look(baton_zk_session *s, cand_op *op, baton_candidate *c, const baton_leader *seen,
                int64_t deadline, look_out *lk, baton_error *err) {
  memset(lk, 0, sizeof *lk);
  if (conn_expired(op->conn)) return BATON_ZK_BLOCK;
  baton_zk_cand *k = op->k;
  lk->pred = dup_locked(s, &k->pred);
  if (lk->pred == NULL) {
    static const baton_leader nobody;
    lk->observer = true;
    return observe(s, op->conn, k, c->name, op->parent, seen != NULL ? seen : &nobody,
                   &lk->lease_end, deadline, err);
  }
  /* Queued: watch the predecessor only, so a release wakes one waiter.
   * A get sets no watch when the node is gone (an exists would leave
   * one behind for a name that never comes back). */
  lk->path = baton__zk_path(s, c->name, lk->pred);
  baton_zk_reply r = {.rc = BATON_ZK_NOMEM};
  if (lk->path != NULL) baton__zk_get(op->conn, lk->path, k->id, deadline, &r);
  int rc = r.rc == ZOK       ? BATON_ZK_BLOCK
           : r.rc == ZNONODE ? 0
                             : baton__zk_error(err, op->conn, r.rc, "get", lk->path);
  if (r.rc == ZOK) {
    lk->lease_end = baton__zk_lease_end(s, lk->pred, &r.stat);
    lk->version = r.stat.version;
  }
  baton__zk_reply_free(&r);
  return rc;
}

/* One look and, if nothing changed, one block. *observer says that an
 * observer's look blocked and a watch woke it. */
static int wait_round(baton_session *bs, baton_candidate *c, const baton_leader *seen,
                      int64_t deadline, int cancel_fd, bool *observer, baton_error *err) {
  baton_zk_session *s = (baton_zk_session *)bs;
  cand_op op;
  *observer = false;
  int rc = begin(s, c, true, &op, err);
  if (rc != 0) return rc;
  if (op.stale) return end(&op, 0); /* a new session exists: enqueue again */
  look_out lk;
  rc = look(s, &op, c, seen, deadline, &lk, err);
  *observer = rc == BATON_ZK_BLOCK && lk.observer;
  end(&op, 0); /* the handle is not held while blocked: renew may replace it */
  if (rc == BATON_ZK_BLOCK)
    rc = block_round(s, c, lk.lease_end, lk.path, lk.version, deadline, cancel_fd, observer, err);
  look_free(&lk);
  return rc;
}

static int zk_wait(baton_session *bs, baton_candidate *c, const baton_leader *seen,
                   int64_t deadline, int cancel_fd, baton_error *err) {
  /* An observer woken by a watch looks again before it returns: the
   * leader's deletion fires both the data watch on its node and a
   * children watch an earlier look left, and the second must not end a
   * later wait for which nothing changed. Bounded: after a few rounds the
   * wake-up is passed on (spurious ones are allowed). */
  int rc = 0;
  for (int round = 0; round < 4; round++) {
    bool observer = false;
    rc = wait_round(bs, c, seen, deadline, cancel_fd, &observer, err);
    if (rc != 0 || !observer) return rc;
  }
  return rc;
}

/* ---- watch / unwatch ------------------------------------------------------- */

/* A candidate queued behind a fixed lease: as wait does, it deletes the
 * lease once it has surely ended, if unchanged, rather than wait up to a
 * minute for the server's reaper. The end counts from the first look at
 * that version of the lease, not from this one: the core's look again at
 * *recheck_at would otherwise push it out each time. BATON_ZK_BLOCK with
 * *recheck_at, or 0 (look again) once the ended lease was deleted. */
static int behind_lease(baton_zk_session *s, cand_op *op, const look_out *lk,
                        int64_t *recheck_at, int64_t deadline) {
  baton_zk_cand *k = op->k;
  lock(s);
  if (k->lease_pred == NULL || strcmp(k->lease_pred, lk->pred) != 0 ||
      k->lease_version != lk->version) {
    forget_lease_locked(k);
    k->lease_pred = baton__strdup(lk->pred); /* out of memory: counted from now */
    k->lease_version = lk->version;
    k->lease_end = lk->lease_end;
  }
  int64_t ends = k->lease_pred != NULL ? k->lease_end : lk->lease_end;
  unlock(s);
  if (baton__now() < ends) {
    *recheck_at = ends;
    return BATON_ZK_BLOCK;
  }
  baton_zk_reply r;
  baton__zk_delete_version(op->conn, lk->path, lk->version, deadline, &r);
  baton__zk_reply_free(&r); /* changed or gone meanwhile: the watch fires anyway */
  return 0;
}

/* The look of wait, with the wake armed instead of a thread blocked: the
 * predecessor's watch (a queued candidate: one release wakes one waiter)
 * or the name's (an observer) calls it through baton__zk_watcher, and a
 * session event through baton__zk_wake_all_locked. Every such watch of
 * the session rides on its one zookeeper_mt handle: no thread per watch.
 * A look that finds the change already made wakes at once, on this
 * thread, before watch returns. */
static int zk_watch(baton_session *bs, baton_candidate *c, const baton_leader *seen,
                    baton_wake_fn wake, void *ctx, int64_t *recheck_at, int64_t deadline,
                    baton_error *err) {
  baton_zk_session *s = (baton_zk_session *)bs;
  if (c == NULL || wake == NULL || recheck_at == NULL)
    return baton__error(err, BATON_EINVAL, "%s: NULL argument to watch", s->label);
  *recheck_at = INT64_MAX;
  cand_op op;
  int rc = begin(s, c, false, &op, err);
  if (rc != 0) return rc;
  baton_zk_cand *k = op.k;
  /* Armed before any watch is set, so that one firing during the look
   * finds it, and checked against the handle begin took: a new session
   * made since then has already signalled every candidate, this one
   * too early to count. */
  lock(s);
  k->wake = wake;
  k->wake_ctx = ctx;
  bool moved = s->conn != op.conn;
  unlock(s);
  look_out lk = {0};
  rc = op.stale || moved ? 0 : look(s, &op, c, seen, deadline, &lk, err); /* stale: enqueue again */
  if (rc == BATON_ZK_BLOCK && lk.lease_end != 0) {
    if (lk.observer) *recheck_at = lk.lease_end; /* an observer looks again, deletes nothing */
    else rc = behind_lease(s, &op, &lk, recheck_at, deadline);
  }
  lock(s);
  if (rc == 0) baton__zk_cand_signal(k); /* unless a watcher was first */
  else if (rc < 0) k->wake = NULL;       /* the core looks again after a back-off */
  unlock(s);
  look_free(&lk);
  return end(&op, rc == BATON_ZK_BLOCK ? 0 : rc);
}

/* Only the wake is cleared: the ZooKeeper watch cannot be taken back,
 * and finds nothing armed when it fires (call.c says why that is safe). */
static void zk_unwatch(baton_session *bs, baton_candidate *c) {
  baton_zk_session *s = (baton_zk_session *)bs;
  if (s == NULL || c == NULL || c->priv == NULL) return;
  baton_zk_cand *k = c->priv;
  lock(s);
  k->wake = NULL;
  k->wake_ctx = NULL;
  unlock(s);
}

/* ---- release / forget ------------------------------------------------------ */

static int zk_release(baton_session *bs, baton_candidate *c, int64_t deadline, baton_error *err) {
  baton_zk_session *s = (baton_zk_session *)bs;
  cand_op op;
  int rc = begin(s, c, false, &op, err);
  if (rc != 0) return rc;
  baton_zk_cand *k = op.k;
  lock(s);
  bool pending = k->pending, expired = op.conn->expired;
  if (expired) drop_node_locked(s, k); /* our nodes died with the session */
  unlock(s);
  if (pending && !expired) rc = recover(s, op.conn, k, c, op.parent, deadline, err);
  char *node = rc == 0 ? dup_locked(s, &k->node) : NULL;
  if (node != NULL) {
    char *path = baton__zk_path(s, c->name, node);
    baton_zk_reply r = {.rc = BATON_ZK_NOMEM};
    if (path != NULL) baton__zk_delete(op.conn, path, deadline, &r);
    if (r.rc == ZOK || r.rc == ZNONODE) {
      /* A proclaimed term's identity node: ephemeral, so at worst it
       * lives until the session ends; deleted now without waiting. */
      char *at = k->proclaimed ? identity_path(s, c->name, node) : NULL;
      if (at != NULL) baton__zk_delete_async(op.conn, at);
      baton__free(at);
      lock(s);
      drop_node_locked(s, k);
      unlock(s);
    } else {
      rc = baton__zk_error(err, op.conn, r.rc, "delete", path);
    }
    baton__zk_reply_free(&r);
    baton__free(path);
  }
  baton__free(node);
  return end(&op, rc);
}

static void zk_forget(baton_session *bs, baton_candidate *c) {
  baton_zk_session *s = (baton_zk_session *)bs;
  if (s == NULL || c == NULL || c->priv == NULL) return;
  baton_zk_cand *k = c->priv;
  /* A node that may still exist (release failed or was skipped, or a
   * create's outcome is unknown) is swept in the background: no I/O wait
   * here, and no zombie contender left in the queue. */
  char guid[33];
  lock(s);
  baton_zk_conn *conn = s->conn;
  if (conn != NULL && (k->node != NULL || k->pending) && k->gen == conn->gen && !conn->expired)
    conn->refs++;
  else
    conn = NULL;
  memcpy(guid, k->guid, sizeof guid);
  bool proclaimed = k->proclaimed;
  cand_free_locked(s, k);
  unlock(s);
  c->priv = NULL;
  char *parent = conn != NULL ? baton__zk_path(s, c->name, NULL) : NULL;
  if (parent != NULL) baton__zk_sweep_add(conn, parent, guid);
  baton__free(parent);
  /* The identity node a proclaim made is named after the node: the same
   * guid, beside the election. */
  char *side = conn != NULL && proclaimed ? identity_path(s, c->name, NULL) : NULL;
  if (side != NULL) baton__zk_sweep_add(conn, side, guid);
  baton__free(side);
  baton__zk_conn_put(conn);
}

/* ---- renew ------------------------------------------------------------------- */

/* After ESESSION was reported: a fresh handle; every candidate is woken
 * to enqueue again, and every held term is gone. */
static int new_session(baton_zk_session *s, size_t n, bool *gone, int64_t deadline,
                       baton_error *err) {
  baton_zk_conn *fresh;
  int rc = baton__zk_conn_open(&fresh, s, deadline, err);
  if (rc != 0) return baton__error_prefix(err, "new session");
  lock(s);
  baton_zk_conn *old = s->conn;
  s->conn = fresh;
  s->expiry_reported = false;
  for (baton_zk_cand *k = s->cands; k != NULL; k = k->next) baton__zk_cand_signal(k);
  unlock(s);
  baton__zk_conn_put(old);
  s->base.server_ttl_ns = negotiated_ns(fresh);
  baton__log(s->base.cfg, BATON_LOG_INFO, "%s: new session 0x%llx after the last one expired",
             s->label, (unsigned long long)zoo_client_id(fresh->zh)->client_id);
  for (size_t i = 0; i < n; i++) gone[i] = true;
  return 0;
}

/* Renewal at O(1) requests per interval, whatever the number of held
 * names. The session's own heartbeat keeps its ephemeral nodes; what a
 * renewal must find out is whether one of them was deleted behind our
 * back. Each held node carries a data watch, set by a get once (and again
 * after a change other than the deletion spent it), which marks it gone
 * on its deletion; the C client sets the watches again on a reconnect.
 * The renewal is one sync: it fails on a session the server has expired,
 * and since a session's watch events come in order with its replies,
 * every deletion its server had applied when it answered has been heard
 * when it returns. A sync is not a quorum operation: a deletion by
 * another session may be heard a little later than the quorum made it,
 * at the next renewal; the token covers that gap, as it covers any
 * deletion behind the holder's back. Nodes past BATON_ZK_WATCH_BYTES_MAX
 * are read (without a watch) at each renewal instead. */
static int check_held(baton_zk_session *s, baton_zk_conn *conn, baton_candidate *const *held,
                      size_t n, bool *gone, int64_t deadline, baton_error *err) {
  const char *root = s->chroot[0] != '\0' ? s->chroot : "/";
  baton_zk_reply r;
  baton__zk_sync(conn, root, deadline, &r);
  int rc = r.rc == ZOK ? 0 : baton__zk_error(err, conn, r.rc, "sync", root);
  baton__zk_reply_free(&r);
  if (rc != 0 || n == 0) return rc;

  char **paths = baton__calloc(n, sizeof *paths);
  size_t *idx = baton__calloc(n, sizeof *idx);
  uint64_t *ids = baton__calloc(n, sizeof *ids), *spent = baton__calloc(n, sizeof *spent);
  baton_zk_reply *each = baton__calloc(n, sizeof *each);
  int m = 0;
  if (paths == NULL || idx == NULL || ids == NULL || spent == NULL || each == NULL)
    rc = baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label);
  lock(s);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    baton_zk_cand *k = held[i] != NULL ? held[i]->priv : NULL;
    if (k == NULL || k->node == NULL || k->gen != conn->gen || k->node_gone) {
      gone[i] = true; /* never made, released, from an expired session, or deleted */
      continue;
    }
    if (k->watched_gen == conn->gen) continue;
    paths[m] = baton__zk_path(s, held[i]->name, k->node);
    if (paths[m] == NULL) rc = baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label);
    /* Past the bound, a node is read at each renewal instead of watched. */
    size_t bytes = paths[m] != NULL ? strlen(paths[m]) + 4 : 0;
    ids[m] = s->watch_bytes + bytes <= BATON_ZK_WATCH_BYTES_MAX ? k->id : 0;
    spent[m] = k->watch_spent;
    idx[m++] = i;
  }
  unlock(s);
  if (rc == 0 && m > 0)
    baton__zk_watch_held(conn, (const char *const *)paths, m, ids, deadline, each);
  for (int j = 0; rc == 0 && j < m; j++) {
    if (each[j].rc == ZNONODE) {
      gone[idx[j]] = true;
    } else if (each[j].rc != ZOK) {
      rc = baton__zk_error(err, conn, each[j].rc, "get", paths[j]);
    } else {
      /* Watched from now on, unless the node changed meanwhile. */
      const char *node = strrchr(paths[j], '/') + 1;
      lock(s);
      baton_zk_cand *k = held[idx[j]]->priv;
      if (ids[j] != 0 && k != NULL && k->node != NULL && strcmp(k->node, node) == 0 &&
          k->gen == conn->gen && k->watch_spent == spent[j] && k->watch_bytes == 0) {
        k->watched_gen = conn->gen;
        k->watch_bytes = strlen(paths[j]) + 4;
        s->watch_bytes += k->watch_bytes;
      }
      unlock(s);
    }
  }
  for (int j = 0; each != NULL && j < m; j++) baton__zk_reply_free(&each[j]);
  for (int j = 0; paths != NULL && j < m; j++) baton__free(paths[j]);
  baton__free(each);
  baton__free(ids);
  baton__free(spent);
  baton__free(paths);
  baton__free(idx);
  return rc;
}

static int zk_renew(baton_session *bs, baton_candidate *const *held, size_t n, bool *gone,
                    int64_t deadline, baton_error *err) {
  baton_zk_session *s = (baton_zk_session *)bs;
  for (size_t i = 0; i < n; i++) gone[i] = false;
  lock(s);
  baton_zk_conn *conn = s->conn;
  bool expired = conn != NULL && conn->expired, reported = s->expiry_reported;
  if (expired) s->expiry_reported = true;
  if (conn != NULL && !expired) conn->refs++;
  unlock(s);
  if (conn == NULL) return baton__error(err, BATON_ECLOSED, "%s: the session is closed", s->label);
  if (expired && !reported) return expired_error(s, err);
  if (expired) return new_session(s, n, gone, deadline, err);
  int rc = check_held(s, conn, held, n, gone, deadline, err);
  if (rc == BATON_ESESSION) {
    lock(s);
    s->expiry_reported = true; /* the next renew makes a new session */
    unlock(s);
  }
  baton__zk_conn_put(conn);
  return rc;
}

/* ---- leader ------------------------------------------------------------------ */

static int zk_leader_value(baton_session *bs, const char *name, baton_leader *out, char *value,
                           size_t size, size_t *len, int64_t deadline, baton_error *err) {
  baton_zk_session *s = (baton_zk_session *)bs;
  if (name == NULL || out == NULL)
    return baton__error(err, BATON_EINVAL, "%s: NULL argument to leader", s->label);
  memset(out, 0, sizeof *out);
  baton_zk_conn *conn;
  char *parent;
  int rc = baton__zk_name_begin(s, name, &conn, &parent, err);
  if (rc != 0) return rc;
  rc = BATON_ZK_LOST;
  /* The lowest node may go between the list and the get: look again. */
  for (int attempt = 0; rc == BATON_ZK_LOST && attempt < 8; attempt++) {
    baton_zk_reply r;
    baton__zk_children(conn, parent, 0, deadline, &r);
    const char *wrapped = NULL;
    const char *low = r.rc == ZOK ? baton__zk_lowest(&r, NULL, NULL, NULL, &wrapped) : NULL;
    if (r.rc != ZOK && r.rc != ZNONODE)
      rc = baton__zk_error(err, conn, r.rc, "get children of", parent);
    else if (wrapped != NULL) rc = baton__zk_wrapped_error(s, parent, wrapped, err);
    else if (low == NULL)
      rc = baton__error(err, BATON_ENOLEADER, "%s: %s has no leader", s->label, name);
    else rc = baton__zk_read_leader(s, conn, name, low, out, value, size, len, deadline, err);
    baton__zk_reply_free(&r);
  }
  if (rc == BATON_ZK_LOST)
    rc = baton__error(err, BATON_ETIMEDOUT, "%s: the leader of %s kept changing", s->label, name);
  baton__zk_name_end(&conn, &parent);
  return rc;
}

static int zk_leader(baton_session *bs, const char *name, baton_leader *out, int64_t deadline,
                     baton_error *err) {
  return zk_leader_value(bs, name, out, NULL, 0, NULL, deadline, err);
}

/* ---- proclaim ------------------------------------------------------------------ */

/* Make the identity node beside the election, ephemeral on our session,
 * and its parent on first use; one request once the parent exists. */
static int make_identity(baton_zk_session *s, baton_zk_conn *conn, baton_candidate *c,
                         const char *node, int64_t deadline, baton_error *err) {
  char *at = identity_path(s, c->name, node), *parent = identity_path(s, c->name, NULL);
  int rc = at == NULL || parent == NULL
               ? baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label)
               : 0;
  const char *identity = c->identity != NULL ? c->identity : "";
  for (int attempt = 0; rc == 0 && attempt < 2; attempt++) {
    baton_zk_reply r;
    baton__zk_create(conn, at, identity, ZOO_EPHEMERAL, deadline, &r);
    int zrc = r.rc;
    baton__zk_reply_free(&r);
    if (zrc == ZOK || zrc == ZNODEEXISTS) break; /* named after our node: ours */
    if (zrc != ZNONODE || attempt == 1) {
      rc = baton__zk_error(err, conn, zrc, "create", at);
      break;
    }
    rc = baton__zk_make_parents(s, conn, parent, deadline, err);
  }
  baton__free(at);
  baton__free(parent);
  return rc;
}

/* Set our node's data to the value if its version is the one we wrote
 * last: a node that is gone (session expired, deleted) or changed by
 * someone else is not written. After a lost reply the version is read
 * again on our own node, once. */
static int zk_proclaim(baton_session *bs, baton_candidate *c, const char *value, int64_t deadline,
                       baton_error *err) {
  baton_zk_session *s = (baton_zk_session *)bs;
  cand_op op;
  int rc = begin(s, c, false, &op, err);
  if (rc != 0) return rc;
  baton_zk_cand *k = op.k;
  char *node = dup_locked(s, &k->node);
  if (op.stale || node == NULL || conn_expired(op.conn)) {
    baton__free(node);
    return end(&op, baton__error(err, BATON_ENOTHOLDER, "%s: proclaim: no node of ours for %s",
                                 s->label, c->name));
  }
  /* Marked before the create: a create whose reply is lost may have
   * made the identity node, which release must then delete. */
  lock(s);
  bool made = k->proclaimed;
  k->proclaimed = true;
  int version = k->version;
  uint64_t czxid = k->czxid;
  unlock(s);
  if (!made) rc = make_identity(s, op.conn, c, node, deadline, err);
  char *path = rc == 0 ? baton__zk_path(s, c->name, node) : NULL;
  if (rc == 0 && path == NULL) rc = baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label);
  for (int attempt = 0; rc == 0 && attempt < 2; attempt++) {
    baton_zk_reply r;
    baton__zk_set(op.conn, path, value, version, deadline, &r);
    if (r.rc == ZOK) {
      version = r.stat.version;
      lock(s);
      k->version = version;
      unlock(s);
    }
    int zrc = r.rc;
    baton__zk_reply_free(&r);
    if (zrc == ZOK) break;
    if (zrc == ZNONODE) {
      rc = baton__error(err, BATON_ENOTHOLDER, "%s: proclaim: %s is gone", s->label, path);
    } else if (zrc == ZBADVERSION && attempt == 0) {
      /* The version is not the one we know: our last write's reply was
       * lost, or someone wrote the node. It is written again only if it
       * is still this term's node of our session (owner and czxid); a
       * foreign write to it is overwritten then, as any later proclaim
       * would. */
      baton__zk_get(op.conn, path, 0, deadline, &r);
      const clientid_t *me = zoo_client_id(op.conn->zh);
      if (r.rc == ZOK && me != NULL && r.stat.ephemeralOwner == me->client_id &&
          (czxid == 0 || (uint64_t)r.stat.czxid == czxid)) {
        version = r.stat.version;
        lock(s);
        k->version = version;
        unlock(s);
      } else {
        rc = r.rc == ZOK || r.rc == ZNONODE
                 ? baton__error(err, BATON_ENOTHOLDER, "%s: proclaim: %s is not ours", s->label,
                                path)
                 : baton__zk_error(err, op.conn, r.rc, "get", path);
      }
      baton__zk_reply_free(&r);
    } else {
      rc = baton__zk_error(err, op.conn, zrc, "set", path);
    }
  }
  baton__free(path);
  baton__free(node);
  return end(&op, rc);
}

/* ---- contenders -------------------------------------------------------------- */

static int by_sequence(const void *a, const void *b) {
  return baton__zk_name_cmp(*(const char *const *)a, *(const char *const *)b);
}

/* The contender children by sequence (kazoo's contenders() order), and
 * each node's data and czxid. A node gone between the list and its get
 * left the queue: it is skipped. */
static int list_queue(baton_zk_session *s, baton_zk_conn *conn, const char *name,
                      const char *parent, baton_contender *out, size_t cap, size_t *n,
                      int64_t deadline, baton_error *err) {
  baton_zk_reply r;
  baton__zk_children(conn, parent, 0, deadline, &r);
  const char *wrapped = NULL;
  if (r.rc == ZOK) baton__zk_lowest(&r, NULL, NULL, NULL, &wrapped);
  int rc = 0;
  if (r.rc != ZOK && r.rc != ZNONODE)
    rc = baton__zk_error(err, conn, r.rc, "get children of", parent);
  else if (wrapped != NULL) rc = baton__zk_wrapped_error(s, parent, wrapped, err);
  const char **kids = NULL;
  size_t m = 0;
  if (rc == 0 && r.rc == ZOK && r.nkids > 0) {
    kids = baton__calloc((size_t)r.nkids, sizeof *kids);
    if (kids == NULL) rc = baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label);
    for (int i = 0; kids != NULL && i < r.nkids; i++)
      if (baton__zk_name_seq(r.kids[i]) >= 0) kids[m++] = r.kids[i];
    if (kids != NULL) qsort(kids, m, sizeof *kids, by_sequence);
  }
  for (size_t i = 0; rc == 0 && i < m && *n < cap; i++) {
    baton_leader who;
    int got = baton__zk_read_leader(s, conn, name, kids[i], &who, NULL, 0, NULL, deadline, err);
    if (got == BATON_ZK_LOST) continue;
    rc = got;
    if (rc != 0) break;
    out[*n].token = who.token;
    memcpy(out[*n].identity, who.identity, sizeof out[*n].identity);
    (*n)++;
  }
  baton__free(kids);
  baton__zk_reply_free(&r);
  return rc;
}

static int zk_contenders(baton_session *bs, const char *name, baton_contender *out, size_t cap,
                         size_t *n, int64_t deadline, baton_error *err) {
  baton_zk_session *s = (baton_zk_session *)bs;
  *n = 0;
  baton_zk_conn *conn;
  char *parent;
  int rc = baton__zk_name_begin(s, name, &conn, &parent, err);
  if (rc != 0) return rc;
  rc = list_queue(s, conn, name, parent, out, cap, n, deadline, err);
  baton__zk_name_end(&conn, &parent);
  return rc;
}

const baton_backend baton_backend_zk = {
    .schemes = schemes,
    .caps = BATON_CAP_QUEUE,
    .open = zk_open,
    .close = zk_close,
    .acquire = zk_acquire,
    .wait = zk_wait,
    .release = zk_release,
    .renew = zk_renew,
    .leader = zk_leader,
    .contenders = zk_contenders,
    .forget = zk_forget,
    .proclaim = zk_proclaim,
    .leader_value = zk_leader_value,
    .watch = zk_watch,
    .unwatch = zk_unwatch,
    .lease_acquire = baton__zk_lease_acquire,
    .lease_extend = baton__zk_lease_extend,
    .lease_release = baton__zk_lease_release,
};
