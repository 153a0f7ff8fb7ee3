-- What the CRM keeps of each tenant beyond its records: whether it is suspended (projected from
-- tenants.tenant.* events; source_time keeps a late, older event from rolling the state back)
-- and what happens to the records of a user who is deactivated.
CREATE TABLE crm_tenants (
    tenant_id                 uuid PRIMARY KEY,
    suspended                 boolean NOT NULL DEFAULT false,
    source_time               timestamptz NOT NULL DEFAULT '-infinity',
    -- 'reassign': open records move to the user's manager (else the fallback owner, else the
    -- longest-standing active admin); 'keep': they stay and are listed as needing an owner.
    deactivated_owner_policy  text NOT NULL DEFAULT 'reassign'
        CHECK (deactivated_owner_policy IN ('reassign', 'keep')),
    fallback_owner_id         uuid,
    updated_at                timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE crm_tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON crm_tenants
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- Admins pick the records of inactive owners by owner.
CREATE INDEX crm_users_inactive_idx ON crm_users (tenant_id, user_id) WHERE NOT active;
