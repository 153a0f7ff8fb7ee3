-- Commissions service schema. Runs with the service schema first on search_path; the service
-- connects as a non-owner role, so the row-level-security policies at the end apply to it.
-- Composite foreign keys include tenant_id, so a row can never point into another tenant.
-- Money is bigint minor units of the row's currency; rates and multipliers bigint millionths.

-- Users as the tenants service announces them (tenants.user.* events): the management chain
-- for manager visibility, and who may hold a quota. source_time: occurred_at of the last event.
CREATE TABLE commission_users (
    tenant_id   uuid NOT NULL,
    user_id     uuid NOT NULL,
    manager_id  uuid,
    role        text NOT NULL,
    active      boolean NOT NULL,
    source_time timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX commission_users_manager_idx ON commission_users (tenant_id, manager_id);

-- Tenant display names (tenants.tenant.* events), for statement headers.
CREATE TABLE commission_tenants (
    tenant_id    uuid PRIMARY KEY,
    display_name text NOT NULL,
    source_time  timestamptz NOT NULL
);

CREATE TABLE plans (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    name       text NOT NULL,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT plans_tenant_id_key UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX plans_name_key ON plans (tenant_id, lower(name));

-- Versions are never updated: a change is a new version. rules holds the validated rules
-- (schedule, bands, pipeline rates, caps) as written by the service.
CREATE TABLE plan_versions (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    plan_id         uuid NOT NULL,
    version         integer NOT NULL CHECK (version > 0),
    effective_from  date NOT NULL,
    effective_to    date,
    participant_ids uuid[] NOT NULL,
    currency        text NOT NULL,
    period_kind     text NOT NULL CHECK (period_kind IN ('month', 'quarter', 'year')),
    rules           jsonb NOT NULL,
    created_by      uuid NOT NULL,
    created_at      timestamptz NOT NULL,
    CONSTRAINT plan_versions_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT plan_versions_plan_fkey FOREIGN KEY (tenant_id, plan_id) REFERENCES plans (tenant_id, id),
    CONSTRAINT plan_versions_number_key UNIQUE (plan_id, version),
    CONSTRAINT plan_versions_range_check CHECK (effective_to IS NULL OR effective_to > effective_from)
);
CREATE INDEX plan_versions_participants_idx ON plan_versions USING gin (participant_ids);

CREATE TABLE quotas (
    tenant_id    uuid NOT NULL,
    user_id      uuid NOT NULL,
    period_kind  text NOT NULL CHECK (period_kind IN ('month', 'quarter', 'year')),
    period_start date NOT NULL,
    currency     text NOT NULL,
    amount       bigint NOT NULL CHECK (amount >= 0),
    updated_by   uuid NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id, period_kind, period_start),
    CONSTRAINT quotas_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES commission_users (tenant_id, user_id)
);

-- The recorded history a recalculation replays: each credited win and each reversal, per
-- participant and credit period, in processing order (seq).
CREATE TABLE deal_steps (
    seq             bigserial PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    participant_id  uuid NOT NULL,
    plan_version_id uuid NOT NULL,
    period_kind     text NOT NULL,
    period_start    date NOT NULL,
    deal_id         uuid NOT NULL,
    step            text NOT NULL CHECK (step IN ('won', 'reversed')),
    credited        bigint NOT NULL,
    pipeline_id     uuid,
    event_id        uuid NOT NULL,
    recorded_at     timestamptz NOT NULL,
    CONSTRAINT deal_steps_version_fkey FOREIGN KEY (tenant_id, plan_version_id) REFERENCES plan_versions (tenant_id, id)
);
CREATE INDEX deal_steps_period_idx ON deal_steps (tenant_id, participant_id, period_kind, period_start, seq);
CREATE INDEX deal_steps_deal_idx ON deal_steps (tenant_id, deal_id, seq);

CREATE TABLE commission_lines (
    id                     uuid PRIMARY KEY,
    seq                    bigserial NOT NULL,
    tenant_id              uuid NOT NULL,
    participant_id         uuid NOT NULL,
    deal_id                uuid NOT NULL,
    plan_version_id        uuid NOT NULL,
    period_kind            text NOT NULL,
    credit_period_start    date NOT NULL,
    statement_period_start date NOT NULL,
    kind                   text NOT NULL CHECK (kind IN ('commission', 'retroactive_true_up', 'deal_cap', 'period_cap')),
    rule                   text NOT NULL CHECK (rule IN ('schedule', 'pipeline', 'cap')),
    pipeline_id            uuid,
    base                   bigint NOT NULL,
    rate                   bigint NOT NULL,
    multiplier             bigint NOT NULL,
    tier                   integer,
    band                   integer,
    amount                 bigint NOT NULL,
    currency               text NOT NULL,
    reversal               boolean NOT NULL,
    -- Set on a line once a clawback reversed it.
    reversed               boolean NOT NULL DEFAULT false,
    explanation            text NOT NULL,
    event_id               uuid NOT NULL,
    created_at             timestamptz NOT NULL,
    CONSTRAINT commission_lines_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT commission_lines_version_fkey FOREIGN KEY (tenant_id, plan_version_id) REFERENCES plan_versions (tenant_id, id)
);
CREATE INDEX commission_lines_credit_idx ON commission_lines (tenant_id, participant_id, period_kind, credit_period_start, seq);
CREATE INDEX commission_lines_statement_idx ON commission_lines (tenant_id, participant_id, period_kind, statement_period_start, seq);
CREATE INDEX commission_lines_deal_idx ON commission_lines (tenant_id, deal_id) WHERE NOT reversal AND NOT reversed;

-- Statement status per participant and period; a missing row is a draft.
CREATE TABLE statements (
    tenant_id      uuid NOT NULL,
    participant_id uuid NOT NULL,
    period_kind    text NOT NULL,
    period_start   date NOT NULL,
    status         text NOT NULL CHECK (status IN ('draft', 'approved', 'paid')),
    updated_by     uuid NOT NULL,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, participant_id, period_kind, period_start)
);

