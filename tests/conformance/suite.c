/* suite.c — the conformance suite: the same behaviour tests, through the
 * public API, against every backend. `conformance KIND [FILTER]` starts a
 * real server of KIND (redis, etcd, zk, etcd3, zk3) and runs every case;
 * the same binary re-executed with --child plays other processes. Beyond
 * the public API it uses the library's test hooks (internal.h), and reads
 * the backend's capability bits to know what order to expect. */
#include "baton.h"
#include "internal.h"
#include "kit.h"
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define TTL_MS 2000 /* short enough for crash tests, long enough for CI noise */
/* Campaign timeouts: one that wins at once (the bound is a loaded
 * machine's), and one that waits for a hand-over the case brings about. */
#define WIN_MS 5000
#define HANDOVER_MS 20000
#define CHILD_START_MS 15000 /* a child process's first term */
#define CHILD_LIFE_MS 120000 /* a child that holds until killed ends by then */

static test_cluster *server;
static const char *kind;
static char self_exe[4096] = "/proc/self/exe";

/* ---- helpers ----------------------------------------------------------- */

static baton_options options(uint32_t ttl_ms, const char *identity) {
  baton_options o = {0};
  o.ttl_ms = ttl_ms;
  o.identity = identity;
  return o;
}

static baton_client *open_client(uint32_t ttl_ms, const char *identity) {
  baton_options o = options(ttl_ms, identity);
  baton_client *c = NULL;
  baton_error err = {0};
  int rc = baton_client_open(&c, server->uri, &o, &err);
  if (rc != 0) TEST_FAIL_("client_open(%s) -> %d (%s)", server->uri, rc, err.message);
  return c;
}

/* Events seen by a callback, for tests to wait on without sleeping. */
typedef struct recorder {
  kit_cond ev;                   /* guards the rest; broadcast on each event */
  int elected, lost, renew_failed, changed;
  baton_lost_reason last_reason;
  uint64_t last_token;
  int64_t lost_at_ms;
  char last_leader[BATON_IDENTITY_MAX + 1];
  uint64_t last_leader_token;
  char last_value[BATON_VALUE_MAX + 1]; /* LEADER_CHANGED's value */
  baton_event_type order[64];
  int n;
} recorder;

static void recorder_init(recorder *r) {
  memset(r, 0, sizeof *r);
  kit_cond_init(&r->ev);
}

static void recorder_free(recorder *r) { kit_cond_destroy(&r->ev); }

static void record(const baton_event *ev, void *udata) {
  recorder *r = udata;
  pthread_mutex_lock(&r->ev.mu);
  if (r->n < 64) r->order[r->n++] = ev->type;
  switch (ev->type) {
  case BATON_EVENT_ELECTED:
    r->elected++;
    r->last_token = ev->token;
    break;
  case BATON_EVENT_LOST:
    r->lost++;
    r->last_reason = ev->reason;
    r->lost_at_ms = kit_now_ms();
    break;
  case BATON_EVENT_RENEW_FAILED:
    r->renew_failed++;
    break;
  case BATON_EVENT_LEADER_CHANGED:
    r->changed++;
    snprintf(r->last_leader, sizeof r->last_leader, "%s",
             ev->leader != NULL ? ev->leader->identity : "");
    r->last_leader_token = ev->leader != NULL ? ev->leader->token : 0;
    snprintf(r->last_value, sizeof r->last_value, "%s", ev->value != NULL ? ev->value : "");
    break;
  }
  pthread_cond_broadcast(&r->ev.cond);
  pthread_mutex_unlock(&r->ev.mu);
}

/* Wait until the recorder's *counter >= target, at most timeout_ms. */
static bool await_count(recorder *r, const int *counter, int target, int timeout_ms) {
  return kit_await_count(&r->ev, counter, target, timeout_ms);
}

/* ---- contenders ---------------------------------------------------------- */

/* One client with one election on one name: the party most cases set
 * against another. A zeroed contender counts as closed. */
typedef struct contender {
  baton_client *c;               /* its own client: its own session and renewals */
  baton_election *e;             /* the one election, on name */
  char name[BATON_NAME_MAX + 1]; /* a copy: kit_name() reuses its buffers */
} contender;

/* The handles of every contender open now, apart from the contender
 * structs on a case's stack: a case that returns early (REQUIRE) leaves
 * them here, and close_leftovers() closes them when the case ends. Their
 * recorders are static, so a LOST that close delivers lands in live
 * memory. */
#define MAX_OPEN 16
static struct {
  baton_client *c;
  baton_election *e;
} open_now[MAX_OPEN];

static void remember(baton_client *c, baton_election *e) {
  for (int i = 0; i < MAX_OPEN; i++)
    if (open_now[i].c == NULL) {
      open_now[i].c = c;
      open_now[i].e = e;
      return;
    }
  TEST_FAIL_("more than %d contenders open: a case leaks them", MAX_OPEN);
}

static void forget_handles(baton_client *c) {
  for (int i = 0; c != NULL && i < MAX_OPEN; i++)
    if (open_now[i].c == c) open_now[i].c = NULL, open_now[i].e = NULL;
}

static void close_leftovers(void) {
  for (int i = 0; i < MAX_OPEN; i++)
    if (open_now[i].c != NULL) {
      baton_election_close(open_now[i].e);
      baton_client_close(open_now[i].c);
      open_now[i].c = NULL;
      open_now[i].e = NULL;
    }
}

/* Close the election, then the client; closing a closed contender is a
 * no-op because baton's closes accept NULL. */
static void contender_close(contender *k) {
  forget_handles(k->c);
  baton_election_close(k->e);
  baton_client_close(k->c);
  k->e = NULL;
  k->c = NULL;
}

/* Open k's client on uri with o and its election on name, events to r if
 * not NULL. A failure is reported and leaves k closed: a REQUIRE on it
 * leaks nothing. */
static bool contender_open_at(contender *k, const char *uri, const char *name,
                              const baton_options *o, recorder *r) {
  baton_error err = {0};
  memset(k, 0, sizeof *k);
  snprintf(k->name, sizeof k->name, "%s", name);
  int rc = baton_client_open(&k->c, uri, o, &err);
  if (rc == 0) rc = baton_election_open(&k->e, k->c, name, r != NULL ? record : NULL, r, &err);
  if (rc != 0) {
    TEST_FAIL_("contender %s on %s: %d (%s)", o->identity, name, rc, err.message);
    contender_close(k);
  } else {
    remember(k->c, k->e);
  }
  return rc == 0;
}

static bool contender_open_with(contender *k, const char *name, const baton_options *o,
                                recorder *r) {
  return contender_open_at(k, server->uri, name, o, r);
}

static bool contender_open(contender *k, const char *name, uint32_t ttl_ms,
                           const char *identity, recorder *r) {
  baton_options o = options(ttl_ms, identity);
  return contender_open_with(k, name, &o, r);
}

/* Open k on first's name. A failure closes first as well: the case then
 * holds nothing, and its REQUIRE returns without a leak. */
static bool rival_open(contender *k, contender *first, uint32_t ttl_ms, const char *identity,
                       recorder *r) {
  if (contender_open(k, first->name, ttl_ms, identity, r)) return true;
  contender_close(first);
  return false;
}

/* ---- background campaigns ------------------------------------------------ */

/* A campaign on its own thread, so that the case can act while it waits.
 * Between campaign_start and campaign_join the thread uses the call: no
 * REQUIRE may return from the case there. */
typedef struct campaign_call {
  baton_election *e;    /* what campaigns */
  int64_t timeout_ms;   /* its campaign's timeout */
  pthread_t thread;     /* valid only when started */
  bool started;         /* false: no thread to join, rc says why */
  int returned;         /* 1 once the campaign has returned (kit_cond_add on
                           `campaigns`): the fields below are set */
  int rc;               /* what baton_election_campaign returned */
  uint64_t token;       /* the term's token when rc is 0 */
  int64_t returned_ms;  /* kit_now_ms() when it returned */
  baton_error err;      /* its error */
} campaign_call;

/* What every campaign thread signals when it returns. */
static kit_cond campaigns;

static bool campaign_returned(campaign_call *call) {
  pthread_mutex_lock(&campaigns.mu);
  bool returned = call->returned;
  pthread_mutex_unlock(&campaigns.mu);
  return returned;
}

static void *campaign_thread(void *arg) {
  campaign_call *call = arg;
  call->rc = baton_election_campaign(call->e, call->timeout_ms, &call->token, &call->err);
  call->returned_ms = kit_now_ms();
  kit_cond_add(&campaigns, &call->returned, 1);
  return NULL;
}

static void campaign_start(campaign_call *call, baton_election *e, int64_t timeout_ms) {
  memset(call, 0, sizeof *call);
  call->e = e;
  call->timeout_ms = timeout_ms;
  int rc = pthread_create(&call->thread, NULL, campaign_thread, call);
  call->started = rc == 0;
  if (rc != 0) { /* joining an unstarted thread would be undefined */
    call->rc = BATON_ENOMEM;
    snprintf(call->err.message, sizeof call->err.message, "pthread_create: %s", strerror(rc));
  }
}

/* Give the campaign ms to reach its wait, then say whether it still waits
 * (it has neither won nor failed). Its queue entry or subscription shows as
 * nothing observable, hence the pause; it is not synchronisation of the
 * result: what the cases assert after it holds whenever the wait starts. */
static bool campaign_blocks(campaign_call *call, int ms) {
  kit_sleep_ms(ms);
  return call->started && !campaign_returned(call);
}

static void campaign_join(campaign_call *call) {
  if (call->started) pthread_join(call->thread, NULL);
}

/* ---- process resources --------------------------------------------------- */

static int count_fds(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return -1;
  for (struct dirent *de; (de = readdir(d)) != NULL;)
    if (de->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static int count_threads(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  int n = -1;
  while (f != NULL && fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "Threads: %d", &n) == 1) break;
  if (f != NULL) fclose(f);
  return n;
}

/* ---- child processes ----------------------------------------------------- */

/* The record children share through a MAP_SHARED file. */
typedef struct shared_record {
  atomic_int holder;          /* 0 = none, else the holding child's id */
  atomic_int overlaps;        /* a child found another holder inside its term */
  atomic_int terms;
  atomic_int regressions;     /* a token not above the previous term's */
  atomic_int errors;
  _Atomic uint64_t last_token;
} shared_record;

static shared_record *map_record(const char *path, bool create) {
  int fd = open(path, create ? O_RDWR | O_CREAT | O_TRUNC : O_RDWR, 0600);
  if (fd < 0) return NULL;
  if (create && ftruncate(fd, sizeof(shared_record)) != 0) {
    close(fd);
    return NULL;
  }
  void *p = mmap(NULL, sizeof(shared_record), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  return p == MAP_FAILED ? NULL : p;
}

/* Child "contend ID URI NAME RECORD ROUNDS": take the name ROUNDS times,
 * proving in the shared record that nobody else holds it meanwhile. */
static int child_contend(int id, const char *uri, const char *name, const char *path,
                         int rounds) {
  shared_record *rec = map_record(path, false);
  char identity[64];
  snprintf(identity, sizeof identity, "contender-%d", id);
  baton_options o = options(TTL_MS, identity);
  baton_client *c = NULL;
  baton_election *e = NULL;
  baton_error err = {0};
  if (rec == NULL || baton_client_open(&c, uri, &o, &err) != 0 ||
      baton_election_open(&e, c, name, NULL, NULL, &err) != 0) {
    fprintf(stderr, "child %d: %s\n", id, err.message);
    return 1;
  }
  for (int r = 0; r < rounds; r++) {
    uint64_t token = 0;
    if (baton_election_campaign(e, HANDOVER_MS, &token, &err) != 0) {
      fprintf(stderr, "child %d: campaign: %s\n", id, err.message);
      atomic_fetch_add(&rec->errors, 1);
      break;
    }
    int expected = 0;
    if (!atomic_compare_exchange_strong(&rec->holder, &expected, id))
      atomic_fetch_add(&rec->overlaps, 1);
    if (token <= atomic_load(&rec->last_token)) atomic_fetch_add(&rec->regressions, 1);
    atomic_store(&rec->last_token, token);
    atomic_fetch_add(&rec->terms, 1);
    kit_sleep_ms(2); /* the leader's work, not synchronisation */
    if (!baton_election_is_leader(e, NULL, NULL)) atomic_fetch_add(&rec->errors, 1);
    expected = id;
    atomic_compare_exchange_strong(&rec->holder, &expected, 0);
    if (baton_election_resign(e, &err) != 0) {
      fprintf(stderr, "child %d: resign: %s\n", id, err.message);
      atomic_fetch_add(&rec->errors, 1);
    }
  }
  baton_election_close(e);
  baton_client_close(c);
  munmap(rec, sizeof *rec);
  return 0;
}

/* The margin of child_lose: wide, so that the window between its local
 * deadline and the server's expiry (drift + margin) is long enough to
 * resume the child in, on a loaded machine too. */
#define LOSER_MARGIN_MS 600

/* Child "lose MODE URI NAME": win a term (in candidate mode for MODE
 * "start"), print "elected TOKEN DEADLINE" (its local deadline in kit_now_ms()
 * time, never later than the truth), and once the term is lost (the
 * parent stops this process past its local deadline and resumes it before
 * the server's expiry), do what MODE says:
 *   hold            nothing
 *   campaign        campaign again, from this thread
 *   start           nothing: candidate mode campaigns again by itself
 *   close-election  close the election
 *   close-client    close the client, which closes the election
 * then hold until killed (at most CHILD_LIFE_MS). */
static int child_lose(const char *mode, const char *uri, const char *name) {
  baton_options o = options(TTL_MS, "loser-child");
  o.margin_ms = LOSER_MARGIN_MS;
  static recorder r;
  recorder_init(&r);
  baton_client *c = NULL;
  baton_election *e = NULL;
  baton_error err = {0};
  uint64_t token = 0;
  int64_t remaining = 0;
  int rc = baton_client_open(&c, uri, &o, &err);
  if (rc == 0) rc = baton_election_open(&e, c, name, record, &r, &err);
  if (rc == 0 && strcmp(mode, "start") == 0) rc = baton_election_start(e, &err);
  else if (rc == 0) rc = baton_election_campaign(e, HANDOVER_MS, NULL, &err);
  int64_t before = kit_now_ms(); /* before is_leader: the deadline errs early */
  if (rc != 0 || !await_count(&r, &r.elected, 1, HANDOVER_MS) ||
      !baton_election_is_leader(e, &token, &remaining)) {
    fprintf(stderr, "lose: no term: %d %s\n", rc, err.message);
    return 1;
  }
  printf("elected %llu %lld\n", (unsigned long long)token, (long long)(before + remaining));
  fflush(stdout);
  if (!await_count(&r, &r.lost, 1, 60000)) {
    fprintf(stderr, "lose: the term was not lost within 60 s\n");
    return 1;
  }
  if (strcmp(mode, "campaign") == 0) {
    baton_election_campaign(e, HANDOVER_MS, NULL, &err);
  } else if (strcmp(mode, "close-election") == 0) {
    baton_election_close(e);
    e = NULL;
  } else if (strcmp(mode, "close-client") == 0) {
    baton_client_close(c);
    c = NULL;
    e = NULL;
  }
  kit_sleep_ms(CHILD_LIFE_MS); /* the parent kills it long before */
  baton_election_close(e);
  baton_client_close(c);
  return 0;
}

/* Child "hold URI NAME": campaign, print "elected TOKEN", then hold until
 * killed (at most CHILD_LIFE_MS). */
static int child_hold(const char *uri, const char *name) {
  baton_options o = options(TTL_MS, "holder-child");
  baton_client *c = NULL;
  baton_election *e = NULL;
  baton_error err = {0};
  uint64_t token = 0;
  if (baton_client_open(&c, uri, &o, &err) != 0 ||
      baton_election_open(&e, c, name, NULL, NULL, &err) != 0 ||
      baton_election_campaign(e, HANDOVER_MS, &token, &err) != 0) {
    fprintf(stderr, "hold: %s\n", err.message);
    return 1;
  }
  int64_t remaining = 0;
  baton_election_is_leader(e, NULL, &remaining);
  printf("elected %llu %lld\n", (unsigned long long)token, (long long)remaining);
  fflush(stdout);
  kit_sleep_ms(CHILD_LIFE_MS); /* the parent kills it long before */
  baton_election_close(e);
  baton_client_close(c);
  return 0;
}

/* Child "fds": print "fds N..." on one line, the descriptors it inherited
 * (the one listing them left out). */
static int child_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return 1;
  printf("fds");
  for (struct dirent *de; (de = readdir(d)) != NULL;)
    if (de->d_name[0] != '.' && atoi(de->d_name) != dirfd(d)) printf(" %s", de->d_name);
  printf("\n");
  closedir(d);
  return 0;
}

static int child_main(int argc, char **argv) {
  if (argc >= 6 && strcmp(argv[2], "lose") == 0) return child_lose(argv[3], argv[4], argv[5]);
  if (argc >= 3 && strcmp(argv[2], "fds") == 0) return child_fds();
  if (argc >= 8 && strcmp(argv[2], "contend") == 0)
    return child_contend(atoi(argv[3]), argv[4], argv[5], argv[6], atoi(argv[7]));
  if (argc >= 5 && strcmp(argv[2], "hold") == 0) return child_hold(argv[3], argv[4]);
  fprintf(stderr, "bad child arguments\n");
  return 2;
}

/* This program again as a child (argv after self_exe and "--child"), its
 * stdout on a pipe, its stderr the test's; NULL (reported) if it did not
 * start. Every child is killed after the case at the latest. */
static kit_proc *child_start(const char *const args[]) {
  const char *argv[12] = {self_exe, "--child"};
  for (int i = 0; args[i] != NULL && i < 9; i++) argv[i + 2] = args[i];
  kit_proc_opts o = {.err = KIT_STDERR_INHERITED};
  return kit_spawn(argv, &o);
}

/* Start a child that takes a term (args: "hold" or "lose MODE", then the
 * URI and name) and read its "elected TOKEN ..." line into line. The
 * child, or NULL (reported, none left behind) when it reported no term
 * within CHILD_START_MS. */
static kit_proc *elected_child(const char *const args[], char *line, size_t size) {
  kit_proc *p = child_start(args);
  line[0] = '\0';
  if (p != NULL && kit_proc_line(p, line, size, CHILD_START_MS) == 0) return p;
  TEST_FAIL_("%s child: no term within %d ms (read \"%s\")", args[0], CHILD_START_MS, line);
  if (p != NULL) kit_proc_stop(p, SIGKILL, 5000);
  return NULL;
}

/* ---- Redis keyspace events ------------------------------------------------ */

/* Send one command (RESP inline) to the Redis under test; true on "+OK". */
static bool redis_command(const char *cmd) {
  char buf[256];
  size_t n = strlen(cmd);
  return test_tcp_ask(server->member[0].port, cmd, n, buf, sizeof buf, 2000) == 0 &&
         strncmp(buf, "+OK", 3) == 0;
}

/* A connection subscribed to the keyspace events of `key` (deletion,
 * expiry and SET; the server is told to publish them), or -1. */
static int key_events_open(const char *key) {
  if (!redis_command("CONFIG SET notify-keyspace-events K$gx\r\nQUIT\r\n")) return -1;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)server->member[0].port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  char cmd[256], reply[256];
  int n = snprintf(cmd, sizeof cmd, "SUBSCRIBE __keyspace@0__:%s\r\n", key);
  int64_t end = kit_now_ms() + 2000;
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      write(fd, cmd, (size_t)n) != n || !kit_read_line(fd, reply, sizeof reply, end) ||
      strncmp(reply, "*3", 2) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  /* The rest of the confirmation: "$9 subscribe $N channel :1". */
  for (int i = 0; i < 5; i++) kit_read_line(fd, reply, sizeof reply, end);
  return fd;
}

