/* sql.h — the statements of the postgres:// backend, in one place: the
 * backend runs them, and the benchmark's raw floor (bench/floor_postgres.c)
 * runs the very same ones with bare libpq. Internal to backends/postgres/
 * and its floor. See postgres.h for the layout they keep. */
#ifndef BATON_POSTGRES_SQL_H
#define BATON_POSTGRES_SQL_H

/* The key of a name, as SQL over the text parameter `n`: the first 64 bits
 * of its MD5, big-endian, as a signed bigint. */
#define BATON_PG_KEY(n) "(('x' || left(md5(" n "), 16))::bit(64)::bigint)"
/* Whether the advisory lock on bigint `k` is held by this session. A
 * bigint key shows in pg_locks as classid = its high 32 bits, objid = its
 * low 32 bits, objsubid = 1. */
#define BATON_PG_OWN(k)                                                                     \
  "EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE l.locktype = 'advisory' AND l.granted " \
  "AND l.objsubid = 1 AND l.pid = pg_catalog.pg_backend_pid() "                              \
  "AND l.classid::int8 = ((" k ") >> 32) & 4294967295 AND l.objid::int8 = (" k ") & 4294967295)"

/* Whether someone holds the advisory lock on key `k` in this database. */
#define HELD_BY_ANYONE(k)                                                                     \
  "l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.database = "                \
  "(SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()) " \
  "AND l.classid::int8 = ((" k ") >> 32) & 4294967295 AND l.objid::int8 = (" k ") & 4294967295"

#define NAME_KEY BATON_PG_KEY("$1::text")
#define CHANNEL "('baton_' || md5($1::text))"

/* ms the holder's session of name $1 has been idle, NULL when it is not
 * idle or not visible. */
#define HOLDER_IDLE_MS                                                                       \
  "(SELECT (extract(epoch FROM pg_catalog.clock_timestamp() - a.state_change) * 1000)::int8 " \
  "FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid WHERE "     \
  HELD_BY_ANYONE(NAME_KEY) " AND a.state = 'idle' LIMIT 1)"

/* A fixed lease (baton_lease_*) lives in its name's token row alone, as
 * fixed_until (the server's clock): no session and no lock hold it, so it
 * outlives its process. On the row t: whether one is live, and its ms
 * left (NULL when none). The row of a lease says released (no term to
 * wait out: its holder's local end comes before fixed_until) and names no
 * session. */
#define FIXED_LIVE "t.fixed_until > pg_catalog.clock_timestamp()"
#define NO_LIVE_FIXED "NOT COALESCE(" FIXED_LIVE ", false)"
/* In an acquire's ON CONFLICT DO UPDATE WHERE: the row's latest version
 * (t, locked) is the one the statement's snapshot read (h). Whether the
 * previous term may still be believed (ms) comes from that snapshot: a
 * term that committed after it, and whose session then ended (so the lock
 * was free), is not in it, and must not be overwritten. A changed row (or
 * one the snapshot did not show) takes nothing: the caller is told the
 * name is held and looks again with a fresh snapshot. Every term and lease
 * raises the token, so an unchanged token is an unchanged holder. */
#define UNCHANGED_SINCE_H "t.token IS NOT DISTINCT FROM (SELECT token FROM h)"
#define FIXED_LEFT_MS                                                                          \
  "CASE WHEN " FIXED_LIVE " THEN ceil(extract(epoch FROM t.fixed_until - "                     \
  "pg_catalog.clock_timestamp()) * 1000)::int8 END"

/* The holder of a term that did not end by a release may believe in it
 * until its session's last renewal + its own TTL (kept in the token row's
 * ttl_ms: an acquirer with a shorter TTL waits for the holder's), even
 * when the server let go of its lock sooner (a reset connection ends a
 * session at once). So every acquire that takes a lock, and every
 * renewal, records the session's
 * heartbeat (baton_session), each term names its session in its token
 * row, and a new term waits for the previous one's heartbeat + TTL. Parameters below: $4 (acquire)
 * or $2 (renew, release) is the session's backend_start. */
