/* log.c — where the ZooKeeper C client's log goes: nowhere by default, to
 * stderr when BATON_ZK_LOG asks, and its latest errors into a small ring so
 * that a failed connect can say why (e.g. "Connection refused"). */
#include "zk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BATON_ZK_LOG_RING 16
#define BATON_ZK_LOG_LINE 200

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int print_level; /* 0 none, 1 error, 2 warn, 3 info, 4 debug */
static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static char ring[BATON_ZK_LOG_RING][BATON_ZK_LOG_LINE];
static unsigned ring_next;

/* The C client's default level is INFO, process-wide; we only raise it
 * when debugging was asked for, since it is shared with any other user of
 * the library in the process. */
static void init(void) {
  static const char *const names[] = {"none", "error", "warn", "info", "debug"};
  const char *v = getenv("BATON_ZK_LOG");
  if (v == NULL) return;
  for (int i = 0; i < 5; i++)
    if (strcasecmp(v, names[i]) == 0) print_level = i;
  if (print_level == 4) zoo_set_debug_level(ZOO_LOG_LEVEL_DEBUG);
}

static int level_of(const char *m) {
  if (strstr(m, ":ZOO_ERROR@") != NULL) return 1;
  if (strstr(m, ":ZOO_WARN@") != NULL) return 2;
  if (strstr(m, ":ZOO_INFO@") != NULL) return 3;
  return 4;
}

void baton__zk_log(const char *message) {
  pthread_once(&once, init);
  int level = level_of(message);
  if (level <= print_level) fprintf(stderr, "zookeeper: %s\n", message);
  if (level != 1) return;
  /* Keep the text after "...:ZOO_ERROR@func@line: ". */
  const char *text = strstr(message, ":ZOO_ERROR@");
  const char *colon = text != NULL ? strstr(text + 1, ": ") : NULL;
  text = colon != NULL ? colon + 2 : message;
  pthread_mutex_lock(&ring_mu);
  snprintf(ring[ring_next++ % BATON_ZK_LOG_RING], BATON_ZK_LOG_LINE, "%s", text);
  pthread_mutex_unlock(&ring_mu);
}

/* Whether line names one of the ports in hosts ("h:p,h:p"), as the C
 * client prints endpoints: "127.0.0.1:2181]" or "127.0.0.1:2181 ". */
static bool mentions(const char *line, const char *hosts) {
  for (const char *h = hosts; h != NULL && *h != '\0';) {
    const char *end = strchr(h, ',');
    size_t len = end != NULL ? (size_t)(end - h) : strlen(h);
    const char *colon = NULL;
    for (const char *p = h; p < h + len; p++)
      if (*p == ':') colon = p;
    if (colon != NULL) {
      char port[16];
      snprintf(port, sizeof port, "%.*s", (int)(h + len - colon), colon);
      for (const char *at = strstr(line, port); at != NULL; at = strstr(at + 1, port)) {
        char next = at[strlen(port)];
        if (next < '0' || next > '9') return true;
      }
    }
    h = end != NULL ? end + 1 : NULL;
  }
  return false;
}

void baton__zk_log_why(char *out, size_t size, const char *hosts) {
  pthread_once(&once, init);
  out[0] = '\0';
  pthread_mutex_lock(&ring_mu);
  for (unsigned i = 0; i < BATON_ZK_LOG_RING && i < ring_next; i++) {
    const char *line = ring[(ring_next - 1 - i) % BATON_ZK_LOG_RING];
    if (!mentions(line, hosts)) continue;
    /* "Socket [h:p] zk retcode=-4, errno=111(Connection refused): ..." */
    const char *e = strstr(line, "errno=");
    const char *open = e != NULL ? strchr(e, '(') : NULL;
    const char *close = open != NULL ? strchr(open, ')') : NULL;
    if (close != NULL)
      snprintf(out, size, "%.*s", (int)(close - open - 1), open + 1);
    else
      snprintf(out, size, "%s", line);
    break;
  }
  pthread_mutex_unlock(&ring_mu);
}
