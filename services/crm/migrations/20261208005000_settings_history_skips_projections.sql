-- The tenant's currency and fiscal calendar on crm_tenants are a projection of the tenants
-- service's settings (kept from its events), not CRM settings an admin changes here: like
-- `suspended` and `source_time`, they are bookkeeping and never settings history.
INSERT INTO history_fields (record_type, column_name, field, part) VALUES
    ('settings', 'currency_code', NULL, NULL),
    ('settings', 'fiscal_year_start_month', NULL, NULL),
    ('settings', 'settings_source_time', NULL, NULL);
