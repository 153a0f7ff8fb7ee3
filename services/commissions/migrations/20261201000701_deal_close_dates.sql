-- The close date of each won deal step, so ending a plan version can be checked against the
-- deals already calculated under it. NULL for reversals and for steps recorded before this
-- column existed (those count as closing on the last day of their credit period).
ALTER TABLE deal_steps ADD COLUMN close_date date;
CREATE INDEX deal_steps_version_idx ON deal_steps (tenant_id, plan_version_id, close_date);
