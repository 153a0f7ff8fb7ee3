//! ImportJobService: the CSV import for clients that cannot stream. Each appended chunk is read
//! from where the previous one stopped (the bytes of a record it cut are kept on the job), its
//! rows prepared by the same [`RowPreparer`] as the streaming import, and written with the
//! job's new state in one transaction.

use std::sync::Arc;

use auth::permissions::CRM_RECORDS_WRITE;
use db::{PageSize, PageToken};
use proto::crm as pb;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::imports::{import_kind, row_error};
use super::{parse_id, viewer};
use crate::convert::import_job_to_pb;
use crate::domain::import_job::{
    ChunkOutcome, ChunkPlace, ImportJob, JobState, MAX_CHUNK_BYTES, NewImportJob, place_chunk,
    read_chunk,
};
use crate::domain::visibility::Viewer;
use crate::error::{Error, Result};
use crate::import_export::RecordStores;
use crate::import_export::import::RowPreparer;
use crate::store::import_jobs::{ErrorKey, ImportJobStore};

pub struct ImportJobApi {
    records: Arc<RecordStores>,
    jobs: Arc<dyn ImportJobStore>,
}

impl ImportJobApi {
    pub fn new(records: Arc<RecordStores>, jobs: Arc<dyn ImportJobStore>) -> Self {
        Self { records, jobs }
    }
}

/// Page tokens of a job's report continue that job's report only.
fn error_pages(id: Uuid) -> PageToken {
    PageToken::for_query(&format!("import_job_errors|{id}"))
}

impl ImportJobApi {
    async fn job(&self, viewer: Viewer, id: Uuid) -> Result<ImportJob> {
        self.jobs
            .import_job(viewer, id)
            .await?
            .ok_or(Error::NotFound("import job"))
    }

    /// Reads `data` (empty with `complete`: the end of the file) after what the job has read,
    /// prepares its rows and writes them with the job's new position.
    async fn process(
        &self,
        viewer: Viewer,
        job: ImportJob,
        data: &[u8],
        complete: bool,
    ) -> Result<ImportJob> {
        let read = read_chunk(job.records, job.carry, data, complete)
            .map_err(|e| Error::invalid("data", e.to_string()))?;
        let mut preparer = RowPreparer::new(
            job.new.kind,
            job.new.column_mapping.clone(),
            job.new.skip_duplicates,
        )?
        .with_header(job.header.as_deref());
        let (prepared, header) = preparer
            .prepare(&self.records, viewer, read.records)
            .await?;
        let received = job.received_bytes + i64::try_from(data.len()).unwrap_or(i64::MAX);
        let outcome = ChunkOutcome {
            expected_received: job.received_bytes,
            received_bytes: received,
            header,
            carry: read.carry,
            records: read.total,
            rows_read: prepared.rows_read,
            skipped_duplicates: prepared.skipped_duplicates,
            complete,
        };
        self.jobs
            .apply_import_chunk(
                viewer,
                job.id,
                outcome,
                prepared.rows,
                prepared.errors,
                prepared.rejected,
            )
            .await
    }
}

fn uploading(job: &ImportJob) -> Result<()> {
    if job.state == JobState::Uploading {
        Ok(())
    } else {
        Err(Error::FailedPrecondition(format!(
            "the import job is {}, no longer uploading",
            job.state.as_str()
        )))
    }
}

#[tonic::async_trait]
impl pb::import_job_service_server::ImportJobService for ImportJobApi {
    #[tracing::instrument(skip_all)]
    async fn create_import_job(
        &self,
        request: Request<pb::CreateImportJobRequest>,
    ) -> Result<Response<pb::ImportJob>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        let job = request
            .into_inner()
            .import_job
            .ok_or_else(|| Error::invalid("import_job", "is required"))?;
        let kind = import_kind(job.record_type).map_err(|e| e.prefixed("import_job."))?;
        // Validates the mapping now rather than at the first chunk.
        RowPreparer::new(kind, job.column_mapping.clone(), job.skip_duplicates)
            .map_err(|e| e.prefixed("import_job."))?;
        let created = self
            .jobs
            .create_import_job(
                viewer,
                NewImportJob {
                    kind,
                    column_mapping: job.column_mapping,
                    skip_duplicates: job.skip_duplicates,
                },
            )
            .await?;
        Ok(Response::new(import_job_to_pb(created)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_import_job(
        &self,
        request: Request<pb::GetImportJobRequest>,
    ) -> Result<Response<pb::ImportJob>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(import_job_to_pb(self.job(viewer, id).await?)))
    }

