//! Import jobs.

use proto::crm as pb;

use super::{record_kind_to_pb, timestamp_to_pb};
use crate::domain::import_job::{ImportJob, JobState};

pub fn import_job_to_pb(job: ImportJob) -> pb::ImportJob {
    let state = match job.state {
        JobState::Uploading => pb::ImportJobState::Uploading,
        JobState::Succeeded => pb::ImportJobState::Succeeded,
        JobState::Cancelled => pb::ImportJobState::Cancelled,
    };
    let errors_truncated = job.counts.errors_truncated;
    pb::ImportJob {
        id: job.id.to_string(),
        record_type: record_kind_to_pb(job.new.kind).into(),
        column_mapping: job.new.column_mapping,
        skip_duplicates: job.new.skip_duplicates,
        state: state.into(),
        received_bytes: job.received_bytes,
        rows_read: job.counts.rows_read,
        created: job.counts.created,
        skipped_duplicates: job.counts.skipped_duplicates,
        rejected: job.counts.rejected,
        errors_truncated,
        creator_id: job.creator_id.to_string(),
        create_time: Some(timestamp_to_pb(job.created_at)),
        update_time: Some(timestamp_to_pb(job.updated_at)),
    }
}
