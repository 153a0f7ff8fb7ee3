-- The CRM's opportunities as their events last described them (crm.opportunity.*,
-- crm.lead.converted), for the estimator: amount, split owners and pipeline of an open deal.
-- Deleted opportunities are removed; source_time keeps an older event from overwriting a newer.
CREATE TABLE commission_deals (
    tenant_id   uuid NOT NULL,
    deal_id     uuid NOT NULL,
    state       text NOT NULL CHECK (state IN ('open', 'won', 'lost')),
    currency    text,
    amount      bigint,
    pipeline_id uuid,
    -- [[user_id, percent], ...]; the owner at 100 when the deal has no splits.
    splits      jsonb NOT NULL,
    source_time timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, deal_id),
    CHECK ((currency IS NULL) = (amount IS NULL))
);

ALTER TABLE commission_deals ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON commission_deals
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- Quota listings walk a tenant's quotas newest period first.
CREATE INDEX quotas_period_idx ON quotas (tenant_id, period_start DESC, user_id, period_kind);
