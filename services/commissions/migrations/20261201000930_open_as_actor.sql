-- The request opening also says whether the caller is a user the tenants service deactivated
-- (projected from tenants.user.deactivated), so a deactivated user's token stops working at once
-- at no extra round trip. A user the projection does not hold yet is not refused by it.
CREATE FUNCTION commissions_open_as(tenant uuid, actor uuid)
RETURNS TABLE (suspended boolean, actor_inactive boolean)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('app.tenant_id', tenant::text, true);
    RETURN QUERY SELECT
        coalesce((SELECT s.suspended FROM commission_tenant_state s WHERE s.tenant_id = tenant), false),
        EXISTS (SELECT 1 FROM commission_users u WHERE u.user_id = actor AND NOT u.active);
END
$$;
