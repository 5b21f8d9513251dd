/* registry.c — the backends built into this library, from the one backend
 * list (CMakeLists.txt, seen through the generated backend_list.h). */
#include "internal.h"

#include <stdatomic.h>
#include <string.h>

#define BATON_X_TABLE(name) &baton_backend_##name,
static const baton_backend *const registry[] = {BATON_BACKENDS_BUILT(BATON_X_TABLE) NULL};
#undef BATON_X_TABLE

/* Schemes that exist but were left out of this build get their own error. */
#define BATON_X_SCHEMES(name) BATON_SCHEMES_##name,
static const char *const known_schemes[] = {BATON_BACKENDS_KNOWN(BATON_X_SCHEMES) NULL};
#undef BATON_X_SCHEMES

static _Atomic(const baton_backend *) test_backend;

void baton__backend_register_test(const baton_backend *b) { atomic_store(&test_backend, b); }

static bool has_scheme(const baton_backend *b, const char *scheme) {
  for (const char *const *s = b->schemes; *s != NULL; s++)
    if (strcmp(*s, scheme) == 0) return true;
  return false;
}

int baton__backend_find(const baton_backend **out, const char *scheme, baton_error *err) {
  const baton_backend *extra = atomic_load(&test_backend);
  for (const baton_backend *const *b = registry; *b != NULL; b++)
    if (has_scheme(*b, scheme)) {
      *out = *b;
      return 0;
    }
  if (extra != NULL && has_scheme(extra, scheme)) {
    *out = extra;
    return 0;
  }
  for (const char *const *s = known_schemes; *s != NULL; s++)
    if (strcmp(*s, scheme) == 0)
      return baton__error(err, BATON_ENOTBUILT, "the %s:// backend is not built into this baton",
                          scheme);
  return baton__error(err, BATON_EINVAL, "unknown URI scheme '%.32s://' (expected %s)", scheme,
                      BATON_SCHEMES_EXPECTED);
}
