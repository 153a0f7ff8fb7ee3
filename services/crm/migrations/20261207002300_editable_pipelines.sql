-- Editable pipelines (issue 23): archived pipelines and stages stay in place so history and the
-- board still resolve them; lost reasons become a tenant picklist.
ALTER TABLE pipelines ADD COLUMN archived_at timestamptz;
ALTER TABLE stages ADD COLUMN archived_at timestamptz;

-- Whether a move to a lost stage needs a reason; true is the behaviour before this setting.
ALTER TABLE crm_tenants ADD COLUMN lost_reason_required boolean NOT NULL DEFAULT true;

CREATE TABLE lost_reasons (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    label       text NOT NULL,
    position    integer NOT NULL,
    archived_at timestamptz,
    created_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX lost_reasons_label_key ON lost_reasons (tenant_id, lower(label));
CREATE INDEX lost_reasons_tenant_idx ON lost_reasons (tenant_id, position);

ALTER TABLE lost_reasons ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON lost_reasons
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
