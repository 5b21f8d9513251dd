/* call.c — one ZooKeeper request bounded by a deadline: the asynchronous
 * API plus a wait on the session's condition variable, with the call's
 * state shared by the caller and the completion through a reference
 * count, so a reply that comes after the caller gave up is still safe. */
#include "zk.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct baton_zk_call {
  baton_zk_call *next, *prev; /* conn->calls until the completion ran */
  baton_zk_conn *conn;        /* the handle it was sent on */
  int refs;                   /* the caller's and the completion's (s->mu) */
  bool done;                  /* the completion ran (s->mu) */
  baton_zk_reply reply;       /* filled by the completion (s->mu) */
  baton_zk_then then;         /* set when nobody waits: gets the reply */
  void *arg;                  /* then's argument */
};

/* Calls allocated and not yet freed, in every session: a test hook. */
static atomic_long live;

long baton__zk_calls_live(void) { return atomic_load(&live); }

/* Completions and watchers get their context back as const void *. */
#define BATON_ZK_UNCONST(type, p) ((type)(uintptr_t)(p))

void baton__zk_reply_free(baton_zk_reply *r) {
  baton__free(r->data);
  for (int i = 0; i < r->nkids; i++) baton__free(r->kids[i]);
  baton__free(r->kids);
  memset(r, 0, sizeof *r);
}

static void lock(baton_zk_session *s) { pthread_mutex_lock(&s->mu); }
static void unlock(baton_zk_session *s) { pthread_mutex_unlock(&s->mu); }

static void unlink_call(baton_zk_call *call) {
  if (call->prev != NULL) call->prev->next = call->next;
  else if (call->conn->calls == call) call->conn->calls = call->next;
  if (call->next != NULL) call->next->prev = call->prev;
  call->next = call->prev = NULL;
}

static void unref_locked(baton_zk_call *call) {
  if (--call->refs > 0) return;
  baton__zk_reply_free(&call->reply);
  baton__free(call);
  atomic_fetch_sub(&live, 1);
}

/* A new call with two references, listed on its handle so that closing
 * the handle can settle it if the C client never calls the completion. */
static baton_zk_call *start(baton_zk_conn *conn, baton_zk_reply *out) {
  memset(out, 0, sizeof *out);
  baton_zk_call *call = baton__calloc(1, sizeof *call);
  if (call == NULL) {
    out->rc = BATON_ZK_NOMEM;
    return NULL;
  }
  atomic_fetch_add(&live, 1);
  call->conn = conn;
  call->refs = 2;
  lock(conn->s);
  call->next = conn->calls;
  if (call->next != NULL) call->next->prev = call;
  conn->calls = call;
  unlock(conn->s);
  return call;
}

/* What the zoo_a* call returned. On an error the completion never runs,
 * except after ZMARSHALLINGERROR, where the C client may have registered
 * it before failing: that call stays listed until the handle closes. */
static bool sent(baton_zk_call *call, int zrc, baton_zk_reply *out) {
  if (zrc == ZOK) return true;
  baton_zk_session *s = call->conn->s;
  lock(s);
  if (zrc != ZMARSHALLINGERROR) {
    unlink_call(call);
    unref_locked(call);
  }
  unref_locked(call);
  unlock(s);
  out->rc = zrc;
  return false;
}

/* Wait for the completion until the deadline, then give up our half. */
static void await(baton_zk_call *call, int64_t deadline, baton_zk_reply *out) {
  baton_zk_session *s = call->conn->s;
  lock(s);
  /* Bounded by the deadline: every pass either sees `done` or waits. */
  while (!call->done && baton__now() < deadline) baton__cond_wait_until(&s->cond, &s->mu, deadline);
  if (call->done) {
    *out = call->reply;
    memset(&call->reply, 0, sizeof call->reply);
  } else {
    out->rc = BATON_ZK_DEADLINE;
  }
  unref_locked(call);
  unlock(s);
}

static void finish(baton_zk_call *call, int zrc, int64_t deadline, baton_zk_reply *out) {
  if (call != NULL && sent(call, zrc, out)) await(call, deadline, out);
}

/* ---- Completions: run on the C client's completion thread ------------- */

