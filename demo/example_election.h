/* example_election.h — how the examples that use the library open their
 * client and election, and say why they could not. */
#ifndef BATON_EXAMPLE_ELECTION_H
#define BATON_EXAMPLE_ELECTION_H

#include "baton.h"

/* Open a client on `backend` with `o` and an election on `name`: 0, or
 * the exit code after a one-line diagnostic (2 for bad input: a wrong URI
 * or option, a backend this build left out, as for the baton command; 1
 * for the rest), with nothing left open. */
int example_open_election(baton_client **client, baton_election **e, const char *backend,
                          const char *name, const baton_options *o);

#endif /* BATON_EXAMPLE_ELECTION_H */
