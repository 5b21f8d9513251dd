/* baton.c — the `baton` command: parses the command line and hands over to
 * the subcommand (run.c, commands.c). */
#include "cli.h"

int main(int argc, char **argv) {
  cli_args args;
  int rc = cli_parse(&args, argc, argv);
  if (rc != CLI_CONTINUE) return rc;
  switch (args.command) {
    case CLI_RUN: return cli_cmd_run(&args);
    case CLI_CAMPAIGN: return cli_cmd_campaign(&args);
    case CLI_LEADER: return cli_cmd_leader(&args);
    case CLI_OBSERVE: return cli_cmd_observe(&args);
  }
  return CLI_EXIT_USAGE;
}
