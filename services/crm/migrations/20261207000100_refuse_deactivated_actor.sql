-- crm_begin, and whether the actor may still act: a user the tenants service deactivated
-- (tenants.user.deactivated, projected into crm_users) is refused in the same round trip as a
-- suspended tenant, at once rather than when their access token expires. An actor the
-- projection does not hold (a user whose creation event has not arrived yet, a service's actor
-- id) is not refused by it. crm_begin stays for the previous release's binaries during a
-- rolling update.
CREATE FUNCTION crm_begin_as(tenant uuid, actor uuid, OUT suspended boolean,
                             OUT actor_inactive boolean, OUT config_version bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('app.tenant_id', tenant::text, true);
    PERFORM set_config('crm.actor_id', actor::text, true);
    SELECT t.suspended, t.config_version INTO suspended, config_version
    FROM crm_tenants t WHERE t.tenant_id = tenant;
    suspended := coalesce(suspended, false);
    config_version := coalesce(config_version, 0);
    -- crm_users_inactive_idx answers this from the index.
    actor_inactive := EXISTS (
        SELECT 1 FROM crm_users u WHERE u.tenant_id = tenant AND u.user_id = actor AND NOT u.active
    );
END
$$;
