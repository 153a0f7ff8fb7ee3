-- Tenants service schema. Runs with the service schema first on search_path; the service itself
-- connects as a non-owner role, so the row-level-security policies below apply to it.

-- The tenant registry. Not tenant-owned data: login resolves a slug before any tenant is known,
-- and the platform operator lists all tenants.
CREATE TABLE tenants (
    id                      uuid PRIMARY KEY,
    slug                    text NOT NULL UNIQUE,
    display_name            text NOT NULL,
    plan                    text NOT NULL,
    status                  text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    status_reason           text NOT NULL DEFAULT '',
    timezone                text NOT NULL,
    currency_code           text NOT NULL,
    fiscal_year_start_month integer NOT NULL CHECK (fiscal_year_start_month BETWEEN 1 AND 12),
    locale                  text NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenants_created_idx ON tenants (created_at, id);

CREATE TABLE users (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    email           text NOT NULL,
    display_name    text NOT NULL,
    role            text NOT NULL CHECK (role IN ('ROLE_ADMIN', 'ROLE_MANAGER', 'ROLE_SALES_REP', 'ROLE_SUPPORT')),
    manager_id      uuid,
    password_hash   text NOT NULL,
    active          boolean NOT NULL DEFAULT true,
    failed_logins   integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    last_login_at   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_tenant_email_key UNIQUE (tenant_id, email),
    CONSTRAINT users_tenant_id_key UNIQUE (tenant_id, id),
    -- A manager must belong to the same tenant.
    CONSTRAINT users_manager_fkey FOREIGN KEY (tenant_id, manager_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX users_list_created_idx ON users (tenant_id, created_at, id);
CREATE INDEX users_list_email_idx ON users (tenant_id, email, id);
CREATE INDEX users_list_name_idx ON users (tenant_id, display_name, id);
CREATE INDEX users_manager_idx ON users (tenant_id, manager_id);

CREATE TABLE custom_roles (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    permissions text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT custom_roles_tenant_id_key UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX custom_roles_tenant_name_key ON custom_roles (tenant_id, lower(name));

CREATE TABLE user_custom_roles (
    tenant_id uuid NOT NULL,
    user_id   uuid NOT NULL,
    role_id   uuid NOT NULL,
    PRIMARY KEY (user_id, role_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT user_custom_roles_role_fkey FOREIGN KEY (tenant_id, role_id) REFERENCES custom_roles (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX user_custom_roles_role_idx ON user_custom_roles (tenant_id, role_id);

-- Refresh tokens are stored hashed; rotation keeps the family so reuse of a rotated token can
-- revoke the whole session.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    user_id     uuid NOT NULL,
    family_id   uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    rotated_at  timestamptz,
    revoked_at  timestamptz,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (tenant_id, family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (tenant_id, user_id);

-- Row-level security: a transaction sees only the tenant named by app.tenant_id
-- (set by libs/db begin_for_tenant). An unset setting matches nothing.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE custom_roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_custom_roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON users
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON custom_roles
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON user_custom_roles
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON refresh_tokens
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