#define SELF "pg_catalog.pg_backend_pid(), "
#define BEAT_IF(start, cond)                                                                  \
  "INSERT INTO baton_session AS b (pid, started, renewed) SELECT pg_catalog.pg_backend_pid(), " \
  start "::timestamptz, pg_catalog.clock_timestamp() WHERE " cond " ON CONFLICT (pid, started) " \
  "DO UPDATE SET renewed = excluded.renewed RETURNING 1"
#define BEAT(start) BEAT_IF(start, "true")

/* On the row t, for an acquirer of TTL $3 ms: the TTL its previous term's
 * holder may believe in (its own, kept in ttl_ms, when longer), and the
 * ms that term may still be believed: until its session's last heartbeat
 * + that TTL, or, when it began before the server's last start, until
 * start + that TTL (<= 0: no longer). */
#define PREV_TTL "GREATEST($3::int8, COALESCE(t.ttl_ms, 0))"
#define PREV_TERM_MS                                                                              \
  "GREATEST(0, CASE WHEN t.updated < pg_catalog.pg_postmaster_start_time() THEN " PREV_TTL        \
  " - (extract(epoch FROM pg_catalog.clock_timestamp() - pg_catalog.pg_postmaster_start_time()) " \
  "* 1000)::int8 ELSE 0 END, COALESCE((extract(epoch FROM (SELECT b.renewed FROM baton_session b " \
  "WHERE NOT t.released AND b.pid = t.holder_pid AND b.started = t.holder_start) - "              \
  "pg_catalog.clock_timestamp()) * 1000)::int8 + " PREV_TTL ", 0))"

/* On the row t of name $1: whether its term stands, that is, it was not
 * released and the session it names holds the lock (not another session:
 * a successor waiting out the previous term, a plain-SQL client). The
 * session is named by pid and, where this role may see it, backend_start
 * (a pid can be reused). */
#define TERM_STANDS                                                                               \
  "(NOT t.released AND EXISTS (SELECT 1 FROM pg_catalog.pg_locks l "                              \
  "LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid WHERE " HELD_BY_ANYONE(NAME_KEY)       \
  " AND l.pid = t.holder_pid AND (a.backend_start IS NULL OR a.backend_start = t.holder_start)))"

/* $1 name, $2 identity, $3 TTL in ms, $4 this session's start, $5 whether
 * this session may hold the lock already (an earlier attempt's reply was
 * lost: pg_locks is read only then). Takes the lock unless this session
 * has it already, and raises the token in the same statement
 * (one transaction) unless the previous term may still be believed: its
 * holder's heartbeat + TTL, or, when it began before the server's last
 * start, start + TTL, is still to come (`ms` says how long). A term the
 * row gives to this session is adopted, token and all (a retry after a
 * lost reply), only while this session still holds the lock: a lock taken
 * anew is a new term with a new token, whatever the row says. Says who
 * held the name before, how long its session has been idle, and whether
 * the lock's holder is foreign: neither the session the row names nor a
 * baton session (one with a heartbeat within a TTL: a successor waiting
 * out the previous term holds the lock while the row still names that
 * term), so plain SQL, say, whose expiry is not known and which sends no
 * NOTIFY. The heartbeat is written only when the lock was taken: a look
 * that did not get it begins no term and extends none (terms are extended
 * by renewals, which write it), and skipping it only leaves the heartbeat
 * older, which makes no successor wait less than it must; a waiter's
 * looks then commit nothing. A live fixed lease on the row holds the name
 * too: the row is left as it is (the check is on the row's latest version,
 * which ON CONFLICT locks, so a lease committed after this statement's
 * snapshot counts), the lock is let go in the same statement, and the
 * reply says so with the lease's ms left (NULL when the snapshot does not
 * show it yet). A row changed since the snapshot is left as it is too
 * (UNCHANGED_SINCE_H), and answered the same way. */
