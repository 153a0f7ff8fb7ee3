-- Whether a tenant is suspended, projected from tenants.tenant.suspended / reactivated
-- (source_time keeps a late, older event from rolling the state back). A tenant without a row
-- has never been suspended.
CREATE TABLE commission_tenant_state (
    tenant_id   uuid PRIMARY KEY,
    suspended   boolean NOT NULL,
    source_time timestamptz NOT NULL
);

ALTER TABLE commission_tenant_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON commission_tenant_state
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- The statement every request transaction opens with: it sets the tenant for row-level
-- security and says whether the tenant is suspended (looked up after the tenant is set, so the
-- policy admits the row), in the round trip that setting the tenant took anyway.
CREATE FUNCTION commissions_open(tenant uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('app.tenant_id', tenant::text, true);
    RETURN coalesce((SELECT suspended FROM commission_tenant_state WHERE tenant_id = tenant), false);
END
$$;
