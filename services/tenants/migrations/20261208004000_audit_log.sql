-- The tenants service's own history (issue 23): logins, failed logins, user and role changes and
-- the tenant's suspension, each written by a trigger in the same transaction as the change, so
-- no change happens without its audit event. Who did it and from where come from transaction-
-- local settings the service sets with the tenant (audit.actor, audit.ip, audit.user_agent).
CREATE TABLE audit_events (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    -- e.g. 'login.succeeded', 'user.role_changed', 'tenant.suspended'.
    kind        text NOT NULL,
    -- The user the event is about; NULL for the tenant's own events.
    user_id     uuid,
    -- Who did it: a user id, 'service:<name>', 'operator'; for logins the user logging in.
    actor       text NOT NULL DEFAULT '',
    details     jsonb NOT NULL DEFAULT '{}',
    ip          text NOT NULL DEFAULT '',
    user_agent  text NOT NULL DEFAULT '',
    occurred_at timestamptz NOT NULL
);
CREATE INDEX audit_events_time_idx ON audit_events (tenant_id, occurred_at, id);
CREATE INDEX audit_events_user_idx ON audit_events (tenant_id, user_id, occurred_at, id);

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_events
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- Writes one audit event. SECURITY DEFINER: provisioning runs before any tenant is set, and an
-- audit row must never make the change it records fail.
CREATE FUNCTION audit(tenant uuid, event_kind text, subject uuid, event_details jsonb,
                      fallback_actor text DEFAULT '')
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    INSERT INTO audit_events (id, tenant_id, kind, user_id, actor, details, ip, user_agent,
                              occurred_at)
    VALUES (gen_random_uuid(), tenant, event_kind, subject,
            coalesce(NULLIF(current_setting('audit.actor', true), ''), fallback_actor),
            event_details,
            coalesce(current_setting('audit.ip', true), ''),
            coalesce(current_setting('audit.user_agent', true), ''),
            clock_timestamp())
$$;

CREATE FUNCTION audit_users() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed text[] := '{}';
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM audit(NEW.tenant_id, 'user.created', NEW.id,
            jsonb_build_object('email', NEW.email, 'display_name', NEW.display_name,
                               'role', NEW.role, 'manager_id', NEW.manager_id));
        RETURN NULL;
    END IF;
    IF NEW.failed_logins > OLD.failed_logins THEN
        PERFORM audit(NEW.tenant_id, 'login.failed', NEW.id,
            jsonb_build_object('failed_logins', NEW.failed_logins), NEW.id::text);
    END IF;
    IF NEW.last_login_at IS DISTINCT FROM OLD.last_login_at THEN
        PERFORM audit(NEW.tenant_id, 'login.succeeded', NEW.id, '{}', NEW.id::text);
    END IF;
    IF NEW.locked_until IS NOT NULL AND NEW.locked_until IS DISTINCT FROM OLD.locked_until THEN
        PERFORM audit(NEW.tenant_id, 'user.locked', NEW.id,
            jsonb_build_object('locked_until', NEW.locked_until), NEW.id::text);
    END IF;
    IF NEW.role IS DISTINCT FROM OLD.role THEN
        PERFORM audit(NEW.tenant_id, 'user.role_changed', NEW.id,
            jsonb_build_object('old_role', OLD.role, 'new_role', NEW.role));
    END IF;
    IF NEW.active IS DISTINCT FROM OLD.active THEN
        PERFORM audit(NEW.tenant_id,
            CASE WHEN NEW.active THEN 'user.reactivated' ELSE 'user.deactivated' END,
            NEW.id, '{}');
    END IF;
    IF NEW.email IS DISTINCT FROM OLD.email THEN
        changed := changed || 'email'::text;
    END IF;
    IF NEW.display_name IS DISTINCT FROM OLD.display_name THEN
        changed := changed || 'display_name'::text;
    END IF;
    IF NEW.manager_id IS DISTINCT FROM OLD.manager_id THEN
        changed := changed || 'manager_id'::text;
    END IF;
    -- Which fields changed, never a password (hash).
    IF NEW.password_hash IS DISTINCT FROM OLD.password_hash THEN
        changed := changed || 'password'::text;
    END IF;
    IF cardinality(changed) > 0 THEN
        PERFORM audit(NEW.tenant_id, 'user.updated', NEW.id,
            jsonb_build_object('fields', to_jsonb(changed)));
    END IF;
    RETURN NULL;
END
$$;

-- A custom role granted to or taken from a user is a role change of the user.
CREATE FUNCTION audit_user_custom_roles() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    grant_row user_custom_roles := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    PERFORM audit(grant_row.tenant_id, 'user.role_changed', grant_row.user_id,
        jsonb_build_object(CASE WHEN TG_OP = 'DELETE' THEN 'custom_role_removed'
                                ELSE 'custom_role_added' END, grant_row.role_id));
    RETURN NULL;
END
$$;

CREATE FUNCTION audit_custom_roles() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    role_row custom_roles := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    PERFORM audit(role_row.tenant_id,
        CASE TG_OP WHEN 'INSERT' THEN 'role.created' WHEN 'UPDATE' THEN 'role.updated'
                   ELSE 'role.deleted' END,
        NULL,
        jsonb_build_object('role_id', role_row.id, 'name', role_row.name,
                           'permissions', to_jsonb(role_row.permissions)));
    RETURN NULL;
END
$$;

CREATE FUNCTION audit_tenants() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM audit(NEW.id, 'tenant.provisioned', NULL,
            jsonb_build_object('slug', NEW.slug, 'plan', NEW.plan));
        RETURN NULL;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        PERFORM audit(NEW.id,
            CASE WHEN NEW.status = 'suspended' THEN 'tenant.suspended'
                 ELSE 'tenant.reactivated' END,
            NULL, jsonb_build_object('reason', NEW.status_reason));
    ELSIF to_jsonb(NEW) - 'updated_at' - 'status_reason'
          IS DISTINCT FROM to_jsonb(OLD) - 'updated_at' - 'status_reason' THEN
        PERFORM audit(NEW.id, 'tenant.updated', NULL,
            jsonb_build_object('fields', (
                SELECT coalesce(jsonb_agg(n.key ORDER BY n.key), '[]')
                FROM jsonb_each(to_jsonb(NEW)) n
                WHERE n.key NOT IN ('updated_at', 'status_reason')
                  AND n.value IS DISTINCT FROM to_jsonb(OLD) -> n.key)));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_audit AFTER INSERT OR UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION audit_users();
CREATE TRIGGER user_custom_roles_audit AFTER INSERT OR DELETE ON user_custom_roles
    FOR EACH ROW EXECUTE FUNCTION audit_user_custom_roles();
CREATE TRIGGER custom_roles_audit AFTER INSERT OR UPDATE OR DELETE ON custom_roles
    FOR EACH ROW EXECUTE FUNCTION audit_custom_roles();
CREATE TRIGGER tenants_audit AFTER INSERT OR UPDATE ON tenants
    FOR EACH ROW EXECUTE FUNCTION audit_tenants();
