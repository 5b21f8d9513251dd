/* conn.c — one ZooKeeper handle: started, authenticated and awaited within
 * a bound (the C client would retry connecting forever), shared by
 * reference, and closed by its last user. */
#include "zk.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The longest a closing handle waits for its requests in flight: a server
 * that answers at all answers in milliseconds. */
#define BATON_ZK_DRAIN_MAX_NS (500 * BATON_NS_PER_MS)

/* What an operator wants to hear of a handle's state changes: a lost
 * connection (the session survives it for its timeout), a reconnect,
 * an expiry, a refused login. */
static void log_session_change(baton_zk_session *s, zhandle_t *zh, int was, int state,
                               bool reconnected) {
  const baton_config *cfg = s->base.cfg;
  unsigned long long id = (unsigned long long)zoo_client_id(zh)->client_id;
  if (reconnected)
    baton__log(cfg, BATON_LOG_INFO, "%s: reconnected; session 0x%llx kept", s->label, id);
  else if (state == ZOO_CONNECTING_STATE && was == ZOO_CONNECTED_STATE)
    baton__log(cfg, BATON_LOG_WARN,
               "%s: connection lost; reconnecting (session 0x%llx lives %d ms without one)",
               s->label, id, zoo_recv_timeout(zh));
  else if (state == ZOO_EXPIRED_SESSION_STATE)
    baton__log(cfg, BATON_LOG_WARN, "%s: session 0x%llx expired", s->label, id);
  else if (state == ZOO_AUTH_FAILED_STATE)
    baton__log(cfg, BATON_LOG_ERROR, "%s: authentication failed", s->label);
}

/* The global watcher: the C client calls it with every state change of
 * the handle, on its completion thread. It records and signals, and logs
 * the change: the user's log callback runs there too, so one that blocks
 * holds up every ZooKeeper reply of the session, renewals included. */
static void on_session(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
  (void)path;
  if (type != ZOO_SESSION_EVENT) return;
  /* Before anyone hears of the connection: a session reported connected
   * has no socket that a program exec'd later would inherit. */
  if (state == ZOO_CONNECTED_STATE) baton__zk_cloexec_socket(zh);
  baton_zk_conn *conn = ctx;
  baton_zk_session *s = conn->s;
  pthread_mutex_lock(&s->mu);
  int was = conn->state;
  bool reconnected = state == ZOO_CONNECTED_STATE && was != state && conn->was_connected;
  if (state == ZOO_CONNECTED_STATE) conn->was_connected = true;
  conn->state = state;
  if (state == ZOO_EXPIRED_SESSION_STATE) conn->expired = true;
  /* A subscription on this handle may have missed a change while it was
   * cut off (its watch comes back with the reconnect only if the session
   * survived): every armed watch looks again. Only the current handle's:
   * an old one's events concern nobody any more. */
  bool broken = (state == ZOO_CONNECTING_STATE && was == ZOO_CONNECTED_STATE) || reconnected ||
                state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE;
  if (broken && s->conn == conn) baton__zk_wake_all_locked(s);
  pthread_cond_broadcast(&s->cond);
  pthread_mutex_unlock(&s->mu);
  if (state == ZOO_CONNECTED_STATE) baton__zk_sweep_kick(conn);
  log_session_change(s, zh, was, state, reconnected);
}

/* Wait until the handle is connected or can never be, or `limit`. */
static int wait_connected(baton_zk_conn *conn, int64_t limit) {
  baton_zk_session *s = conn->s;
  pthread_mutex_lock(&s->mu);
  while (conn->state != ZOO_CONNECTED_STATE && conn->state != ZOO_AUTH_FAILED_STATE &&
         !conn->expired && baton__now() < limit)
    baton__cond_wait_until(&s->cond, &s->mu, limit);
  int state = conn->expired ? ZOO_EXPIRED_SESSION_STATE : conn->state;
  pthread_mutex_unlock(&s->mu);
  return state;
}

