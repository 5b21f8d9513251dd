/* postgres.c — starts a throwaway PostgreSQL 15 for tests: initdb in a
 * temporary folder with password (scram) authentication, a server on a free
 * loopback port, and a role and database of its own with a password.
 *
 * PostgreSQL refuses to run as root, and CI runs as root: then both run as
 * the postgres system user. initdb goes through runuser; the server through
 * setpriv, which execs it in place where runuser would stay as its parent,
 * so that the PID started is the postmaster's and stopping by PID works.
 * It needs no client library: readiness is the postmaster's own pid file
 * (as pg_ctl reads it), the set-up SQL goes through psql. */
#include "servers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG_BIN "/usr/lib/postgresql/15/bin"
#define INITDB_TIMEOUT_MS 60000

/* Ready when the postmaster we started says so in its pid file: line 1
 * its PID (a file left by a killed one names another), line 8 its status. */
static bool pg_ready(const test_server *s) {
  char path[300], text[1024];
  snprintf(path, sizeof path, "%s/data/postmaster.pid", s->dir);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return false;
  text[n] = '\0';
  if (atol(text) != (long)s->pid) return false;
  const char *line = text;
  for (int i = 1; i < 8 && line != NULL; i++) {
    line = strchr(line, '\n');
    if (line != NULL) line++;
  }
  return line != NULL && strncmp(line, "ready", 5) == 0;
}

/* Run argv (output to log, `env` a "NAME=value" or NULL added to its
 * environment) and wait for it, bounded. 0 when it exited 0. */
static int run_bounded(const char *const *argv, const char *env, const char *log,
                       int timeout_ms) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (env != NULL) putenv(strdup(env));
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    char *args[32] = {NULL};
    for (int i = 0; i < 31 && argv[i] != NULL; i++) args[i] = strdup(argv[i]);
    execvp(args[0], args);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  int fd = pidfd_open(pid, 0);
  struct pollfd p = {.fd = fd, .events = POLLIN};
  bool exited = fd >= 0 && poll(&p, 1, timeout_ms) == 1;
  if (fd >= 0) close(fd);
  if (!exited) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  return exited && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Statements as the superuser through psql, each on its own (CREATE
 * DATABASE cannot run in a transaction block). */
static int as_superuser(const test_server *s, const char *const *sql) {
  char port[16], log[300];
  snprintf(port, sizeof port, "%d", s->port);
  snprintf(log, sizeof log, "%s/setup.log", s->dir);
  const char *argv[24] = {PG_BIN "/psql", "-X", "-q", "-h", "127.0.0.1", "-p", port,
                          "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"};
  int n = 13;
  for (int i = 0; sql[i] != NULL && n < 22; i++) {
    argv[n++] = "-c";
    argv[n++] = sql[i];
  }
  argv[n] = NULL;
  if (run_bounded(argv, "PGPASSWORD=" TEST_PG_SUPER_PASSWORD, log, 30000) == 0) return 0;
  fprintf(stderr, "servers: postgres: the role and database were not made; see %s\n", log);
  return -1;
}

int test_postgres_start(test_cluster *c) {
  memset(c, 0, sizeof *c);
  test_server *s = &c->member[0];
  s->kind = "postgres";
  s->ready = pg_ready;
  s->tree = true; /* backends are process groups of their own */
  s->port = test_free_port();
  if (s->port < 0 || test_make_dir(s->dir, sizeof s->dir, "postgres") != 0) return -1;
  c->n = 1;
  bool root = geteuid() == 0;
  struct passwd *pw = root ? getpwnam("postgres") : NULL;
  if (root && pw == NULL) {
    fprintf(stderr, "servers: postgres: no 'postgres' user (install the postgresql package)\n");
    test_cluster_stop(c);
    return -1;
  }
  char data[300], pwfile[300], initlog[300], port[16];
  snprintf(data, sizeof data, "%s/data", s->dir);
  snprintf(pwfile, sizeof pwfile, "%s/pwfile", s->dir);
  snprintf(initlog, sizeof initlog, "%s/initdb.log", s->dir);
  snprintf(port, sizeof port, "%d", s->port);
  if (test_write_file(pwfile, TEST_PG_SUPER_PASSWORD "\n") != 0 ||
      (root && (chown(s->dir, pw->pw_uid, pw->pw_gid) != 0 ||
                chown(pwfile, pw->pw_uid, pw->pw_gid) != 0))) {
    fprintf(stderr, "servers: postgres: cannot prepare %s\n", s->dir);
    test_cluster_stop(c);
    return -1;
  }
  if (access(PG_BIN "/initdb", X_OK) != 0) {
    fprintf(stderr, "servers: %s/initdb is missing (install the postgresql package)\n", PG_BIN);
    test_cluster_stop(c);
    return -1;
  }
  char pwopt[320];
  snprintf(pwopt, sizeof pwopt, "--pwfile=%s", pwfile);
  const char *initdb[] = {"runuser", "-u", "postgres", "--", PG_BIN "/initdb", "-D", data,
                          "-U", "postgres", "--auth=scram-sha-256", pwopt, "-E", "UTF8",
                          "--no-sync", NULL};
  if (run_bounded(root ? initdb : initdb + 4, NULL, initlog, INITDB_TIMEOUT_MS) != 0) {
    fprintf(stderr, "servers: postgres: initdb failed; see %s\n", initlog);
    test_cluster_stop(c);
    return -1;
  }
  const char *argv[] = {"/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres",
                        "--init-groups", "--", PG_BIN "/postgres", "-D", data, "-p", port,
                        "-k", s->dir, "-c", "listen_addresses=127.0.0.1",
                        /* Test-only, for speed: a throwaway server that
                         * nothing must survive an OS crash of (a server
                         * restart keeps its data either way). Never in
                         * production. */
                        "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=300",
                        "-c", "shared_buffers=32MB", NULL};
  if (test_server_spawn(s, root ? argv : argv + 5, NULL, 30000) != 0) {
    test_cluster_stop(c);
    return -1;
  }
  static const char *const setup[] = {
      "CREATE ROLE " TEST_PG_USER " LOGIN PASSWORD '" TEST_PG_PASSWORD "'",
      "CREATE DATABASE " TEST_PG_DB " OWNER " TEST_PG_USER,
      /* A role that may connect but not create the token table. */
      "CREATE ROLE " TEST_PG_READER " LOGIN PASSWORD '" TEST_PG_PASSWORD "'",
      NULL};
  if (as_superuser(s, setup) != 0) {
    test_cluster_stop(c);
    return -1;
  }
  /* The role, its password and the database travel in the URI (suites
   * that go through a proxy keep them: kit_uri_at), never in PG*
   * variables, which every later case and child would inherit. */
  snprintf(c->uri, sizeof c->uri, "postgres://%s:%s@127.0.0.1:%d/%s", TEST_PG_USER,
           TEST_PG_PASSWORD, s->port, TEST_PG_DB);
  return 0;
}

const char test_postgres_kinds[] = "postgres";

int test_postgres_start_kind(test_cluster *c, const char *kind) {
  return strcmp(kind, "postgres") == 0 ? test_postgres_start(c) : TEST_NOT_MY_KIND;
}