-- Manual adjustments (bonus, correction) with reason; above the approval threshold they wait
-- for another admin's approval and count only once approved.
CREATE TABLE adjustments (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL,
    participant_id uuid NOT NULL,
    period_kind    text NOT NULL CHECK (period_kind IN ('month', 'quarter', 'year')),
    period_start   date NOT NULL,
    amount         bigint NOT NULL CHECK (amount <> 0),
    currency       text NOT NULL,
    reason         text NOT NULL CHECK (reason <> ''),
    status         text NOT NULL CHECK (status IN ('pending', 'approved')),
    requested_by   uuid NOT NULL,
    approved_by    uuid,
    created_at     timestamptz NOT NULL,
    approved_at    timestamptz,
    CONSTRAINT adjustments_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT adjustments_user_fkey FOREIGN KEY (tenant_id, participant_id) REFERENCES commission_users (tenant_id, user_id),
    CONSTRAINT adjustments_approval_check CHECK ((status = 'approved') = (approved_by IS NOT NULL))
);
CREATE INDEX adjustments_statement_idx ON adjustments (tenant_id, participant_id, period_kind, period_start);

-- A participant's objection to a line, resolved by an admin.
CREATE TABLE disputes (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    line_id     uuid NOT NULL,
    raised_by   uuid NOT NULL,
    comment     text NOT NULL CHECK (comment <> ''),
    status      text NOT NULL CHECK (status IN ('open', 'resolved')),
    resolution  text NOT NULL DEFAULT '',
    resolved_by uuid,
    created_at  timestamptz NOT NULL,
    resolved_at timestamptz,
    CONSTRAINT disputes_line_fkey FOREIGN KEY (tenant_id, line_id) REFERENCES commission_lines (tenant_id, id)
);
CREATE INDEX disputes_line_idx ON disputes (tenant_id, line_id);

-- Who did what, when and why: every calculation and change.
CREATE TABLE audit_log (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    actor_id    uuid,
    action      text NOT NULL,
    subject_id  uuid,
    detail      text NOT NULL,
    occurred_at timestamptz NOT NULL
);
CREATE INDEX audit_log_subject_idx ON audit_log (tenant_id, subject_id, occurred_at);

-- Row-level security: a transaction sees only the tenant named by app.tenant_id
-- (set by libs/db begin_for_tenant). An unset setting matches nothing.
ALTER TABLE commission_users ENABLE ROW LEVEL SECURITY;
ALTER TABLE commission_tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE plan_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE quotas ENABLE ROW LEVEL SECURITY;
ALTER TABLE deal_steps ENABLE ROW LEVEL SECURITY;
ALTER TABLE commission_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE statements ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE adjustments ENABLE ROW LEVEL SECURITY;
ALTER TABLE disputes ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON commission_users
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON commission_tenants
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON plans
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON plan_versions
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON quotas
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON deal_steps
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON commission_lines
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON statements
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON audit_log
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON adjustments
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON disputes
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
