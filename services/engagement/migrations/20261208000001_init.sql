-- Engagement service schema. Runs with the service schema first on search_path; the service
-- connects as a non-owner role, so the row-level-security policies at the end apply to it.
-- Record types are 'lead', 'contact', 'account' (touched records) and 'opportunity' (projected
-- for quotes and deals).

-- Users as the tenants service announces them (tenants.user.* events): the management chain
-- for manager visibility. source_time: occurred_at of the last event applied.
CREATE TABLE engagement_users (
    tenant_id   uuid NOT NULL,
    user_id     uuid NOT NULL,
    manager_id  uuid,
    role        text NOT NULL,
    active      boolean NOT NULL,
    source_time timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX engagement_users_manager_idx ON engagement_users (tenant_id, manager_id);

-- The tenant's time zone (heatmaps) and currency (the open pipeline of the disengaged
-- accounts report), from tenants.tenant.provisioned / updated.
CREATE TABLE engagement_tenants (
    tenant_id     uuid PRIMARY KEY,
    time_zone     text NOT NULL,
    currency_code text NOT NULL DEFAULT 'USD',
    source_time   timestamptz NOT NULL
);

-- CRM records as the CRM announces them (crm.<entity>.created|updated|deleted, lead
-- conversions): who owns them (visibility) and which account a contact or deal belongs to (a
-- contact's touch also counts for its account). Deleted records stay as tombstones so a late,
-- older event cannot bring them back. Opportunities also carry their amount (google.type.Money
-- as units and nanos) and whether they are open, for the pipeline at risk.
CREATE TABLE engagement_records (
    tenant_id     uuid NOT NULL,
    record_type   text NOT NULL CHECK (record_type IN ('lead', 'contact', 'account', 'opportunity')),
    record_id     uuid NOT NULL,
    owner_id      uuid,
    account_id    uuid,
    deleted       boolean NOT NULL DEFAULT false,
    is_open       boolean NOT NULL DEFAULT false,
    currency_code text,
    amount_units  bigint,
    amount_nanos  integer,
    -- A lead's status (LEAD_STATUS_…), so a status change is seen as a move from it.
    status        text,
    source_time   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, record_type, record_id)
);
CREATE INDEX engagement_records_account_idx ON engagement_records (tenant_id, account_id) WHERE account_id IS NOT NULL;
CREATE INDEX engagement_records_owner_idx ON engagement_records (tenant_id, owner_id);
CREATE INDEX engagement_records_open_deals_idx ON engagement_records (tenant_id, account_id)
    WHERE record_type = 'opportunity' AND is_open AND NOT deleted;

-- The tenant's scoring model; a tenant without a row uses the built-in defaults.
CREATE TABLE engagement_models (
    tenant_id        uuid PRIMARY KEY,
    half_life_secs   double precision NOT NULL CHECK (half_life_secs > 0),
    -- [{"kind": "email_opened", "points": 1.0, "daily_cap": 5}, ...]
    rules            jsonb NOT NULL,
    engaged_enter    double precision NOT NULL,
    engaged_exit     double precision NOT NULL,
    disengaged_enter double precision NOT NULL,
    disengaged_exit  double precision NOT NULL,
    updated_by       uuid NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- Every touch. request_id is the client's idempotency key (the event id for touches from
-- events). kind is the domain name ('email_opened', ..., or 'custom:<name>'). points: what the
-- touch scored when recorded (0 past the daily cap). owner_id and account_id are the record's
-- at recording time, for heatmap filters.
CREATE TABLE engagement_events (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    request_id   text NOT NULL,
    kind         text NOT NULL,
    record_type  text NOT NULL CHECK (record_type IN ('lead', 'contact', 'account')),
    record_id    uuid NOT NULL,
    account_id   uuid,
    owner_id     uuid,
    user_id      uuid,
    channel      text NOT NULL DEFAULT '',
    source       text NOT NULL DEFAULT '',
    campaign     text NOT NULL DEFAULT '',
    utm_source   text NOT NULL DEFAULT '',
    utm_medium   text NOT NULL DEFAULT '',
    utm_campaign text NOT NULL DEFAULT '',
    utm_term     text NOT NULL DEFAULT '',
    utm_content  text NOT NULL DEFAULT '',
    occurred_at  timestamptz NOT NULL,
    counted      boolean NOT NULL,
    points       double precision NOT NULL,
    created_at   timestamptz NOT NULL,
    CONSTRAINT engagement_events_request_key UNIQUE (tenant_id, request_id)
);
CREATE INDEX engagement_events_time_idx ON engagement_events (tenant_id, occurred_at);
CREATE INDEX engagement_events_record_idx ON engagement_events (tenant_id, record_type, record_id, occurred_at);

