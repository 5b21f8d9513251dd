/* redis_kit.h — the kit's part for the redis:// tests: a raw hiredis
 * connection to look at the server behind the backend's back, and the
 * server as the seam suite sees it (kit_seam_redis). */
#ifndef BATON_TEST_REDIS_KIT_H
#define BATON_TEST_REDIS_KIT_H

#include "seam.h"
#include "wakes.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdbool.h>

extern const kit_seam kit_seam_redis;

/* A Redis of the case's own (kit_fresh_redis) and a session on it as
 * `identity`: the server, or NULL (reported) with nothing left open. */
test_cluster *kit_redis_session(kit_session *k, const char *identity);

/* A raw connection to 127.0.0.1:port (user and password may be NULL), or
 * NULL (reported). */
redisContext *kit_redis_raw(int port, const char *user, const char *password);
/* A command on it; prints the error and returns NULL on failure. */
redisReply *kit_redis_cmd(redisContext *r, const char *fmt, ...);
/* A command's string (or integer) reply copied into buf ("" for nil). */
const char *kit_redis_str(redisContext *r, char *buf, size_t size, const char *fmt, ...);
/* A number in an INFO section: `field` is "name:" (0 when absent). */
long long kit_redis_info(redisContext *r, const char *section, const char *field);
/* `calls` of one command in INFO commandstats (0 when never called). */
long long kit_redis_calls(redisContext *r, const char *command);
/* fmt (one %s: name) on every running member: 0 when it failed on none. */
int kit_redis_command_all(const test_cluster *c, const char *fmt, const char *name);
/* The scripts (EVALSHA and EVAL) member 0 ran while fn(arg) ran, or -1. */
long kit_redis_scripts(const test_cluster *c, void (*fn)(void *), void *arg);
/* The seam suite's steal, remove and requests on Redis servers, shared by
 * the redis:// and redlock:// kits (on every running member; requests
 * count member 0's scripts). */
int kit_redis_seam_steal(const test_cluster *c, const char *name);
int kit_redis_seam_remove(const test_cluster *c, const char *name);
long kit_redis_seam_requests(const test_cluster *c, kit_session *k, void (*fn)(void *),
                             void *arg);
/* total_commands_processed in INFO stats. */
long long kit_redis_total(redisContext *r);

/* Acquire c as the core's campaign does: after BATON_EHELD, wait (the
 * backend's re-check time, or a message) and look again, for up to ms.
 * Returns the last acquire's result; *waited counts its EHELD answers
 * that named a restart-safe wait (may be NULL). */
int kit_redis_campaign(kit_session *k, baton_candidate *c, int ms, int *waited, baton_error *err);
/* The restart-safe case both backends run. A (session a) holds `name`
 * and renews it; then lose(arg) makes servers forget what A's term needs
 * (0, or -1 to give up); then B (session b, the same TTL ttl_ms)
 * campaigns for `name`. B must not be elected before A's local deadline
 * can have passed (A's last renewal was sent before the loss, so the
 * deadline is before that + TTL), must be within TTL + 1 s of the loss,
 * must have been told to wait, and its token must be greater; A then
 * hears that its term is gone. */
void kit_redis_restart_case(kit_session *a, kit_session *b, const char *name, int ttl_ms,
                            int (*lose)(void *), void *arg);
/* Set the fresh-server marker (baton:fresh, backends/redis/script.c) in
 * r's database to `run_id`, or to the server's own when NULL: 0 or -1. */
int kit_redis_mark_fresh(redisContext *r, const char *run_id);

/* The herd (issue 16), both backends: n elections of one client wait, in
 * campaigns blocked on threads, behind another client's holders on
 * distinct names. They use one subscriber connection per server (the
 * client's sockets grow by at most 2 per server; CLIENT LIST shows one
 * pub/sub connection); a release wakes its own name's waiter promptly and
 * no other; subscribers killed on the server (CLIENT KILL TYPE pubsub) are
 * reopened with every channel, and a later release still wakes; a cancel
 * ends a blocked campaign at once. Prints the figures. */
void kit_redis_herd_case(const test_cluster *c, int n);

/* ---- watch (issue 16): the table's one-shot subscriptions -------------- */

/* Bring c to an armed watch as the core does: look (a candidate's
 * acquire, which must say BATON_EHELD; an observer's leader, into *seen),
 * watch, and again while the watch woke at once (a first watch
 * subscribes, and wakes so that the caller looks again), a few times at
 * most. 0 once a watch returned without waking, with *recheck_at; the
 * error; or -1 (reported) when it never armed or acquire won. */
int kit_watch_arm(kit_session *k, baton_candidate *c, bool observer, baton_leader *seen,
                  kit_wakes *w, int64_t *recheck_at, baton_error *err);

/* The watch cases every Redis-based backend runs (b on uri; `servers`
 * the servers to steal keys on and kill subscribers on: every instance,
 * or the master). */
/* An armed candidate is not woken for 200 ms while the name stays held,
 * and is woken within 2 s of the release, on another thread; its look
 * again is the holder's expiry for a baton holder, and no later than a
 * foreign holder's (a plain SET PX 800) expiry. */
void kit_redis_watch_release_case(const baton_backend *b, const char *uri,
                                  const test_cluster *servers);
/* An observer's watch wakes on an election, a proclaim and a release. */
void kit_redis_watch_observer_case(const baton_backend *b, const char *uri);
/* After unwatch a release calls no wake (an observer armed beside it, on
 * the same session, is woken by it first: the control). */
void kit_redis_watch_unwatch_case(const baton_backend *b, const char *uri);
/* Subscribers killed on the server (CLIENT KILL TYPE pubsub) wake every
 * armed watch, candidates and observers. */
void kit_redis_watch_kill_case(const baton_backend *b, const char *uri,
                               const test_cluster *servers);
/* n candidates of one session armed on one name another session holds
 * (one subscriber connection: PUBSUB NUMSUB says 1): its release wakes
 * exactly one, the first armed, and no other for 300 ms. That one looks
 * as the core does (unwatch, then acquire, which wins): no wake passes
 * on. Its release wakes the second, which is unwatched without looking:
 * the wake passes on to the third, and to no other. Prints the figures.
 * Returns the scripts member 0 ran from the first release to the first
 * new term, or -1. */
long kit_redis_watch_herd_case(const baton_backend *b, const test_cluster *c, int n);

#endif
