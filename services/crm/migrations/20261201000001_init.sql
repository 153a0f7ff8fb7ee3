-- CRM service schema. Runs with the service schema first on search_path; the service connects as
-- a non-owner role, so the row-level-security policies at the end apply to it. Composite foreign
-- keys include tenant_id, so a record can never point into another tenant.

-- Users as the tenants service announces them (tenants.user.* events): who reports to whom and
-- who is active, for record visibility. source_time is the occurred_at of the last event applied,
-- so a late, older event never overwrites a newer state.
CREATE TABLE crm_users (
    tenant_id   uuid NOT NULL,
    user_id     uuid NOT NULL,
    manager_id  uuid,
    role        text NOT NULL,
    active      boolean NOT NULL,
    source_time timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX crm_users_manager_idx ON crm_users (tenant_id, manager_id);

CREATE TABLE pipelines (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    name        text NOT NULL,
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pipelines_tenant_id_key UNIQUE (tenant_id, id)
);
-- One default pipeline per tenant: concurrent lazy creations collapse into one.
CREATE UNIQUE INDEX pipelines_default_key ON pipelines (tenant_id) WHERE is_default;
CREATE UNIQUE INDEX pipelines_name_key ON pipelines (tenant_id, lower(name));

CREATE TABLE stages (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    pipeline_id uuid NOT NULL,
    name        text NOT NULL,
    probability integer NOT NULL CHECK (probability BETWEEN 0 AND 100),
    category    text NOT NULL CHECK (category IN ('open', 'won', 'lost')),
    position    integer NOT NULL,
    CONSTRAINT stages_pipeline_fkey FOREIGN KEY (tenant_id, pipeline_id) REFERENCES pipelines (tenant_id, id),
    CONSTRAINT stages_pipeline_position_key UNIQUE (pipeline_id, position),
    -- Lets opportunities reference (pipeline_id, stage_id): a stage of *their* pipeline.
    CONSTRAINT stages_pipeline_id_key UNIQUE (pipeline_id, id)
);
CREATE INDEX stages_tenant_idx ON stages (tenant_id);

CREATE TABLE accounts (
    id                      uuid PRIMARY KEY,
    tenant_id               uuid NOT NULL,
    name                    text NOT NULL,
    domain                  text NOT NULL DEFAULT '',
    industry                text NOT NULL DEFAULT '',
    employee_count          integer NOT NULL DEFAULT 0 CHECK (employee_count >= 0),
    annual_revenue_currency text,
    annual_revenue_units    bigint,
    annual_revenue_nanos    integer,
    billing_street          text NOT NULL DEFAULT '',
    billing_city            text NOT NULL DEFAULT '',
    billing_region          text NOT NULL DEFAULT '',
    billing_postal_code     text NOT NULL DEFAULT '',
    billing_country_code    text NOT NULL DEFAULT '',
    shipping_street         text NOT NULL DEFAULT '',
    shipping_city           text NOT NULL DEFAULT '',
    shipping_region         text NOT NULL DEFAULT '',
    shipping_postal_code    text NOT NULL DEFAULT '',
    shipping_country_code   text NOT NULL DEFAULT '',
    parent_account_id       uuid,
    owner_id                uuid NOT NULL,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    deleted_at              timestamptz,
    CONSTRAINT accounts_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT accounts_parent_fkey FOREIGN KEY (tenant_id, parent_account_id) REFERENCES accounts (tenant_id, id),
    CONSTRAINT accounts_revenue_check CHECK (
        (annual_revenue_currency IS NULL) = (annual_revenue_units IS NULL)
        AND (annual_revenue_units IS NULL) = (annual_revenue_nanos IS NULL))
);
CREATE INDEX accounts_created_idx ON accounts (tenant_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX accounts_updated_idx ON accounts (tenant_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX accounts_name_idx ON accounts (tenant_id, name, id) WHERE deleted_at IS NULL;
CREATE INDEX accounts_owner_idx ON accounts (tenant_id, owner_id) WHERE deleted_at IS NULL;

CREATE TABLE contacts (
    id                   uuid PRIMARY KEY,
    tenant_id            uuid NOT NULL,
    first_name           text NOT NULL DEFAULT '',
    last_name            text NOT NULL,
    emails               text[] NOT NULL DEFAULT '{}',
    phones               text[] NOT NULL DEFAULT '{}',
    title                text NOT NULL DEFAULT '',
    account_id           uuid,
    owner_id             uuid NOT NULL,
    email_consent        boolean NOT NULL DEFAULT false,
    email_consent_source text NOT NULL DEFAULT '',
    email_consent_at     timestamptz,
    phone_consent        boolean NOT NULL DEFAULT false,
    phone_consent_source text NOT NULL DEFAULT '',
    phone_consent_at     timestamptz,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    deleted_at           timestamptz,
    CONSTRAINT contacts_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT contacts_account_fkey FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id)
);
CREATE INDEX contacts_created_idx ON contacts (tenant_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_updated_idx ON contacts (tenant_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_last_name_idx ON contacts (tenant_id, last_name, id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_account_idx ON contacts (tenant_id, account_id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_owner_idx ON contacts (tenant_id, owner_id) WHERE deleted_at IS NULL;

CREATE TABLE leads (
    id                       uuid PRIMARY KEY,
    tenant_id                uuid NOT NULL,
    first_name               text NOT NULL DEFAULT '',
    last_name                text NOT NULL,
    email                    text NOT NULL DEFAULT '',
    phone                    text NOT NULL DEFAULT '',
    company                  text NOT NULL DEFAULT '',
    title                    text NOT NULL DEFAULT '',
    source                   text NOT NULL DEFAULT '',
    country_code             text NOT NULL DEFAULT '',
    employee_count           integer NOT NULL DEFAULT 0 CHECK (employee_count >= 0),
    status                   text NOT NULL,
    rating                   text NOT NULL,
    score                    integer NOT NULL DEFAULT 0 CHECK (score BETWEEN 0 AND 100),
    owner_id                 uuid NOT NULL,
    converted_account_id     uuid,
    converted_contact_id     uuid,
    converted_opportunity_id uuid,
    converted_at             timestamptz,
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL,
    deleted_at               timestamptz,
    CONSTRAINT leads_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT leads_converted_check CHECK ((status = 'LEAD_STATUS_CONVERTED') = (converted_at IS NOT NULL))
);
CREATE INDEX leads_created_idx ON leads (tenant_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX leads_updated_idx ON leads (tenant_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX leads_last_name_idx ON leads (tenant_id, last_name, id) WHERE deleted_at IS NULL;
CREATE INDEX leads_company_idx ON leads (tenant_id, company, id) WHERE deleted_at IS NULL;
CREATE INDEX leads_score_idx ON leads (tenant_id, score, id) WHERE deleted_at IS NULL;
CREATE INDEX leads_owner_idx ON leads (tenant_id, owner_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE opportunities (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL,
    name               text NOT NULL,
    amount_currency    text,
    amount_units       bigint,
    amount_nanos       integer,
    close_date         date NOT NULL,
    pipeline_id        uuid NOT NULL,
    stage_id           uuid NOT NULL,
    owner_id           uuid NOT NULL,
    account_id         uuid,
    primary_contact_id uuid,
    lost_reason        text NOT NULL DEFAULT '',
    split_user_ids     uuid[] NOT NULL DEFAULT '{}',
    split_percents     integer[] NOT NULL DEFAULT '{}',
    stage_entered_at   timestamptz NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    deleted_at         timestamptz,
    CONSTRAINT opportunities_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT opportunities_pipeline_fkey FOREIGN KEY (tenant_id, pipeline_id) REFERENCES pipelines (tenant_id, id),
    CONSTRAINT opportunities_stage_fkey FOREIGN KEY (pipeline_id, stage_id) REFERENCES stages (pipeline_id, id),
    CONSTRAINT opportunities_account_fkey FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id),
    CONSTRAINT opportunities_contact_fkey FOREIGN KEY (tenant_id, primary_contact_id) REFERENCES contacts (tenant_id, id),
    CONSTRAINT opportunities_amount_check CHECK (
        (amount_currency IS NULL) = (amount_units IS NULL)
        AND (amount_units IS NULL) = (amount_nanos IS NULL)),
    CONSTRAINT opportunities_splits_check CHECK (
        cardinality(split_user_ids) = cardinality(split_percents))
);
CREATE INDEX opportunities_created_idx ON opportunities (tenant_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_updated_idx ON opportunities (tenant_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_close_idx ON opportunities (tenant_id, close_date, id) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_name_idx ON opportunities (tenant_id, name, id) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_owner_idx ON opportunities (tenant_id, owner_id) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_stage_idx ON opportunities (tenant_id, stage_id) WHERE deleted_at IS NULL;

CREATE TABLE stage_history (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    opportunity_id   uuid NOT NULL,
    from_stage_id    uuid,
    to_stage_id      uuid NOT NULL,
    changed_by       uuid NOT NULL,
    changed_at       timestamptz NOT NULL,
    seconds_in_stage bigint NOT NULL CHECK (seconds_in_stage >= 0),
    CONSTRAINT stage_history_opportunity_fkey FOREIGN KEY (tenant_id, opportunity_id) REFERENCES opportunities (tenant_id, id)
);
CREATE INDEX stage_history_opportunity_idx ON stage_history (tenant_id, opportunity_id, changed_at, id);

-- Row-level security: a transaction sees only the tenant named by app.tenant_id
-- (set by libs/db begin_for_tenant). An unset setting matches nothing.
ALTER TABLE crm_users ENABLE ROW LEVEL SECURITY;
ALTER TABLE pipelines ENABLE ROW LEVEL SECURITY;
ALTER TABLE stages ENABLE ROW LEVEL SECURITY;
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE leads ENABLE ROW LEVEL SECURITY;
ALTER TABLE opportunities ENABLE ROW LEVEL SECURITY;
ALTER TABLE stage_history ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON crm_users
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON pipelines
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON stages
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON accounts
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON contacts
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON leads
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON opportunities
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON stage_history
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