#define BATON_PG_ACQUIRE_SQL \
    "WITH mine AS (SELECT CASE WHEN $5::bool THEN " BATON_PG_OWN(NAME_KEY) " ELSE false END " \
    "AS held), " \
    "l AS (SELECT CASE WHEN (SELECT held FROM mine) THEN true " \
    "ELSE pg_catalog.pg_try_advisory_lock(" NAME_KEY ") END AS got), " \
    "beat AS (" BEAT_IF("$4", "(SELECT got FROM l)") "), " \
    "h AS (SELECT t.identity, t.token, " \
    "t.holder_pid = pg_catalog.pg_backend_pid() AND t.holder_start = $4::timestamptz " \
    "AND NOT t.released AS ours, (SELECT held FROM mine) AND " \
    "t.holder_pid = pg_catalog.pg_backend_pid() AND t.holder_start = $4::timestamptz " \
    "AND NOT t.released AS adopt, CASE WHEN NOT t.released THEN t.holder_pid END AS live_pid, " \
    PREV_TTL " AS ttl, " PREV_TERM_MS " AS prev_ms, " FIXED_LEFT_MS " AS fixed_ms " \
    "FROM baton_token t WHERE t.name = $1::text), " \
    "w AS (SELECT CASE WHEN COALESCE((SELECT ours FROM h), false) THEN 0 " \
    "ELSE COALESCE((SELECT prev_ms FROM h), 0) END AS ms), " \
    "up AS (INSERT INTO baton_token AS t (name, token, identity, value, updated, holder_pid, " \
    "holder_start, released, ttl_ms) SELECT $1::text, 1, $2::text, '', " \
    "pg_catalog.clock_timestamp(), " SELF "$4::timestamptz, false, $3::int8 FROM l " \
    "WHERE got AND (SELECT ms FROM w) = 0 AND NOT COALESCE((SELECT adopt FROM h), false) " \
    "ON CONFLICT (name) DO UPDATE SET token = t.token + 1, identity = excluded.identity, " \
    "value = excluded.value, value_version = 0, updated = excluded.updated, " \
    "holder_pid = excluded.holder_pid, " \
    "holder_start = excluded.holder_start, released = false, ttl_ms = excluded.ttl_ms " \
    "WHERE " NO_LIVE_FIXED " AND " UNCHANGED_SINCE_H " RETURNING t.token), " \
    "n AS (SELECT pg_catalog.pg_notify(" CHANNEL ", 'elected') FROM up), " \
    "un AS (SELECT pg_catalog.pg_advisory_unlock(" NAME_KEY ") FROM l WHERE got " \
    "AND (SELECT ms FROM w) = 0 AND NOT COALESCE((SELECT adopt FROM h), false) " \
    "AND NOT EXISTS (SELECT 1 FROM up)) " \
    "SELECT (SELECT got FROM l), COALESCE((SELECT token FROM up), " \
    "CASE WHEN (SELECT adopt FROM h) THEN (SELECT token FROM h) END), " \
    "(SELECT identity FROM h), (SELECT token FROM h), (SELECT ms FROM w), " \
    "CASE WHEN NOT (SELECT got FROM l) THEN " HOLDER_IDLE_MS " END, " \
    "(SELECT count(*) FROM n), (SELECT count(*) FROM beat), " \
    "NOT (SELECT got FROM l) AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE " \
    HELD_BY_ANYONE(NAME_KEY) " AND (l.pid = (SELECT live_pid FROM h) OR EXISTS (SELECT 1 " \
    "FROM baton_session b WHERE b.pid = l.pid AND b.renewed > pg_catalog.clock_timestamp() - " \
    "GREATEST($3::int8, COALESCE((SELECT ttl FROM h), 0))::float8 * interval '1 millisecond'))), " \
    "(SELECT fixed_ms FROM h), (SELECT count(*) FROM un)"

/* $1 name, $2 this session's start: mark our term released (so that the
 * next one need not wait for it), let go of the lock if this session has
 * it, and wake waiters. Whether it had the lock is what the unlock says
 * (false, with a warning the backend drops, when it had not), not a look
 * at pg_locks: that view copies every lock of the server, so a release
 * would cost in proportion to the names held (4.7 ms with 10,000 held,
 * 0.75 ms with none, PostgreSQL 15). */
#define BATON_PG_RELEASE_SQL \
    "WITH rel AS (UPDATE baton_token SET released = true WHERE name = $1::text " \
    "AND holder_pid = pg_catalog.pg_backend_pid() AND holder_start = $2::timestamptz " \
    "AND NOT released RETURNING 1), " \
    "u AS (SELECT pg_catalog.pg_advisory_unlock(" NAME_KEY ") AS ok) " \
    "SELECT (SELECT count(*) FROM rel), ok, " \
    "pg_catalog.pg_notify(" CHANNEL ", 'released') FROM u WHERE ok"

