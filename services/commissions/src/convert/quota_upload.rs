//! A quota CSV into rows (each parsed on its own, bad columns named as the header names them),
//! and the per-row report in the proto shape.

use csv_rows::RowReader;
use proto::commissions as pb;

use super::quota_from_pb;
use crate::domain::FieldViolation;
use crate::domain::quota_upload::{MAX_ROWS, RawKey, RowReport, RowResult, UploadRow, counts};
use crate::error::{Error, Result};

/// The columns a quota file must have.
const COLUMNS: [&str; 5] = [
    "user_id",
    "period",
    "period_start",
    "currency_code",
    "amount_minor",
];

/// Parses the file: a header naming the columns, then one quota per row. A file that cannot be
/// read as a whole (no header, a missing column, not CSV, too many rows) is refused on `csv`;
/// each row's bad values are that row's. Periods align to the tenant's fiscal year.
pub fn rows_from_csv(csv: &str, fiscal_year_start_month: u32) -> Result<Vec<UploadRow>> {
    let mut reader = RowReader::default();
    let refuse = |e: csv_rows::CsvError| Error::invalid("csv", e.to_string());
    let mut records = reader.feed(csv.as_bytes()).map_err(refuse)?;
    records.extend(reader.feed(b"").map_err(refuse)?);
    let mut records = records.into_iter();
    let Some((_, header)) = records.next() else {
        return Err(Error::invalid("csv", "is empty: a header row is required"));
    };
    let header: Vec<String> = header
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase())
        .collect();
    let mut index = [0usize; COLUMNS.len()];
    let mut missing = Vec::new();
    for (slot, column) in index.iter_mut().zip(COLUMNS) {
        match header.iter().position(|h| h == column) {
            Some(at) => *slot = at,
            None => missing.push(column),
        }
    }
    if !missing.is_empty() {
        return Err(Error::invalid(
            "csv",
            format!("the header has no column {}", missing.join(", ")),
        ));
    }
    let data: Vec<(u64, Vec<String>)> = records
        .filter(|(_, fields)| fields.iter().any(|f| !f.trim().is_empty()))
        .collect();
    if data.len() > MAX_ROWS {
        return Err(Error::invalid(
            "csv",
            format!("has {} rows; at most {MAX_ROWS} per upload", data.len()),
        ));
    }
    Ok(data
        .into_iter()
        .map(|(row, fields)| {
            let cell = |column: usize| {
                fields
                    .get(index[column])
                    .map(|f| f.trim().to_owned())
                    .unwrap_or_default()
            };
            let key = RawKey {
                user_id: cell(0),
                period: cell(1),
                period_start: cell(2),
            };
            let quota = row_quota(&key, &cell(3), &cell(4), fiscal_year_start_month);
            UploadRow { row, key, quota }
        })
        .collect())
}

/// `month`, `quarter`, `year` in any case, or the enum names.
fn period_kind(raw: &str) -> Option<pb::PeriodKind> {
    let name = raw.to_ascii_uppercase();
    let name = name.strip_prefix("PERIOD_KIND_").unwrap_or(&name);
    match name {
        "MONTH" => Some(pb::PeriodKind::Month),
        "QUARTER" => Some(pb::PeriodKind::Quarter),
        "YEAR" => Some(pb::PeriodKind::Year),
        _ => None,
    }
}

fn row_quota(
    key: &RawKey,
    currency: &str,
    amount: &str,
    fiscal_year_start_month: u32,
) -> std::result::Result<crate::domain::quota::Quota, Vec<FieldViolation>> {
    let mut own = Vec::new();
    let kind = period_kind(&key.period);
    if kind.is_none() {
        own.push(FieldViolation::new(
            "period",
            "must be month, quarter or year",
        ));
    }
    let amount_minor = amount.parse::<i64>().ok();
    if amount_minor.is_none() {
        own.push(FieldViolation::new(
            "amount_minor",
            "must be a whole number of minor units",
        ));
    }
    let raw = pb::Quota {
        user_id: key.user_id.clone(),
        period: kind.map_or(0, |k| k as i32),
        period_start: key.period_start.clone(),
        currency_code: currency.to_owned(),
        amount_minor: amount_minor.unwrap_or(0),
        fiscal_year_start_month: i32::try_from(fiscal_year_start_month).unwrap_or(1),
    };
    match quota_from_pb(&raw) {
        Ok(quota) if own.is_empty() => Ok(quota),
        Ok(_) => Err(own),
        Err(Error::InvalidArgument(found)) => {
            // The quota's fields are the file's columns; a column already reported keeps its
            // own (clearer) message.
            let mut all = own;
            for violation in found {
                let column = violation
                    .field
                    .strip_prefix("quota.")
                    .unwrap_or(&violation.field)
                    .to_owned();
                if !all.iter().any(|v| v.field == column) {
                    all.push(FieldViolation::new(column, violation.description));
                }
            }
            all.sort_by_key(|v| COLUMNS.iter().position(|c| *c == v.field));
            Err(all)
        }
        Err(other) => Err(vec![FieldViolation::new("user_id", other.to_string())]),
    }
}