static void key_events_close(int fd) {
  if (fd < 0) return;
  close(fd);
  redis_command("CONFIG SET notify-keyspace-events \"\"\r\nQUIT\r\n");
}

/* Wait until `until_ms` for the key's end: the time its first "del",
 * "expired" or "set" (replaced) event came (what in *what), or -1. */
static int64_t key_end_await(int fd, int64_t until_ms, char *what, size_t size) {
  char line[256];
  snprintf(what, size, "nothing");
  while (kit_read_line(fd, line, sizeof line, until_ms)) {
    line[strcspn(line, "\r")] = '\0';
    if (strcmp(line, "del") == 0 || strcmp(line, "expired") == 0 || strcmp(line, "set") == 0) {
      snprintf(what, size, "%.7s", line);
      return kit_now_ms();
    }
  }
  return -1;
}

/* ---- cases ------------------------------------------------------------- */

static void mutual_exclusion_across_processes(void) {
  enum { CHILDREN = 4, ROUNDS = 15 };
  char path[] = "/tmp/baton-record-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  shared_record *rec = map_record(path, true);
  REQUIRE(rec != NULL);
  const char *name = kit_name("mutex");
  kit_proc *kids[CHILDREN];
  char rounds[16];
  snprintf(rounds, sizeof rounds, "%d", ROUNDS);
  for (int i = 0; i < CHILDREN; i++) {
    char id[16];
    snprintf(id, sizeof id, "%d", i + 1);
    const char *args[] = {"contend", id, server->uri, name, path, rounds, NULL};
    kids[i] = child_start(args);
  }
  for (int i = 0; i < CHILDREN; i++)
    if (kids[i] != NULL) CHECK_EQ(kit_proc_stop(kids[i], 0, 90000), 0);
  CHECK_EQ(atomic_load(&rec->overlaps), 0);
  CHECK_EQ(atomic_load(&rec->regressions), 0);
  CHECK_EQ(atomic_load(&rec->errors), 0);
  CHECK_EQ(atomic_load(&rec->terms), CHILDREN * ROUNDS);
  munmap(rec, sizeof *rec);
  unlink(path);
}

/* Stats readers: threads that read an election's stats and its client's
 * Prometheus text over and over while terms change, as a scrape would. */
typedef struct stats_reader {
  baton_election *e;
  baton_client *c;
  atomic_bool stop;
  int reads;
  pthread_t thread;
} stats_reader;

static void *stats_reader_main(void *arg) {
  stats_reader *r = arg;
  static _Thread_local char text[65536];
  /* Bounded: the case stops it long before. */
  for (int i = 0; i < 1000000 && !atomic_load(&r->stop); i++) {
    baton_election_stats s;
    size_t len = 0;
    if (baton_election_read_stats(r->e, &s, NULL) != 0 ||
        baton_client_metrics(r->c, text, sizeof text, &len, NULL) != 0 || len >= sizeof text)
      break;
    r->reads++;
  }
  return NULL;
}

/* What the stats say of one contended hand-over: A wins, B is told it is
 * held (a try, then a blocking campaign), A renews while it holds, then
 * resigns and B wins. Readers on other threads read the stats throughout;
 * the Prometheus text passes promtool. */
static void stats_follow_a_hand_over(void) {
  contender a, b;
  REQUIRE(contender_open(&a, kit_name("stats"), TTL_MS, "stats-a", NULL));
  REQUIRE(rival_open(&b, &a, TTL_MS, "stats-b", NULL));
  stats_reader readers[2] = {{.e = a.e, .c = a.c}, {.e = b.e, .c = b.c}};
  for (int i = 0; i < 2; i++)
    if (pthread_create(&readers[i].thread, NULL, stats_reader_main, &readers[i]) != 0)
      readers[i].e = NULL;
  baton_error err = {0};
  uint64_t token = 0;
  int64_t a_began = kit_now_ms(); /* A's term cannot start before this */
  CHECK_OK(baton_election_campaign(a.e, WIN_MS, &token, &err), &err);
  CHECK_EQ(baton_election_try_campaign(b.e, NULL, NULL, &err), BATON_EHELD);
  campaign_call call;
  int64_t started_ms = kit_now_ms();
  campaign_start(&call, b.e, HANDOVER_MS);
  /* B's campaign has begun once the library counts it (no event says so:
   * its count is looked at), which bounds its acquire latency below. */
  for (int64_t t = kit_now_ms() + 5000; baton__election_campaigns(b.e) == 0 && kit_ms_left(t) > 0;)
    kit_sleep_ms(1);
  int64_t counted_ms = kit_now_ms();
  /* Hold a TTL: renewals alone keep the term, and are counted. */
  CHECK(campaign_blocks(&call, TTL_MS));
  baton_election_stats now;
  CHECK_OK(baton_election_read_stats(a.e, &now, &err), &err);
  CHECK(now.leader);
  CHECK_EQ(now.token, token);
  CHECK_GE(now.term_age_ns / BATON_NS_PER_MS, TTL_MS);
  CHECK_GT(now.remaining_ns, 0);
  int64_t resign_ms = kit_now_ms();
  CHECK_OK(baton_election_resign(a.e, &err), &err);
  int64_t held_ms = kit_ms_since(a_began); /* at most: the term began after a_began */
  campaign_join(&call);
  CHECK_OK(call.rc, &call.err);
  for (int i = 0; i < 2; i++) {
    atomic_store(&readers[i].stop, true);
    if (readers[i].e != NULL) pthread_join(readers[i].thread, NULL);
    CHECK_GT(readers[i].reads, 0);
  }

  baton_stats sa, sb;
  CHECK_OK(baton_election_read_stats(a.e, &now, &err), &err);
  sa = now.stats;
  CHECK(!now.leader);
  CHECK_OK(baton_election_read_stats(b.e, &now, &err), &err);
  sb = now.stats;
  CHECK(now.leader);
  CHECK_EQ(now.token, call.token);
  CHECK_EQ(sa.campaigns, 1);
  CHECK_EQ(sa.attempts, 1);
  CHECK_EQ(sa.contended, 0);
  CHECK_EQ(sa.terms_won, 1);
  CHECK_EQ(sa.terms_lost[BATON_LOST_RESIGNED], 1);
  CHECK_EQ(sa.hold.count, 1);
  CHECK_GE((int64_t)(sa.hold.sum_ns / BATON_NS_PER_MS), TTL_MS);
  CHECK_LE((int64_t)(sa.hold.sum_ns / BATON_NS_PER_MS), held_ms + TEST_SLACK_MS);
  CHECK_GE(sa.renewals_ok, 1);
  CHECK_EQ(sa.renewals_failed, 0);
  CHECK_EQ(sa.headroom.count, sa.renewals_ok);
  int64_t lifetime_ms = 0;
  baton_options o = options(TTL_MS, "stats-a");
  CHECK_OK(baton_options_lifetime(&o, &lifetime_ms, &err), &err);
  CHECK_GT(sa.headroom_min_ns, 0);
  CHECK_LE(sa.headroom_min_ns / BATON_NS_PER_MS, lifetime_ms);
  CHECK_EQ(sb.campaigns, 2);
  CHECK_GE(sb.contended, 2); /* the try, and the campaign's first look */
  CHECK_EQ(sb.terms_won, 1);
  CHECK_EQ(sb.acquire.count, 1);
  /* B's campaign began on its thread between started_ms and counted_ms
   * (its clock is read just after, in a loaded machine's slack); it won
   * after A's resign began, and returned after that. */
  int64_t acquire_ms = (int64_t)(sb.acquire.sum_ns / BATON_NS_PER_MS);
  printf("    A held %lld ms, B's acquire took %lld ms\n",
         (long long)(sa.hold.sum_ns / BATON_NS_PER_MS), (long long)acquire_ms);
  CHECK_GE(acquire_ms, resign_ms - counted_ms - TEST_SLACK_MS);
  CHECK_LE(acquire_ms, call.returned_ms - started_ms);
  CHECK_EQ(sb.retries, 0);

  baton_client_stats cs;
  CHECK_OK(baton_client_read_stats(a.c, &cs, &err), &err);
  CHECK_GE(cs.renewal_requests_ok, sa.renewals_ok);
  CHECK_EQ(cs.renewal.count, cs.renewal_requests_ok);
  CHECK_EQ(cs.totals.terms_won, 1);
  CHECK_EQ(cs.terms_held, 0);

  static char text[65536];
  size_t len = 0;
  CHECK_OK(baton_client_metrics(b.c, text, sizeof text, &len, &err), &err);
  CHECK_LT(len, sizeof text);
  char want[256];
  const char *scheme_end = strstr(server->uri, "://");
  int scheme_len = scheme_end != NULL ? (int)(scheme_end - server->uri) : 0;
  snprintf(want, sizeof want, "baton_leader{backend=\"%.*s\",name=\"%s\"} 1\n", scheme_len,
           server->uri, b.name);
  CHECK_CONTAINS(text, want);
  CHECK_EQ(kit_promtool_check(text, len), 0);
  contender_close(&a);
  contender_close(&b);
}

static void tokens_strictly_increase(void) {
  contender k;
  REQUIRE(contender_open(&k, kit_name("tokens"), TTL_MS, "tokens", NULL));
  baton_error err = {0};
  uint64_t prev = 0;
  for (int i = 0; i < 20; i++) {
    uint64_t token = 0, held = 0;
    CHECK_OK(baton_election_campaign(k.e, WIN_MS, &token, &err), &err);
    CHECK_GT(token, prev);
    CHECK(baton_election_is_leader(k.e, &held, NULL));
    CHECK_EQ(held, token);
    prev = token;
    CHECK_OK(baton_election_resign(k.e, &err), &err);
    CHECK(!baton_election_is_leader(k.e, NULL, NULL));
  }
  contender_close(&k);
}

static void only_the_holder_can_release(void) {
  contender a, b;
  REQUIRE(contender_open(&a, kit_name("owner"), TTL_MS, "owner-a", NULL));
  REQUIRE(rival_open(&b, &a, TTL_MS, "owner-b", NULL));
  baton_error err = {0};
  uint64_t token = 0;
  REQUIRE_OK(baton_election_campaign(a.e, WIN_MS, &token, &err), &err);
  /* B neither holds nor can end A's term. */
  CHECK_EQ(baton_election_resign(b.e, &err), BATON_ENOTHOLDER);
  CHECK_CONTAINS(err.message, a.name);
  baton_leader holder = {0};
  CHECK_EQ(baton_election_try_campaign(b.e, NULL, &holder, &err), BATON_EHELD);
  CHECK_STR(holder.identity, "owner-a");
  CHECK_EQ(holder.token, token);
  CHECK_CONTAINS(err.message, "owner-a");
  baton_leader now = {0};
  CHECK_OK(baton_election_leader(b.e, &now, &err), &err);
  CHECK_STR(now.identity, "owner-a");
  CHECK_EQ(now.token, token);
  /* A's term survives B's attempts and several renewals. */
  int64_t remaining = 0;
  CHECK(baton_election_is_leader(a.e, NULL, &remaining));
  CHECK_GT(remaining, TTL_MS / 2);
  CHECK_OK(baton_election_resign(a.e, &err), &err);
  CHECK_EQ(baton_election_resign(a.e, &err), BATON_ENOTHOLDER);
  uint64_t token_b = 0;
  CHECK_OK(baton_election_try_campaign(b.e, &token_b, NULL, &err), &err);
  CHECK_GT(token_b, token);
  contender_close(&a);
  contender_close(&b);
}

