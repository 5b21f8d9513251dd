/* helpers.h — what only the redis backend's tests need: a fresh
 * redis-server per test, sessions on the redis table (tests/kit does the
 * rest), and a raw hiredis connection to look at the server behind the
 * backend's back. */
#ifndef BATON_TEST_REDIS_HELPERS_H
#define BATON_TEST_REDIS_HELPERS_H

#include "session.h"
#include "servers.h"

#include <hiredis/hiredis.h>

/* SERVER_TEST(name) { ... } defines a test whose body gets `c`, its own
 * fresh redis-server, which is stopped however the body returns (REQUIRE
 * included), so no state leaks between tests and no server outlives one. */
#define SERVER_TEST_OPTS(name, opts)                        \
  static void name##_body(test_cluster *c);                 \
  static void name(void) {                                  \
    test_cluster cluster;                                   \
    if (test_redis_start(&cluster, opts) != 0) {            \
      TEST_FAIL_("redis-server did not start");             \
      return;                                               \
    }                                                       \
    name##_body(&cluster);                                  \
    test_cluster_stop(&cluster);                            \
  }                                                         \
  static void name##_body(test_cluster *c)
#define SERVER_TEST(name) SERVER_TEST_OPTS(name, NULL)

/* A session on the redis table within 5 s (o may be NULL). */
int rs_open(kit_session *k, const char *uri, const baton_options *o, baton_error *err);
/* The same with ttl_ms and identity set, on a started cluster's URI. */
int rs_open_as(kit_session *k, const test_cluster *c, const char *identity, uint32_t ttl_ms,
               baton_error *err);

/* A raw connection to 127.0.0.1:port (user and password may be NULL). */
redisContext *raw_open(int port, const char *user, const char *password);
/* A command on it; prints the error and returns NULL on failure. */
redisReply *raw(redisContext *r, const char *fmt, ...);
/* A raw command's string reply copied into buf ("" for nil). */
const char *raw_str(redisContext *r, char *buf, size_t size, const char *fmt, ...);
/* A number in an INFO section: `field` is "name:" (0 when absent). */
long long raw_info(redisContext *r, const char *section, const char *field);
/* `calls` of one command in INFO commandstats (0 when never called). */
long long raw_calls(redisContext *r, const char *command);
/* total_commands_processed in INFO stats. */
long long raw_total(redisContext *r);

#endif
