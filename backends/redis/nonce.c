/* nonce.c — the nonces that tell our values on the server from anyone
 * else's: unique across processes, threads and time, made without a system
 * call.
 *
 * A nonce only has to differ from every other one, not to be unguessable:
 * whoever can write to the Redis server can take a lock anyway. So each
 * process draws a 128-bit seed once and counts: nonce n is
 * mix(seed0 + n * G) and mix(seed1 + n * G), where G is odd and mix is
 * splitmix64's finaliser, a bijection. The first half alone already differs
 * for every n a process can reach (2^64), and two processes collide only if
 * both halves of their random seeds line up, about N^2 / 2^128 for N
 * nonces in all.
 *
 * A child made by fork() inherits the seed and the count, and would repeat
 * its parent's next nonces: it draws a seed of its own in a pthread_atfork
 * handler. Asking getpid() on every nonce would notice the fork too, but
 * getpid() is a system call with glibc >= 2.25, as costly as half the
 * getrandom() per nonce this file replaces; it is the fallback when the
 * handler cannot be registered. */
#include "redis.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define BATON_REDIS_GOLDEN 0x9e3779b97f4a7c15ull /* 2^64 / phi, odd */

_Static_assert(BATON_REDIS_NONCE_LEN == 32, "a nonce is two 64-bit halves in hex");

static uint64_t seed[2];
static atomic_uint_fast64_t count;
static bool reseeds_on_fork; /* the atfork handler is registered */
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t clock_ns(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return (uint64_t)t.tv_sec * (uint64_t)BATON_NS_PER_S + (uint64_t)t.tv_nsec;
}

/* Runs in one thread only: at the first nonce, or in a new child, where
 * fork() left no other thread. Both are system calls that are safe there. */
static void draw_seed(void) {
  if (getrandom(seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed) return;
  /* No entropy yet (early boot): the process and the wall clock tell this
   * process from any other that runs now or ran before. */
  uint64_t pid = (uint64_t)getpid();
  seed[0] = mix(clock_ns(CLOCK_REALTIME) ^ pid << 40);
  seed[1] = mix(clock_ns(CLOCK_MONOTONIC) ^ pid ^ (uint64_t)(uintptr_t)&pid);
}

static void first_seed(void) {
  draw_seed();
  /* Registered once, and only here: a child of a process that never made a
   * nonce has nothing to repeat. */
  reseeds_on_fork = pthread_atfork(NULL, NULL, draw_seed) == 0;
}

void baton__redis_nonce(char out[BATON_REDIS_NONCE_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  pthread_once(&seed_once, first_seed);
  uint64_t n = atomic_fetch_add_explicit(&count, 1, memory_order_relaxed) + 1;
  uint64_t half[2] = {mix(seed[0] + n * BATON_REDIS_GOLDEN), mix(seed[1] + n * BATON_REDIS_GOLDEN)};
  /* Without the handler (pthread_atfork had no memory) parent and child
   * share seed and count: the first half differs for different counts, and
   * the process in the second half tells the same count apart. */
  if (!reseeds_on_fork) half[1] ^= mix((uint64_t)getpid());
  for (int h = 0; h < 2; h++)
    for (int i = 0; i < 16; i++) out[16 * h + i] = hex[(half[h] >> (60 - 4 * i)) & 15];
  out[BATON_REDIS_NONCE_LEN] = '\0';
}

void baton__redis_lease_nonce(char out[BATON_REDIS_NONCE_LEN + 1]) {
  baton__redis_nonce(out);
  out[0] = BATON_REDIS_LEASE_MARK[0];
}
