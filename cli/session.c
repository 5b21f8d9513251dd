/* session.c — opening the backend for a subcommand: one client (and one
 * election), with library errors turned into exit codes and one line; for
 * the long-running subcommands also the signal fd and the relay. */
#include "cli.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int cli_open_client(const cli_args *a, const baton_options *opts, baton_client **client) {
  baton_error err = {0};
  *client = NULL;
  /* The credentials go in here, not in the URI (see secret.c). */
  baton_options o = *opts;
  o.username = a->username;
  o.password = a->password;
  int rc = baton_client_open(client, a->backend, &o, &err);
  if (rc != 0) return cli_fail(cli_exit_for(rc), a->command_name, "%s", err.message);
  return 0;
}

int cli_open(const cli_args *a, const baton_options *opts, cli_relay *relay,
             baton_client **client, baton_election **election) {
  baton_error err = {0};
  *election = NULL;
  int rc = cli_open_client(a, opts, client);
  if (rc != 0) return rc;
  rc = baton_election_open(election, *client, a->name,
                           relay != NULL ? cli_relay_on_event : NULL, relay, &err);
  if (rc != 0) {
    baton_client_close(*client);
    *client = NULL;
    return cli_fail(cli_exit_for(rc), a->command_name, "%s", err.message);
  }
  return 0;
}

int cli_session_open(cli_session *s, const cli_args *a, const baton_options *opts) {
  memset(s, 0, sizeof *s);
  /* Signals first: the library's threads, started by the client, inherit
   * the blocked mask. */
  s->sig_fd = cli_signals_open(&s->child_mask, &s->child_pipe);
  if (s->sig_fd < 0)
    return cli_fail(CLI_EXIT_BACKEND, a->command_name, "signals: %s", strerror(errno));
  if (cli_relay_init(&s->relay) != 0) {
    close(s->sig_fd);
    return cli_fail(CLI_EXIT_BACKEND, a->command_name, "eventfd: %s", strerror(errno));
  }
  int code = cli_open(a, opts, &s->relay, &s->client, &s->election);
  if (code != 0) {
    cli_relay_destroy(&s->relay);
    close(s->sig_fd);
  }
  return code;
}

void cli_session_close(cli_session *s) {
  /* The campaign and proclaim threads use the election: they end first.
   * Closing then resigns a term still held. */
  cli_campaign_stop(&s->relay, s->election);
  cli_proclaim_stop(&s->relay);
  baton_election_close(s->election);
  baton_client_close(s->client);
  cli_relay_destroy(&s->relay);
  close(s->sig_fd);
}
