/* mem.h — an in-memory backend, for the model test of the core only (no
 * backend test uses it): one server in this process holding keys, TTLs,
 * tokens and sessions on the injected clock, in two flavours:
 *   memttl://  every key has its own TTL, as on Redis (BATON_CAP_TERM_TTL);
 *              a candidate's new term replaces its own previous key
 *   memq://    keys live on a session with one TTL and queue in creation
 *              order, as on etcd and ZooKeeper
 * Both have fixed leases: keys of their own TTL that nobody renews (a
 * memq lease lives on no session), known by their token.
 * Every call asks the test what happens to it (mem_fault): it can fail,
 * lose its reply, stall to its deadline, answer late, or (memq acquire) see
 * its session replaced while it is in flight. Time passes only through
 * the test's hooks, so a schedule replays exactly. */
#ifndef BATON_TEST_MEM_H
#define BATON_TEST_MEM_H

#include "backend.h"

#include <stdbool.h>
#include <stdint.h>

/* A fixed lease's acquire asks as MEM_ACQUIRE, its extend as MEM_RENEW,
 * its release as MEM_RELEASE. */
typedef enum mem_op { MEM_ACQUIRE, MEM_WAIT, MEM_RELEASE, MEM_RENEW, MEM_LEADER, MEM_PROCLAIM } mem_op;

typedef enum mem_fault {
  MEM_OK,         /* answered at once */
  MEM_FAIL,       /* not sent: BATON_ECONNECT, nothing happened */
  MEM_LOST_REPLY, /* done on the server, reply lost: BATON_ETIMEDOUT */
  MEM_STALL,      /* no answer until the deadline: BATON_ETIMEDOUT; done
                     on the server or not, by a coin */
  MEM_LATE,       /* done, answered at a random time up to just past the
                     deadline */
  MEM_SWAP,       /* memq acquire: done, then the session expires (its
                     renewals cut off) and the client replaces it before
                     the reply arrives */
} mem_fault;

/* What the backend asks of the test. */
typedef struct mem_hooks {
  mem_fault (*fault)(void *ctx, mem_op op);
  /* Let time pass until `until`, running the clients' background work
   * (of each client not already running it) as it comes due. */
  void (*idle)(void *ctx, int64_t until);
  /* Run the background work of the client of `s` now. */
  void (*run)(void *ctx, const baton_session *s);
  /* A random number (the test's seeded generator). */
  uint64_t (*random)(void *ctx);
  void *ctx;
} mem_hooks;

extern const baton_backend mem_backend_ttl;
extern const baton_backend mem_backend_queue;

/* Empty the server and use `hooks` from now on. `lifetime` is the local
 * lifetime of a renewal in the owners' options (baton_options_lifetime),
 * for the removal rule's oracle. */
void mem_reset(const mem_hooks *hooks, int64_t lifetime);

/* Who the server says leads `name` now (after dropping what expired; keys
 * live `ttl`): true with its token, false when nobody does. */
bool mem_holder(const char *name, int64_t ttl, uint64_t *token);

/* A key that went away: deleted or replaced by its owner, expired, or
 * ended with its session. */
typedef struct mem_removal {
  char name[BATON_NAME_MAX + 1];
  uint64_t token;
  int64_t at;        /* when */
  int64_t safe_from; /* for a key a term stood on: the send time of the
                        last renewal whose success its owner heard of
                        before that term's local deadline, plus the TTL
                        (the owner's rule for when the server's expiry
                        could come), worked out here independently;
                        INT64_MIN for a key no term stood on */
  bool by_owner;     /* deleted or replaced by its owner, or its owner's
                        session ended by a close */
} mem_removal;

/* The removals so far, oldest first. */
const mem_removal *mem_removals(size_t *n);

#endif
