-- CSV import jobs fed chunk by chunk (REST clients cannot stream). Between two chunks a job keeps
-- only what the next one needs: the header, the bytes of a row cut by the chunk boundary
-- (`carry`, bounded by the longest accepted record) and the record count; never the file.
CREATE TABLE import_jobs (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL,
    creator_id         uuid NOT NULL,
    record_type        text NOT NULL CHECK (record_type IN ('account', 'contact', 'lead')),
    column_mapping     jsonb NOT NULL DEFAULT '{}',
    skip_duplicates    boolean NOT NULL,
    state              text NOT NULL CHECK (state IN ('uploading', 'succeeded', 'cancelled')),
    -- The CSV header once read; NULL before the first complete row.
    header             text[],
    carry              bytea NOT NULL DEFAULT '',
    -- CSV records read so far, the header included (the next record's number is records + 1).
    records            bigint NOT NULL DEFAULT 0,
    received_bytes     bigint NOT NULL DEFAULT 0,
    rows_read          bigint NOT NULL DEFAULT 0,
    created            bigint NOT NULL DEFAULT 0,
    skipped_duplicates bigint NOT NULL DEFAULT 0,
    rejected           bigint NOT NULL DEFAULT 0,
    reported_errors    bigint NOT NULL DEFAULT 0,
    -- Some report lines were dropped at the cap.
    errors_truncated   boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    CONSTRAINT import_jobs_tenant_id_key UNIQUE (tenant_id, id)
);
CREATE INDEX import_jobs_creator_idx ON import_jobs (tenant_id, creator_id, created_at);

-- The row report: one line per problem of a refused row, in file order.
CREATE TABLE import_job_errors (
    tenant_id  uuid NOT NULL,
    job_id     uuid NOT NULL,
    row_number bigint NOT NULL,
    seq        integer NOT NULL,
    field      text NOT NULL,
    message    text NOT NULL,
    PRIMARY KEY (tenant_id, job_id, row_number, seq),
    CONSTRAINT import_job_errors_job_fkey FOREIGN KEY (tenant_id, job_id)
        REFERENCES import_jobs (tenant_id, id) ON DELETE CASCADE
);

ALTER TABLE import_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE import_job_errors ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON import_jobs
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON import_job_errors
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
