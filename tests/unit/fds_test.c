/* fds_test.c — marking close-on-exec what a library call made
 * (lib/fds.h): the descriptors a window's call made are marked, and
 * windows opened on many threads at once still each mark their own (an
 * etcd conn made on each of two threads at once left both wake-up pairs
 * unmarked before the windows took a lock). */
#include "fds.h"
#include "test.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the call in a window makes: a non-blocking Unix socketpair without
 * SOCK_CLOEXEC, as curl_multi_init() makes its wake-up pair. */
static bool unix_stream(int fd, const void *arg) {
  (void)arg;
  int type = 0;
  socklen_t len = sizeof type;
  int fl = fcntl(fd, F_GETFL);
  return fl >= 0 && (fl & O_NONBLOCK) != 0 &&
         getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

static bool closes_on_exec(int fd) {
  int flags = fcntl(fd, F_GETFD);
  return flags >= 0 && (flags & FD_CLOEXEC) != 0;
}

/* One window: a pair made and marked; whether both ends were. */
static bool pair_in_a_window(void) {
  baton_fds before;
  if (baton__fds_begin(&before, BATON_FDS_CURL_MULTI) != 0) return false;
  int sv[2];
  bool made = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0;
  int marked = baton__fds_end(&before, unix_stream, NULL, 2);
  if (!made) return false;
  bool both = marked == 2 && closes_on_exec(sv[0]) && closes_on_exec(sv[1]);
  close(sv[0]);
  close(sv[1]);
  return both;
}

static void a_window_marks_what_its_call_made(void) {
  CHECK(pair_in_a_window());
  /* What was open before the window is left as it was. */
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
  baton_fds before;
  REQUIRE(baton__fds_begin(&before, BATON_FDS_CURL_MULTI) == 0);
  CHECK_EQ(baton__fds_end(&before, unix_stream, NULL, 2), 0);
  CHECK(!closes_on_exec(sv[0]) && !closes_on_exec(sv[1]));
  close(sv[0]);
  close(sv[1]);
}

static void a_failed_call_marks_nothing(void) {
  /* The call failed (no pick): a pair the application made meanwhile,
   * exactly what the call would have made, keeps its flags. */
  baton_fds before;
  REQUIRE(baton__fds_begin(&before, BATON_FDS_CURL_MULTI) == 0);
  int sv[2];
  bool made = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0;
  CHECK_EQ(baton__fds_end(&before, NULL, NULL, 2), 0);
  REQUIRE(made);
  CHECK(!closes_on_exec(sv[0]) && !closes_on_exec(sv[1]));
  close(sv[0]);
  close(sv[1]);
}

/* A child forked while another thread holds a window's lock can open a
 * window of its own (pthread_atfork), as a client made there would. */
typedef struct holder {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  bool open, done;
} holder;

static void *hold_a_window(void *arg) {
  holder *h = arg;
  baton_fds before;
  int rc = baton__fds_begin(&before, BATON_FDS_ZK_HANDLE);
  pthread_mutex_lock(&h->mu);
  h->open = true;
  pthread_cond_broadcast(&h->cond);
  while (!h->done) pthread_cond_wait(&h->cond, &h->mu); /* until main has forked */
  pthread_mutex_unlock(&h->mu);
  if (rc == 0) baton__fds_end(&before, NULL, NULL, 0);
  return NULL;
}

static void a_child_forked_in_a_window_opens_its_own(void) {
  holder h = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, hold_a_window, &h) == 0);
  pthread_mutex_lock(&h.mu);
  while (!h.open) pthread_cond_wait(&h.cond, &h.mu);
  pthread_mutex_unlock(&h.mu);
  pid_t pid = fork();
  if (pid == 0) {
    baton_fds before;
    alarm(5); /* a lock left held would hang it: SIGALRM ends it */
    if (baton__fds_begin(&before, BATON_FDS_ZK_HANDLE) != 0) _exit(1);
    baton__fds_end(&before, NULL, NULL, 0);
    _exit(0);
  }
  pthread_mutex_lock(&h.mu);
  h.done = true;
  pthread_cond_broadcast(&h.cond);
  pthread_mutex_unlock(&h.mu);
  pthread_join(t, NULL);
  REQUIRE(pid > 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

#define THREADS 4
#define ROUNDS 500 /* per thread */

static void *windows(void *arg) {
  int *unmarked = arg;
  for (int i = 0; i < ROUNDS; i++) *unmarked += !pair_in_a_window();
  return NULL;
}

static void windows_on_many_threads_each_mark_their_own(void) {
  pthread_t t[THREADS];
  int unmarked[THREADS] = {0};
  int started = 0;
  while (started < THREADS && pthread_create(&t[started], NULL, windows, &unmarked[started]) == 0)
    started++;
  for (int i = 0; i < started; i++) pthread_join(t[i], NULL);
  REQUIRE_EQ(started, THREADS);
  int total = 0;
  for (int i = 0; i < THREADS; i++) total += unmarked[i];
  printf("    %d windows on %d threads: %d left unmarked\n", THREADS * ROUNDS, THREADS, total);
  CHECK_EQ(total, 0);
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"a_window_marks_what_its_call_made", a_window_marks_what_its_call_made},
      {"a_failed_call_marks_nothing", a_failed_call_marks_nothing},
      {"a_child_forked_in_a_window_opens_its_own", a_child_forked_in_a_window_opens_its_own},
      {"windows_on_many_threads_each_mark_their_own", windows_on_many_threads_each_mark_their_own},
      {NULL, NULL},
  };
  return test_main(argc, argv, cases);
}
