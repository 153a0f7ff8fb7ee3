-- The tenant's exchange rates, projected from tenants.exchange_rate.* events (issue 23): a deal in
-- another currency than the plan's is converted at the rates in force on its close date instead
-- of earning nothing. A deleted rate stays as a tombstone (rate NULL) so an older "set" delivered
-- late cannot bring it back; source_time orders the events of one rate.
ALTER TABLE commission_tenants ADD COLUMN currency_code text;

CREATE TABLE exchange_rates (
    tenant_id          uuid NOT NULL,
    currency_code      text NOT NULL,
    effective_date     date NOT NULL,
    rate               bigint CHECK (rate > 0),
    base_currency_code text NOT NULL,
    source_time        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, currency_code, effective_date)
);

ALTER TABLE exchange_rates ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON exchange_rates
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
