-- BatchCreateEngagementEvents of 500 web visits: services/engagement/src/store/touches.rs
-- `record` (request-id insert, daily-cap counters, points, score merge; the summaries' reads
-- and upsert are left out, so this is a ceiling). Run against the engagement schema as its app
-- role, with @TENANT@ and @CONTACT@ (a projected contact) filled in:
--   sed -e "s/@TENANT@/$TENANT/" -e "s/@CONTACT@/$CONTACT/" engagement_batch.sql > /tmp/e.sql
--   PGOPTIONS='-c search_path=engagement -c role=engagement_app' \
--     pgbench -n -M prepared -c 4 -j 2 -T 30 -f /tmp/e.sql salescompass
-- Events/s = 500 × the reported tps.
\set batch random(1, 1000000000)
BEGIN;
SELECT set_config('app.tenant_id', '@TENANT@', true);
INSERT INTO engagement_events (id, tenant_id, request_id, kind, record_type, record_id,
    account_id, owner_id, user_id, occurred_at, counted, points, created_at)
SELECT gen_random_uuid(), '@TENANT@', 'pgb-' || :batch || '-' || g || '-' || random(), 'web_visit',
       'contact', '@CONTACT@', NULL, NULL, NULL, now(), false, 0, now()
FROM generate_series(1, 500) AS g
ON CONFLICT (tenant_id, request_id) DO NOTHING
RETURNING request_id;
INSERT INTO engagement_daily_counts (tenant_id, record_type, record_id, kind, day, touches)
VALUES ('@TENANT@', 'contact', '@CONTACT@', 'web_visit', current_date, 500)
ON CONFLICT (tenant_id, record_type, record_id, kind, day)
DO UPDATE SET touches = engagement_daily_counts.touches + EXCLUDED.touches
RETURNING touches;
UPDATE engagement_events SET counted = true, points = 2
WHERE tenant_id = '@TENANT@' AND request_id = 'pgb-' || :batch || '-1';
INSERT INTO engagement_scores AS s (tenant_id, record_type, record_id, kind, score, as_of)
VALUES ('@TENANT@', 'contact', '@CONTACT@', 'web_visit', 10, now())
ON CONFLICT (tenant_id, record_type, record_id, kind) DO UPDATE SET
    score = s.score * power(2::float8, -greatest(extract(epoch FROM EXCLUDED.as_of - s.as_of)::float8, 0) / 1209600)
          + EXCLUDED.score,
    as_of = greatest(s.as_of, EXCLUDED.as_of);
COMMIT;
