/* names.c — kazoo's Lock layout: "<path>/<32 hex guid>__lock__<10 digits>",
 * which children are contenders, their order, and our paths. */
#include "zk.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define MARK "__lock__"
#define MARK_LEN 8
#define SEQ_DIGITS 10

/* kazoo matches (?:__lock__)(-?\d{10})$ and sorts by the group's text. */
const char *zk_name_seq(const char *child) {
  size_t len = strlen(child);
  if (len < MARK_LEN + SEQ_DIGITS) return NULL;
  const char *seq = child + len - SEQ_DIGITS;
  for (const char *p = seq; *p != '\0'; p++)
    if (*p < '0' || *p > '9') return NULL;
  if (seq > child + MARK_LEN && seq[-1] == '-' &&
      memcmp(seq - 1 - MARK_LEN, MARK, MARK_LEN) == 0)
    return seq - 1;
  return memcmp(seq - MARK_LEN, MARK, MARK_LEN) == 0 ? seq : NULL;
}

/* Python compares the group strings by code point, so "-" sorts before
 * digits: strcmp does the same. Real sequence numbers never tie; the name
 * only makes the order total. */
int zk_name_cmp(const char *a, const char *b) {
  int c = strcmp(zk_name_seq(a), zk_name_seq(b));
  return c != 0 ? c : strcmp(a, b);
}

bool zk_name_has_guid(const char *child, const char *guid) {
  size_t g = strlen(guid);
  return strncmp(child, guid, g) == 0 && strncmp(child + g, MARK, MARK_LEN) == 0 &&
         zk_name_seq(child) == child + g + MARK_LEN;
}

void zk_guid(char out[33]) {
  unsigned char raw[16];
  if (getrandom(raw, sizeof raw, GRND_NONBLOCK) != (ssize_t)sizeof raw) {
    /* No entropy yet (early boot): the clock and a counter still make the
     * guid unique within this process, which is what recovery needs. */
    static atomic_uint_fast64_t counter;
    uint64_t x = (uint64_t)baton__now() ^ (atomic_fetch_add(&counter, 1) << 48);
    for (int i = 0; i < 16; i++) {
      x += 0x9e3779b97f4a7c15ull;
      uint64_t z = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
      raw[i] = (unsigned char)(z >> 56);
    }
  }
  for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

char *zk_path(const zk_session *s, const char *name, const char *child) {
  int n = snprintf(NULL, 0, "%s/%s%s%s", s->chroot, name, child ? "/" : "", child ? child : "");
  char *p = baton__calloc(1, (size_t)n + 1);
  if (p != NULL)
    snprintf(p, (size_t)n + 1, "%s/%s%s%s", s->chroot, name, child ? "/" : "", child ? child : "");
  return p;
}
