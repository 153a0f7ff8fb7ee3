//! ImportExportService: the gRPC adapter of `import_export`. It reads the streamed CSV chunks
//! and the options, reports per row, and streams or pages the export; the rules (columns, row
//! checks, duplicates, CSV values) live in `import_export`.

use std::pin::Pin;
use std::sync::Arc;

use auth::Permission;
use auth::permissions::{CRM_DEALS_READ, CRM_RECORDS_READ, CRM_RECORDS_WRITE};
use futures::{Stream, StreamExt};
use proto::crm as pb;
use tonic::{Request, Response, Status, Streaming};

use super::{ListRequest, viewer};
use crate::convert;
use crate::domain::csv::{RowReader, write_row};
use crate::domain::import_row::{ImportRow, RowError, row_errors};
use crate::domain::visibility::{RecordKind, Viewer};
use crate::error::{Error, Result};
use crate::import_export::export::{self, custom_keys, header_with_custom};
use crate::import_export::import::RowPreparer;
use crate::import_export::{
    EXPORT_PAGE_SIZE, IMPORT_BATCH, MAX_REPORTED_ERRORS, RecordStores, listing,
};
use crate::listing::ListQuery;
use crate::store::imports::ImportStore;

pub struct ImportExportApi {
    records: Arc<RecordStores>,
    imports: Arc<dyn ImportStore>,
}

impl ImportExportApi {
    pub fn new(records: Arc<RecordStores>, imports: Arc<dyn ImportStore>) -> Self {
        Self { records, imports }
    }
}

struct Report {
    response: pb::ImportRecordsResponse,
}

impl Report {
    fn add(&mut self, errors: Vec<RowError>, rejected: i64) {
        self.response.rejected += rejected;
        for e in errors {
            if self.response.errors.len() >= MAX_REPORTED_ERRORS {
                self.response.errors_truncated = true;
                break;
            }
            self.response.errors.push(row_error(e));
        }
    }
}

pub(super) fn row_error(e: RowError) -> pb::ImportRowError {
    pb::ImportRowError {
        row: i64::try_from(e.row).unwrap_or(i64::MAX),
        field: e.field,
        message: e.message,
    }
}

impl ImportExportApi {
    /// Writes a batch in one transaction and reports its refused rows.
    async fn flush(
        &self,
        viewer: Viewer,
        rows: Vec<(u64, ImportRow)>,
        report: &mut Report,
    ) -> Result<()> {
        let count = rows.len() as i64;
        let refused = self.imports.import_batch(viewer, rows).await?;
        report.response.created += count - refused.len() as i64;
        let rejected = refused.len() as i64;
        let mut errors = Vec::new();
        for (row, error) in refused {
            errors.extend(row_errors(row, error)?);
        }
        report.add(errors, rejected);
        Ok(())
    }

    async fn import(
        &self,
        viewer: Viewer,
        mut parts: Streaming<pb::ImportRecordsRequest>,
    ) -> Result<pb::ImportRecordsResponse, Status> {
        let options = match parts.message().await? {
            Some(pb::ImportRecordsRequest {
                part: Some(pb::import_records_request::Part::Options(options)),
            }) => options,
            _ => {
                return Err(
                    Error::invalid("options", "the first message must carry the options").into(),
                );
            }
        };
        let kind = import_kind(options.record_type).map_err(|e| e.prefixed("options."))?;
        let mut preparer = RowPreparer::new(kind, options.column_mapping, options.skip_duplicates)
            .map_err(|e| e.prefixed("options."))?;
        let mut reader = RowReader::default();
        let mut report = Report {
            response: pb::ImportRecordsResponse::default(),
        };
        let mut finished = false;
        while !finished {
            let chunk = match parts.message().await? {
                Some(pb::ImportRecordsRequest {
                    part: Some(pb::import_records_request::Part::Chunk(chunk)),
                }) => chunk,
                Some(_) => {
                    return Err(
                        Error::invalid("chunk", "only the first message carries options").into(),
                    );
                }
                None => {
                    finished = true;
                    Vec::new()
                }
            };
            let records = reader
                .feed(&chunk)
                .map_err(|e| Error::invalid("chunk", e.to_string()))?;
            let (prepared, _) = preparer.prepare(&self.records, viewer, records).await?;
            report.response.rows_read += prepared.rows_read;
            report.response.skipped_duplicates += prepared.skipped_duplicates;
            report.add(prepared.errors, prepared.rejected);
            let mut rows = prepared.rows;
            while !rows.is_empty() {
                let rest = rows.split_off(rows.len().min(IMPORT_BATCH));
                self.flush(viewer, rows, &mut report).await?;
                rows = rest;
            }
            preparer.committed();
        }
        // Parse errors are reported at once, store refusals per batch: back to file order.
        report.response.errors.sort_by_key(|e| e.row);
        tracing::info!(
            created = report.response.created,
            rejected = report.response.rejected,
            skipped = report.response.skipped_duplicates,
            "import finished"
        );
        Ok(report.response)
    }
}

