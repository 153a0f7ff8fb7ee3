//! ImportExportService: CSV import of accounts, contacts and leads, row by row through the same
//! validation and store path as their Create RPCs (so the same events), and CSV export of any
//! filtered list, page by page through the List store path (so the same visibility).
//!
//! The row handling ([`RowPreparer`]) is shared with the chunked import jobs of
//! `api::import_jobs`.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::Arc;

use auth::Permission;
use auth::permissions::{CRM_DEALS_READ, CRM_RECORDS_READ, CRM_RECORDS_WRITE};
use futures::{Stream, StreamExt};
use proto::crm as pb;
use tonic::{Request, Response, Status, Streaming};

use super::accounts::AccountApi;
use super::contacts::ContactApi;
use super::leads::LeadApi;
use super::{ListRequest, viewer};
use crate::convert;
use crate::domain::csv::{RowReader, write_row};
use crate::domain::visibility::{RecordKind, Viewer};
use crate::error::{Error, Result};
use crate::import_export::RecordStores;
use crate::listing::{Cursor, ListQuery, Listing};
use crate::store::imports::{ImportRow, ImportStore, RowError, row_errors};

/// Most row errors reported; an import of a wrong file should not answer with a million.
pub const MAX_REPORTED_ERRORS: usize = 1_000;
/// Rows per import transaction.
pub const IMPORT_BATCH: usize = 500;
/// Rows per export page (and per streamed chunk).
pub const EXPORT_PAGE_SIZE: u32 = 500;

const ACCOUNT_FIELDS: &[&str] = &["name", "domain", "industry", "employee_count", "owner_id"];
const CONTACT_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "emails",
    "phone",
    "phones",
    "title",
    "account_id",
    "owner_id",
];
const LEAD_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "title",
    "source",
    "country_code",
    "employee_count",
    "owner_id",
];

pub struct ImportExportApi {
    records: Arc<RecordStores>,
    imports: Arc<dyn ImportStore>,
}

impl ImportExportApi {
    pub fn new(records: Arc<RecordStores>, imports: Arc<dyn ImportStore>) -> Self {
        Self { records, imports }
    }
}

/// The record kind of an import; violations name `record_type` (callers prefix it).
pub(super) fn import_kind(record_type: i32) -> Result<RecordKind> {
    let kind =
        convert::record_kind_from_pb(record_type).map_err(|m| Error::invalid("record_type", m))?;
    importable_fields(kind)?;
    Ok(kind)
}

fn importable_fields(kind: RecordKind) -> Result<&'static [&'static str]> {
    match kind {
        RecordKind::Account => Ok(ACCOUNT_FIELDS),
        RecordKind::Contact => Ok(CONTACT_FIELDS),
        RecordKind::Lead => Ok(LEAD_FIELDS),
        RecordKind::Opportunity => Err(Error::invalid(
            "record_type",
            "imports take accounts, contacts or leads",
        )),
    }
}

/// Refuses a mapping to a field that cannot be imported; violations name `column_mapping[..]`.
fn check_mapping(mapping: &HashMap<String, String>, fields: &[&str]) -> Result<()> {
    let mut violations: Vec<_> = mapping
        .iter()
        .filter(|(_, target)| !fields.contains(&target.as_str()))
        .map(|(column, target)| {
            crate::domain::FieldViolation::new(
                format!("column_mapping[{column}]"),
                format!(
                    "{target:?} is not importable; fields: {}",
                    fields.join(", ")
                ),
            )
        })
        .collect();
    if violations.is_empty() {
        return Ok(());
    }
    violations.sort_by(|a, b| a.field.cmp(&b.field));
    Err(violations.into())
}

/// Which record field each CSV column feeds (`None`: ignored).
fn resolve_columns(
    header: &[String],
    mapping: &HashMap<String, String>,
    fields: &'static [&'static str],
) -> Vec<Option<&'static str>> {
    header
        .iter()
        .map(|column| {
            let target = mapping
                .get(column.trim())
                .map_or(column.trim(), String::as_str);
            fields.iter().copied().find(|f| *f == target)
        })
        .collect()
}

fn integer(values: &HashMap<&str, &str>, field: &'static str) -> Result<i32> {
    match values.get(field).map(|v| v.trim()) {
        None | Some("") => Ok(0),
        Some(raw) => raw
            .parse()
            .map_err(|_| Error::invalid(field, "must be a whole number")),
    }
}

fn text(values: &HashMap<&str, &str>, field: &str) -> String {
    values
        .get(field)
        .map(|v| (*v).to_owned())
        .unwrap_or_default()
}

