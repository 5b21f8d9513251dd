/* etcd_kit.h — the kit's part for the etcd tests: etcdctl, the gateway's
 * JSON API spoken directly (behind the backend's back), a session's
 * counters, and the server as the seam suite sees it (kit_seam_etcd). */
#ifndef BATON_TEST_ETCD_KIT_H
#define BATON_TEST_ETCD_KIT_H

#include "seam.h"

#include <stdbool.h>
#include <stdint.h>

extern const kit_seam kit_seam_etcd;

#define KIT_ETCDCTL_MS 10000 /* one etcdctl command */

/* Run `etcdctl --endpoints endpoints ARGS...` (args NULL-terminated) with
 * its output into out: its exit status, or -1. */
int kit_etcd_ctl(const char *endpoints, char *out, size_t size, const char *const args[]);

/* Auth on member 0 of c with the user root, password s3cret (made on the
 * first call): on, or off. 0, or -1. */
#define KIT_ETCD_ROOT "root:s3cret"
int kit_etcd_auth(const test_cluster *c, bool on);

/* Make every token the server issued stale (auth off, then on again), as
 * a restart or the tokens' TTL would: 0, or -1. */
int kit_etcd_drop_tokens(const test_cluster *c);

/* POST body (NULL: a GET) to path on member 0 of c: the HTTP status, with
 * the reply's body in *reply (free() it), or -1. */
long kit_etcd_http(const test_cluster *c, const char *path, const char *body, char **reply);

/* Requests and connections the session has made (its own counters). */
uint64_t kit_etcd_requests(kit_session *k);
uint64_t kit_etcd_connects(kit_session *k);

#endif
