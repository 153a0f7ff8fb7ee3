-- libs/events: row-level security on the outbox, like every tenant-scoped service table.
--
-- Producers write events inside their tenant transactions (`app.tenant_id` set, see
-- db::begin_for_tenant), so the usual tenant_isolation policy applies: a tenant transaction sees
-- and writes only its own tenant's events, and a session outside any tenant sees none.
-- (processed_events holds no tenant data and outbox_relay one lease row: neither needs RLS.)
--
-- The relay and the history replay work across tenants. They do it only through the SECURITY
-- DEFINER functions below, which run as the schema owner (table owners are not subject to RLS;
-- the table is not FORCEd). This is the least privilege that works:
-- * a policy opened by a setting (`app.relay = on`) can be switched on by any statement on an
--   application connection, and then grants SELECT, UPDATE and DELETE on every tenant's rows;
-- * a relay role needs the login role to be a member of it (SET ROLE), so any statement on an
--   application connection can become the relay, with the same full access;
-- * the functions give the application role the relay's operations and nothing else: claim the
--   next pending rows (locked in the caller's transaction), mark claimed rows sent or rejected,
--   prune sent rows past retention, read the backlog gauge and page through sent history. It
--   still cannot select an arbitrary row, change an envelope or write another tenant's event.
-- EXECUTE is revoked from PUBLIC; libs/db grants it to the service's application role.

ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON outbox
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- Claims up to batch_size pending rows after after_seq, FOR UPDATE SKIP LOCKED: the row locks
-- belong to the calling transaction and are the claim. A row is `blocked` when an earlier pending
-- row of its aggregate is neither claimed here nor in `own` (the caller's in-flight batches):
-- another relay holds it, and publishing now could overtake it. PL/pgSQL, so the plan is cached
-- per session like a prepared statement's.
CREATE FUNCTION outbox_claim(batch_size bigint, own bigint[], after_seq bigint)
RETURNS TABLE (seq bigint, event_id uuid, event_type text, tenant_id uuid, envelope bytea,
               blocked boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH claimed AS MATERIALIZED (
        SELECT o.seq, o.event_id, o.event_type, o.tenant_id, o.aggregate_type, o.aggregate_id,
               o.envelope
        FROM outbox o
        WHERE o.sent_at IS NULL AND o.seq > after_seq
        ORDER BY o.seq
        LIMIT batch_size
        FOR UPDATE SKIP LOCKED
    ),
    mine AS MATERIALIZED (
        SELECT c.seq FROM claimed c
        UNION ALL
        SELECT unnest(own)
    ),
    blockers AS MATERIALIZED (
        SELECT a.aggregate_type, a.aggregate_id,
               (SELECT min(e.seq)
                FROM outbox e
                WHERE e.sent_at IS NULL
                  AND e.aggregate_type = a.aggregate_type
                  AND e.aggregate_id = a.aggregate_id
                  AND e.seq < a.last_seq
                  AND e.seq NOT IN (SELECT m.seq FROM mine m)) AS blocker
        FROM (SELECT c.aggregate_type, c.aggregate_id, max(c.seq) AS last_seq
              FROM claimed c
              GROUP BY c.aggregate_type, c.aggregate_id) a
    )
    SELECT c.seq, c.event_id, c.event_type, c.tenant_id, c.envelope,
           COALESCE(b.blocker < c.seq, false)
    FROM claimed c
    JOIN blockers b ON b.aggregate_type = c.aggregate_type AND b.aggregate_id = c.aggregate_id
    ORDER BY c.seq;
END
$$;

-- Marks a settled batch: confirmed rows sent, rejected rows with their attempt and error.
CREATE FUNCTION outbox_settle(sent bigint[], rejected bigint[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
AS $$
BEGIN
    UPDATE outbox o
    SET sent_at = now(), publish_attempts = o.publish_attempts + 1
    WHERE o.seq = ANY (sent);
    IF cardinality(rejected) > 0 THEN
        UPDATE outbox o
        SET publish_attempts = o.publish_attempts + 1,
            last_error = 'rejected by the broker (negative confirm)'
        WHERE o.seq = ANY (rejected);
    END IF;
END
$$;

-- Deletes up to `chunk` sent rows older than the retention; returns how many.
CREATE FUNCTION outbox_prune(retention_secs double precision, chunk bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
AS $$
DECLARE
    deleted bigint;
BEGIN
    DELETE FROM outbox
    WHERE seq IN (
        SELECT o.seq
        FROM outbox o
        WHERE o.sent_at < now() - make_interval(secs => retention_secs)
        ORDER BY o.seq
        LIMIT chunk
        FOR UPDATE SKIP LOCKED
    );
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END
$$;

-- Pending rows and the age of the oldest, for the backlog gauges (counts only, no event data).
CREATE FUNCTION outbox_backlog(OUT pending bigint, OUT oldest_secs double precision)
LANGUAGE sql STABLE SECURITY DEFINER
AS $$
    SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(o.created_at)), 0)::float8
    FROM outbox o
    WHERE o.sent_at IS NULL
$$;

-- One page of sent history after after_seq, optionally only events that occurred since `since`.
CREATE FUNCTION outbox_history(after_seq bigint, since timestamptz, page bigint)
RETURNS TABLE (seq bigint, event_id uuid, event_type text, tenant_id uuid, envelope bytea)
LANGUAGE sql STABLE SECURITY DEFINER
AS $$
    SELECT o.seq, o.event_id, o.event_type, o.tenant_id, o.envelope
    FROM outbox o
    WHERE o.sent_at IS NOT NULL
      AND o.seq > after_seq
      AND (since IS NULL OR o.occurred_at >= since)
    ORDER BY o.seq
    LIMIT page
$$;

-- A SECURITY DEFINER function must not resolve names through a schema its caller controls: pin
-- this schema, with pg_temp last (it is searched first when not named). The schema is only known
-- at run time, hence the dynamic statements; the signatures are constants of this file.
DO $$
DECLARE
    signature text;
BEGIN
    FOREACH signature IN ARRAY ARRAY[
        'outbox_claim(bigint, bigint[], bigint)',
        'outbox_settle(bigint[], bigint[])',
        'outbox_prune(double precision, bigint)',
        'outbox_backlog()',
        'outbox_history(bigint, timestamptz, bigint)'
    ] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', signature,
                       current_schema());
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', signature);
    END LOOP;
END
$$;
