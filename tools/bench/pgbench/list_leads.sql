-- ListLeads, first page of 50: services/crm/src/store/page.rs fetch_page (admin: no scope).
-- The opening (store/mod.rs tx): BEGIN and crm_begin_as in one round trip, as the service sends
-- them in one simple query (pgbench's prepared mode pipelines them instead).
\startpipeline
BEGIN;
SELECT suspended, actor_inactive, config_version FROM crm_begin_as('@TENANT@', '@OWNER@');
\endpipeline
SELECT l.id, l.first_name, l.last_name, l.email, l.phone, l.company, l.title, l.source, l.country_code, l.employee_count, l.status, l.rating, l.score, l.owner_id, l.converted_account_id, l.converted_contact_id, l.converted_opportunity_id, l.converted_at, l.created_at, l.updated_at, l.custom_fields::text AS custom_fields, l.created_at AS sort_key
FROM leads l WHERE l.deleted_at IS NULL ORDER BY l.created_at ASC, l.id ASC LIMIT 51;
COMMIT;
