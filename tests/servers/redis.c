/* redis.c — starts a throwaway redis-server for tests. */
#include "servers.h"

#include <stdio.h>
#include <string.h>

static bool redis_ready(const test_server *s) {
  char reply[256];
  /* NOAUTH also proves the server is up and serving. */
  return test_tcp_ask(s->port, "PING\r\n", 6, reply, sizeof reply, 200) == 0 &&
         (strstr(reply, "PONG") != NULL || strstr(reply, "NOAUTH") != NULL);
}

int test_redis_start(test_cluster *c, const test_redis_opts *o) {
  static const test_redis_opts none;
  if (o == NULL) o = &none;
  memset(c, 0, sizeof *c);
  test_server *s = &c->member[0];
  s->kind = "redis";
  s->ready = redis_ready;
  s->port = test_free_port();
  if (s->port < 0 || test_make_dir(s->dir, sizeof s->dir, "redis") != 0) return -1;
  c->n = 1;
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
  if (test_server_spawn(s, argv, NULL, 10000) != 0) {
    test_cluster_stop(c);
    return -1;
  }
  snprintf(c->uri, sizeof c->uri, "redis://127.0.0.1:%d", s->port);
  return 0;
}

const char test_redis_kinds[] = "redis";

int test_redis_start_kind(test_cluster *c, const char *kind) {
  return strcmp(kind, "redis") == 0 ? test_redis_start(c, NULL) : TEST_NOT_MY_KIND;
}
