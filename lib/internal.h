/* internal.h — what the core's files share: the deadline rule, config
 * resolution, the backend registry and test hooks. Internal. */
#ifndef BATON_INTERNAL_H
#define BATON_INTERNAL_H

#include "backend.h"
#include "uri.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- The deadline rule (deadline.c) -------------------------------------
 * A term ends at t_sent + ttl * (1 - drift) - margin, t_sent being the send
 * time of the last successful renewal. Pure functions of their arguments,
 * so tests inject any clock. */

/* How long a successful renewal keeps a term alive locally: the smaller of
 * the configured and the server's TTL, less drift and margin. */
int64_t baton__lifetime(const baton_config *cfg, int64_t server_ttl_ns);

/* The renew interval to use: the configured one, shortened to a third of
 * the server's TTL when the server granted less than was asked. */
int64_t baton__renew_interval(const baton_config *cfg, int64_t server_ttl_ns);

/* A term's or session's local lease: alive until sent + lifetime. */
typedef struct baton_local_lease {
  int64_t sent;     /* send time of the last successful renewal, or of the
                       acquire or open that started it; INT64_MIN = never */
  int64_t lifetime; /* baton__lifetime() at that time */
} baton_local_lease;

void baton__lease_start(baton_local_lease *l, int64_t sent, int64_t lifetime);
/* Record a successful renewal sent at `sent`; an older one (a late reply
 * to an earlier request) never moves the deadline back. */
void baton__lease_renewed(baton_local_lease *l, int64_t sent);
int64_t baton__lease_deadline(const baton_local_lease *l);
bool baton__lease_live(const baton_local_lease *l, int64_t now);
/* Time left before the deadline; 0 when past. */
int64_t baton__lease_remaining(const baton_local_lease *l, int64_t now);

/* When to renew next: `interval` after the last successful send; after
 * `failures` failed attempts, sooner, with jittered back-off from `now`. */
int64_t baton__next_renew(const baton_config *cfg, int64_t interval,
                          int64_t last_success_sent, unsigned failures,
                          int64_t now);

/* The earliest moment the server's own expiry of a lease renewed by a
 * request sent at `sent` could come: the server counts `server_ttl_ns`
 * (0: the configured TTL) from when it received the request, which is
 * later. Until then a key of a lost term is still ours on the server. */
int64_t baton__server_expiry(const baton_config *cfg, int64_t server_ttl_ns, int64_t sent);

/* A request's deadline: the op timeout from `now`, but never past `limit`
 * (the local deadline of a term the caller must end on time). */
int64_t baton__request_deadline(const baton_config *cfg, int64_t now, int64_t limit);

/* ---- Configuration (config.c) ------------------------------------------ */

/* Apply defaults and check `o` (may be NULL). `identity_buf` holds
 * BATON_IDENTITY_MAX + 1 bytes and receives the identity. */
int baton__config_resolve(baton_config *cfg, char *identity_buf,
                          const baton_options *o, const baton_uri *uri,
                          baton_error *err);

/* An election's configuration: the client's, with the timing `o` asks
 * for (may be NULL: the client's), checked as the client's options are. */
int baton__config_election(baton_config *cfg, const baton_config *client,
                           const baton_election_options *o, baton_error *err);

/* BATON_EINVAL unless `name` is a valid election name. */
int baton__name_check(const char *name, baton_error *err);

/* ---- Registry (registry.c) --------------------------------------------- */

int baton__backend_find(const baton_backend **out, const char *scheme,
                        baton_error *err);

/* ---- Test hooks --------------------------------------------------------- */

/* The allocation and clock hooks are in util.h. */

/* A backend known only to tests (the in-memory one), found by its schemes
 * after the built-in ones; NULL removes it. (registry.c) */
void baton__backend_register_test(const baton_backend *backend);

/* Open a client with no background thread: the caller does its work with
 * baton__client_run(), on the injected clock, so that a schedule of
 * calls replays exactly. (client.c) */
int baton__client_open_manual(baton_client **out, const char *uri, const baton_options *opts,
                              baton_error *err);

/* Do everything a manual client's background thread would do by now:
 * deadlines, renewals, callbacks, deleting lost terms' keys, and with
 * `candidates` one try of candidate mode for each running election.
 * Returns when it would sleep, with the time it would wake at (INT64_MAX:
 * nothing to do). */
int64_t baton__client_run(baton_client *client, bool candidates);

/* The client's backend session (tests: the in-memory backend's hooks). */
baton_session *baton__client_session(baton_client *client);

/* Whether `s` is one of the client's sessions: its own or one opened for
 * an election's TTL (tests: the in-memory backend's hooks). */
bool baton__client_has_session(baton_client *client, const baton_session *s);

/* How many campaigns of the election are under way (tests: a campaign has
 * entered the call before a close races it). (election.c) */
int baton__election_campaigns(baton_election *election);

#endif /* BATON_INTERNAL_H */
