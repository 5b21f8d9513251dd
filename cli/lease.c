/* lease.c — `baton lease acquire|extend|release`: fixed leases (baton.h,
 * "Fixed leases") from the shell. Each is one library call on a client of
 * its own; the lease lives on the server after baton exits (closing a
 * handle is not releasing it), so a script acquires in one command and
 * extends or releases by the printed token in later ones. */
#include "cli.h"

#include <errno.h>
#include <string.h>

/* Print the acquired lease: "token=T", or one JSON object. */
static int print_lease(const cli_args *a, uint64_t token) {
  if (a->json) {
    fputs("{\"name\":", stdout);
    cli_json_string(stdout, a->name);
    printf(",\"token\":%llu,\"ttl_ms\":%lu}\n", (unsigned long long)token,
           (unsigned long)a->ttl_ms);
  } else {
    printf("token=%llu\n", (unsigned long long)token);
  }
  if (fflush(stdout) == 0 && !ferror(stdout)) return CLI_EXIT_OK;
  return cli_fail(CLI_EXIT_BACKEND, a->command_name, "cannot write to stdout: %s",
                  strerror(errno));
}

/* The call the command names, on a client already open. */
static int lease_call(const cli_args *a, baton_client *client, baton_error *err,
                      uint64_t *token) {
  baton_lease *l = NULL;
  int rc;
  if (a->command == CLI_LEASE_ACQUIRE) {
    rc = baton_lease_acquire(&l, client, a->name, a->ttl_ms, a->timeout_ms, token, err);
  } else {
    rc = baton_lease_attach(&l, client, a->name, a->token, err);
    if (rc == 0 && a->command == CLI_LEASE_EXTEND) rc = baton_lease_extend(l, a->ttl_ms, err);
    if (rc == 0 && a->command == CLI_LEASE_RELEASE) rc = baton_lease_release(l, err);
  }
  baton_lease_close(l); /* the lease stays on the server */
  return rc;
}

int cli_cmd_lease(const cli_args *a) {
  baton_options o = {0};
  o.identity = a->identity;
  baton_client *client;
  int code = cli_open_client(a, &o, &client);
  if (code != 0) return code;
  baton_error err = {0};
  uint64_t token = 0;
  int rc = lease_call(a, client, &err, &token);
  if (rc == 0)
    code = a->command == CLI_LEASE_ACQUIRE ? print_lease(a, token) : CLI_EXIT_OK;
  else if (a->command == CLI_LEASE_ACQUIRE && (rc == BATON_EHELD || rc == BATON_ETIMEDOUT))
    code = cli_fail(CLI_EXIT_NO_LEADER, a->command_name, "%s", err.message);
  else
    code = cli_fail(cli_exit_for(rc), a->command_name, "%s", err.message);
  baton_client_close(client);
  return code;
}