pub fn upload_report_to_pb(reports: Vec<RowReport>) -> pb::UploadQuotasResponse {
    let (created, updated, failed) = counts(&reports);
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    pb::UploadQuotasResponse {
        created_count: count(created),
        updated_count: count(updated),
        failed_count: count(failed),
        rows: reports
            .into_iter()
            .map(|report| {
                let (result, errors) = match report.result {
                    RowResult::Created => (pb::QuotaRowResult::Created, vec![]),
                    RowResult::Updated => (pb::QuotaRowResult::Updated, vec![]),
                    RowResult::Skipped => (pb::QuotaRowResult::Skipped, vec![]),
                    RowResult::Failed(violations) => (pb::QuotaRowResult::Failed, violations),
                };
                pb::QuotaRowReport {
                    row: i32::try_from(report.row).unwrap_or(i32::MAX),
                    user_id: report.key.user_id,
                    period: report.key.period,
                    period_start: report.key.period_start,
                    result: result as i32,
                    errors: errors
                        .into_iter()
                        .map(|v| pb::QuotaRowError {
                            column: v.field,
                            description: v.description,
                        })
                        .collect(),
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn columns_at_fault(row: &UploadRow) -> Vec<String> {
        match &row.quota {
            Ok(_) => vec![],
            Err(violations) => violations.iter().map(|v| v.field.clone()).collect(),
        }
    }

    #[test]
    fn each_row_is_parsed_on_its_own_and_its_bad_columns_named() {
        let user = Uuid::now_v7();
        let csv = format!(
            "\u{feff}Amount_Minor,user_id,period,period_start,currency_code\r\n\
             500000,{user},quarter,2026-04-01,EUR\n\
             10,not-a-user,week,2026-04-01,EUR\n\
             \n\
             x,{user},PERIOD_KIND_MONTH,2026-05-02,EURO\n"
        );
        let rows = rows_from_csv(&csv, 1).expect("readable");
        // Blank lines are skipped and not counted.
        assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), [2, 3, 4]);
        let good = rows[0].quota.as_ref().expect("good row");
        assert_eq!((good.user_id, good.amount), (user, 500_000));
        assert_eq!(columns_at_fault(&rows[1]), ["user_id", "period"]);
        assert_eq!(
            columns_at_fault(&rows[2]),
            ["period_start", "currency_code", "amount_minor"]
        );
        assert_eq!(rows[1].key.user_id, "not-a-user");
    }

    #[test]
    fn periods_align_to_the_tenants_fiscal_year() {
        let csv = format!(
            "user_id,period,period_start,currency_code,amount_minor\n{},quarter,2026-04-01,EUR,1\n",
            Uuid::now_v7()
        );
        assert!(rows_from_csv(&csv, 1).expect("readable")[0].quota.is_ok());
        // February-based quarters start in February, May, August and November.
        assert_eq!(
            columns_at_fault(&rows_from_csv(&csv, 2).expect("readable")[0]),
            ["period_start"]
        );
    }

    #[test]
    fn a_file_without_a_required_column_is_refused_as_a_whole() {
        let refused = rows_from_csv("user_id,period,period_start,amount_minor\n", 1);
        match refused {
            Err(Error::InvalidArgument(v)) => {
                assert_eq!(v[0].field, "csv");
                assert!(v[0].description.contains("currency_code"), "{v:?}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(matches!(
            rows_from_csv("", 1),
            Err(Error::InvalidArgument(_))
        ));
    }
}
