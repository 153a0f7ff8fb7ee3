-- Plan versions for roles (ROLE_SALES_REP, ...), resolved against commission_users.role when
-- a deal is calculated.
ALTER TABLE plan_versions ADD COLUMN participant_roles text[] NOT NULL DEFAULT '{}';
CREATE INDEX plan_versions_roles_idx ON plan_versions USING gin (participant_roles);
