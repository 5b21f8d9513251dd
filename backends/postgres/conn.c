/* conn.c — libpq connections of the postgres:// backend, every call bounded
 * by a deadline: a non-blocking connect (PQconnectStartParams and
 * PQconnectPoll) and requests sent with PQsendQuery* and read while
 * polling the socket, so that a paused or partitioned server never holds
 * a thread past its deadline. libpq makes its sockets close-on-exec. */
#include "postgres.h"
#include "lazy_pq.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

/* Notices (a WARNING, say) are not for the application's stderr. */
static void no_notice(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

/* The first line of libpq's message, without its "FATAL:  " prefix. */
static void first_line(char *out, size_t size, const char *msg) {
  if (msg == NULL) msg = "";
  if (strncmp(msg, "connection to server at", 23) == 0) {
    const char *colon = strstr(msg, "failed: ");
    if (colon != NULL) msg = colon + 8;
  }
  if (strncmp(msg, "FATAL:  ", 8) == 0) msg += 8;
  if (strncmp(msg, "ERROR:  ", 8) == 0) msg += 8;
  size_t n = strcspn(msg, "\n");
  if (n >= size) n = size - 1;
  memcpy(out, msg, n);
  out[n] = '\0';
}

/* Wait until fd is ready for `events`, `until`, or cancel_fd (< 0: none)
 * is readable. 1 ready, 0 time-out, -2 cancelled. */
static int wait_fd(int fd, short events, int64_t until, int cancel_fd) {
  for (int round = 0; round < 1000; round++) {
    struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = cancel_fd, .events = POLLIN}};
    int n = poll(p, cancel_fd >= 0 ? 2 : 1, baton__ms_until(until));
    if (n > 0 && cancel_fd >= 0 && (p[1].revents & POLLIN)) return -2;
    if (n > 0) return 1;
    if (n == 0 || errno != EINTR) return 0;
  }
  return 0;
}

/* The cancel descriptor a connection's waits watch, or -1. */
static int cancel_of(const baton_pg_conn *k) { return k->watch_cancel ? k->cancel_fd : -1; }

int baton__pg_connect(PGconn **out, const baton_pg_session *s, int64_t deadline, int cancel_fd,
                      baton_error *err) {
  static const char *const none[] = {NULL};
  return baton__pg_connect_with(out, s, none, none, deadline, cancel_fd, err);
}

int baton__pg_connect_with(PGconn **out, const baton_pg_session *s, const char *const *keys,
                           const char *const *values, int64_t deadline, int cancel_fd,
                           baton_error *err) {
  *out = NULL;
  int64_t connect_by = baton__after(s->base.cfg->connect_timeout_ns);
  int64_t until = connect_by < deadline ? connect_by : deadline;
  /* libpq takes the last of a keyword given twice: ours first, so that
   * the URI's own choice wins. */
  size_t extra = 0;
  while (keys[extra] != NULL) extra++;
  const char **k = baton__calloc(extra + s->nkeys + 1, sizeof *k);
  const char **v = baton__calloc(extra + s->nkeys + 1, sizeof *v);
  PGconn *pg = NULL;
  if (k != NULL && v != NULL) {
    for (size_t i = 0; i < extra; i++) k[i] = keys[i], v[i] = values[i];
    for (size_t i = 0; i < s->nkeys; i++) k[extra + i] = s->keys[i], v[extra + i] = s->values[i];
    pg = PQconnectStartParams(k, v, 0);
  }
  baton__free(k);
  baton__free(v);
  if (pg == NULL) return baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label);
  PQsetNoticeProcessor(pg, no_notice, NULL);
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  /* Each round is a step of libpq's state machine or a wait for the
   * socket; the deadline ends them long before the count would. */
  for (int round = 0; PQstatus(pg) != CONNECTION_BAD && round < 10000; round++) {
    if (st == PGRES_POLLING_OK) break;
    if (st == PGRES_POLLING_FAILED) break;
    short ev = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    int ready = wait_fd(PQsocket(pg), ev, until, cancel_fd);
    if (ready == -2) {
      PQfinish(pg);
      return baton__error(err, BATON_ECANCELED, "%s: connect: cancelled", s->label);
    }
    if (ready == 0) {
      PQfinish(pg);
      bool ours = baton__now() >= deadline;
      return baton__error(err, ours ? BATON_ETIMEDOUT : BATON_ECONNECT,
                          "%s: no connection within %s", s->label,
                          ours ? "the deadline" : "the connect timeout");
    }
    st = PQconnectPoll(pg);
  }
  if (st != PGRES_POLLING_OK || PQstatus(pg) != CONNECTION_OK) {
    char msg[200];
    first_line(msg, sizeof msg, PQerrorMessage(pg));
    bool auth = PQconnectionNeedsPassword(pg) || strstr(msg, "authentication failed") != NULL ||
                strstr(msg, "no password supplied") != NULL ||
                (strstr(msg, "role \"") != NULL && strstr(msg, "does not exist") != NULL);
    PQfinish(pg);
    return baton__error(err, auth ? BATON_EAUTH : BATON_ECONNECT, "%s: %s", s->label, msg);
  }
  if (PQsetnonblocking(pg, 1) != 0) {
    PQfinish(pg);
    return baton__error(err, BATON_ECONNECT, "%s: cannot make the connection non-blocking",
                        s->label);
  }
  *out = pg;
  return 0;
}

