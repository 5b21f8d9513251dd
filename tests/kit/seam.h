/* seam.h — what the seam suite (tests/seam) needs of a backend beyond its
 * table: the server's own view of a name, and changes made behind the
 * backend's back. Each backend's kit (tests/<name>/<name>_kit.c) fills in
 * one, kit_seam_<name>; they all answer the same questions, so that the
 * seam suite asks them once for every backend. */
#ifndef BATON_TEST_KIT_SEAM_H
#define BATON_TEST_KIT_SEAM_H

#include "session.h"

/* A name as the server has it. */
typedef struct kit_peek {
  int keys;        /* keys or nodes the name has: the leader's and the queued */
  uint64_t token;  /* the leader's fencing token as the server says it (0: a
                      foreign key with none) */
  char identity[BATON_IDENTITY_MAX + 1]; /* the leader's */
  int64_t ttl_ms;  /* what is left of the leader key's own TTL; -1: it has
                      none (it lives as long as its session) */
} kit_peek;

typedef struct kit_seam {
  const char *kind;           /* the backend's name and test_cluster_start's kind */
  const baton_backend *table; /* the table under test */
  /* The server's view of name: 0, or -1 (reported) when it cannot say. */
  int (*peek)(const test_cluster *c, const char *name, kit_peek *out);
  /* The leader's key of name changes hands: it is now another owner's,
   * identity "thief" (the leader's key deleted and the thief's made, which
   * leads when no one else queued): 0 or -1. */
  int (*steal)(const test_cluster *c, const char *name);
  /* Delete every key of name, as someone else (or an expiry) would: 0 or -1. */
  int (*remove)(const test_cluster *c, const char *name);
  /* The requests fn(arg) costs, as the backend's kit counts them (the
   * server's count, or the session's): >= 0, or -1. fn may run more than
   * once (the least count is taken where the server counts pings too). */
  long (*requests)(const test_cluster *c, kit_session *k, void (*fn)(void *), void *arg);
  int acquire_release_requests; /* an uncontended acquire + release */
  /* renew reads every held key and reports the gone ones; false: it only
   * keeps the session alive (a key deleted by hand goes unnoticed until
   * the next acquire). */
  bool renew_sees_keys;
  const char *wait_deadline_says; /* in the message of a wait that reached
                                     its deadline */
  bool keys_end_with_the_session; /* a key cannot be taken from a live
                                     session (PostgreSQL's advisory locks):
                                     steal and remove of a held key end the
                                     holder's session */
} kit_seam;

/* The kit_seam_<name> of a backend's kit, made of its seam_peek,
 * seam_steal, seam_remove and seam_requests, and what it declares. */
#define KIT_SEAM(name, acquire_release, sees_keys, deadline_says)                              \
  const kit_seam kit_seam_##name = {#name,       &baton_backend_##name, seam_peek, seam_steal, \
                                    seam_remove, seam_requests,        acquire_release,       \
                                    sees_keys,   deadline_says,         false}

#endif
