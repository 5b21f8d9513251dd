/* servers.h — starts real etcd, ZooKeeper and Redis servers for tests and
 * benchmarks: loopback only, free ports, data in a temporary folder,
 * readiness awaited with a bound, stopped by the PID that was started. */
#ifndef BATON_TEST_SERVERS_H
#define BATON_TEST_SERVERS_H

#include "server_kinds.h"

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#define TEST_MAX_MEMBERS 6 /* a Sentinel deployment: master, 2 replicas, 3 Sentinels */

/* One server process. */
typedef struct test_server {
  const char *kind;    /* "redis", "etcd", "zk" */
  pid_t pid;           /* 0 when not running */
  bool paused;         /* stopped by test_server_pause, not resumed since */
  int port;            /* client port on 127.0.0.1 */
  int peer_port;       /* etcd peer / ZooKeeper quorum port, 0 if none */
  int election_port;   /* ZooKeeper leader-election port, 0 if none */
  char dir[256];       /* its temporary folder (data, logs, config) */
  char log[300];       /* its stdout+stderr, for failures */
  char *argv[48];      /* how it was started, to restart it identically */
  char *env[8];        /* extra environment, NULL-terminated */
  char *arg_storage;   /* owns argv/env strings */
  bool (*ready)(const struct test_server *s); /* readiness probe */
  bool tree;           /* pause, resume and kill reach the server's child
                          processes too (PostgreSQL's backends are process
                          groups of their own) */
} test_server;

/* A deployment: one server or a cluster, and the URI that reaches it. */
typedef struct test_cluster {
  test_server member[TEST_MAX_MEMBERS];
  int n;
  char uri[1024];      /* e.g. "redis://127.0.0.1:6400" */
} test_cluster;

typedef struct test_redis_opts {
  bool persistent;     /* appendonly with fsync always: data survives restart */
  const char *password;/* requirepass, NULL for none */
  const char *acl_user;/* with password: an ACL user that may run everything */
  bool unmarked;       /* not marked fresh (baton:fresh): a first term on each
                          name waits until its start + TTL, as on a server
                          nobody marked */
} test_redis_opts;

/* The script (EVAL it with 1 key, baton:fresh) that marks a server's
 * database fresh: the marker takes the server's run_id. */
extern const char test_redis_mark_fresh_lua[];

/* Start servers. Each returns 0, or -1 after printing why to stderr (a
 * missing server binary is a failure, never a skip). */
int test_redis_start(test_cluster *c, const test_redis_opts *o);
/* `instances` independent redis-servers (no replication between them), the
 * URI redlock://127.0.0.1:P1,127.0.0.1:P2,... */
int test_redlock_start(test_cluster *c, int instances, const test_redis_opts *o);
int test_etcd_start(test_cluster *c, int members);
int test_zk_start(test_cluster *c, int servers);
/* PostgreSQL 15 with password authentication: the URI names role
 * TEST_PG_USER (owner of database TEST_PG_DB); role TEST_PG_READER has the
 * same password and no CREATE right there. */
#define TEST_PG_USER "baton"
#define TEST_PG_READER "reader"
#define TEST_PG_DB "baton"
#define TEST_PG_PASSWORD "baton-pw"
#define TEST_PG_SUPER_PASSWORD "baton-super"
int test_postgres_start(test_cluster *c);
/* Redis Sentinel: member 0 the master, 1-2 its replicas, 3-5 Sentinels
 * (down-after-milliseconds 1000) that know each other and both replicas;
 * the URI redis-sentinel://S1,S2,S3/TEST_SENTINEL_MASTER. */
#define TEST_SENTINEL_MASTER "baton"
int test_sentinel_start(test_cluster *c);
/* Which member (0-2) the Sentinels name as the master now, or -1. */
int test_sentinel_master(const test_cluster *c);
/* Wait (up to ms) until every running Sentinel knows the other two and
 * both replicas: 0, or -1 (reported). */
int test_sentinel_agreed(const test_cluster *c, int ms);
/* Whether the master the Sentinels name has both replicas connected (a
 * failed master, restarted, is a replica again). Asks once, bounded. */
bool test_sentinel_healthy(const test_cluster *c);

/* Start a deployment by its kind's name: "redis", "etcd", "etcd3" (3
 * members), "zk", "zk3", ... Each servers/<backend>.c of a backend in the
 * list (server_kinds.h, generated) defines test_<backend>_start_kind(),
 * which starts the kinds it knows and answers TEST_NOT_MY_KIND to the
 * rest, and test_<backend>_kinds[], their names for a usage text. */
#define TEST_NOT_MY_KIND (-2)
int test_cluster_start(test_cluster *c, const char *kind);
/* Print every kind's name, comma-separated, to f. */
void test_print_kinds(FILE *f);
#define TEST_DECLARE_KIND(b)                                    \
  int test_##b##_start_kind(test_cluster *c, const char *kind); \
  extern const char test_##b##_kinds[];
TEST_SERVER_KINDS(TEST_DECLARE_KIND)
#undef TEST_DECLARE_KIND

/* Wait (each up to ms) for every member c->n launched (test_server_spawn
 * with no wait: a cluster serves only once a quorum is up), then set
 * c->uri to "scheme://127.0.0.1:P1,127.0.0.1:P2,...". 0, or -1 with the
 * cluster stopped. */
int test_cluster_ready(test_cluster *c, const char *scheme, int ms);

/* Kill every member (SIGKILL: nothing of a throwaway server needs a
 * graceful stop), remove folders. */
void test_cluster_stop(test_cluster *c);

/* Single-server controls, all by PID. */
void test_server_kill(test_server *s);    /* SIGKILL and reap */
void test_server_pause(test_server *s);   /* SIGSTOP */
void test_server_resume(test_server *s);  /* SIGCONT */
int test_server_restart(test_server *s);  /* kill if running, start again on
                                             the same port and folder */
void test_server_stop(test_server *s);    /* SIGTERM, SIGKILL after 5 s */

/* ---- for the server starters ------------------------------------------- */

/* A free TCP port on 127.0.0.1 (bound once and released), none of the
 * last 64 this process was given. */
int test_free_port(void);
/* A new folder under $TMPDIR (or /tmp) named baton-<tag>-XXXXXX. */
int test_make_dir(char *out, size_t size, const char *tag);
/* rm -rf of a folder test_make_dir made (refused for any other name). */
void test_remove_dir(const char *dir);
/* Record argv/env in s (copied), start it with output to s->log, and wait
 * until s->ready answers (bounded by timeout_ms; 0 = do not wait). */
int test_server_spawn(test_server *s, const char *const *argv,
                      const char *const *env, int timeout_ms);
/* Wait until s->ready answers; kills the server on time-out. */
int test_server_wait_ready(test_server *s, int timeout_ms);
/* Send `cmd` to 127.0.0.1:port and read the reply into buf (bounded). */
int test_tcp_ask(int port, const char *cmd, size_t cmd_len, char *buf,
                 size_t size, int timeout_ms);
/* Write a file with the given text. */
int test_write_file(const char *path, const char *text);

#endif
