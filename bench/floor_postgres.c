/* floor_postgres.c — the raw PostgreSQL floor: acquire+release with bare,
 * synchronous libpq.
 *   mirror: baton's own two statements, prepared as baton prepares them
 *           (backends/postgres/sql.h: take the lock, raise the token,
 *           record the heartbeat; release), the floor baton is held to;
 *   bare:   pg_try_advisory_lock + the token upsert in one statement, then
 *           unlock + NOTIFY: the least a lock with a token needs, shown for
 *           scale. */
#include "kit.h"
#include "pairloop.h"
#include "sql.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct pgfloor {
  PGconn *pg;
  bool mirror;
  char name[128], identity[64], ttl[24], started[64];
} pgfloor;

static const char bare_acquire[] =
    "WITH l AS (SELECT pg_try_advisory_lock(" BATON_PG_KEY("$1::text") ") AS got) "
    "INSERT INTO baton_token AS t (name, token, identity) SELECT $1, 1, $2 FROM l WHERE got "
    "ON CONFLICT (name) DO UPDATE SET token = t.token + 1, identity = excluded.identity "
    "RETURNING token";
static const char bare_release[] =
    "SELECT pg_advisory_unlock(" BATON_PG_KEY("$1::text") "), "
    "pg_notify('baton_' || md5($1::text), 'released')";

/* One statement (prepared: by its name); its first value must be `want`
 * (NULL: any). */
static int run(PGconn *pg, const char *sql, bool prepared, int n, const char *const *params,
               const char *want, const char *what) {
  PGresult *r = prepared ? PQexecPrepared(pg, sql, n, params, NULL, NULL, 0)
                         : PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
  int rc = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? 0 : -1;
  if (rc == 0 && want != NULL && strcmp(PQgetvalue(r, 0, 0), want) != 0) rc = -1;
  if (rc != 0)
    fprintf(stderr, "floor_postgres: %s: %s%s\n", what, PQresultErrorMessage(r),
            PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
  PQclear(r);
  return rc;
}

static int pair(void *ctx) {
  pgfloor *f = ctx;
  if (!f->mirror) {
    const char *p[] = {f->name, f->identity};
    if (run(f->pg, bare_acquire, false, 2, p, NULL, "acquire") != 0) return -1;
    return run(f->pg, bare_release, false, 1, p, "t", "release");
  }
  const char *a[] = {f->name, f->identity, f->ttl, f->started, "f"};
  if (run(f->pg, BATON_PG_ACQUIRE, true, 5, a, "t", "acquire") != 0) return -1;
  const char *r[] = {f->name, f->started};
  return run(f->pg, BATON_PG_RELEASE, true, 2, r, NULL, "release");
}

int main(int argc, char **argv) {
  if (argc < 2) kit_die("usage: floor_postgres URI [--variant mirror|bare] [--secs S] ...");
  kit_setup((int)kit_arg_long(argc, argv, "--watchdog", 300));
  const char *variant = kit_arg(argc, argv, "--variant", "mirror");
  static pgfloor f;
  f.mirror = strcmp(variant, "mirror") == 0;
  if (!f.mirror && strcmp(variant, "bare") != 0) kit_die("unknown variant %s", variant);
  f.pg = PQconnectdb(argv[1]);
  if (PQstatus(f.pg) != CONNECTION_OK) kit_die("connect: %s", PQerrorMessage(f.pg));
  long long ttl = kit_arg_long(argc, argv, "--ttl", 10000);
  snprintf(f.ttl, sizeof f.ttl, "%lld", ttl);
  snprintf(f.name, sizeof f.name, "%s", kit_arg(argc, argv, "--name", "bench-floor"));
  snprintf(f.identity, sizeof f.identity, "floor:%d", (int)getpid());
  /* The session baton would set up: the lease, the tables, the prepared
   * statements, its start. */
  char setup[sizeof baton_pg_setup_fmt + sizeof baton_pg_prepare_sql + 100];
  snprintf(setup, sizeof setup, baton_pg_setup_fmt, ttl, ttl, ttl, 2000LL, baton_pg_prepare_sql);
  PGresult *r = PQexec(f.pg, setup);
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
    kit_die("set-up: %s", PQresultErrorMessage(r));
  snprintf(f.started, sizeof f.started, "%s", PQgetvalue(r, 0, 1));
  PQclear(r);
  int rc = pairloop_run("floor", f.mirror ? "baton's statements" : "try_lock+upsert, unlock",
                        argv[1], pair, &f, argc, argv);
  PQfinish(f.pg);
  return rc;
}
