-- CreateLead: services/crm/src/store/leads.rs create_lead_impl + events::outbox::enqueue_all.
BEGIN;
SELECT set_config('app.tenant_id', '@TENANT@', true);
INSERT INTO leads (id, tenant_id, first_name, last_name, email, phone, company, title,
                   source, country_code, employee_count, status, rating, score, owner_id,
                   created_at, updated_at)
VALUES ((lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7'
         || substr(md5(random()::text), 1, 3) || '8' || substr(md5(random()::text), 1, 15))::uuid,
        '@TENANT@', 'Ada', 'Bench', 'ada.bench@load.test', '+15555550100', 'Analytical Engines',
        'CTO', 'call', 'GB', 40, 'LEAD_STATUS_NEW', 'LEAD_RATING_WARM', 0, '@OWNER@',
        now(), now())
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
