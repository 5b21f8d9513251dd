/* redlock_kit.h — the kit's part for the redlock:// tests: the instances
 * as the seam suite sees them (kit_seam_redlock), and a look at one name
 * on every instance. */
#ifndef BATON_TEST_REDLOCK_KIT_H
#define BATON_TEST_REDLOCK_KIT_H

#include "redis_kit.h"

extern const kit_seam kit_seam_redlock;

/* The counter NAME/token on member i ("" when missing or the member is
 * down). */
const char *kit_redlock_counter(const test_cluster *c, int i, const char *name, char *buf,
                                size_t size);

#endif
