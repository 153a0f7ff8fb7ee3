-- Custom fields that last (issue 23): more types, help text, defaults, lookups. Definitions are
-- now updated in place (UpdateCustomFieldDefinition); the service refuses a change that would
-- invalidate stored values, so no column here constrains the values themselves.
ALTER TABLE custom_field_definitions DROP CONSTRAINT custom_field_definitions_field_type_check;
ALTER TABLE custom_field_definitions ADD CONSTRAINT custom_field_definitions_field_type_check
    CHECK (field_type IN ('text', 'number', 'date', 'bool', 'picklist', 'multi_picklist',
                          'currency', 'url', 'email', 'phone', 'lookup'));

ALTER TABLE custom_field_definitions
    ADD COLUMN help_text text NOT NULL DEFAULT '',
    -- Currency only: the one ISO 4217 currency values must be in; any when NULL.
    ADD COLUMN currency_code text CHECK (currency_code ~ '^[A-Z]{3}$'),
    -- Lookup only: the record type the value (a record id) points to.
    ADD COLUMN lookup_record_type text
        CHECK (lookup_record_type IN ('account', 'contact', 'lead', 'opportunity')),
    -- The stored form of the value a record created without one gets.
    ADD COLUMN default_value jsonb,
    ADD CONSTRAINT custom_field_definitions_lookup_check
        CHECK ((field_type = 'lookup') = (lookup_record_type IS NOT NULL));

-- Cases carry custom fields too.
ALTER TABLE custom_field_definitions DROP CONSTRAINT custom_field_definitions_record_type_check;
ALTER TABLE custom_field_definitions ADD CONSTRAINT custom_field_definitions_record_type_check
    CHECK (record_type IN ('account', 'contact', 'lead', 'opportunity', 'case'));
ALTER TABLE cases ADD COLUMN custom_fields jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(custom_fields) = 'object');

-- Lead fields only: the account, contact and opportunity custom field (key) a lead conversion
-- copies the value to. Cleared by the service when the target definition is deleted.
ALTER TABLE custom_field_definitions
    ADD COLUMN convert_to_account text,
    ADD COLUMN convert_to_contact text,
    ADD COLUMN convert_to_opportunity text,
    ADD CONSTRAINT custom_field_definitions_conversion_check
        CHECK (record_type = 'lead' OR (convert_to_account IS NULL AND convert_to_contact IS NULL
                                        AND convert_to_opportunity IS NULL));