static void term_outlives_the_ttl_by_renewal(void) {
  static recorder r;
  recorder_init(&r);
  baton_client *c = open_client(TTL_MS, "renewer");
  REQUIRE(c != NULL);
  baton_error err = {0};
  baton_election *e[50];
  uint64_t tokens[50];
  for (int i = 0; i < 50; i++) {
    REQUIRE_OK(baton_election_open(&e[i], c, kit_name("renew"), record, &r, &err), &err);
    REQUIRE_OK(baton_election_campaign(e[i], WIN_MS, &tokens[i], &err), &err);
  }
  /* Hold through three TTLs: only renewals keep the terms alive. Waiting
   * for an event that must NOT come is a timed wait by nature. */
  CHECK(!await_count(&r, &r.lost, 1, 3 * TTL_MS));
  for (int i = 0; i < 50; i++) {
    uint64_t t = 0;
    CHECK(baton_election_is_leader(e[i], &t, NULL));
    CHECK_EQ(t, tokens[i]);
  }
  CHECK_EQ(r.elected, 50);
  CHECK_EQ(r.renew_failed, 0);
  for (int i = 0; i < 50; i++) baton_election_close(e[i]);
  baton_client_close(c);
  recorder_free(&r);
}

/* The watchdog interval of the case below, and its margin: wide, so that
 * the window between A's local deadline and the server's expiry (drift +
 * margin) is long enough to tell a successor that came too early. The
 * touches come at a tenth of the interval: 10x headroom on a busy host. */
#define WATCHDOG_MS 1000
#define WATCHDOG_MARGIN_MS 800

/* Per-election TTLs of the case below: two timings besides the client's,
 * with margins wide enough that a successor let in before a name's own
 * server expiry would be seen (as the watchdog case's). */
#define SHORT_TTL_MS 2000
#define SHORT_MARGIN_MS 600
#define LONG_TTL_MS 5000
#define LONG_MARGIN_MS 1500

/* One client holds a name with a TTL of 2 s and one with 5 s (each its own
 * backend session, opened by its first campaign), both with a watchdog
 * nobody touches, so that their renewals stop. Each term ends at its own
 * local deadline, from its own TTL: the short one first, the long one
 * after the short TTL; a waiter on another client gets each name only
 * after that name's own server expiry, with a greater token. */
static void per_election_ttls_step_down_at_their_own_deadlines(void) {
  static recorder r[2];
  static const uint32_t ttls[2] = {SHORT_TTL_MS, LONG_TTL_MS};
  static const uint32_t margins[2] = {SHORT_MARGIN_MS, LONG_MARGIN_MS};
  recorder_init(&r[0]);
  recorder_init(&r[1]);
  baton_error err = {0};
  baton_client *a = open_client(3000, "ttl-a"), *b = open_client(TTL_MS, "ttl-b");
  baton_election *held[2] = {0}, *waiter[2] = {0};
  int64_t lifetime[2] = {0};
  uint64_t token[2] = {0};
  int64_t t0 = kit_now_ms();
  bool ok = a != NULL && b != NULL;
  for (int i = 0; ok && i < 2; i++) {
    const char *name = kit_name(i == 0 ? "ttl-short" : "ttl-long");
    baton_election_options eo = {.ttl_ms = ttls[i], .margin_ms = margins[i]};
    baton_options o = {.ttl_ms = ttls[i], .margin_ms = margins[i]};
    CHECK_OK(baton_options_lifetime(&o, &lifetime[i], &err), &err);
    ok = baton_election_open_with(&held[i], a, name, &eo, record, &r[i], &err) == 0 &&
         baton_election_open(&waiter[i], b, name, NULL, NULL, &err) == 0 &&
         baton_election_campaign(held[i], WIN_MS, &token[i], &err) == 0 &&
         baton_election_watchdog(held[i], WATCHDOG_MS, &err) == 0;
    if (!ok) TEST_FAIL_("name %d: %s", i, err.message);
  }
  int64_t t1 = kit_now_ms();
  campaign_call call[2];
  for (int i = 0; ok && i < 2; i++) campaign_start(&call[i], waiter[i], HANDOVER_MS);
  for (int i = 0; ok && i < 2; i++) {
    /* Its term began after t0 and its watchdog fired an interval after
     * t1 at the latest: its deadline is a lifetime after a renewal sent
     * between the two. */
    CHECK(await_count(&r[i], &r[i].lost, 1, WATCHDOG_MS + (int)lifetime[i] + 5000));
    CHECK_EQ(r[i].last_reason, BATON_LOST_WATCHDOG);
    CHECK_GE(r[i].lost_at_ms - t0, lifetime[i]);
    CHECK_LE(r[i].lost_at_ms - t1, WATCHDOG_MS + lifetime[i] + TEST_SLACK_MS);
    campaign_join(&call[i]);
    CHECK_OK(call[i].rc, &call[i].err);
    CHECK_GT(call[i].token, token[i]);
    printf("    TTL %u ms: lost %lld ms after the campaign, successor %lld ms after the loss "
           "(server expiry: +%lld ms)\n",
           ttls[i], (long long)(r[i].lost_at_ms - t0),
           (long long)(call[i].returned_ms - r[i].lost_at_ms), (long long)(ttls[i] - lifetime[i]));
    CHECK_GE(call[i].returned_ms - r[i].lost_at_ms, (ttls[i] - lifetime[i]) / 2);
  }
  if (ok) {
    CHECK_LT(r[0].lost_at_ms, r[1].lost_at_ms);
    CHECK_GT(r[1].lost_at_ms - t0, SHORT_TTL_MS);
  }
  for (int i = 0; i < 2; i++) {
    baton_election_close(held[i]);
    baton_election_close(waiter[i]);
  }
  baton_client_close(a);
  baton_client_close(b);
  for (int i = 0; i < 2; i++) recorder_free(&r[i]);
}

/* A holder that touches its term in time keeps it across many watchdog
 * intervals and more than a TTL. Once it stops touching, its term ends at
 * its local deadline with WATCHDOG, no later than interval + lifetime
 * after the last touch, while its client keeps another name renewed; the
 * waiter is elected only after the server's expiry (the key is not
 * deleted early), with a greater token. */
static void watchdog_ends_a_term_nobody_touches(void) {
  static recorder r;
  recorder_init(&r);
  baton_options o = options(TTL_MS, "watchdog-a");
  o.margin_ms = WATCHDOG_MARGIN_MS;
  int64_t lifetime = 0;
  baton_error err = {0};
  REQUIRE_OK(baton_options_lifetime(&o, &lifetime, &err), &err);
  contender a, b;
  REQUIRE(contender_open_with(&a, kit_name("watchdog"), &o, &r));
  REQUIRE(rival_open(&b, &a, TTL_MS, "watchdog-b", NULL));
  baton_election *other = NULL;
  REQUIRE_OK(baton_election_open(&other, a.c, kit_name("watchdog-other"), NULL, NULL, &err), &err);
  REQUIRE_OK(baton_election_campaign(other, WIN_MS, NULL, &err), &err);
  REQUIRE_OK(baton_election_watchdog(a.e, WATCHDOG_MS, &err), &err);
  uint64_t token = 0;
  REQUIRE_OK(baton_election_campaign(a.e, WIN_MS, &token, &err), &err);
  campaign_call call;
  campaign_start(&call, b.e, HANDOVER_MS);
  /* Touches a tenth of an interval apart, for 1.5 TTLs: the time between
   * them is what is under test. */
  int64_t last_touch = kit_now_ms();
  for (int64_t end = last_touch + TTL_MS * 3 / 2; kit_now_ms() < end;) {
    kit_sleep_ms(WATCHDOG_MS / 10);
    CHECK_OK(baton_election_touch(a.e, &err), &err);
    last_touch = kit_now_ms();
  }
  CHECK_EQ(r.lost, 0);
  CHECK(!campaign_returned(&call));
  /* Now the holder hangs. A touch after the interval (on a per-key-TTL
   * backend too, where no renewal may have noticed yet) is refused, and
   * does not revive the term: the loss below still counts from
   * last_touch. The deadline comes at least interval - renew interval +
   * lifetime after it; a busy host that slept past it is let off. */
  kit_sleep_ms(WATCHDOG_MS + 100);
  int late = baton_election_touch(a.e, &err);
  if (late == BATON_ENOTHOLDER)
    CHECK(!baton_election_is_leader(a.e, NULL, NULL));
  else
    CHECK_EQ(late, BATON_ETIMEDOUT);
  CHECK(await_count(&r, &r.lost, 1, WATCHDOG_MS + TTL_MS + 5000));
  campaign_join(&call);
  CHECK_EQ(r.last_reason, BATON_LOST_WATCHDOG);
  CHECK_LE(r.lost_at_ms - last_touch, WATCHDOG_MS + lifetime + TEST_SLACK_MS);
  CHECK(baton_election_is_leader(other, NULL, NULL));
  CHECK_EQ(baton_election_touch(a.e, &err), BATON_ENOTHOLDER);
  CHECK_OK(call.rc, &call.err);
  CHECK_GT(call.token, token);
  /* The server's expiry comes TTL - lifetime after the local deadline. */
  printf("    successor elected %lld ms after the watchdog loss (server expiry: +%lld ms)\n",
         (long long)(call.returned_ms - r.lost_at_ms), (long long)(TTL_MS - lifetime));
  CHECK_GE(call.returned_ms - r.lost_at_ms, (TTL_MS - lifetime) / 2);
  baton_election_stats st;
  CHECK_OK(baton_election_read_stats(a.e, &st, &err), &err);
  CHECK_EQ(st.stats.terms_lost[BATON_LOST_WATCHDOG], 1);
  /* The other name was renewed throughout: A's frozen deadline did not
   * cut the batch's requests short. */
  CHECK_OK(baton_election_read_stats(other, &st, &err), &err);
  CHECK_EQ(st.stats.renewals_failed, 0);
  baton_election_close(other);
  contender_close(&a);
  contender_close(&b);
  recorder_free(&r);
}

static void callbacks_tell_elected_and_resigned(void) {
  static recorder r;
  recorder_init(&r);
  contender k;
  REQUIRE(contender_open(&k, kit_name("cb"), TTL_MS, "callbacks", &r));
  baton_error err = {0};
  uint64_t token = 0;
  REQUIRE_OK(baton_election_campaign(k.e, WIN_MS, &token, &err), &err);
  CHECK(await_count(&r, &r.elected, 1, 2000));
  CHECK_EQ(r.last_token, token);
  CHECK_OK(baton_election_resign(k.e, &err), &err);
  CHECK(await_count(&r, &r.lost, 1, 2000));
  CHECK_EQ(r.last_reason, BATON_LOST_RESIGNED);
  CHECK_EQ(r.order[0], BATON_EVENT_ELECTED);
  CHECK_EQ(r.order[1], BATON_EVENT_LOST);
  contender_close(&k);
  recorder_free(&r);
}

static void resign_hands_over_by_notification(void) {
  /* A long TTL: a waiter that polled or re-checked on a timer would take
   * seconds; a notified one takes milliseconds. */
  contender a, b;
  REQUIRE(contender_open(&a, kit_name("handover"), 10000, "handover-a", NULL));
  REQUIRE(rival_open(&b, &a, 10000, "handover-b", NULL));
  baton_error err = {0};
  int64_t worst = 0;
  for (int round = 0; round < 5; round++) {
    uint64_t token = 0;
    REQUIRE_OK(baton_election_campaign(a.e, WIN_MS, &token, &err), &err);
    campaign_call call;
    campaign_start(&call, b.e, HANDOVER_MS);
    CHECK(campaign_blocks(&call, 200)); /* A holds */
    int64_t t0 = kit_now_ms();
    CHECK_OK(baton_election_resign(a.e, &err), &err);
    campaign_join(&call);
    CHECK_OK(call.rc, &call.err);
    CHECK_GT(call.token, token);
    int64_t took = call.returned_ms - t0;
    if (took > worst) worst = took;
    CHECK_OK(baton_election_resign(b.e, &err), &err);
  }
  printf("    hand-over after resign: worst %lld ms of 5\n", (long long)worst);
  CHECK_LT(worst, TEST_SLACK_MS); /* the re-check bound is seconds away */
  contender_close(&a);
  contender_close(&b);
}

/* The backend under test, and a copy of its table on the scheme "spy"
 * whose acquire counts the EHELD answers to the candidates "fifo-1" and
 * "fifo-2": on a queueing backend an EHELD acquire leaves the candidate's
 * key queued, so a count of one says that it has arrived. (The suite's
 * servers speak plain schemes; etcds:// would lose its TLS here.) */
static const baton_backend *tested;
static baton_backend spy;
static int spy_held[2]; /* under spy_ev */
static kit_cond spy_ev;

static int spy_acquire(baton_session *s, baton_candidate *c, baton_leader *holder,
                       int64_t deadline, baton_error *err) {
  int rc = tested->acquire(s, c, holder, deadline, err);
  if (rc == BATON_EHELD && strncmp(c->identity, "fifo-", 5) == 0)
    kit_cond_add(&spy_ev, &spy_held[c->identity[5] == '2'], 1);
  return rc;
}

/* The first of two background campaigns to return, or NULL after timeout_ms. */
static campaign_call *await_either(campaign_call *a, campaign_call *b, int timeout_ms) {
  int64_t end = kit_now_ms() + timeout_ms;
  pthread_mutex_lock(&campaigns.mu);
  while (!a->returned && !b->returned && kit_cond_wait(&campaigns, end)) {
  }
  campaign_call *first = a->returned ? a : b->returned ? b : NULL;
  pthread_mutex_unlock(&campaigns.mu);
  return first;
}

/* Register `spy`, a copy of the tested backend's table on schemes[0], and
 * write the server's URI with that scheme into uri. */
/* The table of the backend under test, found by the server URI's scheme;
 * *rest (may be NULL) points at what follows the scheme. NULL when none. */
static const baton_backend *server_backend(const char **rest) {
  baton_error err = {0};
  const char *at = strstr(server->uri, "://");
  if (at == NULL) return NULL;
  if (rest != NULL) *rest = at;
  char scheme[16];
  snprintf(scheme, sizeof scheme, "%.*s", (int)(at - server->uri), server->uri);
  const baton_backend *b = NULL;
  return baton__backend_find(&b, scheme, &err) == 0 ? b : NULL;
}

static bool spy_install(const char *const *schemes, char *uri, size_t size) {
  const char *rest = NULL;
  if ((tested = server_backend(&rest)) == NULL) return false;
  snprintf(uri, size, "%s%s", schemes[0], rest);
  spy = *tested;
  spy.schemes = schemes;
  baton__backend_register_test(&spy);
  return true;
}

/* The spy table in place, a holder h on a fresh name `base` and two
 * waiters "fifo-1" and "fifo-2" opened through the spy; false (all closed)
 * when one cannot open. */
static bool spy_queue_open(contender *h, contender *w1, contender *w2, const char *base) {
  static const char *const spy_schemes[] = {"spy", NULL};
  char uri[sizeof server->uri + 8];
  if (!spy_install(spy_schemes, uri, sizeof uri)) return false;
  spy.acquire = spy_acquire;
  spy_held[0] = spy_held[1] = 0;
  baton_options o1 = options(TTL_MS, "fifo-1"), o2 = options(TTL_MS, "fifo-2");
  if (!contender_open(h, kit_name(base), TTL_MS, "fifo-holder", NULL)) return false;
  bool opened = contender_open_at(w1, uri, h->name, &o1, NULL);
  if (opened && !contender_open_at(w2, uri, h->name, &o2, NULL)) {
    contender_close(w1);
    opened = false;
  }
  if (!opened) contender_close(h);
  return opened;
}

