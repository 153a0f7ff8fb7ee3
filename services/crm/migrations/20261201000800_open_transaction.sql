-- The statement every request transaction opens with, sent with BEGIN in one round trip: the
-- tenant for row-level security, the actor for field history, and whether the tenant is
-- suspended (looked up after the tenant is set, so the policy admits the row).
CREATE FUNCTION crm_open(tenant uuid, actor uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('app.tenant_id', tenant::text, true);
    PERFORM set_config('crm.actor_id', actor::text, true);
    RETURN coalesce((SELECT suspended FROM crm_tenants WHERE tenant_id = tenant), false);
END
$$;
