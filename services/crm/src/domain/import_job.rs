//! CSV import jobs: a file appended chunk by chunk, each chunk processed as it arrives. A job
//! keeps only what the next chunk needs: the header, the bytes of a record cut by the chunk
//! boundary and the number of records read.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::csv::{CsvError, MAX_RECORD_BYTES, RowReader};
use super::visibility::{RecordKind, Viewer};
use auth::BuiltinRole;

/// Largest chunk accepted, in bytes (the gRPC message limit is 4 MiB; the JSON body limit of
/// the gateway is lower, so REST clients send smaller ones).
pub const MAX_CHUNK_BYTES: usize = 3 << 20;
/// Report lines kept per job; the counts go on past it.
pub const MAX_JOB_ERRORS: i64 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Uploading,
    Succeeded,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Uploading => "uploading",
            JobState::Succeeded => "succeeded",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "uploading" => Some(JobState::Uploading),
            "succeeded" => Some(JobState::Succeeded),
            "cancelled" => Some(JobState::Cancelled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewImportJob {
    pub kind: RecordKind,
    pub column_mapping: HashMap<String, String>,
    pub skip_duplicates: bool,
}

/// Running totals of a job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    pub rows_read: i64,
    pub created: i64,
    pub skipped_duplicates: i64,
    pub rejected: i64,
    /// Report lines stored (at most [`MAX_JOB_ERRORS`]).
    pub reported_errors: i64,
    /// Report lines were dropped at the cap.
    pub errors_truncated: bool,
}

#[derive(Debug, Clone)]
pub struct ImportJob {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub creator_id: Uuid,
    pub new: NewImportJob,
    pub state: JobState,
    pub header: Option<Vec<String>>,
    pub carry: Vec<u8>,
    pub records: u64,
    pub received_bytes: i64,
    pub counts: JobCounts,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ImportJob {
    /// Jobs are private to whoever started them; admins see every job of the tenant.
    pub fn visible_to(creator_id: Uuid, viewer: Viewer) -> bool {
        creator_id == viewer.user_id || viewer.role == BuiltinRole::Admin
    }
}

/// Where a chunk at `offset` of `len` bytes stands against a job that received
/// `received_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkPlace {
    /// The next bytes: process it.
    Next,
    /// Exactly the chunk before, sent again (a retried request): nothing to do.
    Repeated,
    /// A gap or an overlap.
    Misplaced,
}

pub fn place_chunk(received_bytes: i64, offset: i64, len: usize) -> ChunkPlace {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    if offset == received_bytes {
        ChunkPlace::Next
    } else if len > 0 && offset.checked_add(len) == Some(received_bytes) {
        ChunkPlace::Repeated
    } else {
        ChunkPlace::Misplaced
    }
}

/// The records a chunk completes, read after the `records` read before it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ChunkRead {
    pub records: Vec<(u64, Vec<String>)>,
    /// The bytes of the record the chunk cut, for the next chunk.
    pub carry: Vec<u8>,
    /// Records read from the file so far.
    pub total: u64,
}

/// Reads `data` after the job's `carry`; at the end of the file (`complete`) the last record is
/// read even without a line break.
pub fn read_chunk(
    records: u64,
    mut carry: Vec<u8>,
    data: &[u8],
    complete: bool,
) -> Result<ChunkRead, CsvError> {
    let mut reader = RowReader::resume(records);
    carry.extend_from_slice(data);
    let (mut done, end) = reader.feed_to_record_end(&carry)?;
    let carry = if complete {
        done.extend(reader.feed(b"")?);
        Vec::new()
    } else {
        carry.split_off(end)
    };
    // The cut record is longer than any valid one: say so now rather than carry it on.
    if carry.len() > MAX_RECORD_BYTES {
        return Err(CsvError::RecordTooLong(reader.records() + 1));
    }
    Ok(ChunkRead {
        records: done,
        carry,
        total: reader.records(),
    })
}

/// What one chunk did to a job, written in one transaction with the rows it creates.
#[derive(Debug, Clone, Default)]
pub struct ChunkOutcome {
    /// The job's `received_bytes` the chunk was processed against (a concurrent chunk that got
    /// there first makes the write fail instead of importing twice).
    pub expected_received: i64,
    pub received_bytes: i64,
    /// The header, when this chunk completed it.
    pub header: Option<Vec<String>>,
    pub carry: Vec<u8>,
    pub records: u64,
    pub rows_read: i64,
    pub skipped_duplicates: i64,
    /// Ends the job (SUCCEEDED).
    pub complete: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_read_one_after_another_give_the_records_of_the_whole_file() {
        let mut text = String::from("a,b\r\n");
        for i in 0..40 {
            text.push_str(&format!("\"x\n{i}\",\"y, {i}\"\r\n"));
        }
        text.push_str("last,row");
        let whole = read_chunk(0, Vec::new(), text.as_bytes(), true).expect("valid");
        assert_eq!(whole.records.len(), 42);
        assert_eq!(whole.records[41].1, ["last", "row"]);
        for size in [1, 2, 3, 7, 37, 100] {
            let mut records = Vec::new();
            let (mut carry, mut total) = (Vec::new(), 0);
            for piece in text.as_bytes().chunks(size) {
                let read = read_chunk(total, carry, piece, false).expect("valid");
                records.extend(read.records);
                (carry, total) = (read.carry, read.total);
            }
            let last = read_chunk(total, carry, b"", true).expect("valid");
            records.extend(last.records);
            assert_eq!(records, whole.records, "chunks of {size}");
            assert_eq!(last.total, 42);
        }
    }

    #[test]
    fn chunks_must_follow_each_other_and_a_repeat_is_recognised() {
        assert_eq!(place_chunk(0, 0, 10), ChunkPlace::Next);
        assert_eq!(place_chunk(10, 10, 5), ChunkPlace::Next);
        assert_eq!(place_chunk(10, 0, 10), ChunkPlace::Repeated);
        assert_eq!(place_chunk(10, 5, 10), ChunkPlace::Misplaced);
        assert_eq!(place_chunk(10, 12, 3), ChunkPlace::Misplaced);
        assert_eq!(place_chunk(10, 10, 0), ChunkPlace::Next);
        assert_eq!(place_chunk(10, i64::MAX, 5), ChunkPlace::Misplaced);
    }
}
