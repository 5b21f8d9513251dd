/* names.c — kazoo's Lock layout: "<path>/<32 hex guid>__lock__<10 digits>",
 * which children are contenders, their order, fixed leases' names (which
 * carry the TTL) and our paths. */
#include "zk.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define BATON_ZK_MARK "__lock__"
#define BATON_ZK_MARK_LEN 8
#define BATON_ZK_SEQ_DIGITS 10

/* Where the sequence of a contender's name starts: right after "__lock__",
 * which the name ends with and ten digits or, as ZooKeeper's "%010d" writes
 * a negative number, '-' and nine or ten. NULL for any other name. */
static const char *seq_text(const char *child) {
  size_t len = strlen(child), digits = 0;
  while (digits < len && digits <= BATON_ZK_SEQ_DIGITS && child[len - 1 - digits] >= '0' &&
         child[len - 1 - digits] <= '9')
    digits++;
  size_t at = len - digits;
  bool minus = at > 0 && child[at - 1] == '-';
  if (minus) at--;
  if (digits != BATON_ZK_SEQ_DIGITS && !(minus && digits == BATON_ZK_SEQ_DIGITS - 1)) return NULL;
  return at >= BATON_ZK_MARK_LEN &&
                 memcmp(child + at - BATON_ZK_MARK_LEN, BATON_ZK_MARK, BATON_ZK_MARK_LEN) == 0
             ? child + at
             : NULL;
}

int64_t baton__zk_name_seq(const char *child) {
  const char *p = seq_text(child);
  if (p == NULL) return BATON_ZK_SEQ_NONE;
  if (*p == '-') return BATON_ZK_SEQ_WRAPPED;
  int64_t seq = 0;
  for (; *p != '\0'; p++) seq = seq * 10 + (*p - '0');
  return seq > INT32_MAX ? BATON_ZK_SEQ_WRAPPED : seq;
}

/* A wrapped sequence sorts after every valid one: the counter made it
 * later. Real sequences never tie; the name only makes the order total. */
int baton__zk_name_cmp(const char *a, const char *b) {
  int64_t x = baton__zk_name_seq(a), y = baton__zk_name_seq(b);
  if (x < 0) x = INT64_MAX;
  if (y < 0) y = INT64_MAX;
  return x != y ? (x > y) - (x < y) : strcmp(a, b);
}

bool baton__zk_name_has_guid(const char *child, const char *guid) {
  size_t g = strlen(guid);
  return strncmp(child, guid, g) == 0 &&
         strncmp(child + g, BATON_ZK_MARK, BATON_ZK_MARK_LEN) == 0 &&
         seq_text(child) == child + g + BATON_ZK_MARK_LEN;
}

void baton__zk_guid(char out[33]) {
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

#define BATON_ZK_LEASE_MARK "ttl"
#define BATON_ZK_LEASE_MARK_LEN 3

void baton__zk_lease_guid(char out[BATON_ZK_GUID_MAX], int64_t ttl_ms) {
  char hex[33];
  baton__zk_guid(hex);
  snprintf(out, BATON_ZK_GUID_MAX, BATON_ZK_LEASE_MARK "%lld-%s", (long long)ttl_ms, hex);
}

int64_t baton__zk_name_ttl(const char *child) {
  if (strncmp(child, BATON_ZK_LEASE_MARK, BATON_ZK_LEASE_MARK_LEN) != 0 ||
      baton__zk_name_seq(child) == BATON_ZK_SEQ_NONE)
    return 0;
  int64_t ttl = 0;
  const char *p = child + BATON_ZK_LEASE_MARK_LEN;
  for (int digits = 0; *p >= '0' && *p <= '9'; p++, digits++) {
    if (digits == 15) return 0; /* past any TTL the server takes (2^40 ms) */
    ttl = ttl * 10 + (*p - '0');
  }
  return *p == '-' ? ttl : 0;
}

char *baton__zk_path(const baton_zk_session *s, const char *name, const char *child) {
  int n = snprintf(NULL, 0, "%s/%s%s%s", s->chroot, name, child ? "/" : "", child ? child : "");
  char *p = baton__calloc(1, (size_t)n + 1);
  if (p != NULL)
    snprintf(p, (size_t)n + 1, "%s/%s%s%s", s->chroot, name, child ? "/" : "", child ? child : "");
  return p;
}