/* $1 name: let go of a lock taken by a statement that then failed. */
#define BATON_PG_UNLOCK_SQL \
    "SELECT pg_catalog.pg_advisory_unlock(" NAME_KEY ") WHERE " BATON_PG_OWN(NAME_KEY)

/* $1 names as a text[], $2 this session's start: the heartbeat, and the
 * names whose lock this session does not hold. pg_locks is read once and
 * hashed, so 10,000 names cost one scan. */
#define BATON_PG_RENEW_SQL \
    "WITH own AS MATERIALIZED (SELECT (l.classid::int8 << 32) | l.objid::int8 AS k " \
    "FROM pg_catalog.pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 " \
    "AND l.pid = pg_catalog.pg_backend_pid()), beat AS (" BEAT("$2") ") " \
    "SELECT n FROM unnest($1::text[]) AS n WHERE " BATON_PG_KEY("n") " NOT IN (SELECT k FROM own)"

/* $1 name: the leader from the table, only while its term stands (see
 * TERM_STANDS) or its fixed lease is live (with its ms left). */
#define BATON_PG_LEADER_SQL \
    "SELECT t.identity, t.token, " HOLDER_IDLE_MS ", t.value, t.value_version, " FIXED_LEFT_MS \
    " FROM baton_token t WHERE t.name = $1::text AND (" FIXED_LIVE " OR " TERM_STANDS ")"

/* $1 name, $2 identity, $3 the client's TTL in ms, $4 the lease's TTL in
 * ms: take a fixed lease, in one transaction. The name's lock for the
 * transaction only is refused while a session holds it (a term, a
 * successor waiting one out, plain SQL); with it, the row takes the lease
 * (a new token, from the counter terms raise) unless a live lease is on
 * it (checked on its latest version, as in acquire) or its previous term
 * may still be believed (as a term acquire waits for it, `ms`, so the row
 * must be unchanged since the snapshot that says so). The lock
 * goes at commit, when the row says the lease holds the name. Says the
 * token, or the holder as leader would show it (only while it stands:
 * else NULL) and the ms the previous term may be believed. */
#define BATON_PG_LEASE_ACQUIRE_SQL \
    "WITH l AS (SELECT pg_catalog.pg_try_advisory_xact_lock(" NAME_KEY ") AS got), " \
    "h AS (SELECT t.identity, t.token, t.value_version, (" FIXED_LIVE ") OR " TERM_STANDS \
    " AS live, " PREV_TERM_MS " AS ms FROM baton_token t WHERE t.name = $1::text), " \
    "up AS (INSERT INTO baton_token AS t (name, token, identity, value, updated, holder_pid, " \
    "holder_start, released, ttl_ms, fixed_until) SELECT $1::text, 1, $2::text, '', " \
    "pg_catalog.clock_timestamp(), NULL, NULL, true, NULL, pg_catalog.clock_timestamp() + " \
    "$4::int8::float8 * interval '1 millisecond' FROM l " \
    "WHERE got AND COALESCE((SELECT ms FROM h), 0) = 0 " \
    "ON CONFLICT (name) DO UPDATE SET token = t.token + 1, identity = excluded.identity, " \
    "value = excluded.value, value_version = 0, updated = excluded.updated, holder_pid = NULL, " \
    "holder_start = NULL, released = true, ttl_ms = NULL, fixed_until = excluded.fixed_until " \
    "WHERE " NO_LIVE_FIXED " AND " UNCHANGED_SINCE_H " RETURNING t.token), " \
    "n AS (SELECT pg_catalog.pg_notify(" CHANNEL ", 'elected') FROM up) " \
    "SELECT (SELECT token FROM up), (SELECT count(*) FROM n), " \
    "(SELECT identity FROM h WHERE live), (SELECT token FROM h WHERE live), " \
    "(SELECT value_version FROM h WHERE live), COALESCE((SELECT ms FROM h), 0)"

