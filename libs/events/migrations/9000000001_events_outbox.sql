-- libs/events: transactional outbox and consumer idempotency, created in the service's own schema.
-- Versions 9_000_000_001+ are reserved for libs/events so they never collide with a service's own
-- migrations in the shared _sqlx_migrations table. Neither table is under row-level security: the
-- relay reads every tenant's rows, and processed_events holds no tenant data.

CREATE TABLE outbox (
    -- Commit order within one aggregate follows seq (the business transaction locks the aggregate
    -- before writing its event), so draining by seq keeps per-aggregate order.
    seq              BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         UUID        NOT NULL UNIQUE,
    event_type       TEXT        NOT NULL,
    tenant_id        UUID        NOT NULL,
    aggregate_type   TEXT        NOT NULL,
    aggregate_id     TEXT        NOT NULL,
    occurred_at      TIMESTAMPTZ NOT NULL,
    -- Encoded salescompass.events.v1.Envelope: the exact AMQP body the relay publishes.
    envelope         BYTEA       NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- NULL while pending; set once the broker confirmed the publish. Sent rows are kept for the
    -- retention period so new consumers can be replayed from history.
    sent_at          TIMESTAMPTZ,
    publish_attempts INTEGER     NOT NULL DEFAULT 0,
    last_error       TEXT
);

CREATE INDEX outbox_pending_idx ON outbox (seq) WHERE sent_at IS NULL;
CREATE INDEX outbox_pending_aggregate_idx ON outbox (aggregate_type, aggregate_id, seq)
    WHERE sent_at IS NULL;
CREATE INDEX outbox_sent_at_idx ON outbox (sent_at) WHERE sent_at IS NOT NULL;

-- While a relay is draining continuously it holds this lease and polls; until it ends, producers
-- skip NOTIFY (see outbox_notify). One row, shared by all relay replicas of the schema.
CREATE TABLE outbox_relay (
    singleton     BOOLEAN     PRIMARY KEY DEFAULT true CHECK (singleton),
    polling_until TIMESTAMPTZ NOT NULL DEFAULT 'epoch'
);
INSERT INTO outbox_relay DEFAULT VALUES;

-- Wakes an idle relay when an inserting transaction commits (notifications are delivered on
-- commit only, so a rolled-back transaction wakes nobody). The channel is per schema so services
-- sharing one database do not wake each other. A notifying commit takes a database-wide lock that
-- serialises all notifying commits, so it is skipped while a relay polls anyway. clock_timestamp(),
-- not now(): the check must happen after this transaction's insert, whenever the transaction began.
CREATE FUNCTION outbox_notify() RETURNS trigger
LANGUAGE plpgsql
-- Resolves outbox_relay in this schema whatever the inserting session's search_path.
SET search_path FROM CURRENT
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM outbox_relay WHERE polling_until > clock_timestamp()) THEN
        PERFORM pg_notify(left('outbox_' || TG_TABLE_SCHEMA, 63), '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_notify
    AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- One row per (consumer, event) applied; inserted in the same transaction as the handler's effect.
CREATE TABLE processed_events (
    consumer     TEXT        NOT NULL,
    event_id     UUID        NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CREATE INDEX processed_events_processed_at_idx ON processed_events (processed_at);
