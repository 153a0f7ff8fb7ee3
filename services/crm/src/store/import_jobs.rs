//! Import jobs: the job row, and each chunk's rows created in the same transaction as the job's
//! new position, counts and report lines, so a chunk is imported entirely or not at all.

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::imports::insert_rows;
use super::{PgStore, Tx, now, publish};
use crate::domain::import_job::{
    ChunkOutcome, ImportJob, JobCounts, JobState, MAX_JOB_ERRORS, NewImportJob,
};
use crate::domain::import_row::{ImportRow, RowError, row_errors};
use crate::domain::visibility::{RecordKind, Viewer};
use crate::error::{Error, Result};
use crate::events::imports::import_job_changed;

/// Position of a report line: (record number, line of that record).
pub type ErrorKey = (i64, i32);

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait ImportJobStore: Send + Sync + 'static {
    async fn create_import_job(&self, viewer: Viewer, job: NewImportJob) -> Result<ImportJob>;
    /// `None` when the job does not exist or is not the viewer's.
    async fn import_job(&self, viewer: Viewer, id: Uuid) -> Result<Option<ImportJob>>;
    /// Creates `rows` and records the chunk: refused rows and `errors` go to the report. Fails
    /// with FAILED_PRECONDITION when the job is no longer uploading or moved on meanwhile.
    async fn apply_import_chunk(
        &self,
        viewer: Viewer,
        id: Uuid,
        chunk: ChunkOutcome,
        rows: Vec<(u64, ImportRow)>,
        errors: Vec<RowError>,
        rejected: i64,
    ) -> Result<ImportJob>;
    /// `None` when the job is not the viewer's; FAILED_PRECONDITION when it has ended.
    async fn cancel_import_job(&self, viewer: Viewer, id: Uuid) -> Result<Option<ImportJob>>;
    /// The report in file order after `after`; `None` when the job is not the viewer's.
    async fn import_job_errors(
        &self,
        viewer: Viewer,
        id: Uuid,
        after: Option<ErrorKey>,
        limit: i64,
    ) -> Result<Option<Vec<(ErrorKey, RowError)>>>;
}

const COLUMNS: &str = "id, tenant_id, creator_id, record_type, column_mapping, skip_duplicates, \
    state, header, carry, records, received_bytes, rows_read, created, skipped_duplicates, \
    rejected, reported_errors, errors_truncated, created_at, updated_at";

fn kind_of(raw: &str) -> Result<RecordKind> {
    match raw {
        "account" => Ok(RecordKind::Account),
        "contact" => Ok(RecordKind::Contact),
        "lead" => Ok(RecordKind::Lead),
        other => Err(Error::Internal(format!(
            "unknown import record type {other}"
        ))),
    }
}

