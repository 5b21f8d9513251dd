/* baton.c — the `baton` command: keeps its memory from other processes,
 * makes sure descriptors 0-2 are open, parses
 * the command line and hands over to the subcommand (run.c, commands.c,
 * lease.c). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Open /dev/null on each of descriptors 0-2 that is closed. Otherwise the
 * first descriptor baton opens (a signalfd, a backend's socket) would take
 * the number: a diagnostic would be written into the backend's protocol
 * stream, and `baton run` would hand that socket to CMD as its stderr. */
static int open_standard_fds(void) {
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    /* The lower ones are open by now, so open() returns `fd` itself. */
    int got = open("/dev/null", O_RDWR);
    if (got != fd) {
      if (got >= 0) close(got);
      return -1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  /* Not dumpable: /proc/PID/mem, environ and maps of baton, and of the
   * guard of `baton run` (a fork that inherits this), are root's, so that
   * CMD, which runs as the same user, cannot read the credentials in their
   * memory; and no core dump holds them. CMD is dumpable again after its
   * execve. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (open_standard_fds() != 0) return CLI_EXIT_BACKEND; /* nowhere to say why */
  cli_args args;
  int rc = cli_parse(&args, argc, argv);
  if (rc != CLI_CONTINUE) return rc;
  switch (args.command) {
    case CLI_RUN: return cli_cmd_run(&args);
    case CLI_CAMPAIGN: return cli_cmd_campaign(&args);
    case CLI_LEADER: return cli_cmd_leader(&args);
    case CLI_OBSERVE: return cli_cmd_observe(&args);
    case CLI_STATUS: return cli_cmd_status(&args);
    case CLI_LEASE_ACQUIRE:
    case CLI_LEASE_EXTEND:
    case CLI_LEASE_RELEASE: return cli_cmd_lease(&args);
  }
  return CLI_EXIT_USAGE;
}
