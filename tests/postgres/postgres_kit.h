/* postgres_kit.h — the kit's part for the postgres:// tests: raw SQL on the
 * test server behind the backend's back, and the server as the seam suite
 * sees it (kit_seam_postgres). */
#ifndef BATON_TEST_POSTGRES_KIT_H
#define BATON_TEST_POSTGRES_KIT_H

#include "seam.h"

#include <libpq-fe.h>

extern const kit_seam kit_seam_postgres;

/* A raw connection to the test server as its test role, or NULL
 * (reported). */
PGconn *kit_pg_raw(const test_cluster *c);
/* One statement with text parameters (NULL-ended); the first column of the
 * first row into buf ("" when none). 0, or -1 (reported). */
int kit_pg_str(PGconn *pg, char *buf, size_t size, const char *sql, ...);

/* The key of a name in SQL over a text expression, as the backend's. */
#define KIT_PG_KEY(n) "(('x' || left(md5(" n "), 16))::bit(64)::bigint)"
/* Someone holds the advisory lock of key k in this database (pg_locks as l). */
#define KIT_PG_HELD(k)                                                                     \
  "l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.database = "             \
  "(SELECT oid FROM pg_database WHERE datname = current_database()) "                      \
  "AND l.classid::int8 = ((" k ") >> 32) & 4294967295 AND l.objid::int8 = (" k ") & 4294967295"

#endif