fn job_from_row(row: &PgRow) -> Result<ImportJob> {
    let state: String = row.try_get("state")?;
    let records: i64 = row.try_get("records")?;
    let mapping: sqlx::types::Json<std::collections::HashMap<String, String>> =
        row.try_get("column_mapping")?;
    Ok(ImportJob {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        creator_id: row.try_get("creator_id")?,
        new: NewImportJob {
            kind: kind_of(row.try_get("record_type")?)?,
            column_mapping: mapping.0,
            skip_duplicates: row.try_get("skip_duplicates")?,
        },
        state: JobState::parse(&state)
            .ok_or_else(|| Error::Internal(format!("unknown import job state {state}")))?,
        header: row.try_get("header")?,
        carry: row.try_get("carry")?,
        records: u64::try_from(records).unwrap_or_default(),
        received_bytes: row.try_get("received_bytes")?,
        counts: JobCounts {
            rows_read: row.try_get("rows_read")?,
            created: row.try_get("created")?,
            skipped_duplicates: row.try_get("skipped_duplicates")?,
            rejected: row.try_get("rejected")?,
            reported_errors: row.try_get("reported_errors")?,
            errors_truncated: row.try_get("errors_truncated")?,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The viewer's job, locked for the rest of the transaction when `lock`.
async fn load(tx: &mut Tx, viewer: Viewer, id: Uuid, lock: bool) -> Result<Option<ImportJob>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM import_jobs WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(None);
    };
    let job = job_from_row(&row)?;
    Ok(ImportJob::visible_to(job.creator_id, viewer).then_some(job))
}

async fn save(tx: &mut Tx, job: &ImportJob) -> Result<()> {
    sqlx::query(
        "UPDATE import_jobs
            SET state = $2, header = $3, carry = $4, records = $5, received_bytes = $6,
                rows_read = $7, created = $8, skipped_duplicates = $9, rejected = $10,
                reported_errors = $11, errors_truncated = $12, updated_at = $13
          WHERE id = $1",
    )
    .bind(job.id)
    .bind(job.state.as_str())
    .bind(&job.header)
    .bind(&job.carry)
    .bind(i64::try_from(job.records).unwrap_or(i64::MAX))
    .bind(job.received_bytes)
    .bind(job.counts.rows_read)
    .bind(job.counts.created)
    .bind(job.counts.skipped_duplicates)
    .bind(job.counts.rejected)
    .bind(job.counts.reported_errors)
    .bind(job.counts.errors_truncated)
    .bind(job.updated_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Appends report lines up to the job's cap, counting them on the job.
async fn store_errors(tx: &mut Tx, job: &mut ImportJob, mut errors: Vec<RowError>) -> Result<()> {
    let room = usize::try_from(MAX_JOB_ERRORS - job.counts.reported_errors).unwrap_or(0);
    if errors.len() > room {
        errors.truncate(room);
        job.counts.errors_truncated = true;
    }
    if errors.is_empty() {
        return Ok(());
    }
    // Lines of one record are numbered in the order given.
    let mut rows = Vec::with_capacity(errors.len());
    let mut seqs = Vec::with_capacity(errors.len());
    let mut fields = Vec::with_capacity(errors.len());
    let mut messages = Vec::with_capacity(errors.len());
    let mut previous: Option<u64> = None;
    let mut seq = 0i32;
    for e in errors {
        seq = if previous == Some(e.row) { seq + 1 } else { 0 };
        previous = Some(e.row);
        rows.push(i64::try_from(e.row).unwrap_or(i64::MAX));
        seqs.push(seq);
        fields.push(e.field);
        messages.push(e.message);
    }
    job.counts.reported_errors += rows.len() as i64;
    sqlx::query(
        "INSERT INTO import_job_errors (tenant_id, job_id, row_number, seq, field, message)
         SELECT $1, $2, * FROM unnest($3::bigint[], $4::int[], $5::text[], $6::text[])",
    )
    .bind(job.tenant_id)
    .bind(job.id)
    .bind(rows)
    .bind(seqs)
    .bind(fields)
    .bind(messages)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn not_uploading(job: &ImportJob) -> Error {
    Error::FailedPrecondition(format!(
        "the import job is {}, no longer uploading",
        job.state.as_str()
    ))
}

#[async_trait]
impl ImportJobStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.create_import_job", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_import_job", tenant_id = %viewer.tenant_id))]
    async fn create_import_job(&self, viewer: Viewer, new: NewImportJob) -> Result<ImportJob> {
        let at = now();
        let job = ImportJob {
            id: Uuid::now_v7(),
            tenant_id: viewer.tenant_id,
            creator_id: viewer.user_id,
            new,
            state: JobState::Uploading,
            header: None,
            carry: Vec::new(),
            records: 0,
            received_bytes: 0,
            counts: JobCounts::default(),
            created_at: at,
            updated_at: at,
        };
        let mut tx = self.tx(viewer).await?;
        sqlx::query(
            "INSERT INTO import_jobs (id, tenant_id, creator_id, record_type, column_mapping,
                     skip_duplicates, state, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(job.id)
        .bind(job.tenant_id)
        .bind(job.creator_id)
        .bind(job.new.kind.name())
        .bind(sqlx::types::Json(&job.new.column_mapping))
        .bind(job.new.skip_duplicates)
        .bind(job.state.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        publish(&mut tx, &[import_job_changed("created", &job)?]).await?;
        tx.commit().await?;
        Ok(job)
    }

    async fn import_job(&self, viewer: Viewer, id: Uuid) -> Result<Option<ImportJob>> {
        let mut tx = self.tx(viewer).await?;
        let job = load(&mut tx, viewer, id, false).await?;
        tx.commit().await?;
        Ok(job)
    }

    #[tracing::instrument(name = "crm.postgres.apply_import_chunk", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "apply_import_chunk", tenant_id = %viewer.tenant_id, rows = rows.len()))]
    async fn apply_import_chunk(
        &self,
        viewer: Viewer,
        id: Uuid,
        chunk: ChunkOutcome,
        rows: Vec<(u64, ImportRow)>,
        errors: Vec<RowError>,
        rejected: i64,
    ) -> Result<ImportJob> {
        let (mut tx, config) = self.open(viewer).await?;
        let mut job = load(&mut tx, viewer, id, true)
            .await?
            .ok_or(Error::NotFound("import job"))?;
        if job.state != JobState::Uploading {
            return Err(not_uploading(&job));
        }
        if job.received_bytes != chunk.expected_received {
            return Err(Error::FailedPrecondition(format!(
                "another chunk was appended meanwhile; the next offset is {}",
                job.received_bytes
            )));
        }
        let attempted = rows.len() as i64;
        let refused = insert_rows(&mut tx, &config, viewer, rows).await?;
        let mut lines = errors;
        let refused_count = refused.len() as i64;
        for (row, error) in refused {
            lines.extend(row_errors(row, error)?);
        }
        lines.sort_by_key(|e| e.row);
        store_errors(&mut tx, &mut job, lines).await?;
        job.counts.created += attempted - refused_count;
        job.counts.rejected += rejected + refused_count;
        job.counts.rows_read += chunk.rows_read;
        job.counts.skipped_duplicates += chunk.skipped_duplicates;
        if chunk.header.is_some() {
            job.header = chunk.header;
        }
        job.carry = chunk.carry;
        job.records = chunk.records;
        job.received_bytes = chunk.received_bytes;
        job.updated_at = now();
        if chunk.complete {
            job.state = JobState::Succeeded;
            publish(&mut tx, &[import_job_changed("completed", &job)?]).await?;
        }
        save(&mut tx, &job).await?;
        tx.commit().await?;
        Ok(job)
    }

    #[tracing::instrument(name = "crm.postgres.cancel_import_job", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "cancel_import_job", tenant_id = %viewer.tenant_id))]
    async fn cancel_import_job(&self, viewer: Viewer, id: Uuid) -> Result<Option<ImportJob>> {
        let mut tx = self.tx(viewer).await?;
        let Some(mut job) = load(&mut tx, viewer, id, true).await? else {
            return Ok(None);
        };
        match job.state {
            JobState::Cancelled => return Ok(Some(job)),
            JobState::Succeeded => return Err(not_uploading(&job)),
            JobState::Uploading => {}
        }
        job.state = JobState::Cancelled;
        job.carry = Vec::new();
        job.updated_at = now();
        save(&mut tx, &job).await?;
        publish(&mut tx, &[import_job_changed("cancelled", &job)?]).await?;
        tx.commit().await?;
        Ok(Some(job))
    }

    async fn import_job_errors(
        &self,
        viewer: Viewer,
        id: Uuid,
        after: Option<ErrorKey>,
        limit: i64,
    ) -> Result<Option<Vec<(ErrorKey, RowError)>>> {
        let mut tx = self.tx(viewer).await?;
        if load(&mut tx, viewer, id, false).await?.is_none() {
            return Ok(None);
        }
        let (after_row, after_seq) = after.unwrap_or((i64::MIN, i32::MIN));
        let rows = sqlx::query(
            "SELECT row_number, seq, field, message FROM import_job_errors
              WHERE job_id = $1 AND (row_number, seq) > ($2, $3)
              ORDER BY row_number, seq
              LIMIT $4",
        )
        .bind(id)
        .bind(after_row)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut lines = Vec::with_capacity(rows.len());
        for row in rows {
            let number: i64 = row.try_get("row_number")?;
            let seq: i32 = row.try_get("seq")?;
            lines.push((
                (number, seq),
                RowError {
                    row: u64::try_from(number).unwrap_or_default(),
                    field: row.try_get("field")?,
                    message: row.try_get("message")?,
                },
            ));
        }
        Ok(Some(lines))
    }
}