static void complete(baton_zk_call *call, baton_zk_reply *r) {
  baton_zk_session *s = call->conn->s;
  if (call->then != NULL) { /* nobody waits: the hook takes the reply */
    call->then(call->conn, r, call->arg);
    baton__zk_reply_free(r);
    lock(s);
    call->done = true;
    unlink_call(call);
    pthread_cond_broadcast(&s->cond); /* baton__zk_calls_drain */
    unref_locked(call);
    unlock(s);
    return;
  }
  lock(s);
  call->reply = *r;
  call->done = true;
  unlink_call(call);
  pthread_cond_broadcast(&s->cond);
  unref_locked(call);
  unlock(s);
}

static char *copy_bytes(const char *p, int len, baton_zk_reply *r) {
  if (p == NULL || len < 0) return NULL;
  char *c = baton__calloc(1, (size_t)len + 1);
  if (c == NULL) r->rc = BATON_ZK_NOMEM;
  else memcpy(c, p, (size_t)len);
  return c;
}

static void done_void(int rc, const void *data) {
  baton_zk_reply r = {.rc = rc};
  complete(BATON_ZK_UNCONST(baton_zk_call *, data), &r);
}

static void done_stat(int rc, const struct Stat *stat, const void *data) {
  baton_zk_reply r = {.rc = rc};
  if (rc == ZOK && stat != NULL) r.stat = *stat;
  complete(BATON_ZK_UNCONST(baton_zk_call *, data), &r);
}

static void done_data(int rc, const char *value, int len, const struct Stat *stat,
                      const void *data) {
  baton_zk_reply r = {.rc = rc, .len = -1};
  if (rc == ZOK) {
    if (stat != NULL) r.stat = *stat;
    r.data = copy_bytes(value, len, &r);
    if (r.data != NULL) r.len = len;
  }
  complete(BATON_ZK_UNCONST(baton_zk_call *, data), &r);
}

static void done_created(int rc, const char *path, const struct Stat *stat, const void *data) {
  baton_zk_reply r = {.rc = rc};
  if (rc == ZOK) {
    if (stat != NULL) r.stat = *stat;
    if (path != NULL) {
      r.data = copy_bytes(path, (int)strlen(path), &r);
      r.len = (int)strlen(path);
    }
  }
  complete(BATON_ZK_UNCONST(baton_zk_call *, data), &r);
}

static void done_children(int rc, const struct String_vector *v, const void *data) {
  baton_zk_reply r = {.rc = rc};
  if (rc == ZOK && v != NULL && v->count > 0) {
    r.kids = baton__calloc((size_t)v->count, sizeof *r.kids);
    if (r.kids == NULL) r.rc = BATON_ZK_NOMEM;
    for (int i = 0; r.kids != NULL && i < v->count && r.rc == ZOK; i++) {
      r.kids[i] = copy_bytes(v->data[i], (int)strlen(v->data[i]), &r);
      if (r.kids[i] != NULL) r.nkids = i + 1;
    }
  }
  complete(BATON_ZK_UNCONST(baton_zk_call *, data), &r);
}

/* ---- Requests ------------------------------------------------------------ */

void baton__zk_create_ttl(baton_zk_conn *conn, const char *path, const char *value, int mode,
                          int64_t ttl_ms, int64_t deadline, baton_zk_reply *out) {
  baton_zk_call *call = start(conn, out);
  if (call == NULL) return;
  int len = value != NULL ? (int)strlen(value) : -1;
  finish(call,
         zoo_acreate2_ttl(conn->zh, path, value, len, conn->s->acl, mode, ttl_ms, done_created,
                          call),
         deadline, out);
}

/* A TTL of -1 is how the C client's own zoo_acreate2 says "none". */
void baton__zk_create(baton_zk_conn *conn, const char *path, const char *value, int mode,
                      int64_t deadline, baton_zk_reply *out) {
  baton__zk_create_ttl(conn, path, value, mode, -1, deadline, out);
}

void baton__zk_delete_version(baton_zk_conn *conn, const char *path, int version, int64_t deadline,
                              baton_zk_reply *out) {
  baton_zk_call *call = start(conn, out);
  if (call != NULL)
    finish(call, zoo_adelete(conn->zh, path, version, done_void, call), deadline, out);
}

