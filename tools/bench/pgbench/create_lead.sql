-- CreateLead: services/crm/src/store/leads.rs LeadStore::create_lead (no owner: assignment rules)
-- + events::outbox::enqueue_all.
-- The opening (store/mod.rs tx): BEGIN and crm_begin_as in one round trip, as the service sends
-- them in one simple query (pgbench's prepared mode pipelines them instead).
\startpipeline
BEGIN;
SELECT suspended, actor_inactive, config_version FROM crm_begin_as('@TENANT@', '@OWNER@');
\endpipeline
-- The duplicate probe (store/duplicates.rs PEOPLE), with unique values as the benchmark sends.
\set u random(1, 1000000000)
SELECT kind, id, owner_id, display_name,
       bool_or(rule = 'email') AS by_email, bool_or(rule = 'phone') AS by_phone,
       bool_or(rule = 'name') AS by_name, false AS by_domain
FROM (
    (SELECT 'contact' AS kind, 'email' AS rule, id, owner_id,
            btrim(first_name || ' ' || last_name) AS display_name
     FROM contacts
     WHERE tenant_id = '@TENANT@' AND deleted_at IS NULL AND emails && ARRAY['ada.' || :u || '.' || :client_id || '@load.test']
     LIMIT 200)
    UNION ALL
    (SELECT 'contact', 'phone', id, owner_id, btrim(first_name || ' ' || last_name)
     FROM contacts
     WHERE tenant_id = '@TENANT@' AND deleted_at IS NULL AND phones && ARRAY['+1555' || lpad(:u::text, 7, '0')]
     LIMIT 200)
    UNION ALL
    (SELECT 'contact', 'name', id, owner_id, btrim(first_name || ' ' || last_name)
     FROM contacts
     WHERE tenant_id = '@TENANT@' AND deleted_at IS NULL AND name_key = NULLIF(crm_name_key('Ada Bench' || :u), '')
     LIMIT 200)
    UNION ALL
    (SELECT 'lead', 'email', id, owner_id, btrim(first_name || ' ' || last_name)
     FROM leads
     WHERE tenant_id = '@TENANT@' AND deleted_at IS NULL AND converted_at IS NULL
       AND email = ANY(ARRAY['ada.' || :u || '.' || :client_id || '@load.test'])
     LIMIT 200)
    UNION ALL
    (SELECT 'lead', 'phone', id, owner_id, btrim(first_name || ' ' || last_name)
     FROM leads
     WHERE tenant_id = '@TENANT@' AND deleted_at IS NULL AND converted_at IS NULL
       AND phone = ANY(ARRAY['+1555' || lpad(:u::text, 7, '0')])
     LIMIT 200)
    UNION ALL
    (SELECT 'lead', 'name', id, owner_id, btrim(first_name || ' ' || last_name)
     FROM leads
     WHERE tenant_id = '@TENANT@' AND deleted_at IS NULL AND converted_at IS NULL
       AND name_key = NULLIF(crm_name_key('Ada Bench' || :u), '')
     LIMIT 200)
) m
GROUP BY kind, id, owner_id, display_name;
-- The tenant's assignment rules and lead custom field definitions come from the service's
-- cache (store/tenant_config.rs): crm_begin_as's config version says it is current.
INSERT INTO leads (id, tenant_id, first_name, last_name, email, phone, company, title,
                   source, country_code, employee_count, status, rating, score, owner_id,
                   created_at, updated_at, custom_fields)
VALUES ((lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7'
         || substr(md5(random()::text), 1, 3) || '8' || substr(md5(random()::text), 1, 15))::uuid,
        '@TENANT@', 'Ada', 'Bench' || :u, 'ada.' || :u || '.' || :client_id || '@load.test', '+1555' || lpad(:u::text, 7, '0'), 'Analytical Engines',
        'CTO', 'call', 'GB', 40, 'LEAD_STATUS_NEW', 'LEAD_RATING_WARM', 0, '@OWNER@',
        now(), now(), '{}'::jsonb)
RETURNING id AS lead_id \gset
INSERT INTO outbox
    (event_id, event_type, tenant_id, aggregate_type, aggregate_id, occurred_at, envelope)
SELECT event_id, event_type, tenant_id, aggregate_type, aggregate_id, occurred_at, envelope
FROM UNNEST(ARRAY[(lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
                   || '7' || substr(md5(random()::text), 1, 3) || '8'
                   || substr(md5(random()::text), 1, 15))::uuid],
            ARRAY['crm.lead.created']::text[], ARRAY['@TENANT@']::uuid[], ARRAY['lead']::text[],
            ARRAY[:lead_id]::text[], ARRAY[now()]::timestamptz[],
            ARRAY[decode(repeat('00', @ENVELOPE_BYTES@), 'hex')]::bytea[])
     WITH ORDINALITY
     AS e(event_id, event_type, tenant_id, aggregate_type, aggregate_id, occurred_at,
          envelope, position)
ORDER BY position;
COMMIT;
