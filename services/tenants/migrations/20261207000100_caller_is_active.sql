-- Whether a user's access token may still act: its tenant is active and the user is too. Every
-- user request asks this first (api::Shared::user_ctx), so a suspended tenant's and a
-- deactivated user's tokens stop working at once instead of when they expire. One statement,
-- one round trip: the tenant for row-level security is set transaction-locally (the statement's
-- own transaction when called outside one) before the user is read.
CREATE FUNCTION caller_is_active(tenant uuid, member uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('app.tenant_id', tenant::text, true);
    RETURN EXISTS (
        SELECT 1
        FROM tenants t JOIN users u ON u.tenant_id = t.id
        WHERE t.id = tenant AND t.status = 'active' AND u.id = member AND u.active
    );
END
$$;