void baton__pg_drop(baton_pg_conn *k) {
  if (k->pg != NULL) PQfinish(k->pg);
  k->pg = NULL;
  k->busy = false;
}

int baton__pg_bad_reply(const baton_pg_session *s, const char *what, baton_error *err) {
  return baton__error(err, BATON_EPROTO, "%s: %s: a reply of an unexpected shape", s->label, what);
}

/* Read results until libpq has none left (the request is over), by
 * `until`. Keeps the last one, or the first error, in *keep (may be NULL:
 * everything is dropped). 1 done, 0 time-out, -1 broken. */
static int read_results(PGconn *pg, PGresult **keep, int64_t until, int cancel_fd) {
  for (int round = 0; round < 100000; round++) {
    if (PQconsumeInput(pg) == 0) return -1;
    while (!PQisBusy(pg)) {
      PGresult *r = PQgetResult(pg);
      if (r == NULL) return 1;
      ExecStatusType st = PQresultStatus(r);
      if (keep == NULL) {
        PQclear(r);
      } else if (*keep != NULL && PQresultStatus(*keep) == PGRES_FATAL_ERROR) {
        PQclear(r); /* the first error says what went wrong */
      } else {
        if (*keep != NULL) PQclear(*keep);
        *keep = r;
      }
      if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) return -1;
    }
    int ready = wait_fd(PQsocket(pg), POLLIN, until, cancel_fd);
    if (ready <= 0) return ready;
  }
  return 0;
}

/* Send what libpq buffered, by `until`. 1 sent, 0 time-out, -1 broken,
 * -2 cancelled. */
static int flush_all(PGconn *pg, int64_t until, int cancel_fd) {
  for (int round = 0; round < 100000; round++) {
    int f = PQflush(pg);
    if (f == 0) return 1;
    if (f < 0) return -1;
    /* Reading while waiting to write keeps a server that answers early
     * from blocking on us. */
    short ev = POLLOUT | POLLIN;
    int ready = wait_fd(PQsocket(pg), ev, until, cancel_fd);
    if (ready <= 0) return ready;
    if (PQconsumeInput(pg) == 0) return -1;
  }
  return 0;
}

static int server_error(const baton_pg_session *s, const PGresult *r, const char *what,
                        baton_error *err) {
  const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  char msg[200];
  first_line(msg, sizeof msg, PQresultErrorMessage(r));
  int code = BATON_EREFUSED;
  if (state != NULL && (strcmp(state, "42501") == 0 || strncmp(state, "28", 2) == 0))
    code = BATON_EAUTH; /* insufficient privilege, invalid authorization */
  else if (state != NULL && (strcmp(state, "57P01") == 0 || strcmp(state, "57P05") == 0))
    code = BATON_ESESSION; /* the server ended the session: terminated, idle timeout */
  else if (state != NULL && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0))
    code = BATON_ECONNECT; /* connection exception, shutdown, crash */
  return baton__error(err, code, "%s: %s: %s (SQLSTATE %s)", s->label, what, msg,
                      state != NULL ? state : "?");
}

