-- Custom fields: per tenant and record type, a definition says what a key holds; the values live
-- in a jsonb object on each record, checked against the definitions by the service on every
-- create and update.
CREATE TABLE custom_field_definitions (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    record_type text NOT NULL CHECK (record_type IN ('account', 'contact', 'lead', 'opportunity')),
    key         text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,62}$'),
    label       text NOT NULL,
    field_type  text NOT NULL CHECK (field_type IN ('text', 'number', 'date', 'bool', 'picklist')),
    required    boolean NOT NULL DEFAULT false,
    -- Picklist choices, in display order.
    options     text[] NOT NULL DEFAULT '{}',
    -- Text only: longest value, in characters.
    max_length  integer CHECK (max_length > 0),
    -- Number only: inclusive bounds.
    min_value   double precision,
    max_value   double precision,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT custom_field_definitions_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT custom_field_definitions_key_key UNIQUE (tenant_id, record_type, key)
);

ALTER TABLE custom_field_definitions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON custom_field_definitions
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE accounts ADD COLUMN custom_fields jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(custom_fields) = 'object');
ALTER TABLE contacts ADD COLUMN custom_fields jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(custom_fields) = 'object');
ALTER TABLE leads ADD COLUMN custom_fields jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(custom_fields) = 'object');
ALTER TABLE opportunities ADD COLUMN custom_fields jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(custom_fields) = 'object');
