-- Custom field definitions and lead assignment rules are read by most writes (a lead create reads
-- both) and change rarely. Every change of either now gives the tenant a new config_version,
-- and the transaction opening returns it (crm_begin), so a service keeps both in memory and
-- learns in the opening's round trip whether its copy is still current
-- (services/crm/src/store/tenant_config.rs).
CREATE SEQUENCE crm_config_version_seq;

-- A new row always takes a fresh version, so a version is never repeated. A tenant without a
-- row is version 0: it has never had a definition or a rule (the backfill below and the
-- triggers keep that true; crm_tenants rows are never deleted).
ALTER TABLE crm_tenants
    ADD COLUMN config_version bigint NOT NULL DEFAULT nextval('crm_config_version_seq');

INSERT INTO crm_tenants (tenant_id)
SELECT tenant_id FROM custom_field_definitions
UNION
SELECT tenant_id FROM lead_assignment_rules
ON CONFLICT (tenant_id) DO NOTHING;

CREATE FUNCTION crm_config_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tenant uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
BEGIN
    INSERT INTO crm_tenants (tenant_id) VALUES (tenant)
    ON CONFLICT (tenant_id) DO UPDATE SET config_version = nextval('crm_config_version_seq');
    RETURN NULL;
END
$$;

CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE ON custom_field_definitions
    FOR EACH ROW EXECUTE FUNCTION crm_config_changed();
CREATE TRIGGER config_changed AFTER INSERT OR DELETE ON lead_assignment_rules
    FOR EACH ROW EXECUTE FUNCTION crm_config_changed();
-- The turn counter moves on every lead a rule assigns; it is read under the rule's row lock, not
-- from the cache, so only the other columns are configuration.
CREATE TRIGGER config_changed_update AFTER UPDATE ON lead_assignment_rules
    FOR EACH ROW
    WHEN (to_jsonb(OLD) - 'turns' IS DISTINCT FROM to_jsonb(NEW) - 'turns')
    EXECUTE FUNCTION crm_config_changed();

-- crm_open plus the tenant's config version. crm_open stays for the previous release's
-- binaries during a rolling update.
CREATE FUNCTION crm_begin(tenant uuid, actor uuid, OUT suspended boolean, OUT config_version bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('app.tenant_id', tenant::text, true);
    PERFORM set_config('crm.actor_id', actor::text, true);
    SELECT t.suspended, t.config_version INTO suspended, config_version
    FROM crm_tenants t WHERE t.tenant_id = tenant;
    suspended := coalesce(suspended, false);
    config_version := coalesce(config_version, 0);
END
$$;
