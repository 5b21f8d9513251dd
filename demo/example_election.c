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