-- Touches per record, kind and UTC day, for the daily cap.
CREATE TABLE engagement_daily_counts (
    tenant_id   uuid NOT NULL,
    record_type text NOT NULL,
    record_id   uuid NOT NULL,
    kind        text NOT NULL,
    day         date NOT NULL,
    touches     integer NOT NULL,
    PRIMARY KEY (tenant_id, record_type, record_id, kind, day)
);

-- Score per record and kind as of a time; reads decay it to now without writing. An account's
-- rows include its contacts' touches.
CREATE TABLE engagement_scores (
    tenant_id   uuid NOT NULL,
    record_type text NOT NULL CHECK (record_type IN ('lead', 'contact', 'account')),
    record_id   uuid NOT NULL,
    kind        text NOT NULL,
    score       double precision NOT NULL,
    as_of       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, record_type, record_id, kind)
);

-- Per record: the last touch and the state with hysteresis (the state decided at the last
-- touch; reads re-decide it from the decayed score).
CREATE TABLE engagement_summaries (
    tenant_id     uuid NOT NULL,
    record_type   text NOT NULL CHECK (record_type IN ('lead', 'contact', 'account')),
    record_id     uuid NOT NULL,
    last_touch_at timestamptz NOT NULL,
    state         text NOT NULL CHECK (state IN ('engaged', 'cooling', 'disengaged')),
    PRIMARY KEY (tenant_id, record_type, record_id)
);

-- Moves between lead statuses and opportunity stages (from the CRM's events), for Sankey
-- charts: flow 'lead' (LEAD_STATUS_… names) or 'opportunity' (stage ids); lost when the move
-- ended the record (a lost deal, a disqualified lead). One row per event and flow.
CREATE TABLE engagement_moves (
    tenant_id     uuid NOT NULL,
    event_id      uuid NOT NULL,
    flow          text NOT NULL CHECK (flow IN ('lead', 'opportunity')),
    record_id     uuid NOT NULL,
    owner_id      uuid,
    from_step     text NOT NULL,
    to_step       text NOT NULL,
    lost          boolean NOT NULL,
    currency_code text,
    amount_units  bigint,
    amount_nanos  integer,
    occurred_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, event_id, flow)
);
CREATE INDEX engagement_moves_time_idx ON engagement_moves (tenant_id, occurred_at);

-- Row-level security: a transaction sees only the tenant named by app.tenant_id
-- (set by libs/db begin_for_tenant). An unset setting matches nothing.
ALTER TABLE engagement_users ENABLE ROW LEVEL SECURITY;
ALTER TABLE engagement_tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE engagement_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE engagement_models ENABLE ROW LEVEL SECURITY;
ALTER TABLE engagement_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE engagement_daily_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE engagement_scores ENABLE ROW LEVEL SECURITY;
ALTER TABLE engagement_summaries ENABLE ROW LEVEL SECURITY;
ALTER TABLE engagement_moves ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON engagement_users
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON engagement_tenants
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON engagement_records
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON engagement_models
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON engagement_events
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON engagement_daily_counts
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON engagement_scores
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON engagement_summaries
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON engagement_moves
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- Row-level security hides every summary outside a tenant transaction; the state sweep asks this
-- function (SECURITY DEFINER) which tenants have leads or accounts not yet disengaged.
CREATE FUNCTION engagement_tenants_to_sweep() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT DISTINCT tenant_id FROM engagement_summaries
    WHERE record_type IN ('lead', 'account') AND state <> 'disengaged'
$$;
