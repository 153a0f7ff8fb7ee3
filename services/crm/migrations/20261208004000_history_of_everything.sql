-- History of everything (issue 23): field history records creates, deletes and restores as well
-- as updates, for every record kind, under the field names of the API (`amount`, not
-- `amount_units`). One trigger function (record_history) turns the before/after of any row into
-- API-named field changes; a record kind joins with one CREATE TRIGGER line plus, where its
-- columns differ from its API fields, rows in history_fields.

-- What a history row says happened to the record: 'create' (every set field, old value null),
-- 'update', 'delete' (every set field cleared) or 'restore' (an undelete: every set field back).
ALTER TABLE field_history ADD COLUMN change text NOT NULL DEFAULT 'update'
    CHECK (change IN ('create', 'update', 'delete', 'restore'));

-- How a stored column appears in the API, per record kind. A column not listed keeps its name;
-- one listed with field NULL is bookkeeping and never history. Columns sharing a field are its
-- parts (money, addresses, consents): the field's value is an object of the parts, null when no
-- part is set (see history_value_set), or a list of objects when every part is a list
-- (repeated messages stored as parallel arrays, e.g. credit splits). Not tenant data: the same
-- for every tenant.
CREATE TABLE history_fields (
    record_type text NOT NULL,
    column_name text NOT NULL,
    field       text,
    part        text,
    PRIMARY KEY (record_type, column_name)
);

INSERT INTO history_fields (record_type, column_name, field, part) VALUES
    ('account', 'annual_revenue_currency', 'annual_revenue', 'currency_code'),
    ('account', 'annual_revenue_units', 'annual_revenue', 'units'),
    ('account', 'annual_revenue_nanos', 'annual_revenue', 'nanos'),
    ('account', 'billing_street', 'billing_address', 'street'),
    ('account', 'billing_city', 'billing_address', 'city'),
    ('account', 'billing_region', 'billing_address', 'region'),
    ('account', 'billing_postal_code', 'billing_address', 'postal_code'),
    ('account', 'billing_country_code', 'billing_address', 'country_code'),
    ('account', 'shipping_street', 'shipping_address', 'street'),
    ('account', 'shipping_city', 'shipping_address', 'city'),
    ('account', 'shipping_region', 'shipping_address', 'region'),
    ('account', 'shipping_postal_code', 'shipping_address', 'postal_code'),
    ('account', 'shipping_country_code', 'shipping_address', 'country_code'),
    ('contact', 'email_consent', 'email_consent', 'granted'),
    ('contact', 'email_consent_source', 'email_consent', 'source'),
    ('contact', 'email_consent_at', 'email_consent', 'update_time'),
    ('contact', 'phone_consent', 'phone_consent', 'granted'),
    ('contact', 'phone_consent_source', 'phone_consent', 'source'),
    ('contact', 'phone_consent_at', 'phone_consent', 'update_time'),
    ('lead', 'converted_at', 'convert_time', NULL),
    ('opportunity', 'amount_currency', 'amount', 'currency_code'),
    ('opportunity', 'amount_units', 'amount', 'units'),
    ('opportunity', 'amount_nanos', 'amount', 'nanos'),
    ('opportunity', 'split_user_ids', 'splits', 'user_id'),
    ('opportunity', 'split_percents', 'splits', 'percent'),
    -- Stage moves have their own history (stage_history); the stage timestamp is bookkeeping.
    ('opportunity', 'stage_entered_at', NULL, NULL),
    ('case', 'first_response_due', 'first_response_due_time', NULL),
    ('case', 'resolution_due', 'resolution_due_time', NULL),
    ('case', 'first_response_at', 'first_response_time', NULL),
    ('case', 'resolved_at', 'resolve_time', NULL),
    ('case', 'closed_at', 'close_time', NULL),
    ('case', 'sla_breached_at', 'sla_breach_time', NULL),
    ('activity', 'related_type', 'related_to', 'type'),
    ('activity', 'related_id', 'related_to', 'id'),
    ('activity', 'remind_at', 'remind_time', NULL),
    ('activity', 'completed_at', 'complete_time', NULL),
    ('quote', 'currency', 'currency_code', NULL),
    ('quote', 'discount_amount_minor', 'discount_amount', NULL),
    ('quote', 'subtotal_minor', 'subtotal', NULL),
    ('quote', 'discount_total_minor', 'discount_total', NULL),
    ('quote', 'tax_minor', 'tax', NULL),
    ('quote', 'total_minor', 'total', NULL),
    ('quote', 'created_by', 'owner_id', NULL),
    ('price_book_entry', 'currency', 'unit_price', 'currency_code'),
    ('price_book_entry', 'unit_price_minor', 'unit_price', 'amount_minor'),
    ('pipeline', 'archived_at', 'archive_time', NULL),
    ('stage', 'archived_at', 'archive_time', NULL),
    ('lost_reason', 'archived_at', 'archive_time', NULL),
    ('custom_field_definition', 'field_type', 'type', NULL),
    ('custom_field_definition', 'min_value', 'min', NULL),
    ('custom_field_definition', 'max_value', 'max', NULL),
    ('assignment_rule', 'min_employees', 'min_employee_count', NULL),
    ('assignment_rule', 'max_employees', 'max_employee_count', NULL),
    -- The round-robin turn counter moves with every lead assigned: not a configuration change.
    ('assignment_rule', 'turns', NULL, NULL),
    -- Settings are one row per tenant; its projection of the tenants service's state (and the
    -- cache version) are not settings a user changes.
    ('settings', 'suspended', NULL, NULL),
    ('settings', 'source_time', NULL, NULL),
    ('settings', 'config_version', NULL, NULL);

