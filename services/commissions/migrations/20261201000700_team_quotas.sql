-- Team quotas: an admin's override of a manager's team quota for a period (without one, the
-- team quota is the sum of the reports' quotas). Same shape and rules as quotas.
CREATE TABLE team_quotas (
    tenant_id    uuid NOT NULL,
    manager_id   uuid NOT NULL,
    period_kind  text NOT NULL CHECK (period_kind IN ('month', 'quarter', 'year')),
    period_start date NOT NULL,
    currency     text NOT NULL,
    amount       bigint NOT NULL CHECK (amount >= 0),
    updated_by   uuid NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, manager_id, period_kind, period_start),
    CONSTRAINT team_quotas_manager_fkey FOREIGN KEY (tenant_id, manager_id) REFERENCES commission_users (tenant_id, user_id)
);

ALTER TABLE team_quotas ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON team_quotas
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- The tenant's fiscal year (tenants.tenant.* events: settings.fiscal_year_start_month), which
-- year-to-date attainment measures.
ALTER TABLE commission_tenants
    ADD COLUMN fiscal_year_start_month smallint NOT NULL DEFAULT 1
        CHECK (fiscal_year_start_month BETWEEN 1 AND 12);