void baton__zk_delete(baton_zk_conn *conn, const char *path, int64_t deadline,
                      baton_zk_reply *out) {
  baton__zk_delete_version(conn, path, -1, deadline, out);
}

void baton__zk_add_auth(baton_zk_conn *conn, const char *cred, int64_t deadline,
                        baton_zk_reply *out) {
  baton_zk_call *call = start(conn, out);
  if (call != NULL)
    finish(call, zoo_add_auth(conn->zh, "digest", cred, (int)strlen(cred), done_void, call),
           deadline, out);
}

static void ignore(baton_zk_conn *conn, baton_zk_reply *r, void *arg) {
  (void)conn;
  (void)r;
  (void)arg;
}

/* A request nobody waits for: listed like any other, so that closing the
 * handle can wait for it (baton__zk_calls_drain) and settle it. */
static baton_zk_call *start_then(baton_zk_conn *conn, baton_zk_then then, void *arg) {
  baton_zk_reply out;
  baton_zk_call *call = start(conn, &out);
  if (call != NULL) {
    call->then = then;
    call->arg = arg;
  }
  return call;
}

static bool sent_then(baton_zk_call *call, int zrc) {
  baton_zk_reply out;
  if (!sent(call, zrc, &out)) return false;
  lock(call->conn->s);
  unref_locked(call); /* the caller's half: nobody waits */
  unlock(call->conn->s);
  return true;
}

void baton__zk_delete_async(baton_zk_conn *conn, const char *path) {
  baton_zk_call *call = start_then(conn, ignore, NULL);
  if (call != NULL) sent_then(call, zoo_adelete(conn->zh, path, -1, done_void, call));
}

bool baton__zk_children_then(baton_zk_conn *conn, const char *path, baton_zk_then then, void *arg) {
  baton_zk_call *call = start_then(conn, then, arg);
  return call != NULL &&
         sent_then(call, zoo_aget_children(conn->zh, path, 0, done_children, call));
}

static void *watch_ctx(uint64_t id) { return (void *)(uintptr_t)id; }

static int submit_exists(baton_zk_conn *conn, const char *path, uint64_t watch_id,
                         baton_zk_call *call) {
  return watch_id != 0 ? zoo_awexists(conn->zh, path, baton__zk_watcher, watch_ctx(watch_id),
                                      done_stat, call)
                       : zoo_aexists(conn->zh, path, 0, done_stat, call);
}

void baton__zk_exists(baton_zk_conn *conn, const char *path, uint64_t watch_id, int64_t deadline,
                      baton_zk_reply *out) {
  baton_zk_call *call = start(conn, out);
  if (call != NULL) finish(call, submit_exists(conn, path, watch_id, call), deadline, out);
}

void baton__zk_get(baton_zk_conn *conn, const char *path, uint64_t watch_id, int64_t deadline,
                   baton_zk_reply *out) {
  baton_zk_call *call = start(conn, out);
  if (call == NULL) return;
  int rc = watch_id != 0
               ? zoo_awget(conn->zh, path, baton__zk_watcher, watch_ctx(watch_id), done_data, call)
               : zoo_aget(conn->zh, path, 0, done_data, call);
  finish(call, rc, deadline, out);
}

void baton__zk_set(baton_zk_conn *conn, const char *path, const char *value, int version,
                   int64_t deadline, baton_zk_reply *out) {
  baton_zk_call *call = start(conn, out);
  if (call == NULL) return;
  int rc = zoo_aset(conn->zh, path, value, (int)strlen(value), version, done_stat, call);
  finish(call, rc, deadline, out);
}

void baton__zk_children(baton_zk_conn *conn, const char *path, uint64_t watch_id, int64_t deadline,
                        baton_zk_reply *out) {
  baton_zk_call *call = start(conn, out);
  if (call == NULL) return;
  int rc = watch_id != 0 ? zoo_awget_children(conn->zh, path, baton__zk_watcher,
                                              watch_ctx(watch_id), done_children, call)
                         : zoo_aget_children(conn->zh, path, 0, done_children, call);
  finish(call, rc, deadline, out);
}

static void done_string(int rc, const char *value, const void *data) {
  (void)value;
  baton_zk_reply r = {.rc = rc};
  complete(BATON_ZK_UNCONST(baton_zk_call *, data), &r);
}