/// `a@x.io; b@y.io` → both.
fn list(values: &HashMap<&str, &str>, single: &str, many: &str) -> Vec<String> {
    let mut items: Vec<String> = values
        .get(many)
        .map(|v| v.split(';').map(str::trim).map(str::to_owned).collect())
        .unwrap_or_default();
    if let Some(one) = values.get(single) {
        items.insert(0, one.trim().to_owned());
    }
    items.retain(|i| !i.is_empty());
    items
}

/// What a row is deduplicated by, normalised.
fn dedupe_key(kind: RecordKind, values: &HashMap<&str, &str>) -> Option<String> {
    let key = match kind {
        RecordKind::Account => text(values, "domain"),
        RecordKind::Contact => list(values, "email", "emails")
            .into_iter()
            .next()
            .unwrap_or_default(),
        RecordKind::Lead => text(values, "email"),
        RecordKind::Opportunity => String::new(),
    };
    let key = key.trim().to_lowercase();
    (!key.is_empty()).then_some(key)
}

/// A quoted filter value (the filter lexer undoes the escapes).
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Whether a live record the viewer can see already has this email/domain (`key`, normalised).
async fn is_duplicate(
    stores: &RecordStores,
    viewer: Viewer,
    kind: RecordKind,
    key: &str,
) -> Result<bool> {
    let (listing, field): (&'static Listing, &str) = match kind {
        RecordKind::Account => (&crate::store::accounts::LISTING, "domain"),
        RecordKind::Contact => (&crate::store::contacts::LISTING, "email"),
        RecordKind::Lead => (&crate::store::leads::LISTING, "email"),
        RecordKind::Opportunity => return Ok(false),
    };
    let filter = format!("{field} = {}", quoted(key));
    let query = ListRequest::parse(listing, 1, "", &filter, "")?.query;
    Ok(match kind {
        RecordKind::Account => !stores
            .accounts
            .list_accounts(viewer, query)
            .await?
            .items
            .is_empty(),
        RecordKind::Contact => !stores
            .contacts
            .list_contacts(viewer, query)
            .await?
            .items
            .is_empty(),
        _ => !stores
            .leads
            .list_leads(viewer, query)
            .await?
            .items
            .is_empty(),
    })
}

