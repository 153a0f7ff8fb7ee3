-- Lead assignment rules. `turns` counts the leads a rule has assigned; round-robin takes the
-- next active user from it under the row lock of the assigning transaction, so concurrent
-- creates take distinct turns.
CREATE TABLE lead_assignment_rules (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL,
    name           text NOT NULL,
    position       integer NOT NULL,
    source         text NOT NULL DEFAULT '',
    country_code   text NOT NULL DEFAULT '',
    min_employees  integer NOT NULL DEFAULT 0 CHECK (min_employees >= 0),
    max_employees  integer NOT NULL DEFAULT 0 CHECK (max_employees >= 0),
    user_ids       uuid[] NOT NULL CHECK (cardinality(user_ids) > 0),
    turns          bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX lead_assignment_rules_order_idx ON lead_assignment_rules (tenant_id, position, created_at, id);

ALTER TABLE lead_assignment_rules ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON lead_assignment_rules
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
