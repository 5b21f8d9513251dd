/* sweep.c — background deletion of the nodes a forgotten candidate may
 * have left behind (a create whose reply was lost, then a failed release),
 * so that no zombie contender blocks a name until the session ends. */
#include "zk.h"

#include <string.h>

/* Rounds of list-then-delete before giving up (e.g. an ACL changed). */
#define MAX_ROUNDS 5

struct zk_sweep {
  zk_sweep *next;  /* conn->sweeps */
  bool busy;       /* a list request is in flight */
  int rounds;      /* lists that still found a node */
  char guid[33];   /* the forgotten candidate's guid */
  char parent[];   /* <chroot>/<name> */
};

static void unlink_sweep(zk_conn *conn, zk_sweep *w) {
  for (zk_sweep **p = &conn->sweeps; *p != NULL; p = &(*p)->next)
    if (*p == w) {
      *p = w->next;
      return;
    }
}

static bool start(zk_conn *conn, zk_sweep *w);

/* On the completion thread: delete what carries the guid, then look again
 * (the list queues behind the deletes, so it sees their outcome). */
static void swept(zk_conn *conn, zk_reply *r, void *arg) {
  zk_sweep *w = arg;
  zk_session *s = conn->s;
  bool found = false;
  for (int i = 0; r->rc == ZOK && i < r->nkids; i++) {
    if (!zk_name_has_guid(r->kids[i], w->guid)) continue;
    size_t n = strlen(w->parent) + strlen(r->kids[i]) + 2;
    char *path = baton__calloc(1, n);
    if (path != NULL) {
      memcpy(path, w->parent, strlen(w->parent));
      path[strlen(w->parent)] = '/';
      memcpy(path + strlen(w->parent) + 1, r->kids[i], strlen(r->kids[i]));
      zk_delete_async(conn, path);
    }
    baton__free(path);
    found = true;
  }
  /* A connection problem: the next (re)connection kicks it again. */
  bool retry = r->rc == ZCONNECTIONLOSS || r->rc == ZOPERATIONTIMEOUT || r->rc == ZK_NOMEM;
  pthread_mutex_lock(&s->mu);
  w->busy = false;
  bool again = found && ++w->rounds < MAX_ROUNDS;
  if (!retry && !again) {
    unlink_sweep(conn, w);
    baton__free(w);
    w = NULL;
  } else if (again) {
    w->busy = true;
  }
  pthread_mutex_unlock(&s->mu);
  if (w != NULL && again && !start(conn, w)) {
    pthread_mutex_lock(&s->mu);
    w->busy = false;
    pthread_mutex_unlock(&s->mu);
  }
}

static bool start(zk_conn *conn, zk_sweep *w) {
  return zk_children_then(conn, w->parent, swept, w);
}

void zk_sweep_add(zk_conn *conn, const char *parent, const char *guid) {
  size_t n = strlen(parent) + 1;
  zk_sweep *w = baton__calloc(1, sizeof *w + n);
  if (w == NULL) return; /* the node ends with the session at the latest */
  memcpy(w->parent, parent, n);
  memcpy(w->guid, guid, sizeof w->guid);
  pthread_mutex_lock(&conn->s->mu);
  w->next = conn->sweeps;
  conn->sweeps = w;
  pthread_mutex_unlock(&conn->s->mu);
  zk_sweep_kick(conn);
}

void zk_sweep_kick(zk_conn *conn) {
  zk_session *s = conn->s;
  /* Take one idle sweep at a time: requests are never sent under s->mu. */
  for (int guard = 0; guard < 100000; guard++) {
    pthread_mutex_lock(&s->mu);
    zk_sweep *w = conn->sweeps;
    while (w != NULL && w->busy) w = w->next;
    if (w != NULL) w->busy = true;
    pthread_mutex_unlock(&s->mu);
    if (w == NULL) return;
    if (!start(conn, w)) { /* not sent: leave it to the next connection */
      pthread_mutex_lock(&s->mu);
      w->busy = false;
      pthread_mutex_unlock(&s->mu);
      return;
    }
  }
}

void zk_sweep_free_all(zk_conn *conn) {
  pthread_mutex_lock(&conn->s->mu);
  for (int guard = 0; conn->sweeps != NULL && guard < 1000000; guard++) {
    zk_sweep *w = conn->sweeps;
    conn->sweeps = w->next;
    baton__free(w);
  }
  pthread_mutex_unlock(&conn->s->mu);
}
