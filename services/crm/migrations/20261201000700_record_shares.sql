-- A record shared with one user beyond ownership and the management chain. `record_id` points
-- into the table named by `record_type`, so there is no foreign key; a deleted or merged
-- record's shares stay behind harmlessly (every read path filters live records first).
CREATE TABLE record_shares (
    tenant_id   uuid NOT NULL,
    record_type text NOT NULL CHECK (record_type IN ('account', 'contact', 'lead', 'opportunity')),
    record_id   uuid NOT NULL,
    user_id     uuid NOT NULL,
    access      text NOT NULL CHECK (access IN ('read', 'edit')),
    granted_by  uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, record_type, record_id, user_id)
);
-- The visibility check: "which records of this kind are shared with me?" (lists, search, board)
-- and "is this record shared with me?" (gets and updates), both index-only.
CREATE INDEX record_shares_user_idx ON record_shares (tenant_id, user_id, record_type, record_id)
    INCLUDE (access);

ALTER TABLE record_shares ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON record_shares
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
