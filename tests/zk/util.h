/* util.h — helpers of the zk:// backend tests: sessions driven through the
 * backend table, a raw ZooKeeper handle to inspect the tree, threads that
 * wait, and line-oriented child processes (kazoo, crashing holders). */
#ifndef BATON_TEST_ZK_UTIL_H
#define BATON_TEST_ZK_UTIL_H

#include "backend.h"
#include "internal.h"
#include "servers.h"

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>
#include <zookeeper.h>

/* A backend session with its URI and config (which it points into). */
typedef struct tz_client {
  baton_uri uri;                         /* parsed URI */
  baton_config cfg;                      /* resolved options */
  char ident[BATON_IDENTITY_MAX + 1];    /* cfg.identity's storage */
  baton_session *s;                      /* the open session, or NULL */
} tz_client;

/* Parse, resolve (o may be NULL) and open within 10 s. */
int tz_open(tz_client *t, const char *uri, const baton_options *o, baton_error *err);
/* Close the session (if open) and free the URI. */
void tz_close(tz_client *t);
/* A candidate on `name` with t's identity. */
baton_candidate tz_cand(const tz_client *t, const char *name);
/* Release (best effort) and forget. */
void tz_drop(tz_client *t, baton_candidate *c);

/* test_zk_start, tried a second time with fresh ports if it fails. */
int tz_start(test_cluster *c, int servers);

/* test_server_pause, returning once the server has really stopped. */
void tz_pause(test_server *s);

/* An absolute deadline `ms` from now. */
int64_t tz_in(int64_t ms);
/* Milliseconds elapsed since `start` (baton__now()). */
double tz_ms_since(int64_t start);

/* "host:port,..." of a zk:// URI (the part the C client takes). */
void tz_hosts(char *out, size_t size, const char *uri);
/* A raw handle (digest auth if `auth`), connected, or NULL. */
zhandle_t *tz_raw(const char *hosts, const char *auth);
/* Children of path: their count (>= 0) or a negative ZooKeeper error;
 * with `names`, the names joined by ',' into it. */
int tz_children(zhandle_t *zh, const char *path, char *names, size_t size);
/* Delete path and everything below it. */
int tz_delete_tree(zhandle_t *zh, const char *path);

/* A wait() on its own thread, cancellable through a pipe. */
typedef struct tz_waiter {
  pthread_t thread;        /* the waiting thread */
  tz_client *t;            /* its session */
  baton_candidate *c;      /* the candidate that waits */
  baton_leader seen;       /* what an observer saw */
  int64_t deadline;        /* wait's deadline */
  int cancel[2];           /* pipe: write to cancel */
  int rc;                  /* wait's result, valid once done */
  int64_t returned_at;     /* baton__now() at return */
  bool done;               /* set under tz_mu */
  baton_error err;         /* wait's error */
} tz_waiter;

extern pthread_mutex_t tz_mu;  /* guards tz_waiter.done */
extern pthread_cond_t tz_cond; /* signalled when a waiter is done */

int tz_waiter_start(tz_waiter *w, tz_client *t, baton_candidate *c, int64_t deadline);
/* Wait until `count` waiters of ws[0..n) are done or `ms` pass; returns
 * how many are done. */
int tz_waiters_done(tz_waiter *ws, int n, int count, int ms);
void tz_waiter_cancel(tz_waiter *w);
void tz_waiter_join(tz_waiter *w);

/* A child process spoken to in lines. */
typedef struct tz_proc {
  pid_t pid;         /* 0 once reaped */
  int in, out;       /* its stdin (we write), its stdout (we read) */
  char buf[4096];    /* unread output */
  size_t len;        /* bytes in buf */
} tz_proc;

int tz_proc_start(tz_proc *p, char *const argv[]);
int tz_proc_send(tz_proc *p, const char *line);
/* Read lines until one starts with `prefix` (copied to line) or `ms`
 * pass: 0 or -1. */
int tz_proc_expect(tz_proc *p, const char *prefix, int ms, char *line, size_t size);
void tz_proc_kill(tz_proc *p);
/* Ask it to quit ("quit"), then kill it after `ms`. */
void tz_proc_stop(tz_proc *p, int ms);

/* A TCP proxy on 127.0.0.1 that can hold traffic back: a network
 * partition that the test switches on and off. */
#define TZ_PROXY_MAX 32
typedef struct tz_proxy {
  int port;                   /* where clients connect */
  int target;                 /* the server's port */
  int listen_fd;              /* accepting socket */
  int ctl[2];                 /* pipe that wakes the proxy's thread */
  pthread_t thread;           /* the forwarding thread */
  pthread_mutex_t mu;         /* guards the two fields below */
  bool hold;                  /* neither accept nor forward anything */
  bool stop;                  /* end the thread */
  int pair[TZ_PROXY_MAX][2];  /* client and server sockets, -1 if free */
} tz_proxy;

int tz_proxy_start(tz_proxy *p, int target_port);
/* Stop forwarding: bytes stay in the kernel's buffers, nothing reaches
 * the server, new connections wait in the backlog. */
void tz_proxy_hold(tz_proxy *p);
/* Drop every connection made before and forward new ones again. */
void tz_proxy_forward(tz_proxy *p);
void tz_proxy_stop(tz_proxy *p);

/* Packets the server received since the last "srst" (from "srvr"). */
long tz_server_received(int port);
/* Requests fn(arg) sends, as the server counts them: the least of three
 * runs, so that a keep-alive ping landing in one run does not count. */
long tz_count_requests(int port, void (*fn)(void *), void *arg);

#endif