/// One row as its Create request, validated by that RPC's own parsing.
fn parse_row(viewer: Viewer, kind: RecordKind, values: &HashMap<&str, &str>) -> Result<ImportRow> {
    Ok(match kind {
        RecordKind::Account => {
            let employee_count = integer(values, "employee_count")?;
            ImportRow::Account(AccountApi::parse_create(
                viewer,
                pb::CreateAccountRequest {
                    account: Some(pb::Account {
                        name: text(values, "name"),
                        domain: text(values, "domain"),
                        industry: text(values, "industry"),
                        employee_count,
                        owner_id: text(values, "owner_id"),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )?)
        }
        RecordKind::Contact => ImportRow::Contact(ContactApi::parse_create(
            viewer,
            pb::CreateContactRequest {
                contact: Some(pb::Contact {
                    first_name: text(values, "first_name"),
                    last_name: text(values, "last_name"),
                    emails: list(values, "email", "emails"),
                    phones: list(values, "phone", "phones"),
                    title: text(values, "title"),
                    account_id: text(values, "account_id"),
                    owner_id: text(values, "owner_id"),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )?),
        RecordKind::Lead => {
            let employee_count = integer(values, "employee_count")?;
            let unowned = text(values, "owner_id").trim().is_empty();
            let data = LeadApi::parse_create(
                viewer,
                pb::CreateLeadRequest {
                    first_name: text(values, "first_name"),
                    last_name: text(values, "last_name"),
                    email: text(values, "email"),
                    phone: text(values, "phone"),
                    company: text(values, "company"),
                    title: text(values, "title"),
                    source: text(values, "source"),
                    country_code: text(values, "country_code"),
                    employee_count,
                    owner_id: text(values, "owner_id"),
                    ..Default::default()
                },
            )?;
            if unowned {
                ImportRow::UnownedLead(data)
            } else {
                ImportRow::Lead(data)
            }
        }
        RecordKind::Opportunity => {
            return Err(Error::Internal("opportunities are not imported".to_owned()));
        }
    })
}

/// What a run of CSV records became before anything is written.
#[derive(Debug, Default)]
pub(super) struct Prepared {
    /// Valid rows to create, with their record numbers.
    pub rows: Vec<(u64, ImportRow)>,
    /// Problems of the rows refused while parsing.
    pub errors: Vec<RowError>,
    pub rows_read: i64,
    pub skipped_duplicates: i64,
    pub rejected: i64,
}

/// Turns CSV records into validated rows: the first record is the header, blank records are
/// ignored, duplicates are skipped when asked, each row is parsed by its Create RPC's parsing.
/// Used by the streaming import and by import jobs alike.
pub(super) struct RowPreparer {
    kind: RecordKind,
    fields: &'static [&'static str],
    mapping: HashMap<String, String>,
    skip_duplicates: bool,
    columns: Option<Vec<Option<&'static str>>>,
    /// Dedupe keys of rows prepared but maybe not committed yet (the database does not know
    /// them): a duplicate within the file is caught here.
    pending_keys: HashSet<String>,
}

impl RowPreparer {
    /// Violations name `record_type` and `column_mapping[..]`; callers prefix them.
    pub fn new(
        kind: RecordKind,
        mapping: HashMap<String, String>,
        skip_duplicates: bool,
    ) -> Result<Self> {
        let fields = importable_fields(kind)?;
        check_mapping(&mapping, fields)?;
        Ok(Self {
            kind,
            fields,
            mapping,
            skip_duplicates,
            columns: None,
            pending_keys: HashSet::new(),
        })
    }

    /// Takes up a file whose header was read earlier.
    pub fn with_header(mut self, header: Option<&[String]>) -> Self {
        self.columns = header.map(|h| resolve_columns(h, &self.mapping, self.fields));
        self
    }

    /// The rows of `records`; the first record of the file is taken as the header and returned.
    pub async fn prepare(
        &mut self,
        stores: &RecordStores,
        viewer: Viewer,
        records: Vec<(u64, Vec<String>)>,
    ) -> Result<(Prepared, Option<Vec<String>>)> {
        let mut prepared = Prepared::default();
        let mut header = None;
        for (row, record) in records {
            let Some(columns) = &self.columns else {
                self.columns = Some(resolve_columns(&record, &self.mapping, self.fields));
                header = Some(record);
                continue;
            };
            if record.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            prepared.rows_read += 1;
            let values: HashMap<&str, &str> = columns
                .iter()
                .zip(record.iter())
                .filter_map(|(column, value)| column.map(|c| (c, value.as_str())))
                .collect();
            if self.skip_duplicates
                && let Some(key) = dedupe_key(self.kind, &values)
            {
                if self.pending_keys.contains(&key)
                    || is_duplicate(stores, viewer, self.kind, &key).await?
                {
                    prepared.skipped_duplicates += 1;
                    continue;
                }
                self.pending_keys.insert(key);
            }
            match parse_row(viewer, self.kind, &values) {
                Ok(parsed) => prepared.rows.push((row, parsed)),
                Err(error) => {
                    prepared.rejected += 1;
                    prepared.errors.extend(row_errors(row, error)?);
                }
            }
        }
        Ok((prepared, header))
    }

    /// Rows prepared so far are committed: the database now finds their duplicates.
    pub fn committed(&mut self) {
        self.pending_keys.clear();
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

/// An export's columns and how a record fills them.
fn header(kind: RecordKind) -> &'static [&'static str] {
    match kind {
        RecordKind::Account => &[
            "id",
            "name",
            "domain",
            "industry",
            "employee_count",
            "owner_id",
            "create_time",
        ],
        RecordKind::Contact => &[
            "id",
            "first_name",
            "last_name",
            "emails",
            "phones",
            "title",
            "account_id",
            "owner_id",
            "create_time",
        ],
        RecordKind::Lead => &[
            "id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "company",
            "title",
            "source",
            "country_code",
            "employee_count",
            "status",
            "rating",
            "score",
            "owner_id",
            "create_time",
        ],
        RecordKind::Opportunity => &[
            "id",
            "name",
            "amount_currency",
            "amount",
            "close_date",
            "pipeline_id",
            "stage_id",
            "owner_id",
            "account_id",
            "create_time",
        ],
    }
}

fn time(t: Option<prost_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

/// `units.nanos` as a decimal, e.g. `12000.5`; money never goes through floats.
fn decimal(units: i64, nanos: i32) -> String {
    if nanos == 0 {
        return units.to_string();
    }
    let sign = if units < 0 || nanos < 0 { "-" } else { "" };
    let fraction = format!("{:09}", nanos.unsigned_abs());
    format!(
        "{sign}{}.{}",
        units.unsigned_abs(),
        fraction.trim_end_matches('0')
    )
}

/// One page of an export: the listed records as CSV rows, and where the next page starts.
async fn export_page(
    stores: &RecordStores,
    viewer: Viewer,
    kind: RecordKind,
    query: ListQuery,
) -> Result<(Vec<u8>, Option<Cursor>)> {
    let mut out = Vec::new();
    let next = match kind {
        RecordKind::Account => {
            let page = stores.accounts.list_accounts(viewer, query).await?;
            for a in page.items.into_iter().map(convert::account_to_pb) {
                write_row(
                    &mut out,
                    &[
                        a.id,
                        a.name,
                        a.domain,
                        a.industry,
                        a.employee_count.to_string(),
                        a.owner_id,
                        time(a.create_time),
                    ],
                );
            }
            page.next
        }
        RecordKind::Contact => {
            let page = stores.contacts.list_contacts(viewer, query).await?;
            for c in page.items.into_iter().map(convert::contact_to_pb) {
                write_row(
                    &mut out,
                    &[
                        c.id,
                        c.first_name,
                        c.last_name,
                        c.emails.join(";"),
                        c.phones.join(";"),
                        c.title,
                        c.account_id,
                        c.owner_id,
                        time(c.create_time),
                    ],
                );
            }
            page.next
        }
        RecordKind::Lead => {
            let page = stores.leads.list_leads(viewer, query).await?;
            for l in page.items.into_iter().map(convert::lead_to_pb) {
                write_row(
                    &mut out,
                    &[
                        l.id.clone(),
                        l.first_name.clone(),
                        l.last_name.clone(),
                        l.email.clone(),
                        l.phone.clone(),
                        l.company.clone(),
                        l.title.clone(),
                        l.source.clone(),
                        l.country_code.clone(),
                        l.employee_count.to_string(),
                        l.status().as_str_name().to_owned(),
                        l.rating().as_str_name().to_owned(),
                        l.score.to_string(),
                        l.owner_id.clone(),
                        time(l.create_time),
                    ],
                );
            }
            page.next
        }
        RecordKind::Opportunity => {
            let page = stores
                .opportunities
                .list_opportunities(viewer, query)
                .await?;
            for o in page.items.into_iter().map(convert::opportunity_to_pb) {
                let (currency, amount) = o
                    .amount
                    .map(|m| (m.currency_code, decimal(m.units, m.nanos)))
                    .unwrap_or_default();
                write_row(
                    &mut out,
                    &[
                        o.id,
                        o.name,
                        currency,
                        amount,
                        o.close_date,
                        o.pipeline_id,
                        o.stage_id,
                        o.owner_id,
                        o.account_id,
                        time(o.create_time),
                    ],
                );
            }
            page.next
        }
    };
    Ok((out, next))
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

fn listing(kind: RecordKind) -> &'static Listing {
    match kind {
        RecordKind::Account => &crate::store::accounts::LISTING,
        RecordKind::Contact => &crate::store::contacts::LISTING,
        RecordKind::Lead => &crate::store::leads::LISTING,
        RecordKind::Opportunity => &crate::store::opportunities::LISTING,
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
        let mut head = Vec::new();
        write_row(&mut head, header(kind));
        let records = self.records.clone();
        // State: the next page's query, or None once the last page was sent.
        let pages = futures::stream::unfold(Some(first), move |state| {
            let records = records.clone();
            async move {
                let query = state?;
                match export_page(&records, viewer, kind, query.clone()).await {
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
        let mut csv = Vec::new();
        if r.page_token.is_empty() {
            write_row(&mut csv, header(kind));
        }
        let (rows, next) = export_page(&self.records, viewer, kind, list.query.clone()).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_follow_the_mapping_then_their_own_names() {
        let header: Vec<String> = ["E-mail", "last_name", "Notes", "company"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let mapping = HashMap::from([("E-mail".to_owned(), "email".to_owned())]);
        let columns = resolve_columns(&header, &mapping, LEAD_FIELDS);
        assert_eq!(
            columns,
            [Some("email"), Some("last_name"), None, Some("company")]
        );
        let bad = HashMap::from([("Notes".to_owned(), "password".to_owned())]);
        let Err(Error::InvalidArgument(violations)) = check_mapping(&bad, LEAD_FIELDS) else {
            panic!("expected a violation");
        };
        assert_eq!(violations[0].field, "column_mapping[Notes]");
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(decimal(12_000, 0), "12000");
        assert_eq!(decimal(12, 500_000_000), "12.5");
        assert_eq!(decimal(0, 10_000_000), "0.01");
        assert_eq!(decimal(-3, -250_000_000), "-3.25");
    }

    #[test]
    fn filter_values_are_quoted_safely() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
