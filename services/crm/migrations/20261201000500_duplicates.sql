-- Duplicate detection: a normalized name key per account, contact and lead, and the indexes that
-- make the probes of a create (email, phone, domain, name key) index lookups at a million rows.

-- The one definition of a normalized name: lower case, every run of punctuation and whitespace
-- folded to one space, trailing legal-form suffixes (GmbH, Inc, Ltd, ...) dropped. Queries probe
-- with the same function, so the rule lives in one place.
CREATE FUNCTION crm_name_key(raw text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN regexp_replace(
        btrim(regexp_replace(lower(raw), '[^[:alnum:]]+', ' ', 'g')),
        '( (gmbh|ag|kg|ug|se|inc|incorporated|corp|corporation|co|company|llc|llp|lp|ltd|limited|plc|sa|sas|sarl|srl|spa|bv|nv|oy|ab|as|aps|pty))+$',
        '');

ALTER TABLE accounts ADD COLUMN name_key text GENERATED ALWAYS AS (crm_name_key(name)) STORED;
ALTER TABLE contacts ADD COLUMN name_key text
    GENERATED ALWAYS AS (crm_name_key(first_name || ' ' || last_name)) STORED;
ALTER TABLE leads ADD COLUMN name_key text
    GENERATED ALWAYS AS (crm_name_key(first_name || ' ' || last_name)) STORED;

CREATE INDEX accounts_domain_idx ON accounts (tenant_id, domain) WHERE deleted_at IS NULL;
CREATE INDEX accounts_name_key_idx ON accounts (tenant_id, name_key) WHERE deleted_at IS NULL;
CREATE INDEX contacts_emails_idx ON contacts USING gin (emails) WHERE deleted_at IS NULL;
CREATE INDEX contacts_phones_idx ON contacts USING gin (phones) WHERE deleted_at IS NULL;
CREATE INDEX contacts_name_key_idx ON contacts (tenant_id, name_key) WHERE deleted_at IS NULL;
CREATE INDEX leads_email_idx ON leads (tenant_id, email) WHERE deleted_at IS NULL;
CREATE INDEX leads_phone_idx ON leads (tenant_id, phone) WHERE deleted_at IS NULL;
CREATE INDEX leads_name_key_idx ON leads (tenant_id, name_key) WHERE deleted_at IS NULL;

-- The name key is derived, not a field a user changes: keep it out of field history.
CREATE OR REPLACE FUNCTION record_field_history() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    before jsonb := to_jsonb(OLD);
    after  jsonb := to_jsonb(NEW);
    actor  uuid  := NULLIF(current_setting('crm.actor_id', true), '')::uuid;
    at     timestamptz := clock_timestamp();
    column_name text;
BEGIN
    FOR column_name IN SELECT jsonb_object_keys(after) LOOP
        CONTINUE WHEN column_name = ANY (TG_ARGV[1]::text[]);
        CONTINUE WHEN column_name IN ('id', 'tenant_id', 'created_at', 'updated_at', 'deleted_at',
                                      'version', 'search', 'search_vector', 'search_document',
                                      'name_key');
        IF before -> column_name IS DISTINCT FROM after -> column_name THEN
            INSERT INTO field_history (id, tenant_id, record_type, record_id, field,
                                       old_value, new_value, actor_id, changed_at)
            VALUES (gen_random_uuid(), NEW.tenant_id, TG_ARGV[0], NEW.id, column_name,
                    before -> column_name, after -> column_name, actor, at);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