static int exec(baton_pg_conn *k, baton_pg_session *s, const char *sql, bool prepared,
                int nparams, const char *const *params, PGresult **out, int64_t deadline,
                const char *what, bool *broken, baton_error *err) {
  if (out != NULL) *out = NULL;
  *broken = false;
  PGconn *pg = k->pg;
  if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
    *broken = true;
    return baton__error(err, BATON_ECONNECT, "%s: %s: not connected", s->label, what);
  }
  int rc;
  if (k->busy) {
    /* An earlier request timed out or was cancelled, maybe half sent: the
     * server waits for its rest, which goes out first, and its results
     * are read away before this request is sent. */
    rc = flush_all(pg, deadline, cancel_of(k));
    if (rc == 1) rc = read_results(pg, NULL, deadline, cancel_of(k));
    if (rc == -2) return baton__error(err, BATON_ECANCELED, "%s: %s: cancelled", s->label, what);
    if (rc == 0)
      return baton__error(err, BATON_ETIMEDOUT, "%s: %s: an earlier request is not finished (sending or running)",
                          s->label, what);
    if (rc < 0) goto broken_conn;
    k->busy = false;
  }
  __atomic_fetch_add(&s->requests, 1, __ATOMIC_RELAXED);
  int sent = prepared      ? PQsendQueryPrepared(pg, sql, nparams, params, NULL, NULL, 0)
             : nparams > 0 ? PQsendQueryParams(pg, sql, nparams, NULL, params, NULL, NULL, 0)
                           : PQsendQuery(pg, sql);
  if (!sent) goto broken_conn;
  rc = flush_all(pg, deadline, cancel_of(k));
  if (rc == 1) {
    PGresult *r = NULL;
    rc = read_results(pg, &r, deadline, cancel_of(k));
    if (rc == 1) {
      if (r == NULL) return baton__pg_bad_reply(s, what, err);
      ExecStatusType st = PQresultStatus(r);
      if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        if (out != NULL)
          *out = r;
        else
          PQclear(r);
        return 0;
      }
      int code = st == PGRES_FATAL_ERROR ? server_error(s, r, what, err)
                                         : baton__pg_bad_reply(s, what, err);
      PQclear(r);
      if (PQstatus(pg) != CONNECTION_OK) *broken = true;
      return code;
    }
    if (r != NULL) PQclear(r);
  }
  if (rc == -2) {
    k->busy = true; /* its results, if any, are read away by the next request */
    return baton__error(err, BATON_ECANCELED, "%s: %s: cancelled", s->label, what);
  }
  if (rc == 0) {
    k->busy = true;
    return baton__error(err, BATON_ETIMEDOUT, "%s: %s: no reply by the deadline", s->label,
                        what);
  }
broken_conn:;
  char msg[200];
  first_line(msg, sizeof msg, PQerrorMessage(pg));
  *broken = true;
  /* The server may have said why it closed: it ended the session. */
  bool ended = false;
  PGresult *r;
  for (int i = 0; i < 8 && (r = PQgetResult(pg)) != NULL; i++) {
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (state != NULL && (strcmp(state, "57P01") == 0 || strcmp(state, "57P05") == 0))
      ended = true;
    PQclear(r);
  }
  if (strncmp(msg, "terminating connection due to", 29) == 0) ended = true;
  return baton__error(err, ended ? BATON_ESESSION : BATON_ECONNECT,
                      "%s: %s: the connection broke: %s", s->label, what,
                      msg[0] != '\0' ? msg : "closed");
}

int baton__pg_exec(baton_pg_conn *k, baton_pg_session *s, const char *sql, int nparams,
                   const char *const *params, PGresult **out, int64_t deadline, const char *what,
                   bool *broken, baton_error *err) {
  return exec(k, s, sql, false, nparams, params, out, deadline, what, broken, err);
}

int baton__pg_exec_prepared(baton_pg_conn *k, baton_pg_session *s, const char *name, int nparams,
                            const char *const *params, PGresult **out, int64_t deadline,
                            const char *what, bool *broken, baton_error *err) {
  return exec(k, s, name, true, nparams, params, out, deadline, what, broken, err);
}
