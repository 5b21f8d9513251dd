/* writer.c — `faults-writer ADDR LOG EVERY_MS`: the leader's work in the
 * fault suite. Run by `baton run`, it writes to the fenced store every
 * EVERY_MS with its term's token ($BATON_TOKEN) as writer $BATON_IDENTITY,
 * each write's data unique ("<pid>.<seq>"), and appends what the store
 * answered to LOG, one line per write:
 *   <sent ns> <answered ns> token=<T> data=<pid>.<seq> accepted|refused|error highest=<H>
 * (CLOCK_MONOTONIC). The checker matches these lines with the store's log:
 * a write the writer was told was accepted must be in the store's log.
 * It runs until a signal ends it. */
#include "clock.h" /* the kit's clock, a header: this program links no test library */
#include "fence.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WRITER_MAX_MS (24LL * 3600 * 1000)

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: faults-writer ADDR LOG EVERY_MS\n");
    return 2;
  }
  const char *token_text = getenv("BATON_TOKEN"), *writer = getenv("BATON_IDENTITY");
  char *end;
  long every_ms = strtol(argv[3], &end, 10);
  if (token_text == NULL || writer == NULL || !fence_writer_ok(writer) || *end != '\0' ||
      every_ms < 1 || every_ms > 60000) {
    fprintf(stderr, "faults-writer: needs $BATON_TOKEN, $BATON_IDENTITY and EVERY_MS in 1..60000\n");
    return 2;
  }
  uint64_t token = strtoull(token_text, NULL, 10);
  fence_addr addr;
  char why[400];
  if (fence_addr_parse(&addr, argv[1], why, sizeof why) != 0) {
    fprintf(stderr, "faults-writer: %s\n", why);
    return 2;
  }
  int log = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) {
    fprintf(stderr, "faults-writer: %s: %s\n", argv[2], strerror(errno));
    return 1;
  }
  /* Until a signal ends it; one that was never stopped ends after a day. */
  int64_t give_up = kit_now_ms() + WRITER_MAX_MS;
  for (long seq = 1; kit_ms_left(give_up) > 0; seq++) {
    char data[64], line[256];
    snprintf(data, sizeof data, "%d.%ld", (int)getpid(), seq);
    uint64_t highest = 0;
    int64_t sent = kit_now_ns();
    int rc = fence_write(&addr, token, writer, data, &highest, why, sizeof why);
    int64_t answered = kit_now_ns();
    int n = snprintf(line, sizeof line, "%" PRId64 " %" PRId64 " token=%" PRIu64
                     " data=%s %s highest=%" PRIu64 "\n",
                     sent, answered, token, data,
                     rc == 1 ? "accepted" : rc == 0 ? "refused" : "error", highest);
    /* One write() per line: a SIGKILL never leaves half a line. */
    if (write(log, line, (size_t)n) != n) return 1;
    kit_sleep_ms((int)every_ms); /* its pace */
  }
  return 0;
}