void baton__zk_sync(baton_zk_conn *conn, const char *path, int64_t deadline, baton_zk_reply *out) {
  baton_zk_call *call = start(conn, out);
  if (call != NULL) finish(call, zoo_async(conn->zh, path, done_string, call), deadline, out);
}

/* One get per path, pipelined, then every reply: one round trip. A get,
 * because an exists on a node that is gone would leave a watch on its
 * path for good. */
void baton__zk_watch_held(baton_zk_conn *conn, const char *const *paths, int n,
                          const uint64_t *ids, int64_t deadline, baton_zk_reply *out) {
  baton_zk_call **calls = baton__calloc((size_t)n, sizeof *calls);
  for (int i = 0; i < n; i++) {
    if (calls == NULL) {
      memset(&out[i], 0, sizeof out[i]);
      out[i].rc = BATON_ZK_NOMEM;
      continue;
    }
    calls[i] = start(conn, &out[i]);
    if (calls[i] == NULL) continue;
    int rc = ids[i] != 0 ? zoo_awget(conn->zh, paths[i], baton__zk_held_watcher,
                                     watch_ctx(ids[i]), done_data, calls[i])
                         : zoo_aget(conn->zh, paths[i], 0, done_data, calls[i]);
    if (!sent(calls[i], rc, &out[i])) calls[i] = NULL;
  }
  for (int i = 0; calls != NULL && i < n; i++)
    if (calls[i] != NULL) await(calls[i], deadline, &out[i]);
  baton__free(calls);
}

void baton__zk_calls_drain(baton_zk_conn *conn, int64_t deadline) {
  baton_zk_session *s = conn->s;
  lock(s);
  while (conn->calls != NULL && baton__now() < deadline)
    baton__cond_wait_until(&s->cond, &s->mu, deadline);
  unlock(s);
}

void baton__zk_calls_abandon(baton_zk_conn *conn) {
  baton_zk_session *s = conn->s;
  lock(s);
  while (conn->calls != NULL) { /* each pass unlinks one */
    baton_zk_call *call = conn->calls;
    unlink_call(call);
    call->done = true;
    call->reply.rc = ZCLOSING;
    unref_locked(call);
  }
  unlock(s);
}

/* ---- Watches --------------------------------------------------------------
 * The C client calls every registered watcher on each session event without
 * removing it, so session events are left to the global watcher; a node
 * event fires a watcher once. The context is the candidate's id, looked up
 * under the lock: a watch that outlives its candidate does nothing.
 *
 * That is what keeps a subscription's late watcher safe. A watch (zk.c)
 * cannot be taken back from the server: once unwatched, forgotten, or
 * armed again elsewhere, the ZooKeeper watch it set still fires once
 * later, or never. So the watcher holds no pointer to the candidate, only
 * its id, a number that is never reused in the session; it finds the
 * candidate under s->mu or finds nothing, and it calls the wake only if
 * one is armed then, clearing it first. forget frees the candidate under
 * s->mu, and unwatch clears the wake under s->mu, so after either no
 * wake runs. What the watcher does touch, the handle (zoo_get_context)
 * and the session, outlive it: zookeeper_close joins the completion
 * thread, the only one that runs watchers, before the handle is freed,
 * and the session is freed after its last handle. The price is a lookup
 * per event (in the session's index by id, zk.c, not a walk of what may
 * be 10,000 candidates under the lock) and, since the C client keeps one watcher per (function,
 * context) on a path, a watch armed again on the same path is one watch,
 * not a pile of them; a stale one firing is a spurious wake-up, which the
 * contract allows. */

void baton__zk_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
  (void)state;
  (void)path;
  if (type == ZOO_SESSION_EVENT) return;
  baton_zk_conn *conn = BATON_ZK_UNCONST(baton_zk_conn *, zoo_get_context(zh));
  baton_zk_session *s = conn->s;
  uint64_t id = (uint64_t)(uintptr_t)ctx;
  lock(s);
  baton_zk_cand *k = baton__zk_cand_find_locked(s, id);
  if (k != NULL) baton__zk_cand_signal(k);
  unlock(s);
}

