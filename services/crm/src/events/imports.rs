//! Builders of the import job events (`crm.import_job.created|completed|cancelled`).

use events::NewEvent;

use crate::convert::import_job_to_pb;
use crate::domain::import_job::ImportJob;

pub type Result<T> = std::result::Result<T, events::Error>;

/// `crm.import_job.<verb>` with the job as it is now (counts included).
pub fn import_job_changed(verb: &str, job: &ImportJob) -> Result<NewEvent> {
    let tenant_id = job.tenant_id;
    NewEvent::new(
        &format!("crm.import_job.{verb}"),
        tenant_id,
        "import_job",
        job.id,
        &import_job_to_pb(job.clone()),
    )
}