static void waiters_are_served_in_arrival_order(void) {
  baton_error err = {0};
  contender h, w1, w2;
  REQUIRE(spy_queue_open(&h, &w1, &w2, "fifo"));
  /* What this case asserts depends on the capability: a queueing backend
   * serves waiters in the order they arrived; any backend hands over to
   * both, one after the other, with growing tokens. */
  bool queue = (tested->caps & BATON_CAP_QUEUE) != 0;
  REQUIRE_OK(baton_election_campaign(h.e, WIN_MS, NULL, &err), &err);
  campaign_call c1, c2;
  campaign_start(&c1, w1.e, HANDOVER_MS);
  CHECK(kit_await_count(&spy_ev, &spy_held[0], 1, 10000)); /* w1 has arrived */
  campaign_start(&c2, w2.e, HANDOVER_MS);
  CHECK(kit_await_count(&spy_ev, &spy_held[1], 1, 10000)); /* w2 has arrived, after w1 */
  CHECK_OK(baton_election_resign(h.e, &err), &err);
  campaign_call *first = await_either(&c1, &c2, 10000);
  campaign_call *second = first == &c1 ? &c2 : &c1;
  CHECK(first != NULL);
  if (queue) CHECK(first == &c1);
  if (first != NULL) {
    CHECK_OK(first->rc, &first->err);
    CHECK(!campaign_returned(second)); /* it waits while the first holds */
    CHECK_OK(baton_election_resign(first == &c1 ? w1.e : w2.e, &err), &err);
  }
  campaign_join(&c1);
  campaign_join(&c2);
  if (first != NULL) {
    CHECK_OK(second->rc, &second->err);
    CHECK_GT(second->token, first->token);
  }
  contender_close(&w2);
  contender_close(&w1);
  contender_close(&h);
  baton__backend_register_test(NULL);
}

/* Three contenders, one holding and two queued in a known order: the list
 * is the queue in arrival order, the holder first, tokens growing (Redis,
 * which keeps no queue: the holder alone), and the holder's server-side
 * TTL where the backend can tell it. */
static void contenders_list_the_queue_in_order(void) {
  baton_error err = {0};
  contender h, w1, w2;
  REQUIRE(spy_queue_open(&h, &w1, &w2, "queue"));
  bool queue = (tested->caps & BATON_CAP_QUEUE) != 0;
  baton_contender list[8];
  size_t n = 99;
  CHECK_OK(baton_election_contenders(w1.e, list, 8, &n, &err), &err);
  CHECK_EQ(n, 0u); /* nobody holds or waits yet */
  uint64_t token = 0;
  REQUIRE_OK(baton_election_campaign(h.e, WIN_MS, &token, &err), &err);
  campaign_call c1, c2;
  campaign_start(&c1, w1.e, HANDOVER_MS);
  CHECK(kit_await_count(&spy_ev, &spy_held[0], 1, 10000)); /* w1 has arrived */
  campaign_start(&c2, w2.e, HANDOVER_MS);
  CHECK(kit_await_count(&spy_ev, &spy_held[1], 1, 10000)); /* then w2 */
  CHECK_OK(baton_election_contenders(w2.e, list, 8, &n, &err), &err);
  CHECK_EQ(n, queue ? 3u : 1u);
  if (n >= 1) {
    CHECK_STR(list[0].identity, "fifo-holder");
    CHECK_EQ(list[0].token, token);
    if (strncmp(kind, "zk", 2) == 0 || strcmp(kind, "postgres") == 0) {
      CHECK_EQ(list[0].ttl_remaining_ms, -1); /* the holder's session's, not readable */
    } else {
      CHECK_GT(list[0].ttl_remaining_ms, 0);
      CHECK_LE(list[0].ttl_remaining_ms, TTL_MS);
    }
  }
  if (queue && n == 3) {
    CHECK_STR(list[1].identity, "fifo-1");
    CHECK_STR(list[2].identity, "fifo-2");
    CHECK_GT(list[1].token, list[0].token);
    CHECK_GT(list[2].token, list[1].token);
    CHECK_EQ(list[1].ttl_remaining_ms, -1);
  }
  /* A short buffer gets the head of the queue. */
  CHECK_OK(baton_election_contenders(h.e, list, 1, &n, &err), &err);
  CHECK_EQ(n, 1u);
  CHECK_STR(list[0].identity, "fifo-holder");
  CHECK_EQ(baton_election_contenders(h.e, NULL, 1, &n, &err), BATON_EINVAL);
  baton_election_cancel(w1.e);
  baton_election_cancel(w2.e);
  campaign_join(&c1);
  campaign_join(&c2);
  CHECK_EQ(c1.rc, BATON_ECANCELED);
  CHECK_EQ(c2.rc, BATON_ECANCELED);
  contender_close(&w2);
  contender_close(&w1);
  contender_close(&h);
  baton__backend_register_test(NULL);
}

/* A backend whose table has no contenders function answers ENOTSUP with
 * a message naming it. */
static void contenders_unsupported_is_a_clear_error(void) {
  static const char *const plain_schemes[] = {"plain", NULL};
  baton_error err = {0};
  char uri[sizeof server->uri + 8];
  REQUIRE(spy_install(plain_schemes, uri, sizeof uri));
  spy.contenders = NULL;
  baton_options o = options(TTL_MS, "plain");
  contender k;
  REQUIRE(contender_open_at(&k, uri, kit_name("plain"), &o, NULL));
  baton_contender list[2];
  size_t n = 7;
  CHECK_EQ(baton_election_contenders(k.e, list, 2, &n, &err), BATON_ENOTSUP);
  CHECK_EQ(err.code, BATON_ENOTSUP);
  CHECK_CONTAINS(err.message, "plain://");
  CHECK_EQ(n, 0u);
  contender_close(&k);
  baton__backend_register_test(NULL);
}

/* ---- proclaim -------------------------------------------------------------- */

/* The backend under test proclaims (every backend does): before a term,
 * its answer is BATON_ENOTHOLDER. False (a failed check) when it cannot. */
static bool proclaims(baton_election *e) {
  baton_error err = {0};
  int rc = baton_election_proclaim(e, "x", &err);
  CHECK_EQ(rc, BATON_ENOTHOLDER); /* not campaigned yet */
  return rc == BATON_ENOTHOLDER;
}

/* Read the leader and its value through `e` into who/value. */
static int read_value(baton_election *e, baton_leader *who, char *value, size_t *len) {
  baton_error err = {0};
  int rc = baton_election_leader_value(e, who, value, BATON_VALUE_MAX + 1, len, &err);
  if (rc != 0 && rc != BATON_ENOLEADER) TEST_FAIL_("leader_value -> %d (%s)", rc, err.message);
  return rc;
}

