/* example_election.c — the examples' client and election (example_election.h). */
#include "example_election.h"

#include "example.h"

#include <stdbool.h>

int example_open_election(baton_client **client, baton_election **e, const char *backend,
                          const char *name, const baton_options *o) {
  *client = NULL;
  *e = NULL;
  baton_error err = {0};
  int rc = baton_client_open(client, backend, o, &err);
  if (rc == 0) rc = baton_election_open(e, *client, name, NULL, NULL, &err);
  if (rc == 0) return 0;
  baton_election_close(*e);
  baton_client_close(*client);
  *e = NULL;
  *client = NULL;
  bool input = rc == BATON_EINVAL || rc == BATON_ENOTBUILT;
  return example_fail(input ? EXAMPLE_EXIT_USAGE : EXAMPLE_EXIT_ERROR, NULL, "%s", err.message);
}

int example_start_fenced(fence_addr *store, sigset_t *stop, const char *store_arg,
                         baton_client **client, baton_election **e, const char *backend,
                         const char *name, const baton_options *o) {
  char why[400];
  if (fence_addr_parse(store, store_arg, why, sizeof why) != 0)
    return example_fail(EXAMPLE_EXIT_USAGE, NULL, "--store: %s", why);
  example_block_stop_signals(stop);
  return example_open_election(client, e, backend, name, o);
}