/// The record kind of an import; violations name `record_type` (callers prefix it).
pub(super) fn import_kind(record_type: i32) -> Result<RecordKind> {
    let kind =
        convert::record_kind_from_pb(record_type).map_err(|m| Error::invalid("record_type", m))?;
    crate::import_export::import::import_kind(kind)
}

fn export_kind(record_type: i32) -> Result<RecordKind> {
    convert::record_kind_from_pb(record_type).map_err(|m| Error::invalid("record_type", m))
}

/// Exports read like the List RPC of the record type.
fn export_permission(kind: RecordKind) -> Permission {
    match kind {
        RecordKind::Account | RecordKind::Contact => CRM_RECORDS_READ,
        RecordKind::Lead | RecordKind::Opportunity => CRM_DEALS_READ,
    }
}

type ExportStream = Pin<Box<dyn Stream<Item = Result<pb::ExportRecordsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::import_export_service_server::ImportExportService for ImportExportApi {
    #[tracing::instrument(skip_all)]
    async fn import_records(
        &self,
        request: Request<Streaming<pb::ImportRecordsRequest>>,
    ) -> Result<Response<pb::ImportRecordsResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        Ok(Response::new(
            self.import(viewer, request.into_inner()).await?,
        ))
    }

    type ExportRecordsStream = ExportStream;

    #[tracing::instrument(skip_all)]
    async fn export_records(
        &self,
        request: Request<pb::ExportRecordsRequest>,
    ) -> Result<Response<Self::ExportRecordsStream>, Status> {
        let kind = export_kind(request.get_ref().record_type)?;
        let viewer = viewer(&request, export_permission(kind))?;
        let r = request.into_inner();
        let page_size = i32::try_from(EXPORT_PAGE_SIZE).unwrap_or(100);
        let first =
            ListRequest::parse_with_custom(listing(kind), page_size, "", &r.filter, &r.order_by)?
                .query;
        let keys = custom_keys(&self.records, viewer, kind).await?;
        let mut head = Vec::new();
        write_row(&mut head, &header_with_custom(kind, &keys));
        let records = self.records.clone();
        let keys: Arc<[String]> = keys.into();
        // State: the next page's query, or None once the last page was sent.
        let pages = futures::stream::unfold(Some(first), move |state| {
            let records = records.clone();
            let keys = keys.clone();
            async move {
                let query = state?;
                match export::page(&records, viewer, kind, &keys, query.clone()).await {
                    Ok((data, next)) => {
                        let following = next.map(|cursor| ListQuery {
                            after: Some(cursor),
                            ..query
                        });
                        Some((Ok(pb::ExportRecordsResponse { data }), following))
                    }
                    Err(error) => Some((Err(Status::from(error)), None)),
                }
            }
        });
        let stream =
            futures::stream::once(async move { Ok(pb::ExportRecordsResponse { data: head }) })
                .chain(pages.filter(|chunk| {
                    let keep = !matches!(chunk, Ok(c) if c.data.is_empty());
                    async move { keep }
                }));
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all)]
    async fn export_records_page(
        &self,
        request: Request<pb::ExportRecordsPageRequest>,
    ) -> Result<Response<pb::ExportRecordsPageResponse>, Status> {
        let kind = export_kind(request.get_ref().record_type)?;
        let viewer = viewer(&request, export_permission(kind))?;
        let r = request.into_inner();
        let list = ListRequest::parse_with_custom(
            listing(kind),
            r.page_size,
            &r.page_token,
            &r.filter,
            &r.order_by,
        )?;
        // Every page reads the definitions: a field added or removed between pages shifts the
        // custom columns of later pages (definitions rarely change during an export).
        let keys = custom_keys(&self.records, viewer, kind).await?;
        let mut csv = Vec::new();
        if r.page_token.is_empty() {
            write_row(&mut csv, &header_with_custom(kind, &keys));
        }
        let (rows, next) =
            export::page(&self.records, viewer, kind, &keys, list.query.clone()).await?;
        csv.extend(rows);
        // Every field written is a Rust String, so the rows are UTF-8.
        let csv = String::from_utf8(csv)
            .map_err(|_| Error::Internal("export row is not UTF-8".to_owned()))?;
        Ok(Response::new(pb::ExportRecordsPageResponse {
            csv,
            next_page_token: list.next_page_token(next),
        }))
    }
}
