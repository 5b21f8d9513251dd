/* dlib.c — loading an optional client library at first use: dlopen by
 * soname, dlsym every function of its list into its table (see dlib.h). */
#include "dlib.h"
#include "util.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* One lock for every library: a load happens a few times per process. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* dlopen, then every symbol; on any failure the table stays unused. */
static int load(baton_dlib *lib) {
  void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) goto fail;
  size_t i = 0;
  for (const char *n = lib->names; *n != '\0'; n += strlen(n) + 1, i++) {
    (void)dlerror();
    void *p = dlsym(h, n);
    if (p == NULL) goto fail;
    /* POSIX: a function pointer is as big as a data pointer, and dlsym's
     * result converts; memcpy is the conversion ISO C lets us write. */
    if ((i + 1) * sizeof p > lib->size) {
      snprintf(lib->why, sizeof lib->why, "%s: more names than table entries", n);
      return BATON_ENOTBUILT;
    }
    memcpy((char *)lib->table + i * sizeof p, &p, sizeof p);
  }
  if (i * sizeof(void *) != lib->size) {
    snprintf(lib->why, sizeof lib->why, "fewer names than table entries");
    return BATON_ENOTBUILT;
  }
  return 0;
fail:;
  const char *e = dlerror();
  snprintf(lib->why, sizeof lib->why, "%s", e != NULL ? e : "cannot be loaded");
  return BATON_ENOTBUILT;
}

int baton__dlib_load(baton_dlib *lib, baton_error *err) {
  pthread_mutex_lock(&mu);
  if (!lib->tried) {
    lib->rc = load(lib);
    lib->tried = true;
  }
  int rc = lib->rc;
  pthread_mutex_unlock(&mu);
  if (rc != 0) return baton__error(err, rc, "%s (%s): %s", lib->needs, lib->soname, lib->why);
  return 0;
}