static void proclaim_is_seen_by_leader_and_observers(void) {
  static recorder r;
  static char value[BATON_VALUE_MAX + 1], big[BATON_VALUE_MAX + 2];
  recorder_init(&r);
  contender a, w;
  REQUIRE(contender_open(&a, kit_name("proclaim"), TTL_MS, "proclaimer", NULL));
  REQUIRE(rival_open(&w, &a, TTL_MS, "reader", &r));
  baton_error err = {0};
  if (!proclaims(a.e)) {
    contender_close(&a);
    contender_close(&w);
    recorder_free(&r);
    return;
  }
  CHECK_EQ(baton_election_proclaim(NULL, "x", &err), BATON_EINVAL);
  CHECK_EQ(baton_election_proclaim(a.e, NULL, &err), BATON_EINVAL);
  REQUIRE_OK(baton_election_observe(w.e, &err), &err);
  CHECK(await_count(&r, &r.changed, 1, 3000));
  uint64_t token = 0;
  REQUIRE_OK(baton_election_campaign(a.e, WIN_MS, &token, &err), &err);
  CHECK(await_count(&r, &r.changed, 2, 3000));
  CHECK_STR(r.last_leader, "proclaimer");
  CHECK_STR(r.last_value, "");
  baton_leader who;
  size_t len = 99;
  CHECK_EQ(read_value(w.e, &who, value, &len), 0);
  CHECK_STR(value, "");
  CHECK_EQ(len, 0u);
  CHECK_EQ(who.version, 0u);

  /* A proclaim is a change observers hear, with the same token. */
  CHECK_OK(baton_election_proclaim(a.e, "step 1/3", &err), &err);
  CHECK(await_count(&r, &r.changed, 3, 3000));
  CHECK_STR(r.last_value, "step 1/3");
  CHECK_STR(r.last_leader, "proclaimer");
  CHECK_EQ(r.last_leader_token, token);
  CHECK_EQ(read_value(w.e, &who, value, &len), 0);
  CHECK_STR(value, "step 1/3");
  CHECK_STR(who.identity, "proclaimer");
  CHECK_EQ(who.token, token);
  CHECK_GT(who.version, 0u);
  CHECK_OK(baton_election_leader(w.e, &who, &err), &err);
  CHECK_STR(who.identity, "proclaimer");
  CHECK(baton_election_is_leader(a.e, NULL, NULL));

  /* Odd bytes come back as they went. */
  const char *odd = "he said \"hi\"\n\ttab \\ back\x01 caf\xc3\xa9 {\"k\":[1]}";
  CHECK_OK(baton_election_proclaim(a.e, odd, &err), &err);
  CHECK_EQ(read_value(w.e, &who, value, &len), 0);
  CHECK_STR(value, odd);
  CHECK_STR(who.identity, "proclaimer");

  /* The limit: BATON_VALUE_MAX bytes pass, one more is refused. */
  memset(big, 'v', sizeof big - 1);
  big[BATON_VALUE_MAX + 1] = '\0';
  CHECK_EQ(baton_election_proclaim(a.e, big, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "4096");
  big[BATON_VALUE_MAX] = '\0';
  CHECK_OK(baton_election_proclaim(a.e, big, &err), &err);
  CHECK_EQ(read_value(w.e, &who, value, &len), 0);
  CHECK_EQ(len, (size_t)BATON_VALUE_MAX);
  CHECK_EQ(strlen(value), (size_t)BATON_VALUE_MAX);
  char small[8];
  CHECK_OK(baton_election_leader_value(w.e, &who, small, sizeof small, &len, &err), &err);
  CHECK_STR(small, "vvvvvvv");
  CHECK_EQ(len, (size_t)BATON_VALUE_MAX);

  /* The queue still names the holder. */
  baton_contender list[2];
  size_t n = 0;
  int rc = baton_election_contenders(w.e, list, 2, &n, &err);
  if (rc != BATON_ENOTSUP) {
    CHECK_OK(rc, &err);
    CHECK_EQ(n, 1u);
    CHECK_STR(list[0].identity, "proclaimer");
  }

  /* After the term: refused, and a new term starts with no value. */
  CHECK_OK(baton_election_resign(a.e, &err), &err);
  CHECK_EQ(baton_election_proclaim(a.e, "late", &err), BATON_ENOTHOLDER);
  CHECK_EQ(read_value(w.e, &who, value, &len), BATON_ENOLEADER);
  uint64_t again = 0;
  REQUIRE_OK(baton_election_campaign(a.e, WIN_MS, &again, &err), &err);
  CHECK_EQ(read_value(w.e, &who, value, &len), 0);
  CHECK_EQ(who.token, again);
  CHECK_STR(who.identity, "proclaimer");
  CHECK_STR(value, "");
  baton_election_observe_stop(w.e);
  contender_close(&a);
  contender_close(&w);
  recorder_free(&r);
}

/* A term lost at its local deadline refuses proclaim, though its key is
 * still on the server until the server's expiry. */
static void proclaim_after_loss_is_refused(void) {
  static recorder r;
  recorder_init(&r);
  contender a;
  REQUIRE(contender_open(&a, kit_name("proclaim-lost"), TTL_MS, "lost-proclaimer", &r));
  baton_error err = {0};
  if (!proclaims(a.e)) {
    contender_close(&a);
    recorder_free(&r);
    return;
  }
  REQUIRE_OK(baton_election_watchdog(a.e, WATCHDOG_MS, &err), &err);
  REQUIRE_OK(baton_election_campaign(a.e, WIN_MS, NULL, &err), &err);
  CHECK_OK(baton_election_proclaim(a.e, "working", &err), &err);
  /* Nobody touches: the term ends at its local deadline. */
  CHECK(await_count(&r, &r.lost, 1, WATCHDOG_MS + TTL_MS + 5000));
  CHECK_EQ(baton_election_proclaim(a.e, "too late", &err), BATON_ENOTHOLDER);
  CHECK_EQ(err.code, BATON_ENOTHOLDER);
  contender_close(&a);
  recorder_free(&r);
}

/* A proclaim by a contender whose campaign of the same election waits is
 * refused at once, not held behind the campaign: it writes nothing, and
 * when that campaign wins, its new term starts with no value. */
static void proclaim_while_campaigning_is_refused(void) {
  static char value[BATON_VALUE_MAX + 1];
  contender a, b;
  REQUIRE(contender_open(&a, kit_name("proclaim-queue"), TTL_MS, "holder", NULL));
  REQUIRE(rival_open(&b, &a, TTL_MS, "waiter", NULL));
  baton_error err = {0};
  if (!proclaims(a.e)) {
    contender_close(&a);
    contender_close(&b);
    return;
  }
  REQUIRE_OK(baton_election_campaign(a.e, WIN_MS, NULL, &err), &err);
  CHECK_OK(baton_election_proclaim(a.e, "holder's", &err), &err);
  /* Not UTF-8 (a cut character, an overlong '/', a surrogate): refused on
   * every backend alike, nothing written (the value read below). */
  CHECK_EQ(baton_election_proclaim(a.e, "caf\xc3", &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "UTF-8");
  CHECK_EQ(baton_election_proclaim(a.e, "\xc0\xaf", &err), BATON_EINVAL);
  CHECK_EQ(baton_election_proclaim(a.e, "\xed\xa0\x80", &err), BATON_EINVAL);
  campaign_call call;
  campaign_start(&call, b.e, 10000);
  CHECK(campaign_blocks(&call, 300));
  int64_t before = kit_now_ms();
  CHECK_EQ(baton_election_proclaim(b.e, "stale", &err), BATON_ENOTHOLDER);
  int64_t took = kit_now_ms() - before;
  CHECK(took < 500);
  if (took >= 500) printf("    proclaim took %lld ms\n", (long long)took);
  baton_leader who;
  size_t len = 0;
  CHECK_EQ(read_value(a.e, &who, value, &len), 0);
  CHECK_STR(who.identity, "holder");
  CHECK_STR(value, "holder's");
  /* The waiting campaign wins; nothing meant for before is on its term. */
  CHECK_OK(baton_election_resign(a.e, &err), &err);
  campaign_join(&call);
  CHECK_OK(call.rc, &call.err);
  CHECK_EQ(read_value(a.e, &who, value, &len), 0);
  CHECK_STR(who.identity, "waiter");
  CHECK_EQ(who.token, call.token);
  CHECK_STR(value, "");
  contender_close(&a);
  contender_close(&b);
}

/* etcd: how many leases the first member knows (/v3/lease/leases), or -1. */
static int etcd_lease_count(void) {
  static const char req[] = "POST /v3/lease/leases HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                            "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
  char buf[65536];
  if (test_tcp_ask(server->member[0].port, req, sizeof req - 1, buf, sizeof buf, 2000) != 0 ||
      strstr(buf, "\"header\"") == NULL)
    return -1;
  int n = 0;
  for (const char *p = buf; (p = strstr(p, "\"ID\"")) != NULL; p += 4) n++;
  return n;
}

/* A read-only client answers leader and contenders, refuses to campaign,
 * and on etcd holds no lease (a normal client holds one from its open). */
static void read_only_client_takes_no_lease(void) {
  bool etcd = strncmp(kind, "etcd", 4) == 0;
  baton_error err = {0};
  contender h;
  REQUIRE(contender_open(&h, kit_name("ro"), TTL_MS, "ro-holder", NULL));
  uint64_t token = 0;
  REQUIRE_OK(baton_election_campaign(h.e, WIN_MS, &token, &err), &err);
  int before = etcd ? etcd_lease_count() : 0;
  if (etcd) CHECK_GE(before, 1);
  baton_options o = options(TTL_MS, "ro");
  o.flags = BATON_CLIENT_READ_ONLY;
  contender r;
  REQUIRE(contender_open_with(&r, h.name, &o, NULL));
  if (etcd) CHECK_EQ(etcd_lease_count(), before);
  baton_leader who;
  CHECK_OK(baton_election_leader(r.e, &who, &err), &err);
  CHECK_EQ(who.token, token);
  CHECK_STR(who.identity, "ro-holder");
  baton_contender list[4];
  size_t n = 0;
  CHECK_OK(baton_election_contenders(r.e, list, 4, &n, &err), &err);
  CHECK_EQ(n, 1u);
  CHECK_EQ(list[0].token, token);
  CHECK_EQ(baton_election_campaign(r.e, 0, NULL, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "read-only");
  CHECK_EQ(baton_election_try_campaign(r.e, NULL, NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_election_start(r.e, &err), BATON_EINVAL);
  if (etcd) CHECK_EQ(etcd_lease_count(), before);
  contender_close(&r);
  if (etcd) CHECK_EQ(etcd_lease_count(), before);
  /* Flags this version does not know are refused at open. */
  o.flags = 1u << 7;
  baton_client *bad = NULL;
  CHECK_EQ(baton_client_open(&bad, server->uri, &o, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "flags");
  contender_close(&h);
}

static void killed_holder_is_replaced_within_ttl(void) {
  const char *name = kit_name("crash");
  char line[128];
  const char *args[] = {"hold", server->uri, name, NULL};
  kit_proc *holder = elected_child(args, line, sizeof line);
  REQUIRE(holder != NULL);
  CHECK(strncmp(line, "elected ", 8) == 0);
  uint64_t child_token = strtoull(line + 8, NULL, 10);

  contender k;
  REQUIRE(contender_open(&k, name, TTL_MS, "successor", NULL));
  campaign_call call;
  campaign_start(&call, k.e, HANDOVER_MS);
  CHECK(campaign_blocks(&call, 200)); /* the child holds */
  int64_t t0 = kit_now_ms();
  kit_proc_stop(holder, SIGKILL, 5000);
  campaign_join(&call);
  CHECK_OK(call.rc, &call.err);
  CHECK_GT(call.token, child_token);
  int64_t took = call.returned_ms - t0;
  printf("    fail-over after SIGKILL: %lld ms (TTL %d ms)\n", (long long)took, TTL_MS);
  CHECK_LT(took, TTL_MS + 1000);
  contender_close(&k);
}

static void paused_server_makes_the_holder_step_down_in_time(void) {
  static recorder r;
  recorder_init(&r);
  /* A margin that covers a loaded machine's scheduling delay of the
   * callback thread: the margin is what makes the callback safe in time. */
  enum { MARGIN_MS = 400 };
  baton_options o = options(TTL_MS, "paused");
  o.margin_ms = MARGIN_MS;
  contender k;
  REQUIRE(contender_open_with(&k, kit_name("pause"), &o, &r));
  baton_error err = {0};
  REQUIRE_OK(baton_election_campaign(k.e, WIN_MS, NULL, &err), &err);
  for (int i = 0; i < server->n; i++) test_server_pause(&server->member[i]);
  /* From now on no renewal can succeed: the local deadline is fixed. */
  int64_t remaining = 0;
  int64_t t_paused = kit_now_ms();
  bool leader = baton_election_is_leader(k.e, NULL, &remaining);
  int64_t local_deadline = t_paused + remaining;
  /* The server's TTL cannot have run out before the last successful
   * renewal's send time + TTL, which is later than this by drift+margin. */
  int64_t earliest_server_expiry = local_deadline + TTL_MS / 100 + MARGIN_MS;
  bool lost = await_count(&r, &r.lost, 1, TTL_MS + 2000);
  int64_t lost_at = r.lost_at_ms;
  bool still = baton_election_is_leader(k.e, NULL, NULL);
  for (int i = 0; i < server->n; i++) test_server_resume(&server->member[i]);
  REQUIRE(leader);
  REQUIRE(lost);
  CHECK(!still);
  printf("    lost %lld ms after the pause; local deadline %+lld ms; server expiry >= %+lld ms\n",
         (long long)(lost_at - t_paused), (long long)(lost_at - local_deadline),
         (long long)(lost_at - earliest_server_expiry));
  CHECK(r.last_reason == BATON_LOST_DEADLINE || r.last_reason == BATON_LOST_CONNECTION);
  CHECK_LT(lost_at, earliest_server_expiry);
  CHECK_GE(lost_at, local_deadline - 5);
  CHECK_LE(lost_at, local_deadline + TEST_SLACK_MS);
  /* The client recovers: a new term with a greater token. */
  pthread_mutex_lock(&r.ev.mu);
  uint64_t lost_token = r.last_token;
  pthread_mutex_unlock(&r.ev.mu);
  uint64_t token = 0;
  CHECK_OK(baton_election_campaign(k.e, HANDOVER_MS, &token, &err), &err);
  CHECK_GT(token, lost_token);
  contender_close(&k);
  recorder_free(&r);
}

static void tokens_grow_across_a_server_restart(void) {
  contender k;
  REQUIRE(contender_open(&k, kit_name("restart"), TTL_MS, "restart", NULL));
  baton_error err = {0};
  uint64_t before = 0, after = 0;
  REQUIRE_OK(baton_election_campaign(k.e, WIN_MS, &before, &err), &err);
  for (int i = 0; i < server->n; i++) CHECK_EQ(test_server_restart(&server->member[i]), 0);
  /* Whatever the restart did to the term, a term after it has a greater
   * token. */
  baton_election_resign(k.e, &err);
  CHECK_OK(baton_election_campaign(k.e, HANDOVER_MS, &after, &err), &err);
  CHECK_GT(after, before);
  contender_close(&k);
}

static void campaign_times_out_and_leaves_nothing(void) {
  contender a, b;
  REQUIRE(contender_open(&a, kit_name("timeout"), TTL_MS, "timeout-a", NULL));
  REQUIRE(rival_open(&b, &a, TTL_MS, "timeout-b", NULL));
  baton_error err = {0};
  REQUIRE_OK(baton_election_campaign(a.e, WIN_MS, NULL, &err), &err);
  int64_t t0 = kit_now_ms();
  CHECK_EQ(baton_election_campaign(b.e, 300, NULL, &err), BATON_ETIMEDOUT);
  int64_t took = kit_now_ms() - t0;
  CHECK_GE(took, 290);
  CHECK_LT(took, 300 + TEST_SLACK_MS);
  CHECK_CONTAINS(err.message, "timeout-a");
  /* After the holder resigns, nobody leads: the timed-out candidate left
   * no queue entry behind. */
  CHECK_OK(baton_election_resign(a.e, &err), &err);
  baton_leader l;
  CHECK_EQ(baton_election_leader(a.e, &l, &err), BATON_ENOLEADER);
  CHECK_EQ(baton_election_try_campaign(b.e, NULL, NULL, &err), 0);
  contender_close(&a);
  contender_close(&b);
}

static void campaign_is_cancellable(void) {
  contender a, b;
  REQUIRE(contender_open(&a, kit_name("cancel"), TTL_MS, "cancel-a", NULL));
  REQUIRE(rival_open(&b, &a, TTL_MS, "cancel-b", NULL));
  baton_error err = {0};
  REQUIRE_OK(baton_election_campaign(a.e, WIN_MS, NULL, &err), &err);
  campaign_call call;
  campaign_start(&call, b.e, BATON_FOREVER);
  CHECK(campaign_blocks(&call, 300)); /* A holds */
  int64_t t0 = kit_now_ms();
  baton_election_cancel(b.e);
  campaign_join(&call);
  CHECK_EQ(call.rc, BATON_ECANCELED);
  CHECK_LT(call.returned_ms - t0, TEST_SLACK_MS);
  CHECK_OK(baton_election_resign(a.e, &err), &err);
  baton_leader l;
  CHECK_EQ(baton_election_leader(a.e, &l, &err), BATON_ENOLEADER);
  contender_close(&a);
  contender_close(&b);
}

static void observe_reports_each_leader(void) {
  static recorder r;
  recorder_init(&r);
  contender a, w;
  REQUIRE(contender_open(&a, kit_name("observe"), TTL_MS, "observed-a", NULL));
  REQUIRE(rival_open(&w, &a, TTL_MS, "watcher", &r));
  baton_error err = {0};
  REQUIRE_OK(baton_election_observe(w.e, &err), &err);
  CHECK(await_count(&r, &r.changed, 1, 3000)); /* the current state: none */
  CHECK_STR(r.last_leader, "");
  uint64_t token = 0;
  REQUIRE_OK(baton_election_campaign(a.e, WIN_MS, &token, &err), &err);
  CHECK(await_count(&r, &r.changed, 2, 3000));
  CHECK_STR(r.last_leader, "observed-a");
  CHECK_EQ(r.last_leader_token, token);
  CHECK_OK(baton_election_resign(a.e, &err), &err);
  CHECK(await_count(&r, &r.changed, 3, 3000));
  CHECK_STR(r.last_leader, "");
  baton_election_observe_stop(w.e);
  contender_close(&a);
  contender_close(&w);
  recorder_free(&r);
}

static void candidate_mode_campaigns_again(void) {
  static recorder ra, rb;
  recorder_init(&ra);
  recorder_init(&rb);
  contender a, b;
  REQUIRE(contender_open(&a, kit_name("candidate"), TTL_MS, "cand-a", &ra));
  REQUIRE(rival_open(&b, &a, TTL_MS, "cand-b", &rb));
  baton_error err = {0};
  REQUIRE_OK(baton_election_start(a.e, &err), &err);
  REQUIRE(await_count(&ra, &ra.elected, 1, 5000));
  REQUIRE_OK(baton_election_start(b.e, &err), &err);
  /* A steps out of candidate mode: B takes over. */
  baton_election_stop(a.e);
  CHECK(await_count(&ra, &ra.lost, 1, 3000));
  CHECK(await_count(&rb, &rb.elected, 1, 5000));
  CHECK(baton_election_is_leader(b.e, NULL, NULL));
  CHECK(!baton_election_is_leader(a.e, NULL, NULL));
  contender_close(&a);
  contender_close(&b);
  recorder_free(&ra);
  recorder_free(&rb);
}

static void lock_flavour_returns_tokens(void) {
  baton_client *c = open_client(TTL_MS, "locker"), *d = open_client(TTL_MS, "other");
  REQUIRE(c != NULL && d != NULL);
  const char *name = kit_name("lock");
  baton_lock *l = NULL, *m = NULL;
  baton_error err = {0};
  REQUIRE_OK(baton_lock_open(&l, c, name, NULL, NULL, &err), &err);
  REQUIRE_OK(baton_lock_open(&m, d, name, NULL, NULL, &err), &err);
  uint64_t t1 = 0, t2 = 0, held = 0;
  CHECK_OK(baton_lock_acquire(l, WIN_MS, &t1, &err), &err);
  CHECK(baton_lock_held(l, &held, NULL));
  CHECK_EQ(held, t1);
  CHECK_EQ(baton_lock_try_acquire(m, NULL, &err), BATON_EHELD);
  CHECK_EQ(baton_lock_acquire(m, 200, NULL, &err), BATON_ETIMEDOUT);
  CHECK_OK(baton_lock_release(l, &err), &err);
  CHECK_EQ(baton_lock_release(l, &err), BATON_ENOTHOLDER);
  CHECK_OK(baton_lock_try_acquire(m, &t2, &err), &err);
  CHECK_GT(t2, t1);
  baton_lock_close(l);
  baton_lock_close(m); /* closing a held lock releases it */
  baton_client *e = open_client(TTL_MS, "third");
  baton_lock *n = NULL;
  REQUIRE(e != NULL);
  REQUIRE_OK(baton_lock_open(&n, e, name, NULL, NULL, &err), &err);
  CHECK_OK(baton_lock_try_acquire(n, NULL, &err), &err);
  baton_lock_close(n);
  baton_client_close(c);
  baton_client_close(d);
  baton_client_close(e);
}

static void bad_input_gets_clear_errors(void) {
  baton_error err = {0};
  baton_client *c = NULL;
  CHECK_EQ(baton_client_open(NULL, server->uri, NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_client_open(&c, NULL, NULL, &err), BATON_EINVAL);
  CHECK(c == NULL);
  CHECK_EQ(baton_client_open(&c, "nope://h:1", NULL, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "unknown URI scheme");
  CHECK_EQ(baton_client_open(&c, "redis//h:1", NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_client_open(&c, server->uri, NULL, NULL), 0); /* err may be NULL */
  REQUIRE(c != NULL);
  baton_election *e = NULL;
  CHECK_EQ(baton_election_open(&e, c, NULL, NULL, NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_election_open(&e, NULL, "x", NULL, NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_election_open(NULL, c, "x", NULL, NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_election_open(&e, c, "bad/name", NULL, NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_election_open(&e, c, "bad\x01name", NULL, NULL, &err), BATON_EINVAL);
  char longname[BATON_NAME_MAX + 10];
  memset(longname, 'x', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  CHECK_EQ(baton_election_open(&e, c, longname, NULL, NULL, &err), BATON_EINVAL);
  CHECK(e == NULL);
  CHECK_EQ(baton_election_campaign(NULL, 10, NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_election_try_campaign(NULL, NULL, NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_election_resign(NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_election_leader(NULL, NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_election_observe(NULL, &err), BATON_EINVAL);
  CHECK(!baton_election_is_leader(NULL, NULL, NULL));
  baton_election_cancel(NULL);
  baton_election_close(NULL);
  baton_election_observe_stop(NULL);
  baton_election_stop(NULL);
  baton_lock_close(NULL);
  baton_client_close(NULL);
  /* A name at the length limit works end to end. */
  longname[BATON_NAME_MAX] = '\0';
  REQUIRE_OK(baton_election_open(&e, c, longname, NULL, NULL, &err), &err);
  /* A campaign, not one attempt: a first term on a Redis that restarted
   * less than a TTL ago (an earlier case restarts the server) waits. */
  CHECK_OK(baton_election_campaign(e, 10000, NULL, &err), &err);
  baton_leader l;
  CHECK_OK(baton_election_leader(e, &l, &err), &err);
  baton_election_close(e);
  baton_client_close(c);
}

/* The server's URI (its user, path and options) with the i-th member's
 * address "127.0.0.1:PORT" replaced by host:port + i (Redlock takes no
 * fewer than 3 members, and distinct ones). */
static void uri_moved_to(char *out, size_t size, const char *host, int port) {
  size_t n = 0;
  int member = 0;
  for (const char *p = server->uri; *p != '\0' && n + 64 < size;) {
    if (strncmp(p, "127.0.0.1:", 10) == 0) {
      n += (size_t)snprintf(out + n, size - n, "%s:%d", host, port + member++);
      for (p += 10; *p >= '0' && *p <= '9'; p++) continue;
    } else {
      out[n++] = *p++;
    }
  }
  out[n] = '\0';
}

static void unreachable_server_fails_within_the_connect_timeout(void) {
  int port = test_free_port();
  char uri[sizeof server->uri + 256];
  uri_moved_to(uri, sizeof uri, "127.0.0.1", port);
  baton_options o = {.connect_timeout_ms = 500, .op_timeout_ms = 500};
  baton_client *c = NULL;
  baton_error err = {0};
  int64_t t0 = kit_now_ms();
  int rc = baton_client_open(&c, uri, &o, &err);
  int64_t took = kit_now_ms() - t0;
  CHECK(rc == BATON_ECONNECT || rc == BATON_ETIMEDOUT);
  CHECK(c == NULL);
  CHECK_CONTAINS(err.message, "127.0.0.1");
  CHECK_LT(took, 1000 + TEST_SLACK_MS);
  /* A non-routable address: the connect itself hangs; the timeout holds. */
  uri_moved_to(uri, sizeof uri, "10.255.255.1", port);
  t0 = kit_now_ms();
  rc = baton_client_open(&c, uri, &o, &err);
  took = kit_now_ms() - t0;
  CHECK(rc == BATON_ECONNECT || rc == BATON_ETIMEDOUT);
  CHECK_LT(took, 1000 + TEST_SLACK_MS);
}

static void closing_a_held_election_hands_over(void) {
  contender a, b;
  REQUIRE(contender_open(&a, kit_name("close"), 10000, "closer", NULL));
  REQUIRE(rival_open(&b, &a, 10000, "next", NULL));
  baton_error err = {0};
  REQUIRE_OK(baton_election_campaign(a.e, WIN_MS, NULL, &err), &err);
  campaign_call call;
  campaign_start(&call, b.e, HANDOVER_MS);
  CHECK(campaign_blocks(&call, 200)); /* A holds */
  int64_t t0 = kit_now_ms();
  forget_handles(a.c);
  baton_client_close(a.c); /* closes a.e, which resigns */
  a = (contender){0};
  campaign_join(&call);
  CHECK_OK(call.rc, &call.err);
  CHECK_LT(call.returned_ms - t0, 1000);
  contender_close(&b);
}

static void cancel_before_the_campaign_is_not_lost(void) {
  contender a, b;
  REQUIRE(contender_open(&a, kit_name("pending"), TTL_MS, "pending-a", NULL));
  REQUIRE(rival_open(&b, &a, TTL_MS, "pending-b", NULL));
  baton_error err = {0};
  REQUIRE_OK(baton_election_campaign(a.e, WIN_MS, NULL, &err), &err);
  /* A cancel that lands before the campaign starts still ends it... */
  baton_election_cancel(b.e);
  int64_t t0 = kit_now_ms();
  CHECK_EQ(baton_election_campaign(b.e, 10000, NULL, &err), BATON_ECANCELED);
  CHECK_LT(kit_now_ms() - t0, TEST_SLACK_MS);
  /* ...once: the next campaign runs normally (and times out here). */
  CHECK_EQ(baton_election_campaign(b.e, 300, NULL, &err), BATON_ETIMEDOUT);
  CHECK_OK(baton_election_resign(a.e, &err), &err);
  CHECK_OK(baton_election_campaign(b.e, WIN_MS, NULL, &err), &err);
  contender_close(&a);
  contender_close(&b);
}

/* A child (child_lose MODE) holds a term; it is stopped past its local
 * deadline and resumed between that and the earliest time the server
 * could expire its term, and then ends the term's use as MODE says. Its
 * key must live until that expiry whatever the path: a successor queued
 * meanwhile is not elected before it, and on Redis the key's first
 * "del", "expired" or "set" (replaced by the child's next term) event is
 * not before it. */
static void lost_key_outlives_the_server_expiry(const char *mode) {
  const char *name = kit_name("lost-key");
  bool redis = strcmp(kind, "redis") == 0;
  char line[128];
  const char *args[] = {"lose", mode, server->uri, name, NULL};
  kit_proc *loser = elected_child(args, line, sizeof line);
  REQUIRE(loser != NULL);
  kill(loser->pid, SIGSTOP);
  /* Subscribed while the child is stopped: what comes next is its key's
   * end, or the successor's, which come later. */
  int events = redis ? key_events_open(name) : -1;
  if (redis && events < 0)
    TEST_FAIL_("cannot subscribe to the keyspace events of %s", name);
  unsigned long long child_token = 0;
  long long deadline = 0;
  bool parsed = sscanf(line, "elected %llu %lld", &child_token, &deadline) == 2;
  baton_options o = options(TTL_MS, NULL);
  o.margin_ms = LOSER_MARGIN_MS;
  int64_t lifetime = 0;
  parsed = parsed && baton_options_lifetime(&o, &lifetime, NULL) == 0;
  contender k;
  bool opened = parsed && contender_open(&k, name, TTL_MS, "successor", NULL);
  if (!opened) key_events_close(events);
  REQUIRE(opened);
  int64_t sent = deadline - lifetime; /* no later than the truth */
  int64_t expiry = sent + TTL_MS;     /* the server's, at the earliest */
  campaign_call call;
  campaign_start(&call, k.e, expiry + 1500 - kit_now_ms());
  int64_t resume_at = deadline + (TTL_MS - lifetime) / 2;
  kit_sleep_ms(kit_ms_left(resume_at)); /* the time between the two is under test */
  kill(loser->pid, SIGCONT);
  int64_t resumed = kit_now_ms();
  char what[16] = "";
  int64_t ended = events >= 0 ? key_end_await(events, expiry + 1500, what, sizeof what) : 0;
  campaign_join(&call);
  /* Resumed past the expiry (a loaded machine), the case tests nothing. */
  CHECK_LT(resumed, expiry);
  /* A child that campaigns again may win the race for the name once its
   * old key is gone: then the successor times out, and (on Redis) the key
   * events alone tell when the old key went. */
  bool recampaigns = strcmp(mode, "campaign") == 0 || strcmp(mode, "start") == 0;
  if (!(recampaigns && call.rc == BATON_ETIMEDOUT)) {
    CHECK_OK(call.rc, &call.err);
    if (call.rc == 0) {
      CHECK_GT(call.token, child_token);
      printf("    %s: successor elected %+lld ms from the lost term's earliest server expiry\n",
             mode, (long long)(call.returned_ms - expiry));
      CHECK_GE(call.returned_ms, expiry);
    }
  }
  if (events >= 0) {
    printf("    %s: the key's end (%s) %+lld ms from that expiry\n", mode, what,
           (long long)(ended - expiry));
    CHECK_GT(ended, 0);
    CHECK_GE(ended, expiry);
  }
  kit_proc_stop(loser, SIGKILL, 5000);
  contender_close(&k);
  key_events_close(events);
}

static void lost_term_keeps_its_key_until_the_server_expiry(void) {
  lost_key_outlives_the_server_expiry("hold");
}

static void deadline_lost_key_survives_a_new_campaign(void) {
  lost_key_outlives_the_server_expiry("campaign");
}

static void deadline_lost_key_survives_candidate_mode(void) {
  lost_key_outlives_the_server_expiry("start");
}

static void deadline_lost_key_survives_election_close(void) {
  lost_key_outlives_the_server_expiry("close-election");
}

static void deadline_lost_key_survives_client_close(void) {
  lost_key_outlives_the_server_expiry("close-client");
}

static void two_elections_on_one_name_are_two_candidates(void) {
  /* One client, one session: its two elections of one name must still
   * contend as two candidates, as two clients would. */
  baton_client *c = open_client(TTL_MS, "twice");
  REQUIRE(c != NULL);
  const char *name = kit_name("twice");
  baton_election *a = NULL, *b = NULL;
  baton_error err = {0};
  CHECK_OK(baton_election_open(&a, c, name, NULL, NULL, &err), &err);
  CHECK_OK(baton_election_open(&b, c, name, NULL, NULL, &err), &err);
  uint64_t ta = 0, tb = 0;
  baton_leader holder = {0}, now = {0};
  if (a != NULL && b != NULL && baton_election_try_campaign(a, &ta, NULL, &err) == 0) {
    CHECK_EQ(baton_election_try_campaign(b, &tb, &holder, &err), BATON_EHELD);
    CHECK_EQ(holder.token, ta);
    CHECK(!baton_election_is_leader(b, NULL, NULL));
    CHECK_OK(baton_election_leader(b, &now, &err), &err);
    CHECK_EQ(now.token, ta);
    /* A blocking campaign waits for the first's term to end. */
    campaign_call call;
    campaign_start(&call, b, HANDOVER_MS);
    CHECK(campaign_blocks(&call, 300));
    CHECK_OK(baton_election_resign(a, &err), &err);
    campaign_join(&call);
    CHECK_OK(call.rc, &call.err);
    CHECK_GT(call.token, ta);
    CHECK(baton_election_is_leader(b, &tb, NULL));
    CHECK_EQ(tb, call.token);
    CHECK(!baton_election_is_leader(a, NULL, NULL));
    CHECK_OK(baton_election_leader(a, &now, &err), &err);
    CHECK_EQ(now.token, call.token);
  } else {
    TEST_FAIL_("the first election on %s did not win: %s", name, err.message);
  }
  baton_election_close(a);
  baton_election_close(b);
  /* The same with locks, one attempt each. */
  baton_lock *l = NULL, *m = NULL;
  uint64_t tl = 0, tm = 0;
  name = kit_name("twice-lock");
  CHECK_OK(baton_lock_open(&l, c, name, NULL, NULL, &err), &err);
  CHECK_OK(baton_lock_open(&m, c, name, NULL, NULL, &err), &err);
  if (l != NULL && m != NULL) {
    CHECK_OK(baton_lock_try_acquire(l, &tl, &err), &err);
    CHECK_EQ(baton_lock_try_acquire(m, &tm, &err), BATON_EHELD);
    CHECK(!baton_lock_held(m, NULL, NULL));
    CHECK_OK(baton_lock_release(l, &err), &err);
    CHECK_OK(baton_lock_try_acquire(m, &tm, &err), &err);
    CHECK_GT(tm, tl);
  }
  baton_lock_close(l);
  baton_lock_close(m);
  baton_client_close(c);
}

/* Close a waiting candidate while its campaign blocks (another client
 * holds the name), ROUNDS times: by baton_election_close, or with
 * by_client by baton_client_close, which closes the election. The
 * campaign returns BATON_ECANCELED, and before the close returns. */
static void close_while_a_campaign_blocks(bool by_client) {
  enum { ROUNDS = 100 };
  contender a;
  REQUIRE(contender_open(&a, kit_name("closing"), TTL_MS, "closing-holder", NULL));
  baton_error err = {0};
  bool held = baton_election_campaign(a.e, WIN_MS, NULL, &err) == 0;
  if (!held) contender_close(&a);
  REQUIRE(held);
  baton_client *shared = by_client ? NULL : open_client(TTL_MS, "closing-waiter");
  int rounds = 0, blocked = 0, awaited = 0, cancelled = 0;
  int64_t give_up = kit_now_ms() + 30000;
  for (int i = 0; i < ROUNDS && kit_now_ms() < give_up; i++) {
    baton_client *c = by_client ? open_client(TTL_MS, "closing-waiter") : shared;
    baton_election *e = NULL;
    if (c == NULL || baton_election_open(&e, c, a.name, NULL, NULL, &err) != 0) {
      if (by_client) baton_client_close(c);
      TEST_FAIL_("round %d: cannot open the waiter: %s", i, err.message);
      break;
    }
    campaign_call call;
    campaign_start(&call, e, HANDOVER_MS);
    /* Close only once the campaign is inside the call (closing an election
     * before a call on it would be the test's bug); the pause after varies
     * where in it the close finds it. The holder holds: it cannot return
     * alone. */
    /* (No event says so: the library's count is looked at.) */
    for (int64_t t = kit_now_ms() + 5000; baton__election_campaigns(e) == 0 && kit_ms_left(t) > 0;)
      kit_sleep_ms(1);
    blocked += campaign_blocks(&call, i % 10);
    if (by_client)
      baton_client_close(c);
    else
      baton_election_close(e);
    /* Close waited until the campaign was done with the election; what is
     * left of the call (returning, the test's own bookkeeping) takes the
     * thread moments, never the holder's TTL. */
    int64_t closed_ms = kit_now_ms();
    campaign_join(&call);
    rounds++;
    awaited += call.returned_ms - closed_ms < TEST_SLACK_MS;
    cancelled += call.rc == BATON_ECANCELED;
    if (call.rc != BATON_ECANCELED && cancelled + 1 == rounds)
      printf("    round %d: the campaign returned %d (%s)\n", i, call.rc, call.err.message);
  }
  printf("    %d rounds: %d blocked, %d returned at the close, %d cancelled\n", rounds, blocked,
         awaited, cancelled);
  CHECK_EQ(rounds, ROUNDS);
  CHECK_EQ(blocked, rounds);
  CHECK_EQ(awaited, rounds);
  CHECK_EQ(cancelled, rounds);
  CHECK(baton_election_is_leader(a.e, NULL, NULL));
  baton_client_close(shared);
  contender_close(&a);
}

static void close_cancels_a_blocked_campaign(void) { close_while_a_campaign_blocks(false); }

static void client_close_cancels_a_blocked_campaign(void) { close_while_a_campaign_blocks(true); }

/* Fill err with what no successful call may leave in it. */
static baton_error *garbage(baton_error *err) {
  memset(err, 'x', sizeof *err);
  err->code = BATON_EPROTO;
  err->message[sizeof err->message - 1] = '\0';
  return err;
}

/* A call that must succeed and leave *errp cleared (code 0, message ""). */
#define CHECK_CLEARED(call, errp)                                                    \
  do {                                                                               \
    int rc_ = (call);                                                                \
    if (rc_ != 0 || (errp)->code != 0 || (errp)->message[0] != '\0')                 \
      TEST_FAIL_("%s -> %d, leaves code %d, message \"%.40s\"", #call, rc_, (errp)->code, \
                 (errp)->message);                                                   \
  } while (0)

static void success_clears_the_error(void) {
  char name[BATON_NAME_MAX + 1];
  snprintf(name, sizeof name, "%s", kit_name("clear")); /* fresh_name reuses its buffer */
  baton_options o = options(TTL_MS, "clear-a");
  baton_client *c = NULL;
  baton_election *a = NULL, *t = NULL, *s = NULL;
  baton_lock *l = NULL;
  baton_error err;
  CHECK_CLEARED(baton_election_name_check(name, garbage(&err)), &err);
  CHECK_CLEARED(baton_client_open(&c, server->uri, &o, garbage(&err)), &err);
  REQUIRE(c != NULL);
  CHECK_CLEARED(baton_election_open(&a, c, name, NULL, NULL, garbage(&err)), &err);
  CHECK_CLEARED(baton_election_open(&t, c, kit_name("clear-try"), NULL, NULL, garbage(&err)),
                &err);
  CHECK_CLEARED(baton_election_open(&s, c, kit_name("clear-start"), NULL, NULL, garbage(&err)),
                &err);
  CHECK_CLEARED(baton_lock_open(&l, c, kit_name("clear-lock"), NULL, NULL, garbage(&err)), &err);
  if (a == NULL || t == NULL || s == NULL || l == NULL) {
    baton_client_close(c); /* closes what did open */
    return;
  }
  CHECK_CLEARED(baton_election_campaign(a, WIN_MS, NULL, garbage(&err)), &err);
  CHECK_CLEARED(baton_election_campaign(a, WIN_MS, NULL, garbage(&err)), &err); /* already */
  baton_leader leader;
  CHECK_CLEARED(baton_election_leader(a, &leader, garbage(&err)), &err);
  CHECK_CLEARED(baton_election_observe(a, garbage(&err)), &err);
  CHECK_CLEARED(baton_election_try_campaign(t, NULL, NULL, garbage(&err)), &err);
  CHECK_CLEARED(baton_election_resign(t, garbage(&err)), &err);
  CHECK_CLEARED(baton_election_start(s, garbage(&err)), &err);
  CHECK_CLEARED(baton_lock_acquire(l, WIN_MS, NULL, garbage(&err)), &err);
  CHECK_CLEARED(baton_lock_release(l, garbage(&err)), &err);
  CHECK_CLEARED(baton_lock_try_acquire(l, NULL, garbage(&err)), &err);
  CHECK_CLEARED(baton_lock_release(l, garbage(&err)), &err);
  /* A campaign that had to wait: it saw the name held on the way. Its
   * error starts zeroed (campaign_start). */
  contender b;
  if (contender_open(&b, name, TTL_MS, "clear-b", NULL)) {
    campaign_call call;
    campaign_start(&call, b.e, HANDOVER_MS);
    CHECK(campaign_blocks(&call, 300)); /* a holds */
    CHECK_CLEARED(baton_election_resign(a, garbage(&err)), &err);
    campaign_join(&call);
    CHECK_CLEARED(call.rc, &call.err);
    contender_close(&b);
  }
  baton_election_observe_stop(a);
  baton_election_stop(s);
  baton_lock_close(l);
  baton_election_close(s);
  baton_election_close(t);
  baton_election_close(a);
  baton_client_close(c);
}

static void negative_timeouts_are_invalid(void) {
  contender k;
  REQUIRE(contender_open(&k, kit_name("negative"), TTL_MS, "negative", NULL));
  baton_lock *l = NULL;
  baton_error err = {0};
  if (baton_lock_open(&l, k.c, kit_name("negative-lock"), NULL, NULL, &err) != 0)
    contender_close(&k);
  REQUIRE(l != NULL);
  /* The names are free: a timeout taken as "no limit" would win them. */
  static const int64_t bad[] = {-2, -1000, INT64_MIN};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t t0 = kit_now_ms();
    err.message[0] = '\0';
    CHECK_EQ(baton_election_campaign(k.e, bad[i], NULL, &err), BATON_EINVAL);
    CHECK(err.message[0] != '\0');
    err.message[0] = '\0';
    CHECK_EQ(baton_lock_acquire(l, bad[i], NULL, &err), BATON_EINVAL);
    CHECK(err.message[0] != '\0');
    CHECK_LT(kit_now_ms() - t0, TEST_SLACK_MS);
  }
  CHECK(!baton_election_is_leader(k.e, NULL, NULL));
  CHECK(!baton_lock_held(l, NULL, NULL));
  /* BATON_FOREVER waits for as long as it takes. */
  contender b;
  if (rival_open(&b, &k, TTL_MS, "forever", NULL)) {
    CHECK_OK(baton_election_campaign(k.e, BATON_FOREVER, NULL, &err), &err);
    campaign_call call;
    campaign_start(&call, b.e, BATON_FOREVER);
    CHECK(campaign_blocks(&call, 300)); /* k holds */
    CHECK_OK(baton_election_resign(k.e, &err), &err);
    campaign_join(&call);
    CHECK_OK(call.rc, &call.err);
    contender_close(&b);
  }
  baton_lock_close(l);
  contender_close(&k);
}

static void start_after_resign_campaigns_again(void) {
  static recorder r;
  recorder_init(&r);
  contender k;
  REQUIRE(contender_open(&k, kit_name("restart-cand"), TTL_MS, "restart-cand", &r));
  baton_error err = {0};
  CHECK_OK(baton_election_start(k.e, &err), &err);
  CHECK(await_count(&r, &r.elected, 1, 5000));
  /* A resign ends candidate mode (no term comes by itself: waiting for an
   * event that must not come is a timed wait by nature); a start begins
   * it again. */
  CHECK_OK(baton_election_resign(k.e, &err), &err);
  CHECK(await_count(&r, &r.lost, 1, 3000));
  CHECK(!await_count(&r, &r.elected, 2, 500));
  CHECK_OK(baton_election_start(k.e, &err), &err);
  CHECK(await_count(&r, &r.elected, 2, 5000));
  uint64_t token = 0;
  CHECK(baton_election_is_leader(k.e, &token, NULL));
  CHECK_EQ(token, r.last_token);
  baton_election_stop(k.e);
  contender_close(&k);
  recorder_free(&r);
}

static void stop_resigns_the_held_term(void) {
  static recorder r;
  recorder_init(&r);
  contender k;
  REQUIRE(contender_open(&k, kit_name("stop"), TTL_MS, "stopper", &r));
  baton_error err = {0};
  CHECK_OK(baton_election_start(k.e, &err), &err);
  CHECK(await_count(&r, &r.elected, 1, 5000));
  baton_election_stop(k.e);
  CHECK(!baton_election_is_leader(k.e, NULL, NULL));
  CHECK(await_count(&r, &r.lost, 1, 3000));
  CHECK_EQ(r.last_reason, BATON_LOST_RESIGNED);
  baton_leader l;
  CHECK_EQ(baton_election_leader(k.e, &l, &err), BATON_ENOLEADER);
  contender_close(&k);
  recorder_free(&r);
}

static void elected_and_lost_survive_allocation_failures(void) {
  /* Fail the n-th allocation of a campaign and resign cycle, for every n
   * until a cycle makes fewer than n. A campaign may fail (then no
   * ELECTED), but every term it started gets its ELECTED and its LOST. */
  static recorder r;
  recorder_init(&r);
  baton_client *c = open_client(TTL_MS, "alloc-events");
  REQUIRE(c != NULL);
  int terms = 0, failed = 0;
  bool completed = false;
  long n;
  int64_t give_up = kit_now_ms() + 60000;
  for (n = 1; n <= 500 && !completed && kit_now_ms() < give_up; n++) {
    baton_election *e = NULL, *next = NULL;
    baton_error err = {0};
    if (baton_election_open(&e, c, kit_name("alloc-events"), record, &r, &err) != 0 ||
        baton_election_open(&next, c, kit_name("alloc-events"), record, &r, &err) != 0) {
      TEST_FAIL_("election_open: %s", err.message);
      baton_election_close(e);
      break;
    }
    pthread_mutex_lock(&r.ev.mu);
    int elected0 = r.elected, lost0 = r.lost;
    pthread_mutex_unlock(&r.ev.mu);
    baton__alloc_fail_after(n);
    int rc = baton_election_campaign(e, 3000, NULL, &err);
    bool won = rc == 0;
    if (won) rc = baton_election_resign(e, &err);
    completed = baton__alloc_fail_after(0) != 0; /* no allocation failed */
    failed += rc != 0;
    /* Then a clean cycle on the other election: callbacks run in the
     * order of their events, so once its LOST has come, nothing of the
     * failed cycle is still on its way. */
    int rc2 = baton_election_campaign(next, 3000, NULL, &err);
    if (rc2 == 0) rc2 = baton_election_resign(next, &err);
    if (rc2 != 0) TEST_FAIL_("n=%ld: the clean cycle failed: %s", n, err.message);
    bool arrived = await_count(&r, &r.lost, lost0 + won + 1, 3000);
    pthread_mutex_lock(&r.ev.mu);
    if (!arrived || r.elected != elected0 + won + 1 || r.lost != lost0 + won + 1)
      TEST_FAIL_("n=%ld: campaign %s (%d); %d ELECTED and %d LOST, expected %d of each", n,
                 won ? "won" : "failed", rc, r.elected - elected0, r.lost - lost0, won + 1);
    pthread_mutex_unlock(&r.ev.mu);
    terms += won;
    baton_election_close(next);
    baton_election_close(e);
  }
  printf("    %ld allocation points failed in turn; %d cycles failed, %d won a term\n", n - 2,
         failed, terms);
  CHECK(completed);
  CHECK_GT(terms, 0);
  baton_client_close(c);
  recorder_free(&r);
}

static void close_delivers_lost(void) {
  /* Closing an election that holds a term ends the term: its LOST comes
   * before the close returns, and nothing of it after. */
  static recorder r;
  recorder_init(&r);
  baton_client *c = open_client(TTL_MS, "close-lost");
  REQUIRE(c != NULL);
  baton_election *a = NULL, *b = NULL;
  baton_error err = {0};
  uint64_t ta = 0, tb = 0;
  CHECK_OK(baton_election_open(&a, c, kit_name("close-lost"), record, &r, &err), &err);
  CHECK_OK(baton_election_open(&b, c, kit_name("close-lost"), record, &r, &err), &err);
  if (a == NULL || b == NULL) {
    baton_client_close(c);
    recorder_free(&r);
    return;
  }
  CHECK_OK(baton_election_campaign(a, WIN_MS, &ta, &err), &err);
  CHECK_OK(baton_election_campaign(b, WIN_MS, &tb, &err), &err);
  CHECK(await_count(&r, &r.elected, 2, 3000));
  baton_election_close(a);
  pthread_mutex_lock(&r.ev.mu);
  int lost = r.lost, n = r.n;
  baton_lost_reason reason = r.last_reason;
  pthread_mutex_unlock(&r.ev.mu);
  CHECK_EQ(lost, 1);
  CHECK_EQ(reason, BATON_LOST_RESIGNED);
  /* The client's close closes b: the same holds. */
  baton_client_close(c);
  pthread_mutex_lock(&r.ev.mu);
  CHECK_EQ(r.lost, 2);
  CHECK_EQ(r.last_reason, BATON_LOST_RESIGNED);
  CHECK_EQ(r.n, n + 1);
  pthread_mutex_unlock(&r.ev.mu);
  /* Nothing comes later: a wait for an event that must NOT come is a
   * timed wait by nature. */
  CHECK(!await_count(&r, &r.n, n + 2, 300));
  CHECK_EQ(r.order[0], BATON_EVENT_ELECTED);
  CHECK_EQ(r.order[1], BATON_EVENT_ELECTED);
  CHECK_EQ(r.order[2], BATON_EVENT_LOST);
  CHECK_EQ(r.order[3], BATON_EVENT_LOST);
  recorder_free(&r);
}

static void every_allocation_failure_is_a_clean_error(void) {
  /* Fail the n-th allocation of a whole cycle, for every n until a cycle
   * makes fewer than n: each failure must surface as an error (or be
   * absorbed), never a crash, a hang or a leak (the sanitizer build checks
   * leaks). */
  baton_options o = options(TTL_MS, "allocations");
  int completed = 0, failures = 0, absorbed = 0;
  long n;
  int64_t give_up = kit_now_ms() + 120000;
  for (n = 1; n <= 5000 && completed == 0 && kit_now_ms() < give_up; n++) {
    const char *name = kit_name("alloc");
    baton_client *c = NULL;
    baton_election *e = NULL;
    baton_error err = {0};
    baton__alloc_fail_after(n);
    int rc = baton_client_open(&c, server->uri, &o, &err);
    if (rc == 0) rc = baton_election_open(&e, c, name, NULL, NULL, &err);
    if (rc == 0) rc = baton_election_campaign(e, 3000, NULL, &err);
    if (rc == 0) rc = baton_election_resign(e, &err);
    bool fired = baton__alloc_fail_after(0) == 0;
    if (rc != 0) {
      failures++;
      if (rc != BATON_ENOMEM && err.message[0] == '\0')
        TEST_FAIL_("n=%ld: error %d without a message", n, rc);
      if (!fired) TEST_FAIL_("n=%ld: error %d with no allocation failed: %s", n, rc, err.message);
    } else if (fired) {
      absorbed++;
    } else {
      completed = 1; /* the cycle makes fewer than n allocations */
    }
    baton_election_close(e);
    baton_client_close(c);
  }
  printf("    %ld allocation points failed in turn; %d cycles ended in an error, %d absorbed "
         "the failure\n", n - 2, failures, absorbed);
  CHECK_EQ(completed, 1);
  CHECK_GT(failures, 3);
}

static void many_names_cost_no_descriptor_or_thread_each(void) {
  enum { NAMES = 1000 };
  baton_client *c = open_client(TTL_MS, "many");
  REQUIRE(c != NULL);
  static baton_election *e[NAMES];
  baton_error err = {0};
  int fds = count_fds(), threads = count_threads();
  for (int i = 0; i < NAMES; i++) {
    REQUIRE_OK(baton_election_open(&e[i], c, kit_name("many"), NULL, NULL, &err), &err);
    REQUIRE_OK(baton_election_campaign(e[i], WIN_MS, NULL, &err), &err);
  }
  int held = 0;
  for (int i = 0; i < NAMES; i++) held += baton_election_is_leader(e[i], NULL, NULL);
  CHECK_EQ(held, NAMES);
  printf("    %d names held: %+d descriptors, %+d threads\n", NAMES, count_fds() - fds,
         count_threads() - threads);
  CHECK_LE(count_fds() - fds, 16);
  CHECK_LE(count_threads() - threads, 2);
  for (int i = 0; i < NAMES; i++) baton_election_close(e[i]);
  baton_client_close(c);
}

/* What 1,000 waiting names saw, per name: the callback's record. */
typedef struct name_watch {
  kit_cond *c;
  int64_t released_at;  /* kit_now_ms() when its holder let go */
  int64_t elected_at;   /* when its ELECTED came; 0: not yet */
  uint64_t last_token;  /* the last leader's token LEADER_CHANGED named */
  int changes;          /* LEADER_CHANGED heard */
  int backwards;        /* a LEADER_CHANGED named an older term than the one before */
  int *elected;         /* the names elected (shared) */
} name_watch;

static void name_watch_event(const baton_event *ev, void *udata) {
  name_watch *w = udata;
  pthread_mutex_lock(&w->c->mu);
  if (ev->type == BATON_EVENT_ELECTED && w->elected_at == 0) {
    w->elected_at = kit_now_ms();
    (*w->elected)++;
  }
  if (ev->type == BATON_EVENT_LEADER_CHANGED) {
    uint64_t token = ev->leader != NULL ? ev->leader->token : 0;
    if (token != 0 && token < w->last_token) w->backwards++;
    if (token != 0) w->last_token = token;
    w->changes++;
  }
  pthread_cond_broadcast(&w->c->cond);
  pthread_mutex_unlock(&w->c->mu);
}

static int cmp_ms(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Candidate mode and observe on 1,000 names wait on the client's own
 * threads: the count in /proc/self/task stays flat while they wait and
 * while every name is handed over, each name's LEADER_CHANGED events come
 * in term order, and every waiter is elected soon after its release. */
static void many_waiting_names_keep_the_threads_flat(void) {
  /* The client's looking threads (lib/core.h: 3) and the backend's reader
   * of its one subscription, whatever the number of names. */
  enum { NAMES = 1000, THREADS = 5 };
  static baton_election *held[NAMES], *waiting[NAMES];
  static name_watch w[NAMES];
  static int64_t latency[NAMES];
  kit_cond kc;
  kit_cond_init(&kc);
  int elected = 0;
  baton_client *a = open_client(TTL_MS, "holder-of-many");
  baton_client *b = open_client(TTL_MS, "waiter-of-many");
  REQUIRE(a != NULL && b != NULL);
  baton_error err = {0};
  for (int i = 0; i < NAMES; i++) {
    const char *name = kit_name("flat");
    REQUIRE_OK(baton_election_open(&held[i], a, name, NULL, NULL, &err), &err);
    REQUIRE_OK(baton_election_campaign(held[i], WIN_MS, NULL, &err), &err);
    w[i] = (name_watch){.c = &kc, .elected = &elected};
    REQUIRE_OK(baton_election_open(&waiting[i], b, name, name_watch_event, &w[i], &err), &err);
  }
  int threads = count_threads(), fds = count_fds(), most = threads;
  int64_t t0 = kit_now_ms();
  for (int i = 0; i < NAMES; i++) {
    REQUIRE_OK(baton_election_observe(waiting[i], &err), &err);
    REQUIRE_OK(baton_election_start(waiting[i], &err), &err);
    if (i % 100 == 0 && count_threads() > most) most = count_threads();
  }
  /* Every observer reports the holder once it has looked. */
  int seen = 0;
  for (int64_t end = kit_now_ms() + 60000; seen < NAMES && kit_ms_left(end) > 0;) {
    seen = 0;
    pthread_mutex_lock(&kc.mu);
    for (int i = 0; i < NAMES; i++) seen += w[i].changes > 0;
    if (seen < NAMES) kit_cond_wait(&kc, kit_now_ms() + 100);
    pthread_mutex_unlock(&kc.mu);
    if (count_threads() > most) most = count_threads();
  }
  CHECK_EQ(seen, NAMES);
  printf("    %d names observed and in candidate mode after %lld ms: %+d threads (at most "
         "%+d), %+d descriptors\n",
         NAMES, (long long)kit_ms_since(t0), count_threads() - threads, most - threads,
         count_fds() - fds);
  CHECK_LE(most - threads, THREADS);
  CHECK_LE(count_fds() - fds, 16);
  CHECK_EQ(elected, 0);
  /* Hand every name over. */
  for (int i = 0; i < NAMES; i++) {
    pthread_mutex_lock(&kc.mu);
    w[i].released_at = kit_now_ms();
    pthread_mutex_unlock(&kc.mu);
    CHECK_OK(baton_election_resign(held[i], &err), &err);
    if (i % 100 == 0 && count_threads() > most) most = count_threads();
  }
  CHECK(kit_await_count(&kc, &elected, NAMES, 60000));
  if (count_threads() > most) most = count_threads();
  CHECK_LE(most - threads, THREADS);
  pthread_mutex_lock(&kc.mu);
  int backwards = 0, n = 0;
  for (int i = 0; i < NAMES; i++) {
    backwards += w[i].backwards;
    if (w[i].elected_at != 0) latency[n++] = w[i].elected_at - w[i].released_at;
  }
  pthread_mutex_unlock(&kc.mu);
  CHECK_EQ(backwards, 0);
  if (n > 0) {
    qsort(latency, (size_t)n, sizeof latency[0], cmp_ms);
    printf("    hand-over of %d names: release to ELECTED p50 %lld ms, p99 %lld ms; "
           "threads at most %+d\n",
           n, (long long)latency[n / 2], (long long)latency[n * 99 / 100], most - threads);
  }
  for (int i = 0; i < NAMES; i++) {
    baton_election_close(waiting[i]);
    baton_election_close(held[i]);
  }
  baton_client_close(b);
  baton_client_close(a);
  kit_cond_destroy(&kc);
}

static uint64_t attempts_of(baton_client *c) {
  baton_client_stats cs;
  return baton_client_read_stats(c, &cs, NULL) == 0 ? cs.totals.attempts : 0;
}

/* A herd in one client: HERD elections in candidate mode on one name.
 * Once every one has tried and waits, a release costs the client one
 * attempt (the one woken, or the next in line), not one per waiter; and
 * one of them is elected. */
static void one_release_wakes_one_waiter_of_a_client(void) {
  enum { HERD = 300 };
  static baton_election *herd[HERD];
  static name_watch w[HERD];
  kit_cond kc;
  kit_cond_init(&kc);
  int elected = 0;
  contender a;
  REQUIRE(contender_open(&a, kit_name("herd"), TTL_MS, "herd-holder", NULL));
  baton_error err = {0};
  REQUIRE_OK(baton_election_campaign(a.e, WIN_MS, NULL, &err), &err);
  baton_client *b = open_client(TTL_MS, "herd");
  REQUIRE(b != NULL);
  for (int i = 0; i < HERD; i++) {
    w[i] = (name_watch){.c = &kc, .elected = &elected};
    REQUIRE_OK(baton_election_open(&herd[i], b, a.name, name_watch_event, &w[i], &err), &err);
    REQUIRE_OK(baton_election_start(herd[i], &err), &err);
  }
  /* Every waiter has tried once, and then nothing more for a while. */
  uint64_t tried = 0;
  for (int64_t end = kit_now_ms() + 30000; kit_ms_left(end) > 0; kit_sleep_ms(100)) {
    baton_client_stats cs;
    if (baton_client_read_stats(b, &cs, NULL) == 0 && cs.totals.contended >= HERD) break;
  }
  for (int round = 0; round < 50; round++) { /* bounded: 50 x 200 ms */
    tried = attempts_of(b);
    kit_sleep_ms(200); /* no event says "nothing happens" */
    if (attempts_of(b) == tried) break;
  }
  CHECK_GE(tried, (uint64_t)HERD);
  CHECK_OK(baton_election_resign(a.e, &err), &err);
  CHECK(kit_await_count(&kc, &elected, 1, 10000));
  kit_sleep_ms(500); /* a herd's attempts would follow within milliseconds */
  uint64_t after = attempts_of(b);
  printf("    one release, %d waiting in one client: %llu attempts, %d elected\n", HERD,
         (unsigned long long)(after - tried), elected);
  CHECK_LE(after - tried, 3);
  CHECK_EQ(elected, 1);
  for (int i = 0; i < HERD; i++) baton_election_close(herd[i]);
  baton_client_close(b);
  contender_close(&a);
  kit_cond_destroy(&kc);
}

/* What a program exec'd now inherits: child_fds's line. */
static bool inherited_fds(char *line, size_t size) {
  static const char *const args[] = {"fds", NULL};
  kit_proc *p = child_start(args);
  bool listed = p != NULL && kit_proc_line(p, line, size, 5000) == 0;
  if (p != NULL) kit_proc_stop(p, 0, 5000);
  return listed;
}

static void no_descriptor_survives_exec(void) {
  /* What a child inherits anyway (the harness's pipes and logs) is the
   * baseline; clients must add nothing to it, not even while one holds a
   * term and the other queues and observes (subscriber and watch
   * connections). */
  char before[1024] = "", after[1024] = "";
  REQUIRE(inherited_fds(before, sizeof before));
  static recorder r;
  recorder_init(&r);
  contender a, b;
  baton_election *watch = NULL;
  baton_error err = {0};
  REQUIRE(contender_open(&a, kit_name("exec"), TTL_MS, "exec-holder", NULL));
  REQUIRE(rival_open(&b, &a, TTL_MS, "exec-waiter", NULL));
  CHECK_OK(baton_election_campaign(a.e, WIN_MS, NULL, &err), &err);
  CHECK_OK(baton_election_open(&watch, b.c, a.name, record, &r, &err), &err);
  CHECK_OK(baton_election_observe(watch, &err), &err);
  CHECK(await_count(&r, &r.changed, 1, 3000));
  campaign_call call;
  campaign_start(&call, b.e, HANDOVER_MS);
  CHECK(campaign_blocks(&call, 300));
  CHECK(inherited_fds(after, sizeof after));
  CHECK_STR(after, before);
  baton_election_cancel(b.e);
  campaign_join(&call);
  baton_election_close(watch);
  contender_close(&a);
  contender_close(&b);
  recorder_free(&r);
}

/* ---- fixed leases ---------------------------------------------------------- */

#define LEASE_MS 1500 /* a fixed lease's TTL: below TTL_MS, so that it ends first */

/* A fixed lease is a term of its name that nobody renews: it outranks
 * every earlier token, shows as the leader, blocks campaigns and other
 * leases, expires at its TTL on the server (a waiting lease acquire gets
 * the name only then), is not revived by a late extend, lives on when
 * extended in time, and its release wakes a waiting campaign at once.
 * A backend without fixed leases must say so: BATON_ENOTSUP. */
static void fixed_lease_is_a_term_nobody_renews(void) {
  const baton_backend *b = server_backend(NULL);
  REQUIRE(b != NULL);
  contender a;
  REQUIRE(contender_open(&a, kit_name("lease"), TTL_MS, "lease-term", NULL));
  baton_client *c1 = open_client(TTL_MS, "lease-1"), *c2 = open_client(TTL_MS, "lease-2");
  baton_error err = {0};
  baton_lease *l1 = NULL, *l2 = NULL, *old = NULL;
  uint64_t term = 0, t1 = 0, t2 = 0, held = 0;
  int64_t left = 0;
  if (c1 == NULL || c2 == NULL) goto out;
  if (b->lease_acquire == NULL) {
    CHECK_EQ(baton_lease_acquire(&l1, c1, a.name, LEASE_MS, 0, &t1, &err), BATON_ENOTSUP);
    CHECK_CONTAINS(err.message, "no fixed leases");
    CHECK(l1 == NULL);
    goto out;
  }
  CHECK_OK(baton_election_campaign(a.e, WIN_MS, &term, &err), &err);
  /* A held term keeps a lease off its name. */
  CHECK_EQ(baton_lease_acquire(&l1, c1, a.name, LEASE_MS, 0, &t1, &err), BATON_EHELD);
  CHECK_CONTAINS(err.message, "lease-term");
  CHECK_OK(baton_election_resign(a.e, &err), &err);

  int64_t asked = kit_now_ms();
  CHECK_OK(baton_lease_acquire(&l1, c1, a.name, LEASE_MS, 0, &t1, &err), &err);
  if (l1 == NULL) goto out;
  CHECK_GT(t1, term);
  CHECK(baton_lease_held(l1, &held, &left));
  CHECK_EQ(held, t1);
  CHECK_LE(left, LEASE_MS - LEASE_MS / 20);
  baton_leader who = {0};
  CHECK_OK(baton_election_leader(a.e, &who, &err), &err);
  CHECK_STR(who.identity, "lease-1");
  CHECK_EQ(who.token, t1);
  CHECK_EQ(baton_election_try_campaign(a.e, NULL, &who, &err), BATON_EHELD);
  CHECK_EQ(who.token, t1);
  CHECK_EQ(baton_lease_acquire(&l2, c2, a.name, LEASE_MS, 0, NULL, &err), BATON_EHELD);
  CHECK_CONTAINS(err.message, "lease-1");

  /* Nobody renews it: a second lease gets the name only after the first
   * expired on the server (at least LEASE_MS after it was asked for). */
  CHECK_OK(baton_lease_acquire(&l2, c2, a.name, LEASE_MS, HANDOVER_MS, &t2, &err), &err);
  int64_t took = kit_now_ms() - asked;
  printf("    a waiting lease got the name %lld ms after the first was asked for\n",
         (long long)took);
  CHECK_GE(took, LEASE_MS);
  CHECK_LT(took, LEASE_MS + 2 * TTL_MS);
  CHECK_GT(t2, t1);
  CHECK(!baton_lease_held(l1, NULL, NULL));
  /* Too late: neither the expired handle nor one attached by its token
   * brings it back, and the name's new holder is untouched. */
  CHECK_EQ(baton_lease_extend(l1, LEASE_MS, &err), BATON_ENOTHOLDER);
  CHECK_OK(baton_lease_attach(&old, c1, a.name, t1, &err), &err);
  CHECK(!baton_lease_held(old, NULL, NULL));
  CHECK_EQ(baton_lease_extend(old, LEASE_MS, &err), BATON_ENOTHOLDER);
  CHECK_EQ(baton_lease_release(old, &err), BATON_ENOTHOLDER);
  if (l2 == NULL) goto out;

  /* Extended in time, the lease outlives its first end: extended by its
   * own TTL (ZooKeeper fixes a TTL node's) 400 ms before that end, it is
   * still held past it, a campaign waits past it, and the release wakes
   * that campaign at once. */
  int64_t first_left = 0;
  CHECK(baton_lease_held(l2, NULL, &first_left));
  kit_sleep_ms(first_left > 400 ? (int)(first_left - 400) : 0); /* time passing is the test */
  CHECK_OK(baton_lease_extend(l2, LEASE_MS, &err), &err);
  CHECK(baton_lease_held(l2, NULL, &left));
  CHECK_GT(left, 400 + 300);
  campaign_call call;
  campaign_start(&call, a.e, HANDOVER_MS);
  CHECK(campaign_blocks(&call, 700)); /* past the first end */
  CHECK(baton_lease_held(l2, NULL, NULL));
  int64_t t0 = kit_now_ms();
  CHECK_OK(baton_lease_release(l2, &err), &err);
  campaign_join(&call);
  CHECK_OK(call.rc, &call.err);
  CHECK_GT(call.token, t2);
  CHECK_LT(call.returned_ms - t0, TEST_SLACK_MS);
  CHECK(!baton_lease_held(l2, NULL, NULL));
  CHECK_EQ(baton_lease_release(l2, &err), BATON_ENOTHOLDER);
  CHECK_OK(baton_election_resign(a.e, &err), &err);
out:
  baton_lease_close(old);
  baton_lease_close(l2);
  baton_lease_close(l1);
  baton_client_close(c2);
  baton_client_close(c1);
  contender_close(&a);
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "--child") == 0) return child_main(argc, argv);
  if (argc < 2) {
    fprintf(stderr, "usage: conformance redis|etcd|zk|etcd3|zk3 [filter]\n");
    return 2;
  }
  ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
  if (n > 0) self_exe[n] = '\0';
  kind = argv[1];
  kit_cond_init(&campaigns);
  kit_cond_init(&spy_ev);
  if ((server = kit_server(kind)) == NULL) return 1;
  printf("conformance on %s\n", server->uri);
  static const test_case cases[] = {
      {"bad_input_gets_clear_errors", bad_input_gets_clear_errors},
      {"success_clears_the_error", success_clears_the_error},
      {"negative_timeouts_are_invalid", negative_timeouts_are_invalid},
      {"every_allocation_failure_is_a_clean_error", every_allocation_failure_is_a_clean_error},
      {"elected_and_lost_survive_allocation_failures",
       elected_and_lost_survive_allocation_failures},
      {"unreachable_server_fails_within_the_connect_timeout",
       unreachable_server_fails_within_the_connect_timeout},
      {"tokens_strictly_increase", tokens_strictly_increase},
      {"only_the_holder_can_release", only_the_holder_can_release},
      {"two_elections_on_one_name_are_two_candidates",
       two_elections_on_one_name_are_two_candidates},
      {"callbacks_tell_elected_and_resigned", callbacks_tell_elected_and_resigned},
      {"stats_follow_a_hand_over", stats_follow_a_hand_over},
      {"lock_flavour_returns_tokens", lock_flavour_returns_tokens},
      {"campaign_times_out_and_leaves_nothing", campaign_times_out_and_leaves_nothing},
      {"campaign_is_cancellable", campaign_is_cancellable},
      {"cancel_before_the_campaign_is_not_lost", cancel_before_the_campaign_is_not_lost},
      {"resign_hands_over_by_notification", resign_hands_over_by_notification},
      {"waiters_are_served_in_arrival_order", waiters_are_served_in_arrival_order},
      {"contenders_list_the_queue_in_order", contenders_list_the_queue_in_order},
      {"contenders_unsupported_is_a_clear_error", contenders_unsupported_is_a_clear_error},
      {"read_only_client_takes_no_lease", read_only_client_takes_no_lease},
      {"closing_a_held_election_hands_over", closing_a_held_election_hands_over},
      {"close_delivers_lost", close_delivers_lost},
      {"close_cancels_a_blocked_campaign", close_cancels_a_blocked_campaign},
      {"client_close_cancels_a_blocked_campaign", client_close_cancels_a_blocked_campaign},
      {"observe_reports_each_leader", observe_reports_each_leader},
      {"many_waiting_names_keep_the_threads_flat", many_waiting_names_keep_the_threads_flat},
      {"one_release_wakes_one_waiter_of_a_client", one_release_wakes_one_waiter_of_a_client},
      {"proclaim_is_seen_by_leader_and_observers", proclaim_is_seen_by_leader_and_observers},
      {"proclaim_after_loss_is_refused", proclaim_after_loss_is_refused},
      {"proclaim_while_campaigning_is_refused", proclaim_while_campaigning_is_refused},
      {"candidate_mode_campaigns_again", candidate_mode_campaigns_again},
      {"start_after_resign_campaigns_again", start_after_resign_campaigns_again},
      {"stop_resigns_the_held_term", stop_resigns_the_held_term},
      {"term_outlives_the_ttl_by_renewal", term_outlives_the_ttl_by_renewal},
      {"watchdog_ends_a_term_nobody_touches", watchdog_ends_a_term_nobody_touches},
      {"per_election_ttls_step_down_at_their_own_deadlines",
       per_election_ttls_step_down_at_their_own_deadlines},
      {"many_names_cost_no_descriptor_or_thread_each",
       many_names_cost_no_descriptor_or_thread_each},
      {"no_descriptor_survives_exec", no_descriptor_survives_exec},
      {"mutual_exclusion_across_processes", mutual_exclusion_across_processes},
      {"killed_holder_is_replaced_within_ttl", killed_holder_is_replaced_within_ttl},
      {"lost_term_keeps_its_key_until_the_server_expiry",
       lost_term_keeps_its_key_until_the_server_expiry},
      {"deadline_lost_key_survives_a_new_campaign", deadline_lost_key_survives_a_new_campaign},
      {"deadline_lost_key_survives_candidate_mode", deadline_lost_key_survives_candidate_mode},
      {"deadline_lost_key_survives_election_close", deadline_lost_key_survives_election_close},
      {"deadline_lost_key_survives_client_close", deadline_lost_key_survives_client_close},
      {"paused_server_makes_the_holder_step_down_in_time",
       paused_server_makes_the_holder_step_down_in_time},
      {"tokens_grow_across_a_server_restart", tokens_grow_across_a_server_restart},
      {"fixed_lease_is_a_term_nobody_renews", fixed_lease_is_a_term_nobody_renews},
      {NULL, NULL},
  };
  kit_on_case_end(close_leftovers);
  return test_main(argc - 1, argv + 1, cases);
}
