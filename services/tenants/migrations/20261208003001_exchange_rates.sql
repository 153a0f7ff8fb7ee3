-- The tenant's dated exchange rates against its own currency (issue 23). One rate per currency
-- and effective date; the rate in force on a day is the latest one effective on or before it.
-- rate is in billionths of the base currency (1.0825 = 1082500000): exact, never a float.
CREATE TABLE exchange_rates (
    tenant_id          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    currency_code      text NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
    effective_date     date NOT NULL,
    rate               bigint NOT NULL CHECK (rate > 0),
    base_currency_code text NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, currency_code, effective_date)
);

ALTER TABLE exchange_rates ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON exchange_rates
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