/* $1 name, $2 the lease's token, $3 its new TTL in ms: the lease lives
 * that long from now if it is still live. Says whether it was. */
#define BATON_PG_LEASE_EXTEND_SQL \
    "WITH up AS (UPDATE baton_token AS t SET fixed_until = pg_catalog.clock_timestamp() + " \
    "$3::int8::float8 * interval '1 millisecond', updated = pg_catalog.clock_timestamp() " \
    "WHERE t.name = $1::text AND t.token = $2::int8 AND " FIXED_LIVE " RETURNING 1) " \
    "SELECT count(*) FROM up"

/* $1 name, $2 the lease's token: end the lease if it is still live, and
 * wake the name's waiters. Says whether it was. */
#define BATON_PG_LEASE_RELEASE_SQL \
    "WITH rel AS (UPDATE baton_token AS t SET fixed_until = NULL WHERE t.name = $1::text " \
    "AND t.token = $2::int8 AND " FIXED_LIVE " RETURNING 1) " \
    "SELECT count(*), count(pg_catalog.pg_notify(" CHANNEL ", 'released')) FROM rel"

/* $1 name, $2 the term's token, $3 the value, $4 this session's start:
 * proclaim. The term's row takes the value only while it is this
 * session's term and this session holds the lock; observers are told
 * ('proclaimed': waiting candidates ignore it). Says whether it did. */
#define BATON_PG_PROCLAIM_SQL \
    "WITH up AS (UPDATE baton_token SET value = $3::text, value_version = value_version + 1 " \
    "WHERE name = $1::text AND token = $2::int8 AND NOT released " \
    "AND holder_pid = pg_catalog.pg_backend_pid() AND holder_start = $4::timestamptz AND " \
    BATON_PG_OWN(NAME_KEY) " RETURNING 1) " \
    "SELECT (SELECT count(*) FROM up), " \
    "(SELECT count(pg_catalog.pg_notify(" CHANNEL ", 'proclaimed')) FROM up)"

/* $1 this session's start. Ending the session lets go of its locks: its
 * terms are marked released and their waiters told (NOTIFY comes at
 * commit, after the unlock), its heartbeat goes. */
#define BATON_PG_CLOSE_SQL \
    "WITH rel AS (UPDATE baton_token SET released = true WHERE holder_pid = " \
    "pg_catalog.pg_backend_pid() AND holder_start = $1::timestamptz AND NOT released " \
    "RETURNING name), del AS (DELETE FROM baton_session WHERE pid = pg_catalog.pg_backend_pid() " \
    "AND started = $1::timestamptz) " \
    "SELECT pg_catalog.pg_advisory_unlock_all(), " \
    "(SELECT count(pg_catalog.pg_notify('baton_' || md5(name), 'released')) FROM rel)"

/* The session's settings and the token table, in one round trip.
 * synchronous_commit is on whatever the server's default: a heartbeat or
 * token the client was told of must survive a crash, or a crash
 * re-initialisation (which keeps pg_postmaster_start_time()) would roll a
 * heartbeat back and let the next term in early. */
/* The transaction lock around making the tables: the key of the name
 * "baton/setup" (no election name has a '/'). */
#define BATON_PG_SETUP_LOCK BATON_PG_KEY("'baton/setup'::text")

