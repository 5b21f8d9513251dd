/* fence.h — the fenced store's address format and its one-line protocol,
 * shared by the server, its client mode, the scheduler example and the
 * fault suite's writer (the library baton_fence).
 *
 * Protocol (text, one line each way):
 *   WRITE <token> <writer> <data>\n  ->  OK <highest>\n | REFUSED <highest>\n
 *   HIGHEST\n                        ->  HIGHEST <highest>\n
 *   STEP <token> <writer> <k> <data>\n  ->  OK <checkpoint> <highest>\n |
 *                                        REFUSED <checkpoint> <highest>\n
 *   CHECKPOINT <token> <writer>\n     ->  CHECKPOINT <checkpoint> <highest>\n
 *   anything else                    ->  ERR <reason>\n
 * <token> is a decimal uint64, <writer> 1..FENCE_WRITER_MAX printable bytes
 * without spaces, <data> printable bytes up to the end of the line. A write
 * is accepted when its token is at least the highest seen so far. A STEP
 * is a workflow's compare-and-set: accepted when, besides, k is the next
 * step after the checkpoint (the last step accepted, 0 at first), which k
 * then becomes. CHECKPOINT reads the checkpoint and raises the highest
 * token to its own (a new term fences the older ones before it resumes);
 * a <highest> above <token> in the reply says that term is already old. */
#ifndef BATON_FENCE_H
#define BATON_FENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define FENCE_LINE_MAX 1024
#define FENCE_WRITER_MAX 128
#define FENCE_EXIT_REFUSED 4 /* `fenced-store write`: the store refused */
#define FENCE_TIMEOUT_MS 2000 /* one request, from connect to reply */

typedef struct fence_addr {
  struct sockaddr_storage sa;
  socklen_t len;
  char text[300]; /* as given, for messages */
  char path[108]; /* AF_UNIX: the socket's path, "" otherwise */
} fence_addr;

/* "unix:/path", a path containing '/', or "host:port" (TCP; port 0 lets
 * the server pick). Returns 0, or -1 with a reason in `why`. */
int fence_addr_parse(fence_addr *out, const char *text, char *why, size_t why_size);

/* Whether `writer` may be sent as one: printable, no spaces, not empty. */
bool fence_writer_ok(const char *writer);

/* Connect, send one request line, read one reply line into `reply`, all
 * within timeout_ms. Returns 0, or -1 with a reason in `why`. */
int fence_request(const fence_addr *a, const char *request, char *reply, size_t reply_size,
                  int timeout_ms, char *why, size_t why_size);

/* WRITE: returns 1 accepted, 0 refused (with *highest set either way), or
 * -1 with a reason in `why`. */
int fence_write(const fence_addr *a, uint64_t token, const char *writer, const char *data,
                uint64_t *highest, char *why, size_t why_size);

/* STEP: returns 1 accepted, 0 refused (with *checkpoint and *highest set
 * either way), or -1 with a reason in `why`. */
int fence_step(const fence_addr *a, uint64_t token, const char *writer, uint64_t step,
               const char *data, uint64_t *checkpoint, uint64_t *highest, char *why,
               size_t why_size);

/* CHECKPOINT: 0 with *checkpoint and *highest set, or -1 with a reason. */
int fence_checkpoint(const fence_addr *a, uint64_t token, const char *writer,
                     uint64_t *checkpoint, uint64_t *highest, char *why, size_t why_size);

#endif /* BATON_FENCE_H */
