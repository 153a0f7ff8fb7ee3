-- Merging duplicates: the loser of a merge stays as a tombstone (deleted, pointing to the
-- survivor), so old links and bookmarks can be redirected.
ALTER TABLE accounts ADD COLUMN merged_into uuid;
ALTER TABLE contacts ADD COLUMN merged_into uuid;
ALTER TABLE leads ADD COLUMN merged_into uuid;
ALTER TABLE accounts ADD CONSTRAINT accounts_merged_into_check CHECK (merged_into IS NULL OR deleted_at IS NOT NULL);
ALTER TABLE contacts ADD CONSTRAINT contacts_merged_into_check CHECK (merged_into IS NULL OR deleted_at IS NOT NULL);
ALTER TABLE leads ADD CONSTRAINT leads_merged_into_check CHECK (merged_into IS NULL OR deleted_at IS NOT NULL);

-- Re-parenting the live children of a merged record looks them up by parent.
CREATE INDEX cases_contact_idx ON cases (tenant_id, contact_id) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_account_idx ON opportunities (tenant_id, account_id) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_contact_idx ON opportunities (tenant_id, primary_contact_id) WHERE deleted_at IS NULL;
CREATE INDEX accounts_parent_idx ON accounts (tenant_id, parent_account_id) WHERE deleted_at IS NULL;
CREATE INDEX leads_converted_account_idx ON leads (tenant_id, converted_account_id) WHERE converted_account_id IS NOT NULL;
CREATE INDEX leads_converted_contact_idx ON leads (tenant_id, converted_contact_id) WHERE converted_contact_id IS NOT NULL;