static int not_connected(baton_zk_session *s, int state, bool caller_deadline, int64_t waited,
                         baton_error *err) {
  if (state == ZOO_AUTH_FAILED_STATE)
    return baton__error(err, BATON_EAUTH, "%s: authentication failed", s->label);
  if (state == ZOO_EXPIRED_SESSION_STATE)
    return baton__error(err, BATON_ESESSION, "%s: the new session expired at once", s->label);
  char why[96];
  baton__zk_log_why(why, sizeof why, s->hosts);
  return baton__error(err, caller_deadline ? BATON_ETIMEDOUT : BATON_ECONNECT,
                      "%s: no ZooKeeper session within %lld ms%s%s%s", s->label,
                      (long long)(waited / BATON_NS_PER_MS), why[0] ? " (" : "", why,
                      why[0] ? ")" : "");
}

int baton__zk_conn_open(baton_zk_conn **out, baton_zk_session *s, int64_t deadline,
                        baton_error *err) {
  *out = NULL;
  int64_t start = baton__now();
  int64_t limit = start + s->base.cfg->connect_timeout_ns;
  bool caller_deadline = deadline < limit;
  if (caller_deadline) limit = deadline;

  baton_zk_conn *conn = baton__calloc(1, sizeof *conn);
  if (conn == NULL) return baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label);
  conn->s = s;
  conn->refs = 1;
  pthread_mutex_lock(&s->mu);
  conn->gen = ++s->gens;
  pthread_mutex_unlock(&s->mu);

  conn->zh = baton__zk_init(s, on_session, conn);
  if (conn->zh == NULL) {
    int e = errno;
    baton__free(conn);
    if (e == ENOMEM) return baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label);
    if (e == ENOENT)
      return baton__error(err, BATON_ECONNECT, "%s: cannot resolve any host", s->label);
    return baton__error(err, BATON_ECONNECT, "%s: cannot start a ZooKeeper handle: %s",
                        s->label, strerror(e));
  }

  /* Digest credentials travel with every (re)connection; the server
   * answers them after the session is established. */
  baton_zk_reply auth = {.rc = ZOK};
  int rc = 0;
  int state = wait_connected(conn, limit);
  if (state != ZOO_CONNECTED_STATE)
    rc = not_connected(s, state, caller_deadline, baton__now() - start, err);
  if (rc == 0 && s->auth != NULL) {
    baton__zk_add_auth(conn, s->auth, limit, &auth);
    if (auth.rc != ZOK)
      rc = auth.rc == ZAUTHFAILED
               ? baton__error(err, BATON_EAUTH, "%s: digest authentication failed", s->label)
               : baton__zk_error(err, conn, auth.rc, "authenticate", "as digest user");
    baton__zk_reply_free(&auth);
  }
  if (rc != 0) {
    baton__zk_conn_put(conn);
    return rc;
  }
  *out = conn;
  return 0;
}

baton_zk_conn *baton__zk_conn_get(baton_zk_session *s) {
  pthread_mutex_lock(&s->mu);
  baton_zk_conn *conn = s->conn;
  if (conn != NULL) conn->refs++;
  pthread_mutex_unlock(&s->mu);
  return conn;
}

void baton__zk_conn_put(baton_zk_conn *conn) {
  if (conn == NULL) return;
  baton_zk_session *s = conn->s;
  pthread_mutex_lock(&s->mu);
  bool last = --conn->refs == 0;
  pthread_mutex_unlock(&s->mu);
  if (!last) return;
  /* zookeeper_close leaks the C client's own state of every request still
   * in flight (tests/zk/lsan.supp): let them finish first, briefly. */
  int64_t bound = s->base.cfg->op_timeout_ns / 4;
  if (bound > BATON_ZK_DRAIN_MAX_NS) bound = BATON_ZK_DRAIN_MAX_NS;
  baton__zk_calls_drain(conn, baton__now() + bound);
  /* zookeeper_close joins the completion thread, which may be waiting for
   * s->mu: hence no lock here. Once it returns no callback runs, and the
   * requests whose completion never came are settled. */
  zookeeper_close(conn->zh);
  baton__zk_calls_abandon(conn);
  baton__zk_sweep_free_all(conn);
  baton__free(conn);
}