-- Whether a field value counts as set, as in proto3: not null, empty, zero or false. A create
-- or delete lists only set fields.
CREATE FUNCTION history_value_set(value jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT value IS NOT NULL AND value NOT IN ('null', '""', '[]', '{}', '0', 'false')
$$;

-- A row (as jsonb) under the API's field names; see history_fields. Custom fields appear one by
-- one as `custom_fields.<key>`.
CREATE FUNCTION history_api_fields(kind text, stored jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    fields  jsonb := '{}';
    grouped text[] := '{}';
    col     text;
    value   jsonb;
    api     text;
    part    text;
    listed  boolean;
    whole   jsonb;
BEGIN
    IF stored IS NULL THEN
        RETURN fields;
    END IF;
    FOR col, value IN SELECT e.key, e.value FROM jsonb_each(stored) e LOOP
        CONTINUE WHEN col IN ('id', 'tenant_id', 'created_at', 'updated_at', 'deleted_at',
                              'version', 'search', 'search_vector', 'search_document',
                              'name_key');
        listed := false;
        SELECT true, f.field, f.part INTO listed, api, part
        FROM history_fields f WHERE f.record_type = kind AND f.column_name = col;
        IF coalesce(listed, false) THEN
            CONTINUE WHEN api IS NULL;
        ELSE
            api := col;
            part := NULL;
        END IF;
        IF api = 'custom_fields' AND jsonb_typeof(value) = 'object' THEN
            SELECT fields || coalesce(jsonb_object_agg('custom_fields.' || c.key, c.value), '{}')
            INTO fields FROM jsonb_each(value) c;
        ELSIF part IS NULL THEN
            fields := fields || jsonb_build_object(api, value);
        ELSE
            fields := fields || jsonb_build_object(api,
                coalesce(fields -> api, '{}') || jsonb_build_object(part, value));
            IF NOT api = ANY (grouped) THEN
                grouped := grouped || api;
            END IF;
        END IF;
    END LOOP;
    FOREACH api IN ARRAY grouped LOOP
        whole := fields -> api;
        IF NOT EXISTS (SELECT 1 FROM jsonb_each(whole) p WHERE history_value_set(p.value)) THEN
            fields := fields || jsonb_build_object(api, 'null'::jsonb);
        ELSIF NOT EXISTS (SELECT 1 FROM jsonb_each(whole) p
                          WHERE jsonb_typeof(p.value) <> 'array') THEN
            -- Parallel arrays: element i of every part makes item i.
            SELECT coalesce(jsonb_agg(item ORDER BY n), '[]') INTO whole FROM (
                SELECT n, jsonb_object_agg(p.key, p.value -> (n - 1)::int) AS item
                FROM jsonb_each(whole) p,
                     generate_series(1, (SELECT max(jsonb_array_length(q.value))
                                         FROM jsonb_each(whole) q)) n
                GROUP BY n
            ) items;
            fields := fields || jsonb_build_object(api, whole);
        END IF;
    END LOOP;
    RETURN fields;
END
$$;

-- Diffs a row before and after an insert, update or delete into field_history rows under API
-- names. A soft delete (deleted_at set) is a 'delete' of every set field, its
-- reversal a 'restore'. TG_ARGV[0]: the record kind; TG_ARGV[1] (optional): the id column;
-- TG_ARGV[2] (optional): for a row that exists implicitly with defaults (settings), those
-- defaults as a jsonb row: its insert is then an 'update' from them.
-- actor_id comes from the transaction-local setting crm.actor_id the service sets with the tenant;
-- NULL for changes the system makes itself.
CREATE FUNCTION record_history() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    kind       text := TG_ARGV[0];
    id_column  text := coalesce(TG_ARGV[1], 'id');
    old_row    jsonb := CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) END;
    new_row    jsonb := CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_jsonb(NEW) END;
    some_row   jsonb := coalesce(new_row, old_row);
    was_gone   boolean := old_row IS NULL OR old_row ->> 'deleted_at' IS NOT NULL;
    is_gone    boolean := new_row IS NULL OR new_row ->> 'deleted_at' IS NOT NULL;
    change     text;
    before     jsonb;
    after      jsonb;
    actor      uuid := NULLIF(current_setting('crm.actor_id', true), '')::uuid;
    at         timestamptz := clock_timestamp();
    field_name text;
BEGIN
    IF was_gone AND is_gone THEN
        -- Edits of a deleted record and the purge of one are not the record's history.
        RETURN NULL;
    ELSIF was_gone THEN
        change := CASE WHEN old_row IS NULL THEN 'create' ELSE 'restore' END;
    ELSIF is_gone THEN
        change := 'delete';
    ELSE
        change := 'update';
    END IF;
    IF change = 'create' AND TG_NARGS > 2 THEN
        change := 'update';
        old_row := TG_ARGV[2]::jsonb;
    END IF;
    before := CASE WHEN change IN ('create', 'restore') THEN '{}'
                   ELSE history_api_fields(kind, old_row) END;
    after := history_api_fields(kind, new_row);
    IF change = 'delete' THEN
        -- Every field is cleared, except what the deletion itself set (a merge's merged_into).
        SELECT coalesce(jsonb_object_agg(n.key, n.value), '{}') INTO after
        FROM jsonb_each(after) n
        WHERE history_value_set(n.value) AND n.value IS DISTINCT FROM before -> n.key;
    END IF;
    FOR field_name IN SELECT k FROM (SELECT jsonb_object_keys(before) AS k
                                     UNION SELECT jsonb_object_keys(after)) keys ORDER BY k LOOP
        CONTINUE WHEN before -> field_name IS NOT DISTINCT FROM after -> field_name;
        CONTINUE WHEN change <> 'update' AND NOT history_value_set(before -> field_name)
            AND NOT history_value_set(after -> field_name);
        INSERT INTO field_history (id, tenant_id, record_type, record_id, field,
                                   old_value, new_value, actor_id, changed_at, change)
        VALUES (gen_random_uuid(), (some_row ->> 'tenant_id')::uuid, kind,
                (some_row ->> id_column)::uuid, field_name,
                coalesce(before -> field_name, 'null'), coalesce(after -> field_name, 'null'),
                actor, at, change);
    END LOOP;
    RETURN NULL;
END
$$;

-- A share is a change of the shared record: field `shares.<user id>`, value the access granted.
CREATE FUNCTION record_share_history() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    some_row record := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    old_access jsonb := CASE WHEN TG_OP = 'INSERT' THEN 'null' ELSE to_jsonb(OLD.access) END;
    new_access jsonb := CASE WHEN TG_OP = 'DELETE' THEN 'null' ELSE to_jsonb(NEW.access) END;
BEGIN
    IF old_access IS NOT DISTINCT FROM new_access THEN
        RETURN NULL;
    END IF;
    INSERT INTO field_history (id, tenant_id, record_type, record_id, field,
                               old_value, new_value, actor_id, changed_at, change)
    VALUES (gen_random_uuid(), some_row.tenant_id, some_row.record_type, some_row.record_id,
            'shares.' || some_row.user_id, old_access, new_access,
            NULLIF(current_setting('crm.actor_id', true), '')::uuid, clock_timestamp(), 'update');
    RETURN NULL;
END
$$;

DROP TRIGGER accounts_field_history ON accounts;
DROP TRIGGER contacts_field_history ON contacts;
DROP TRIGGER leads_field_history ON leads;
DROP TRIGGER opportunities_field_history ON opportunities;
DROP TRIGGER cases_field_history ON cases;
-- Kept for the previous release's binaries during a rolling update; nothing calls it any more.
COMMENT ON FUNCTION record_field_history() IS 'superseded by record_history()';

CREATE TRIGGER accounts_history AFTER INSERT OR UPDATE OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION record_history('account');
CREATE TRIGGER contacts_history AFTER INSERT OR UPDATE OR DELETE ON contacts
    FOR EACH ROW EXECUTE FUNCTION record_history('contact');
CREATE TRIGGER leads_history AFTER INSERT OR UPDATE OR DELETE ON leads
    FOR EACH ROW EXECUTE FUNCTION record_history('lead');
CREATE TRIGGER opportunities_history AFTER INSERT OR UPDATE OR DELETE ON opportunities
    FOR EACH ROW EXECUTE FUNCTION record_history('opportunity');
CREATE TRIGGER cases_history AFTER INSERT OR UPDATE OR DELETE ON cases
    FOR EACH ROW EXECUTE FUNCTION record_history('case');
CREATE TRIGGER activities_history AFTER INSERT OR UPDATE OR DELETE ON activities
    FOR EACH ROW EXECUTE FUNCTION record_history('activity');
CREATE TRIGGER quotes_history AFTER INSERT OR UPDATE OR DELETE ON quotes
    FOR EACH ROW EXECUTE FUNCTION record_history('quote');
CREATE TRIGGER products_history AFTER INSERT OR UPDATE OR DELETE ON products
    FOR EACH ROW EXECUTE FUNCTION record_history('product');
CREATE TRIGGER price_books_history AFTER INSERT OR UPDATE OR DELETE ON price_books
    FOR EACH ROW EXECUTE FUNCTION record_history('price_book');
CREATE TRIGGER price_book_entries_history AFTER INSERT OR UPDATE OR DELETE ON price_book_entries
    FOR EACH ROW EXECUTE FUNCTION record_history('price_book_entry');
CREATE TRIGGER pipelines_history AFTER INSERT OR UPDATE OR DELETE ON pipelines
    FOR EACH ROW EXECUTE FUNCTION record_history('pipeline');
CREATE TRIGGER stages_history AFTER INSERT OR UPDATE OR DELETE ON stages
    FOR EACH ROW EXECUTE FUNCTION record_history('stage');
CREATE TRIGGER lost_reasons_history AFTER INSERT OR UPDATE OR DELETE ON lost_reasons
    FOR EACH ROW EXECUTE FUNCTION record_history('lost_reason');
CREATE TRIGGER custom_field_definitions_history
    AFTER INSERT OR UPDATE OR DELETE ON custom_field_definitions
    FOR EACH ROW EXECUTE FUNCTION record_history('custom_field_definition');
CREATE TRIGGER lead_assignment_rules_history
    AFTER INSERT OR UPDATE OR DELETE ON lead_assignment_rules
    FOR EACH ROW EXECUTE FUNCTION record_history('assignment_rule');
-- The settings row exists implicitly (with the defaults below, those of the columns) until the
-- first write creates it, and is never deleted. Its id is the tenant's.
CREATE TRIGGER crm_tenants_history AFTER INSERT OR UPDATE ON crm_tenants
    FOR EACH ROW EXECUTE FUNCTION record_history('settings', 'tenant_id',
        '{"deactivated_owner_policy": "reassign", "fallback_owner_id": null,
          "lost_reason_required": true, "restore_window_days": 30}');
CREATE TRIGGER record_shares_history AFTER INSERT OR UPDATE OR DELETE ON record_shares
    FOR EACH ROW EXECUTE FUNCTION record_share_history();

-- Restoring a deleted record is possible for this long after its deletion (a tenant setting);
-- the purge removes records deleted longer ago.
ALTER TABLE crm_tenants ADD COLUMN restore_window_days integer NOT NULL DEFAULT 30
    CHECK (restore_window_days BETWEEN 1 AND 3650);
