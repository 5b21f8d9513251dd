/* zk_kit.h — the kit's part for the zk:// tests: a raw ZooKeeper handle
 * to inspect the tree behind the backend's back, the server's request
 * counters, and the server as the seam suite sees it (kit_seam_zk). */
#ifndef BATON_TEST_ZK_KIT_H
#define BATON_TEST_ZK_KIT_H

#include "seam.h"

#include <zookeeper.h>

extern const kit_seam kit_seam_zk;

/* A raw handle to `hosts` ("host:port,..."; digest auth if `auth`),
 * connected, or NULL. */
zhandle_t *kit_zk_raw(const char *hosts, const char *auth);
/* End the session `id` on the server (another handle joins it and closes
 * it), as an expiry would: 0, or -1 when that handle did not connect. */
int kit_zk_expire(const char *hosts, const clientid_t *id);
/* Children of path: their count (>= 0) or a negative ZooKeeper error;
 * with `names`, the names joined by ',' into it. */
int kit_zk_children(zhandle_t *zh, const char *path, char *names, size_t size);
/* How many names below `root` (a chroot) still have children, with
 * "path: children" of each into report (cut to fit). */
int kit_zk_leftovers(zhandle_t *zh, const char *root, char *report, size_t size);
/* Delete path and everything below it. */
int kit_zk_delete_tree(zhandle_t *zh, const char *path);

/* Requests fn(arg) sends, as the server counts them: the least of three
 * runs, so that a keep-alive ping landing in one run does not count. */
long kit_zk_count_requests(int port, void (*fn)(void *), void *arg);

#endif
