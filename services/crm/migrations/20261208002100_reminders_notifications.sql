-- Reminders and the in-app notification feed (issue 23).
--
-- A reminder is an activity's remind_at. It is pending until the scheduler fires it: it then
-- sets reminded_at, writes crm.activity.reminder_due to the outbox and the owner's notification,
-- all in one transaction, so a restart neither loses nor repeats a reminder. Changing remind_at
-- clears reminded_at (the store does it), which re-arms the reminder.
ALTER TABLE activities ADD COLUMN reminded_at timestamptz;

-- The scheduler's only scan: pending reminders by due time, across tenants. Completed and
-- deleted activities do not remind.
CREATE INDEX activities_pending_reminder_idx ON activities (remind_at, tenant_id)
    WHERE remind_at IS NOT NULL AND reminded_at IS NULL AND completed_at IS NULL
      AND deleted_at IS NULL;

-- The scheduler runs outside any tenant, where row-level security shows no activity. These two
-- reveal no activity data: the earliest pending due time (to sleep until it) and which tenants
-- have due reminders; the firing itself runs per tenant.
CREATE FUNCTION next_pending_reminder() RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT min(remind_at) FROM activities
    WHERE remind_at IS NOT NULL AND reminded_at IS NULL AND completed_at IS NULL
      AND deleted_at IS NULL
$$;

CREATE FUNCTION tenants_with_due_reminders(at timestamptz) RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT DISTINCT tenant_id FROM activities
    WHERE remind_at <= at AND reminded_at IS NULL AND completed_at IS NULL
      AND deleted_at IS NULL
$$;

-- Wakes every replica's scheduler (LISTEN crm_reminders) when a reminder is set, so one due
-- earlier than the one it sleeps for fires on time. Sent at commit; identical payloads in one
-- transaction collapse into one notification.
CREATE FUNCTION crm_reminder_scheduled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('crm_reminders', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER activities_reminder_scheduled AFTER INSERT OR UPDATE OF remind_at ON activities
    FOR EACH ROW WHEN (NEW.remind_at IS NOT NULL AND NEW.reminded_at IS NULL)
    EXECUTE FUNCTION crm_reminder_scheduled();

-- One user's feed. kind: reminder, assigned, mentioned, sla_breached, commission_* (see
-- src/domain/notification.rs). subject_type/subject_id name what the notification is about
-- (a CRM record, or a commissions statement/dispute). source_key makes a producer idempotent:
-- an event delivered twice notifies once.
CREATE TABLE notifications (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    user_id      uuid NOT NULL,
    kind         text NOT NULL,
    title        text NOT NULL,
    body         text NOT NULL DEFAULT '',
    subject_type text NOT NULL DEFAULT '',
    subject_id   text NOT NULL DEFAULT '',
    source_key   text,
    created_at   timestamptz NOT NULL,
    read_at      timestamptz
);
CREATE INDEX notifications_feed_idx ON notifications (tenant_id, user_id, id);
CREATE INDEX notifications_unread_idx ON notifications (tenant_id, user_id, id)
    WHERE read_at IS NULL;
CREATE UNIQUE INDEX notifications_source_key ON notifications (tenant_id, user_id, source_key);

ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notifications
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- Tells the open notification streams (LISTEN crm_notifications) about a new row; the payload
-- names tenant, user and id only, the stream reads the row in the user's tenant transaction.
CREATE FUNCTION crm_notification_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('crm_notifications', NEW.tenant_id || ' ' || NEW.user_id || ' ' || NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER notifications_created AFTER INSERT ON notifications
    FOR EACH ROW EXECUTE FUNCTION crm_notification_created();

-- A UUIDv7 (time-ordered, like the ids the service makes), so the feed pages by id in time
-- order whichever side wrote the row. PostgreSQL 15 has no uuidv7().
CREATE FUNCTION crm_uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
        PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                          FROM 3)
        FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;

-- Notifies a user (in the current tenant transaction). Used by the triggers below; the service
-- inserts its own notifications (reminders, mentions, commissions) from Rust into the same table.
CREATE FUNCTION crm_notify_user(tenant uuid, recipient uuid, kind text, title text,
                                subject_type text, subject_id text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO notifications (id, tenant_id, user_id, kind, title, subject_type, subject_id,
                               created_at)
    VALUES (crm_uuid_v7(), tenant, recipient, kind, title, subject_type, subject_id,
            date_trunc('microseconds', clock_timestamp()))
$$;

-- "Assigned to you": any path that gives a record a new owner (create, update, lead assignment
-- rules, handover, merge, import) writes owner_id, so one trigger per table covers all of them
-- inside the changing transaction. Nobody is told about what they assign to themselves; changes
-- the system makes without an actor (crm.actor_id unset) notify the new owner.
-- TG_ARGV: the record type, then the one or two columns that name the record.
CREATE FUNCTION crm_notify_assignment() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    actor uuid := NULLIF(current_setting('crm.actor_id', true), '')::uuid;
    fields jsonb;
    label text;
BEGIN
    IF NEW.deleted_at IS NOT NULL OR NEW.owner_id IS NOT DISTINCT FROM actor THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.owner_id IS NOT DISTINCT FROM OLD.owner_id THEN
        RETURN NULL;
    END IF;
    fields := to_jsonb(NEW);
    label := trim(concat_ws(' ', fields ->> TG_ARGV[1], fields ->> TG_ARGV[2]));
    PERFORM crm_notify_user(NEW.tenant_id, NEW.owner_id, 'assigned',
                            initcap(TG_ARGV[0]) || ' assigned to you: ' || label,
                            TG_ARGV[0], NEW.id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER accounts_notify_assignment AFTER INSERT OR UPDATE OF owner_id ON accounts
    FOR EACH ROW EXECUTE FUNCTION crm_notify_assignment('account', 'name');
CREATE TRIGGER contacts_notify_assignment AFTER INSERT OR UPDATE OF owner_id ON contacts
    FOR EACH ROW EXECUTE FUNCTION crm_notify_assignment('contact', 'first_name', 'last_name');
CREATE TRIGGER leads_notify_assignment AFTER INSERT OR UPDATE OF owner_id ON leads
    FOR EACH ROW EXECUTE FUNCTION crm_notify_assignment('lead', 'first_name', 'last_name');
CREATE TRIGGER opportunities_notify_assignment AFTER INSERT OR UPDATE OF owner_id ON opportunities
    FOR EACH ROW EXECUTE FUNCTION crm_notify_assignment('opportunity', 'name');
CREATE TRIGGER cases_notify_assignment AFTER INSERT OR UPDATE OF owner_id ON cases
    FOR EACH ROW EXECUTE FUNCTION crm_notify_assignment('case', 'subject');
CREATE TRIGGER activities_notify_assignment AFTER INSERT OR UPDATE OF owner_id ON activities
    FOR EACH ROW EXECUTE FUNCTION crm_notify_assignment('activity', 'subject');

-- "SLA breached" to the case owner, whichever path marks the case (the sweeper, or an action
-- that finds the target already missed).
CREATE FUNCTION crm_notify_sla_breach() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM crm_notify_user(NEW.tenant_id, NEW.owner_id, 'sla_breached',
                            'SLA breached: ' || NEW.subject, 'case', NEW.id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER cases_notify_sla_breach AFTER UPDATE OF sla_breached ON cases
    FOR EACH ROW WHEN (NEW.sla_breached AND NOT OLD.sla_breached)
    EXECUTE FUNCTION crm_notify_sla_breach();
