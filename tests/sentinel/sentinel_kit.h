/* sentinel_kit.h — the kit's part for the redis-sentinel:// tests: the
 * deployment's current master as the redis kit sees one server, and as
 * the seam suite sees it (kit_seam_sentinel). */
#ifndef BATON_TEST_SENTINEL_KIT_H
#define BATON_TEST_SENTINEL_KIT_H

#include "redis_kit.h"

extern const kit_seam kit_seam_sentinel;

/* The master the Sentinels name now, as a one-member cluster (its member
 * 0 a copy: never stop it through the view): 0, or -1 (reported). */
int kit_sentinel_master_view(const test_cluster *c, test_cluster *view);

#endif