    #[tracing::instrument(skip_all)]
    async fn append_import_job_chunk(
        &self,
        request: Request<pb::AppendImportJobChunkRequest>,
    ) -> Result<Response<pb::ImportJob>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        let r = request.into_inner();
        let id = parse_id("id", &r.id)?;
        if r.data.len() > MAX_CHUNK_BYTES {
            return Err(Error::invalid(
                "data",
                format!("must be at most {MAX_CHUNK_BYTES} bytes; send smaller chunks"),
            )
            .into());
        }
        let job = self.job(viewer, id).await?;
        uploading(&job)?;
        let job = match place_chunk(job.received_bytes, r.offset, r.data.len()) {
            ChunkPlace::Next => self.process(viewer, job, &r.data, false).await?,
            ChunkPlace::Repeated => job,
            ChunkPlace::Misplaced => {
                return Err(Error::FailedPrecondition(format!(
                    "offset {} does not follow the {} bytes received; send the chunk at offset {}",
                    r.offset, job.received_bytes, job.received_bytes
                ))
                .into());
            }
        };
        Ok(Response::new(import_job_to_pb(job)))
    }

    #[tracing::instrument(skip_all)]
    async fn complete_import_job(
        &self,
        request: Request<pb::CompleteImportJobRequest>,
    ) -> Result<Response<pb::ImportJob>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let job = self.job(viewer, id).await?;
        // Completing twice (a retried request) answers the finished job.
        if job.state == JobState::Succeeded {
            return Ok(Response::new(import_job_to_pb(job)));
        }
        uploading(&job)?;
        let job = self.process(viewer, job, &[], true).await?;
        tracing::info!(
            created = job.counts.created,
            rejected = job.counts.rejected,
            skipped = job.counts.skipped_duplicates,
            "import job finished"
        );
        Ok(Response::new(import_job_to_pb(job)))
    }

    #[tracing::instrument(skip_all)]
    async fn cancel_import_job(
        &self,
        request: Request<pb::CancelImportJobRequest>,
    ) -> Result<Response<pb::ImportJob>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let job = self
            .jobs
            .cancel_import_job(viewer, id)
            .await?
            .ok_or(Error::NotFound("import job"))?;
        Ok(Response::new(import_job_to_pb(job)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_import_job_errors(
        &self,
        request: Request<pb::ListImportJobErrorsRequest>,
    ) -> Result<Response<pb::ListImportJobErrorsResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        let r = request.into_inner();
        let id = parse_id("id", &r.id)?;
        let page_size = PageSize::parse(r.page_size)
            .map_err(|e| Error::invalid("page_size", e.to_string()))?
            .get();
        let pages = error_pages(id);
        let after: Option<ErrorKey> = pages
            .decode(&r.page_token)
            .map_err(|e| Error::invalid("page_token", e.to_string()))?;
        // One more than the page tells whether another page follows.
        let mut lines = self
            .jobs
            .import_job_errors(viewer, id, after, i64::from(page_size) + 1)
            .await?
            .ok_or(Error::NotFound("import job"))?;
        let more = lines.len() > page_size as usize;
        lines.truncate(page_size as usize);
        let next_page_token = match lines.last() {
            Some((key, _)) if more => pages.encode(key),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListImportJobErrorsResponse {
            errors: lines.into_iter().map(|(_, e)| row_error(e)).collect(),
            next_page_token,
        }))
    }
}
