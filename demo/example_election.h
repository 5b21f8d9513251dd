/* example_election.h — how the examples that use the library open their
 * client and election, and say why they could not. */
#ifndef BATON_EXAMPLE_ELECTION_H
#define BATON_EXAMPLE_ELECTION_H

#include "baton.h"
#include "fence.h"

#include <signal.h>

/* Open a client on `backend` with `o` and an election on `name`: 0, or
 * the exit code after a one-line diagnostic (2 for bad input: a wrong URI
 * or option, a backend this build left out, as for the baton command; 1
 * for the rest), with nothing left open. */
int example_open_election(baton_client **client, baton_election **e, const char *backend,
                          const char *name, const baton_options *o);

/* What an example that writes to the fenced store does first: its
 * address from --store (`store_arg`), the stop signals blocked into
 * *stop (for sigwait), then example_open_election. 0, or the exit code
 * after a one-line diagnostic, with nothing left open. */
int example_start_fenced(fence_addr *store, sigset_t *stop, const char *store_arg,
                         baton_client **client, baton_election **e, const char *backend,
                         const char *name, const baton_options *o);

#endif /* BATON_EXAMPLE_ELECTION_H */
