/* redis.c — starts throwaway redis-servers for tests: one, or N independent
 * masters for redlock://. */
#include "servers.h"

#include <stdio.h>
#include <string.h>

static bool redis_ready(const test_server *s) {
  char reply[256];
  /* NOAUTH also proves the server is up and serving. */
  return test_tcp_ask(s->port, "PING\r\n", 6, reply, sizeof reply, 200) == 0 &&
         (strstr(reply, "PONG") != NULL || strstr(reply, "NOAUTH") != NULL);
}

/* Start one redis-server as c->member[i]. */
static int start_one(test_cluster *c, int i, const test_redis_opts *o) {
  test_server *s = &c->member[i];
  s->kind = "redis";
  s->ready = redis_ready;
  s->port = test_free_port();
  if (s->port < 0 || test_make_dir(s->dir, sizeof s->dir, "redis") != 0) return -1;
  c->n = i + 1;
  char port[16], acl[512];
  snprintf(port, sizeof port, "%d", s->port);
  const char *argv[32] = {"/usr/bin/redis-server", "--port", port, "--bind", "127.0.0.1",
                          "--dir", s->dir, "--save", "", "--daemonize", "no"};
  int n = 11;
  argv[n++] = "--appendonly";
  argv[n++] = o->persistent ? "yes" : "no";
  if (o->persistent) {
    argv[n++] = "--appendfsync";
    argv[n++] = "always";
  }
  if (o->password != NULL && o->acl_user == NULL) {
    argv[n++] = "--requirepass";
    argv[n++] = o->password;
  }
  if (o->password != NULL && o->acl_user != NULL) {
    /* The default user keeps working without a password only if asked. */
    snprintf(acl, sizeof acl, "%s/users.acl", s->dir);
    char text[512];
    snprintf(text, sizeof text, "user default off\nuser %s on >%s ~* &* +@all\n", o->acl_user,
             o->password);
    if (test_write_file(acl, text) != 0) return -1;
    argv[n++] = "--aclfile";
    argv[n++] = acl;
  }
  argv[n] = NULL;
  return test_server_spawn(s, argv, NULL, 0); /* awaited with the others */
}

/* Append one command, argv[0..argc), in RESP to buf (size cap). */
static void resp(char *buf, size_t cap, size_t *len, int argc, const char *const *argv) {
  if (*len >= cap) return;
  *len += (size_t)snprintf(buf + *len, cap - *len, "*%d\r\n", argc);
  for (int i = 0; i < argc && *len < cap; i++)
    *len += (size_t)snprintf(buf + *len, cap - *len, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
}

/* Mark a server that just started empty as fresh: baton:fresh holds its
 * run_id (backends/redis/script.c), so no holder existed in its life and a
 * first term need not wait until its start + TTL. Every test starts fresh
 * servers, and would otherwise pay that wait on each. A restart
 * (test_server_restart) changes the run_id, which voids the mark. */
const char test_redis_mark_fresh_lua[] =
    "return redis.call('SET', KEYS[1], string.match(redis.call('INFO', 'server'), "
    "'run_id:(%x+)'))";

static int mark_fresh(const test_server *s, const test_redis_opts *o) {
  static const char *const eval[] = {"EVAL", test_redis_mark_fresh_lua, "1", "baton:fresh"};
  static const char *const quit[] = {"QUIT"};
  char cmd[1024], reply[256];
  size_t len = 0;
  int oks = 2;
  if (o->password != NULL) {
    const char *auth[] = {"AUTH", o->acl_user != NULL ? o->acl_user : o->password, o->password};
    resp(cmd, sizeof cmd, &len, o->acl_user != NULL ? 3 : 2, auth);
    oks++;
  }
  resp(cmd, sizeof cmd, &len, 4, eval);
  resp(cmd, sizeof cmd, &len, 1, quit); /* the server closes: the answer is whole */
  if (len < sizeof cmd && test_tcp_ask(s->port, cmd, len, reply, sizeof reply, 5000) == 0) {
    int seen = 0;
    for (const char *p = reply; (p = strstr(p, "+OK")) != NULL; p++) seen++;
    if (seen == oks) return 0;
  }
  fprintf(stderr, "servers: redis on port %d: could not set baton:fresh: %.200s\n", s->port,
          len < sizeof cmd ? reply : "command too long");
  return -1;
}

/* Start n servers; the URI is "<scheme>://127.0.0.1:P1[,127.0.0.1:P2...]". */
static int start_n(test_cluster *c, int n, const char *scheme, const test_redis_opts *o) {
  static const test_redis_opts none;
  if (o == NULL) o = &none;
  memset(c, 0, sizeof *c);
  if (n < 1 || n > TEST_MAX_MEMBERS) return -2;
  for (int i = 0; i < n; i++)
    if (start_one(c, i, o) != 0) {
      test_cluster_stop(c);
      return -1;
    }
  if (test_cluster_ready(c, scheme, 10000) != 0) return -1; /* it stopped them */
  for (int i = 0; !o->unmarked && i < n; i++)
    if (mark_fresh(&c->member[i], o) != 0) {
      test_cluster_stop(c);
      return -1;
    }
  return 0;
}

int test_redis_start(test_cluster *c, const test_redis_opts *o) {
  return start_n(c, 1, "redis", o);
}

int test_redlock_start(test_cluster *c, int instances, const test_redis_opts *o) {
  return start_n(c, instances, "redlock", o);
}

const char test_redis_kinds[] = "redis";

int test_redis_start_kind(test_cluster *c, const char *kind) {
  return strcmp(kind, "redis") == 0 ? test_redis_start(c, NULL) : TEST_NOT_MY_KIND;
}
