-- Support cases with SLA targets, per-tenant business hours, activities linked to any record,
-- and field history written by triggers on every record table.

-- When the SLA clock runs: the listed ISO weekdays (1 = Monday), opens_at..closes_at local time
-- in time_zone. A tenant without a row uses Mon-Fri 09:00-17:00 UTC.
CREATE TABLE business_hours (
    tenant_id  uuid PRIMARY KEY,
    time_zone  text NOT NULL,
    weekdays   smallint[] NOT NULL,
    opens_at   time NOT NULL,
    closes_at  time NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT business_hours_window_check CHECK (opens_at < closes_at),
    CONSTRAINT business_hours_weekdays_check CHECK (
        cardinality(weekdays) BETWEEN 1 AND 7 AND weekdays <@ ARRAY[1, 2, 3, 4, 5, 6, 7]::smallint[])
);

CREATE TABLE cases (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL,
    subject             text NOT NULL,
    description         text NOT NULL DEFAULT '',
    priority            text NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    status              text NOT NULL CHECK (status IN ('new', 'open', 'pending', 'resolved', 'closed')),
    account_id          uuid,
    contact_id          uuid,
    owner_id            uuid NOT NULL,
    first_response_due  timestamptz NOT NULL,
    resolution_due      timestamptz NOT NULL,
    first_response_at   timestamptz,
    resolved_at         timestamptz,
    closed_at           timestamptz,
    sla_breached        boolean NOT NULL DEFAULT false,
    sla_breached_at     timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    deleted_at          timestamptz,
    CONSTRAINT cases_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT cases_account_fkey FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id),
    CONSTRAINT cases_contact_fkey FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id),
    CONSTRAINT cases_breach_check CHECK (sla_breached = (sla_breached_at IS NOT NULL))
);
CREATE INDEX cases_created_idx ON cases (tenant_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX cases_updated_idx ON cases (tenant_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX cases_owner_idx ON cases (tenant_id, owner_id) WHERE deleted_at IS NULL;
CREATE INDEX cases_account_idx ON cases (tenant_id, account_id) WHERE deleted_at IS NULL;
-- The sweeper's work list: live cases whose SLA may still be breached.
CREATE INDEX cases_sla_open_idx ON cases (first_response_due, resolution_due)
    WHERE deleted_at IS NULL AND NOT sla_breached AND status NOT IN ('resolved', 'closed');

CREATE TABLE activities (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('task', 'call', 'meeting', 'email', 'note')),
    subject      text NOT NULL,
    body         text NOT NULL DEFAULT '',
    related_type text NOT NULL CHECK (related_type IN ('account', 'contact', 'lead', 'opportunity', 'case')),
    related_id   uuid NOT NULL,
    due_date     date,
    remind_at    timestamptz,
    owner_id     uuid NOT NULL,
    completed_at timestamptz,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    deleted_at   timestamptz,
    CONSTRAINT activities_tenant_id_key UNIQUE (tenant_id, id)
);
CREATE INDEX activities_related_idx ON activities (tenant_id, related_type, related_id, created_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX activities_created_idx ON activities (tenant_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX activities_owner_idx ON activities (tenant_id, owner_id) WHERE deleted_at IS NULL;

-- One row per changed column of an update. actor_id comes from the transaction-local setting
-- crm.actor_id the service sets with the tenant; NULL for changes the system makes itself.
CREATE TABLE field_history (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    record_type text NOT NULL,
    record_id   uuid NOT NULL,
    field       text NOT NULL,
    old_value   jsonb,
    new_value   jsonb,
    actor_id    uuid,
    changed_at  timestamptz NOT NULL
);
CREATE INDEX field_history_record_idx ON field_history (tenant_id, record_type, record_id, changed_at, id);

-- Diffs the row before and after an update. Bookkeeping columns are not field changes.
CREATE FUNCTION record_field_history() RETURNS trigger
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
                                      'version', 'search', 'search_vector', 'search_document');
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

CREATE TRIGGER accounts_field_history AFTER UPDATE ON accounts
    FOR EACH ROW EXECUTE FUNCTION record_field_history('account', '{}');
CREATE TRIGGER contacts_field_history AFTER UPDATE ON contacts
    FOR EACH ROW EXECUTE FUNCTION record_field_history('contact', '{}');
CREATE TRIGGER leads_field_history AFTER UPDATE ON leads
    FOR EACH ROW EXECUTE FUNCTION record_field_history('lead', '{}');
-- Stage moves have their own history (stage_history); the stage timestamp is bookkeeping.
CREATE TRIGGER opportunities_field_history AFTER UPDATE ON opportunities
    FOR EACH ROW EXECUTE FUNCTION record_field_history('opportunity', '{stage_entered_at}');
CREATE TRIGGER cases_field_history AFTER UPDATE ON cases
    FOR EACH ROW EXECUTE FUNCTION record_field_history('case', '{}');

-- The SLA sweeper runs outside any tenant, where row-level security shows no case. This lists
-- only which tenants have overdue cases (no case data); the sweep itself then runs per tenant.
CREATE FUNCTION tenants_with_overdue_cases(at timestamptz) RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT DISTINCT tenant_id FROM cases
    WHERE deleted_at IS NULL AND NOT sla_breached AND status NOT IN ('resolved', 'closed')
      AND ((first_response_at IS NULL AND first_response_due < at) OR resolution_due < at)
$$;

ALTER TABLE business_hours ENABLE ROW LEVEL SECURITY;
ALTER TABLE cases ENABLE ROW LEVEL SECURITY;
ALTER TABLE activities ENABLE ROW LEVEL SECURITY;
ALTER TABLE field_history ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON business_hours
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON cases
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON activities
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON field_history
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
