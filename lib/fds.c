/* fds.c — finding the descriptors a client library made, and marking them
 * close-on-exec (see fds.h). */
#include "fds.h"

#include "backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Each open descriptor but the listing's own; stops early when each()
 * says so. */
static bool each_fd(bool (*each)(int fd, void *arg), void *arg) {
  DIR *d = opendir("/proc/self/fd"); /* glibc opens it close-on-exec */
  if (d == NULL) return false;
  for (struct dirent *de; (de = readdir(d)) != NULL;) {
    char *end;
    long fd = strtol(de->d_name, &end, 10);
    if (de->d_name[0] == '.' || *end != '\0' || fd == dirfd(d)) continue;
    if (!each((int)fd, arg)) break;
  }
  closedir(d);
  return true;
}

static bool identify(baton_fd *out, int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false; /* closed meanwhile */
  *out = (baton_fd){.fd = fd, .dev = st.st_dev, .ino = st.st_ino};
  return true;
}

/* What baton__fds_list() fills. */
typedef struct listing {
  baton_fds *out; /* the list so far */
  size_t cap;     /* entries out->fd has room for */
  bool oom;       /* growing it failed */
} listing;

static bool add(int fd, void *arg) {
  listing *l = arg;
  baton_fds *s = l->out;
  if (s->n == l->cap) {
    baton_fd *grown = baton__realloc(s->fd, (l->cap + 64) * sizeof *grown);
    l->oom = grown == NULL;
    if (l->oom) return false;
    s->fd = grown;
    l->cap += 64;
  }
  if (identify(&s->fd[s->n], fd)) s->n++;
  return true;
}

static int by_number(const void *a, const void *b) {
  int x = ((const baton_fd *)a)->fd, y = ((const baton_fd *)b)->fd;
  return (x > y) - (x < y);
}

int baton__fds_list(baton_fds *out) {
  *out = (baton_fds){0};
  listing l = {.out = out};
  out->read = each_fd(add, &l);
  if (l.oom) {
    baton__fds_free(out);
    return BATON_ENOMEM;
  }
  if (out->n > 1) qsort(out->fd, out->n, sizeof *out->fd, by_number);
  return 0;
}

void baton__fds_free(baton_fds *f) {
  baton__free(f->fd);
  *f = (baton_fds){0};
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

/* What baton__fds_cloexec() works with. */
typedef struct marking {
  const baton_fds *before; /* what is not to be marked, or NULL */
  baton_fd_pick pick;      /* what is */
  const void *arg;         /* pick's */
  int marked;              /* how many so far */
} marking;

static bool mark(int fd, void *arg) {
  marking *m = arg;
  baton_fd id;
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0 || (flags & FD_CLOEXEC) != 0 || !identify(&id, fd)) return true;
  if (m->before != NULL && known(m->before, &id)) return true;
  if (m->pick(fd, m->arg) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == 0) m->marked++;
  return true;
}

int baton__fds_cloexec(const baton_fds *before, baton_fd_pick pick, const void *arg) {
  if (before != NULL && !before->read) return 0;
  marking m = {.before = before, .pick = pick, .arg = arg};
  each_fd(mark, &m);
  return m.marked;
}
