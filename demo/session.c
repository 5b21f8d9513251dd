/* session.c — opening the backend for a subcommand: one client and one
 * election, with library errors turned into exit codes and one line. */
#include "cli.h"

int cli_open(const cli_args *a, const baton_options *opts, cli_relay *relay,
             baton_client **client, baton_election **election) {
  baton_error err = {0};
  *client = NULL;
  *election = NULL;
  int rc = baton_client_open(client, a->backend, opts, &err);
  if (rc != 0) return cli_fail(cli_exit_for(rc), a->command_name, "%s", err.message);
  rc = baton_election_open(election, *client, a->name,
                           relay != NULL ? cli_relay_on_event : NULL, relay, &err);
  if (rc != 0) {
    baton_client_close(*client);
    *client = NULL;
    return cli_fail(cli_exit_for(rc), a->command_name, "%s", err.message);
  }
  return 0;
}