/* A held node's watch: its deletion (by anyone: an operator, a sweep, the
 * server's expiry of the session) marks the term gone for the next
 * renewal; any other change of the node spends the one-shot watch, which
 * the next renewal sets again. The candidate is looked up by id and the
 * node by name, so a watch on a node it no longer has does nothing. */
void baton__zk_held_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
  (void)state;
  if (type == ZOO_SESSION_EVENT || path == NULL) return;
  baton_zk_conn *conn = BATON_ZK_UNCONST(baton_zk_conn *, zoo_get_context(zh));
  baton_zk_session *s = conn->s;
  uint64_t id = (uint64_t)(uintptr_t)ctx;
  const char *slash = strrchr(path, '/');
  lock(s);
  baton_zk_cand *k = baton__zk_cand_find_locked(s, id);
  if (k != NULL && k->node != NULL && slash != NULL && strcmp(slash + 1, k->node) == 0) {
    s->watch_bytes -= k->watch_bytes; /* a watch fires once */
    k->watch_bytes = 0;
    if (type == ZOO_DELETED_EVENT) k->node_gone = true;
    else {
      k->watched_gen = 0;
      k->watch_spent++;
    }
  }
  unlock(s);
}

void baton__zk_cand_signal(baton_zk_cand *k) {
  uint64_t one = 1;
  if (k->efd >= 0 && write(k->efd, &one, sizeof one) < 0) {
    /* EAGAIN: the counter is already non-zero, so the waiter wakes anyway. */
  }
  baton_wake_fn wake = k->wake;
  k->wake = NULL; /* one-shot: the core arms it again once it has looked */
  if (wake != NULL) wake(k->wake_ctx);
}

void baton__zk_wake_all_locked(baton_zk_session *s) {
  for (baton_zk_cand *k = s->cands; k != NULL; k = k->next)
    if (k->wake != NULL) baton__zk_cand_signal(k);
}

/* ---- Errors ---------------------------------------------------------------- */

static void mark_expired(baton_zk_conn *conn) {
  lock(conn->s);
  conn->expired = true;
  pthread_cond_broadcast(&conn->s->cond);
  unlock(conn->s);
}

int baton__zk_error(baton_error *err, baton_zk_conn *conn, int rc, const char *op,
                    const char *path) {
  int code = BATON_EREFUSED;
  const char *why = zerror(rc);
  switch (rc) {
  case BATON_ZK_DEADLINE: code = BATON_ETIMEDOUT; why = "no reply before the deadline"; break;
  case BATON_ZK_NOMEM:
  case ZMARSHALLINGERROR: code = BATON_ENOMEM; why = "out of memory"; break;
  case ZCONNECTIONLOSS: code = BATON_ECONNECT; why = "connection lost"; break;
  case ZOPERATIONTIMEOUT: code = BATON_ETIMEDOUT; why = "the server did not answer in time"; break;
  case ZSESSIONMOVED: code = BATON_ECONNECT; why = "session moved to another server"; break;
  case ZTHROTTLEDOP: code = BATON_ETIMEDOUT; why = "throttled by the server"; break;
  case ZCLOSING: code = BATON_ECLOSED; why = "the handle is closing"; break;
  case ZBADARGUMENTS: code = BATON_EINVAL; why = "bad path"; break;
  case ZAUTHFAILED: code = BATON_EAUTH; why = "authentication failed"; break;
  case ZNOAUTH: code = BATON_EAUTH; why = "not allowed by the ACL (wrong user or password?)"; break;
  case ZSESSIONEXPIRED:
    mark_expired(conn);
    code = BATON_ESESSION;
    why = "session expired";
    break;
  case ZINVALIDSTATE:
    if (zoo_state(conn->zh) == ZOO_EXPIRED_SESSION_STATE) {
      mark_expired(conn);
      code = BATON_ESESSION;
      why = "session expired";
    } else if (zoo_state(conn->zh) == ZOO_AUTH_FAILED_STATE) {
      code = BATON_EAUTH;
      why = "authentication failed";
    } else {
      code = BATON_ECONNECT;
      why = "the handle is unusable";
    }
    break;
  default: break;
  }
  return baton__error(err, code, "%s: %s %s: %s", conn->s->label, op, path, why);
}