static const char baton_pg_setup_fmt[] =
    "SET synchronous_commit = on; "
    "SET idle_session_timeout = %lld; SET idle_in_transaction_session_timeout = %lld; "
    "SET tcp_user_timeout = %lld; SET statement_timeout = %lld; "
    /* Two sessions making the tables at once would race in the catalog
     * (a unique violation in pg_type): one at a time, under a transaction
     * lock on a key of baton's own, and only when something is missing. */
    "DO $baton$BEGIN IF pg_catalog.to_regclass('baton_token') IS NULL OR "
    "pg_catalog.to_regclass('baton_session') IS NULL THEN "
    "PERFORM pg_catalog.pg_advisory_xact_lock(" BATON_PG_SETUP_LOCK "); END IF; "
    "IF pg_catalog.to_regclass('baton_token') IS NULL THEN "
    "CREATE TABLE IF NOT EXISTS baton_token (name text PRIMARY KEY, token bigint NOT NULL, "
    "identity text NOT NULL, value text NOT NULL DEFAULT '', "
    "value_version bigint NOT NULL DEFAULT 0, "
    "updated timestamptz NOT NULL DEFAULT now(), holder_pid integer, holder_start timestamptz, "
    "released boolean NOT NULL DEFAULT false, ttl_ms bigint, fixed_until timestamptz); END IF; "
    /* Tables made before the holder's TTL was kept gain its column. */
    "IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = "
    "pg_catalog.to_regclass('baton_token') AND attname = 'ttl_ms' AND NOT attisdropped) THEN "
    "ALTER TABLE baton_token ADD COLUMN IF NOT EXISTS ttl_ms bigint; END IF; "
    /* ... and the proclaimed value's version (proclaim). */
    "IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = "
    "pg_catalog.to_regclass('baton_token') AND attname = 'value_version' AND NOT attisdropped) THEN "
    "ALTER TABLE baton_token ADD COLUMN IF NOT EXISTS value_version bigint NOT NULL DEFAULT 0; "
    "END IF; "
    /* ... and the fixed lease's end (baton_lease_*). */
    "IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = "
    "pg_catalog.to_regclass('baton_token') AND attname = 'fixed_until' AND NOT attisdropped) THEN "
    "ALTER TABLE baton_token ADD COLUMN IF NOT EXISTS fixed_until timestamptz; END IF; "
    "IF pg_catalog.to_regclass('baton_session') IS NULL THEN "
    "CREATE TABLE IF NOT EXISTS baton_session (pid integer NOT NULL, started timestamptz NOT NULL, "
    "renewed timestamptz NOT NULL, PRIMARY KEY (pid, started)); END IF; END$baton$; "
    "DELETE FROM baton_session WHERE renewed < pg_catalog.now() - interval '1 day'; "
    "%s"
    "SELECT pg_catalog.pg_backend_pid(), a.backend_start::text FROM pg_catalog.pg_stat_activity a "
    "WHERE a.pid = pg_catalog.pg_backend_pid()";

/* A read-only client's session (BATON_CLIENT_READ_ONLY): it holds nothing
 * and renews nothing, so the server must not end it when idle, and it
 * neither makes tables nor deletes rows (a read-only role may use it). It
 * prepares nothing either: the token table may not exist yet. */
static const char baton_pg_setup_ro_fmt[] =
    "SET idle_session_timeout = 0; SET idle_in_transaction_session_timeout = %lld; "
    "SET tcp_user_timeout = %lld; SET statement_timeout = %lld; "
    "SELECT pg_catalog.pg_backend_pid(), a.backend_start::text FROM pg_catalog.pg_stat_activity a "
    "WHERE a.pid = pg_catalog.pg_backend_pid()";

/* Every statement a session runs more than once, prepared once per
 * session in its set-up (and planned once: the session plans generically),
 * each by name with its parameters' types. The set-up's second try (after
 * a refusal such as a statement time-out on a loaded server) runs on the
 * same connection, where the first try's statements were committed one by
 * one: DEALLOCATE ALL first, so that it does not fail on its own
 * PREPAREs ("prepared statement already exists"). */
#define BATON_PG_ACQUIRE "baton_acquire"
#define BATON_PG_RELEASE "baton_release"
#define BATON_PG_UNLOCK "baton_unlock"
#define BATON_PG_RENEW "baton_renew"
static const char baton_pg_prepare_sql[] =
    "SET plan_cache_mode = force_generic_plan; DEALLOCATE ALL; "
    "PREPARE " BATON_PG_ACQUIRE " (text, text, int8, timestamptz, bool) AS " BATON_PG_ACQUIRE_SQL "; "
    "PREPARE " BATON_PG_RELEASE " (text, timestamptz) AS " BATON_PG_RELEASE_SQL "; "
    "PREPARE " BATON_PG_UNLOCK " (text) AS " BATON_PG_UNLOCK_SQL "; "
    "PREPARE " BATON_PG_RENEW " (text[], timestamptz) AS " BATON_PG_RENEW_SQL "; ";

#endif /* BATON_POSTGRES_SQL_H */
