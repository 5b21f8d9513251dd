/* postgres_kit.c — raw SQL for the postgres:// tests, and the server as the
 * seam suite sees it. An advisory lock cannot be taken from a live session:
 * a steal or remove of a held name ends the holder's session. */
#include "postgres_kit.h"

#include "postgres.h"
#include "test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

PGconn *kit_pg_raw(const test_cluster *c) {
  char conninfo[256];
  snprintf(conninfo, sizeof conninfo,
           "host=127.0.0.1 port=%d dbname=%s user=%s password=%s connect_timeout=5",
           c->member[0].port, TEST_PG_DB, TEST_PG_USER, TEST_PG_PASSWORD);
  PGconn *pg = PQconnectdb(conninfo);
  if (PQstatus(pg) != CONNECTION_OK) {
    fprintf(stderr, "raw connect to %d: %s", c->member[0].port, PQerrorMessage(pg));
    PQfinish(pg);
    return NULL;
  }
  PQclear(PQexec(pg, "SET statement_timeout = '10s'"));
  return pg;
}

static PGresult *exec_v(PGconn *pg, const char *sql, va_list ap) {
  const char *params[8];
  int n = 0;
  for (const char *p; n < 8 && (p = va_arg(ap, const char *)) != NULL;) params[n++] = p;
  PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    fprintf(stderr, "raw '%.80s': %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return NULL;
  }
  return r;
}

int kit_pg_str(PGconn *pg, char *buf, size_t size, const char *sql, ...) {
  buf[0] = '\0';
  if (pg == NULL) return -1;
  va_list ap;
  va_start(ap, sql);
  PGresult *r = exec_v(pg, sql, ap);
  va_end(ap);
  if (r == NULL) return -1;
  if (PQntuples(r) > 0 && PQnfields(r) > 0) snprintf(buf, size, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  return 0;
}

/* ---- the seam suite's view ------------------------------------------------- */

/* Thieves: connections that took a name's lock, kept until removed. */
#define THIEVES 16
static struct {
  char name[BATON_NAME_MAX + 1];
  PGconn *pg;
} thieves[THIEVES];

static int seam_peek(const test_cluster *c, const char *name, kit_peek *out) {
  memset(out, 0, sizeof *out);
  out->ttl_ms = -1; /* a lock lives as long as its session */
  PGconn *pg = kit_pg_raw(c);
  char held[32], identity[300] = "", token[32] = "";
  int rc = kit_pg_str(pg, held, sizeof held,
                      "SELECT count(*) FROM pg_locks l WHERE " KIT_PG_HELD(KIT_PG_KEY("$1::text")),
                      name, NULL);
  if (rc == 0) rc = kit_pg_str(pg, identity, sizeof identity,
                               "SELECT identity FROM baton_token WHERE name = $1", name, NULL);
  if (rc == 0) rc = kit_pg_str(pg, token, sizeof token,
                               "SELECT token FROM baton_token WHERE name = $1", name, NULL);
  if (pg != NULL) PQfinish(pg);
  if (rc != 0) return -1;
  out->keys = atoi(held);
  if (out->keys > 0) {
    out->token = strtoull(token, NULL, 10);
    snprintf(out->identity, sizeof out->identity, "%.*s", (int)sizeof out->identity - 1, identity);
  }
  return 0;
}

/* End the session that holds name's lock, and wait (server-side, bounded)
 * until it has gone. 0, or -1. */
static int end_holder(PGconn *pg, const char *name) {
  char ignored[16];
  return kit_pg_str(pg, ignored, sizeof ignored,
                    "SELECT count(pg_terminate_backend(l.pid, 5000)) FROM pg_locks l WHERE "
                    KIT_PG_HELD(KIT_PG_KEY("$1::text")),
                    name, NULL);
}

static int seam_steal(const test_cluster *c, const char *name) {
  int slot = -1;
  for (int i = 0; i < THIEVES && slot < 0; i++)
    if (thieves[i].pg == NULL) slot = i;
  if (slot < 0) return -1;
  PGconn *pg = kit_pg_raw(c);
  char got[16];
  int rc = pg != NULL ? end_holder(pg, name) : -1;
  /* The lock is free once the holder's backend has exited; waiting for
   * it is the server's (lock_timeout bounds it). */
  if (rc == 0) rc = kit_pg_str(pg, got, sizeof got, "SET lock_timeout = '5s'", NULL);
  if (rc == 0)
    rc = kit_pg_str(pg, got, sizeof got,
                    "SELECT pg_advisory_lock(" KIT_PG_KEY("$1::text") ")::text", name, NULL);
  if (rc == 0)
    rc = kit_pg_str(pg, got, sizeof got,
                    /* A holder as baton's acquire makes one: the row names its
                     * session, which the leader look asks of the lock's. */
                    "INSERT INTO baton_token AS t (name, token, identity, holder_pid, "
                    "holder_start, released) SELECT $1, 1, 'thief', pg_backend_pid(), "
                    "backend_start, false FROM pg_stat_activity WHERE pid = pg_backend_pid() "
                    "ON CONFLICT (name) DO UPDATE SET token = t.token + 1, identity = 'thief', "
                    "holder_pid = excluded.holder_pid, holder_start = excluded.holder_start, "
                    "released = false RETURNING token",
                    name, NULL);
  if (rc != 0) {
    if (pg != NULL) PQfinish(pg);
    return -1;
  }
  snprintf(thieves[slot].name, sizeof thieves[slot].name, "%s", name);
  thieves[slot].pg = pg;
  return 0;
}

static int seam_remove(const test_cluster *c, const char *name) {
  char ignored[16];
  for (int i = 0; i < THIEVES; i++) {
    if (thieves[i].pg == NULL || strcmp(thieves[i].name, name) != 0) continue;
    kit_pg_str(thieves[i].pg, ignored, sizeof ignored,
               "SELECT pg_advisory_unlock(" KIT_PG_KEY("$1::text") ")::text", name, NULL);
    PQfinish(thieves[i].pg);
    thieves[i].pg = NULL;
    return 0;
  }
  PGconn *pg = kit_pg_raw(c);
  int rc = pg != NULL ? end_holder(pg, name) : -1;
  if (pg != NULL) PQfinish(pg);
  return rc;
}

/* The session counts the requests it sends, on every connection. */
static long seam_requests(const test_cluster *c, kit_session *k, void (*fn)(void *), void *arg) {
  (void)c;
  baton_pg_session *s = (baton_pg_session *)k->s;
  unsigned long before = __atomic_load_n(&s->requests, __ATOMIC_RELAXED);
  fn(arg);
  return (long)(__atomic_load_n(&s->requests, __ATOMIC_RELAXED) - before);
}

const kit_seam kit_seam_postgres = {
    .kind = "postgres",
    .table = &baton_backend_postgres,
    .peek = seam_peek,
    .steal = seam_steal,
    .remove = seam_remove,
    .requests = seam_requests,
    .acquire_release_requests = 2,
    .renew_sees_keys = true,
    .keys_end_with_the_session = true,
    .wait_deadline_says = "deadline passed",
};
