/* util.h — what only the zk:// backend tests need: sessions on the zk
 * table, a raw ZooKeeper handle to inspect the tree behind the backend's
 * back, and the server's request counters. tests/kit does the rest. */
#ifndef BATON_TEST_ZK_UTIL_H
#define BATON_TEST_ZK_UTIL_H

#include "session.h"
#include "servers.h"

#include <zookeeper.h>

/* A session on the zk table within 10 s (o may be NULL). */
int tz_open(kit_session *k, const char *uri, const baton_options *o, baton_error *err);

/* A raw handle to `hosts` ("host:port,..."; digest auth if `auth`),
 * connected, or NULL. */
zhandle_t *tz_raw(const char *hosts, const char *auth);
/* Children of path: their count (>= 0) or a negative ZooKeeper error;
 * with `names`, the names joined by ',' into it. */
int tz_children(zhandle_t *zh, const char *path, char *names, size_t size);
/* Delete path and everything below it. */
int tz_delete_tree(zhandle_t *zh, const char *path);

/* Requests fn(arg) sends, as the server counts them: the least of three
 * runs, so that a keep-alive ping landing in one run does not count. */
long tz_count_requests(int port, void (*fn)(void *), void *arg);

#endif
