/* fds.c — finding the descriptors a client library made, and marking them
 * close-on-exec (see fds.h). */
#include "fds.h"

#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Each open descriptor but the listing's own; stops early when each()
 * says so. False when the table could not be read whole. */
static bool each_fd(bool (*each)(int fd, void *arg), void *arg) {
  DIR *d = opendir("/proc/self/fd"); /* glibc opens it close-on-exec */
  if (d == NULL) return false;
  bool whole = true;
  for (;;) {
    errno = 0;
    struct dirent *de = readdir(d);
    if (de == NULL) {
      whole = errno == 0; /* an error reads as the end: a partial list */
      break;
    }
    char *end;
    long fd = strtol(de->d_name, &end, 10);
    if (de->d_name[0] == '.' || *end != '\0' || fd == dirfd(d)) continue;
    if (!each((int)fd, arg)) break;
  }
  closedir(d);
  return whole;
}

static bool identify(baton_fd *out, int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false; /* closed meanwhile */
  *out = (baton_fd){.fd = fd, .dev = st.st_dev, .ino = st.st_ino};
  return true;
}

#define BATON_FDS_STEP 64 /* the list grows by this many entries */

/* What list() fills. */
typedef struct listing {
  baton_fds *out; /* the list so far */
  size_t cap;     /* entries out->fd has room for */
  bool oom;       /* growing it failed */
} listing;

static bool add(int fd, void *arg) {
  listing *l = arg;
  baton_fds *s = l->out;
  if (s->n == l->cap) {
    baton_fd *grown = baton__realloc(s->fd, (l->cap + BATON_FDS_STEP) * sizeof *grown);
    l->oom = grown == NULL;
    if (l->oom) return false;
    s->fd = grown;
    l->cap += BATON_FDS_STEP;
  }
  if (identify(&s->fd[s->n], fd)) s->n++;
  return true;
}

static int by_number(const void *a, const void *b) {
  int x = ((const baton_fd *)a)->fd, y = ((const baton_fd *)b)->fd;
  return (x > y) - (x < y);
}

static void list_free(baton_fds *f) {
  baton__free(f->fd);
  *f = (baton_fds){0};
}

/* Each kind's, held from baton__fds_begin() to baton__fds_end(). */
static pthread_mutex_t windows[BATON_FDS_KINDS];
static pthread_once_t windows_once = PTHREAD_ONCE_INIT;

/* Free locks, none held; also in a child forked while a window was open,
 * whose one thread may make a client of its own. */
static void windows_free(void) {
  for (size_t i = 0; i < BATON_FDS_KINDS; i++) pthread_mutex_init(&windows[i], NULL);
}

static void windows_init(void) {
  windows_free();
  pthread_atfork(NULL, NULL, windows_free);
}

static int list(baton_fds *out) {
  *out = (baton_fds){0};
  listing l = {.out = out};
  out->read = each_fd(add, &l);
  if (l.oom) {
    list_free(out);
    return BATON_ENOMEM;
  }
  if (out->n > 1) qsort(out->fd, out->n, sizeof *out->fd, by_number);
  return 0;
}

static bool known(const baton_fds *s, const baton_fd *id) {
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->fd[mid].fd < id->fd) lo = mid + 1;
    else hi = mid;
  }
  return lo < s->n && s->fd[lo].fd == id->fd && s->fd[lo].dev == id->dev &&
         s->fd[lo].ino == id->ino;
}

/* The new descriptors a pick accepts, at most BATON_FDS_MAX_PICKED of them. */
#define BATON_FDS_MAX_PICKED 8

typedef struct picking {
  const baton_fds *before; /* what is not new, or NULL */
  baton_fd_pick pick;      /* what is wanted */
  const void *arg;         /* pick's */
  int fd[BATON_FDS_MAX_PICKED];
  size_t n;                /* found, up to BATON_FDS_MAX_PICKED + 1 */
} picking;

static bool collect(int fd, void *arg) {
  picking *p = arg;
  baton_fd id;
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0 || (flags & FD_CLOEXEC) != 0 || !identify(&id, fd)) return true;
  if (p->before != NULL && known(p->before, &id)) return true;
  if (!p->pick(fd, p->arg)) return true;
  if (p->n < BATON_FDS_MAX_PICKED) p->fd[p->n] = fd;
  return ++p->n <= BATON_FDS_MAX_PICKED;
}

/* Marks the new descriptors pick accepts, when exactly expect (0: any
 * number) of them are. */
static int mark(const baton_fds *before, baton_fd_pick pick, const void *arg, size_t expect) {
  picking p = {.before = before, .pick = pick, .arg = arg};
  if (!each_fd(collect, &p) || p.n > BATON_FDS_MAX_PICKED || (expect != 0 && p.n != expect))
    return 0;
  int marked = 0;
  for (size_t i = 0; i < p.n; i++) {
    int flags = fcntl(p.fd[i], F_GETFD);
    if (flags >= 0 && fcntl(p.fd[i], F_SETFD, flags | FD_CLOEXEC) == 0) marked++;
  }
  return marked;
}

int baton__fds_begin(baton_fds *before, baton_fds_kind kind) {
  pthread_once(&windows_once, windows_init);
  pthread_mutex_lock(&windows[kind]);
  int rc = list(before);
  if (rc != 0) pthread_mutex_unlock(&windows[kind]);
  before->kind = kind;
  return rc;
}

int baton__fds_end(baton_fds *before, baton_fd_pick pick, const void *arg, size_t expect) {
  baton_fds_kind kind = before->kind;
  int marked = before->read && pick != NULL ? mark(before, pick, arg, expect) : 0;
  list_free(before);
  pthread_mutex_unlock(&windows[kind]);
  return marked;
}

int baton__fds_cloexec(baton_fd_pick pick, const void *arg) { return mark(NULL, pick, arg, 0); }
