/* registry.c — the backends built into this library: one line each. */
#include "internal.h"

#include <string.h>

static const baton_backend *const registry[] = {
#ifdef BATON_WITH_REDIS
    &baton_backend_redis,
#endif
#ifdef BATON_WITH_ETCD
    &baton_backend_etcd,
#endif
#ifdef BATON_WITH_ZK
    &baton_backend_zk,
#endif
    NULL,
};

/* Schemes that exist but were left out of this build get their own error. */
static const char *const known_schemes[] = {"redis", "etcd", "etcds", "zk", NULL};

int baton__backend_find(const baton_backend **out, const char *scheme, baton_error *err) {
  for (const baton_backend *const *b = registry; *b != NULL; b++)
    for (const char *const *s = (*b)->schemes; *s != NULL; s++)
      if (strcmp(*s, scheme) == 0) {
        *out = *b;
        return 0;
      }
  for (const char *const *s = known_schemes; *s != NULL; s++)
    if (strcmp(*s, scheme) == 0)
      return baton__error(err, BATON_ENOTBUILT, "the %s:// backend is not built into this baton",
                          scheme);
  return baton__error(err, BATON_EINVAL,
                      "unknown URI scheme '%.32s://' (expected redis://, etcd://, etcds:// or zk://)",
                      scheme);
}
