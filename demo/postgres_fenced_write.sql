-- postgres_fenced_write.sql — the lock next to the data, in plain SQL, on a
-- scratch table: a fenced write with a baton token, and the transaction-scoped
-- flavour that needs no baton client. Run it with psql against a database
-- where baton has run (or any: it makes baton_token if missing):
--   psql "postgres://user@host/db" -v ON_ERROR_STOP=1 -f demo/postgres_fenced_write.sql
\set name '''demo-jobs'''
CREATE TABLE IF NOT EXISTS baton_token (name text PRIMARY KEY, token bigint NOT NULL,
  identity text NOT NULL, value text NOT NULL DEFAULT '', updated timestamptz NOT NULL DEFAULT now(),
  holder_pid integer, holder_start timestamptz, released boolean NOT NULL DEFAULT false,
  ttl_ms bigint, fixed_until timestamptz);
CREATE TEMP TABLE jobs (id int PRIMARY KEY, state text NOT NULL, fence bigint NOT NULL DEFAULT 0);
INSERT INTO jobs VALUES (42, 'new', 0), (43, 'new', 0);

-- 1. A baton holder passes its token (BATON_TOKEN) to the write. Here: two
--    holders, the newer with token 7, then a stale one with token 5.
UPDATE jobs SET state = 'done by 7', fence = 7 WHERE id = 42 AND fence <= 7;
UPDATE jobs SET state = 'done by 5', fence = 5 WHERE id = 42 AND fence <= 5;  -- UPDATE 0: refused
SELECT state, fence FROM jobs WHERE id = 42;                                    -- done by 7 | 7

-- 2. No baton client: lock, token and write in one transaction. The lock
--    ends with the transaction, so a paused process holds nothing. It must
--    not touch holder_pid, holder_start or released: they name the last
--    baton term, which a baton acquirer waits out when it did not end by a
--    release (its holder may still believe in it). And it must leave a live
--    baton fixed lease alone: a fixed_until still to come holds the name,
--    with no lock (the lease outlives its process).
BEGIN;
SELECT pg_try_advisory_xact_lock(('x' || left(md5(:name), 16))::bit(64)::bigint) AS locked \gset
\if :locked
  WITH up AS (INSERT INTO baton_token AS t (name, token, identity) VALUES (:name, 1, 'sql-worker')
      ON CONFLICT (name) DO UPDATE SET token = t.token + 1, identity = excluded.identity,
        updated = now()
      WHERE t.fixed_until IS NULL OR t.fixed_until <= clock_timestamp()
      RETURNING token)
  SELECT count(*) = 1 AS got, coalesce(max(token), 0) AS fence FROM up \gset
  \if :got
    UPDATE jobs SET state = 'done in one transaction', fence = :fence
      WHERE id = 43 AND fence <= :fence;
    COMMIT;
  \else
    \echo 'the name is held by a baton fixed lease: try again later'
    ROLLBACK;
  \endif
\else
  \echo 'the name is held (by a baton holder?): try again later'
  ROLLBACK;
\endif
SELECT state, fence FROM jobs WHERE id = 43;                                    -- done in one transaction
