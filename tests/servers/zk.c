/* zk.c — starts a throwaway ZooKeeper server or 3-server ensemble.
 *
 * TTL nodes (baton's fixed leases) exist only on a server started with
 * -Dzookeeper.extendedTypesEnabled=true; every kind here has it but
 * "zk-plain", a single server as Debian ships it, for the refusal. The
 * server deletes an expired TTL node only when its container reaper
 * passes (znode.container.checkIntervalMs, 60 s by default): here every
 * 500 ms, so that a test sees an expired lease go in well under a second;
 * "zk-noreap" has a reaper that never comes in a test's time, to show
 * what baton does without it (backends/zk/lease.c reads the server's
 * clock instead). */
#include "servers.h"

#include <stdio.h>
#include <string.h>

static bool zk_ready(const test_server *s) {
  char reply[1024];
  return test_tcp_ask(s->port, "srvr", 4, reply, sizeof reply, 300) == 0 &&
         strstr(reply, "Mode:") != NULL;
}

#define ZK_JVMFLAGS "SERVER_JVMFLAGS=-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"
#define ZK_TTL " -Dzookeeper.extendedTypesEnabled=true -Dznode.container.checkIntervalMs="

/* `jvmflags`: SERVER_JVMFLAGS=... for every server. */
static int zk_start(test_cluster *c, int servers, const char *jvmflags) {
  memset(c, 0, sizeof *c);
  if (servers < 1 || servers > TEST_MAX_MEMBERS) return -1;
  char quorum[1024] = "";
  for (int i = 0; i < servers; i++) {
    test_server *s = &c->member[i];
    s->kind = "zk";
    s->ready = zk_ready;
    s->port = test_free_port();
    if (servers > 1) {
      s->peer_port = test_free_port();
      s->election_port = test_free_port();
    }
    if (s->port < 0 || s->peer_port < 0 || s->election_port < 0 ||
        test_make_dir(s->dir, sizeof s->dir, "zk") != 0)
      return -1;
    c->n = i + 1;
    if (servers > 1) {
      size_t len = strlen(quorum);
      snprintf(quorum + len, sizeof quorum - len, "server.%d=127.0.0.1:%d:%d\n", i + 1,
               s->peer_port, s->election_port);
    }
  }
  for (int i = 0; i < servers; i++) {
    test_server *s = &c->member[i];
    char cfg[300], text[2048], path[300], myid[16], logdir[320];
    snprintf(cfg, sizeof cfg, "%s/zoo.cfg", s->dir);
    snprintf(text, sizeof text,
             "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=%d\n"
             "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
             "4lw.commands.whitelist=*\nminSessionTimeout=1000\nmaxSessionTimeout=60000\n"
             "%s",
             s->dir, s->port, quorum);
    snprintf(path, sizeof path, "%s/myid", s->dir);
    snprintf(myid, sizeof myid, "%d\n", i + 1);
    snprintf(logdir, sizeof logdir, "ZOO_LOG_DIR=%s", s->dir);
    if (test_write_file(cfg, text) != 0 || test_write_file(path, myid) != 0) {
      test_cluster_stop(c);
      return -1;
    }
    const char *argv[] = {"/usr/share/zookeeper/bin/zkServer.sh", "start-foreground", cfg, NULL};
    const char *env[] = {"JMXDISABLE=true", logdir, jvmflags, NULL};
    /* An ensemble serves only once a quorum is up: launch all, then wait. */
    if (test_server_spawn(s, argv, env, 0) != 0) {
      test_cluster_stop(c);
      return -1;
    }
  }
  return test_cluster_ready(c, "zk", 30000);
}

int test_zk_start(test_cluster *c, int servers) {
  return zk_start(c, servers, ZK_JVMFLAGS ZK_TTL "500");
}

const char test_zk_kinds[] = "zk, zk3, zk-plain, zk-noreap";

int test_zk_start_kind(test_cluster *c, const char *kind) {
  if (strcmp(kind, "zk") == 0) return test_zk_start(c, 1);
  if (strcmp(kind, "zk3") == 0) return test_zk_start(c, 3);
  if (strcmp(kind, "zk-plain") == 0) return zk_start(c, 1, ZK_JVMFLAGS);
  if (strcmp(kind, "zk-noreap") == 0) return zk_start(c, 1, ZK_JVMFLAGS ZK_TTL "3600000");
  return TEST_NOT_MY_KIND;
}
