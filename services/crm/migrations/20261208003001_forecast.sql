-- The forecast a sales manager can run (issue 23).

-- The owner's forecast category instead of the one derived from the stage, while the deal is
-- open: 'pipeline', 'best_case', 'commit' or 'omitted' (left out of the forecast). NULL follows
-- the stage.
ALTER TABLE opportunities ADD COLUMN forecast_category text
    CHECK (forecast_category IN ('pipeline', 'best_case', 'commit', 'omitted'));

-- The forecast aggregates the deals closing in a period: an index that answers it without
-- visiting the table rows (the columns the aggregate reads are included).
CREATE INDEX opportunities_forecast_idx ON opportunities (tenant_id, close_date)
    INCLUDE (owner_id, stage_id, amount_currency, amount_units, amount_nanos, forecast_category)
    WHERE deleted_at IS NULL AND amount_currency IS NOT NULL;

-- The tenant's fiscal calendar and currency, from tenants.tenant.* events. Their own source
-- time: a settings event and a suspension event of the same tenant do not order each other.
ALTER TABLE crm_tenants
    ADD COLUMN fiscal_year_start_month smallint NOT NULL DEFAULT 1
        CHECK (fiscal_year_start_month BETWEEN 1 AND 12),
    ADD COLUMN currency_code text NOT NULL DEFAULT '',
    ADD COLUMN settings_source_time timestamptz NOT NULL DEFAULT '-infinity';

-- The tenant's exchange rates, from tenants.exchange_rate.* events; a deleted rate stays as a
-- tombstone (rate NULL) so an older "set" delivered late cannot bring it back.
CREATE TABLE crm_exchange_rates (
    tenant_id          uuid NOT NULL,
    currency_code      text NOT NULL,
    effective_date     date NOT NULL,
    rate               bigint CHECK (rate > 0),
    base_currency_code text NOT NULL,
    source_time        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, currency_code, effective_date)
);

ALTER TABLE crm_exchange_rates ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON crm_exchange_rates
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- Users' quotas, from commissions.quota.* events (a deleted quota stays as a tombstone,
-- amount NULL), for the forecast's quota and gap. The period is [period_start, period_end).
CREATE TABLE crm_quotas (
    tenant_id     uuid NOT NULL,
    user_id       uuid NOT NULL,
    period_kind   text NOT NULL,
    period_start  date NOT NULL,
    period_end    date NOT NULL,
    currency_code text NOT NULL,
    amount_minor  bigint,
    source_time   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id, period_kind, period_start)
);

ALTER TABLE crm_quotas ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON crm_quotas
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
