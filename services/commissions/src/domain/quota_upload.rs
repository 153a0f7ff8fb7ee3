//! Quotas uploaded as a CSV file: one report per row. Like a CRM's data loader, every row stands
//! on its own: a bad row (bad value, unknown user, a user and period an earlier row already set)
//! is reported with the column at fault and writes nothing, good rows are written — unless the
//! upload is all or nothing, when one bad row leaves every row unwritten.

use std::collections::HashMap;

use uuid::Uuid;

use super::FieldViolation;
use super::period::Period;
use super::quota::Quota;

/// Most data rows one upload may carry.
pub const MAX_ROWS: usize = 10_000;

/// The row's key values as the file gave them, echoed in its report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawKey {
    pub user_id: String,
    pub period: String,
    pub period_start: String,
}

/// A parsed data row: its number in the file (the header is row 1) and its quota, or the
/// columns at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    pub row: u64,
    pub key: RawKey,
    pub quota: Result<Quota, Vec<FieldViolation>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowResult {
    Created,
    Updated,
    /// Wrote nothing; each violation names a column.
    Failed(Vec<FieldViolation>),
    /// Good, but not written: the upload was all or nothing and another row failed.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowReport {
    pub row: u64,
    pub key: RawKey,
    pub result: RowResult,
}

/// Counts of created, updated and failed rows.
pub fn counts(reports: &[RowReport]) -> (usize, usize, usize) {
    let count =
        |wanted: fn(&RowResult) -> bool| reports.iter().filter(|r| wanted(&r.result)).count();
    (
        count(|r| matches!(r, RowResult::Created)),
        count(|r| matches!(r, RowResult::Updated)),
        count(|r| matches!(r, RowResult::Failed(_))),
    )
}

/// Fails every row setting the same user and period as an earlier good row: which one should
/// win is ambiguous, so the later one is refused, naming the earlier.
pub fn refuse_repeats(rows: &mut [UploadRow]) {
    let mut seen: HashMap<(Uuid, Period), u64> = HashMap::new();
    for row in rows.iter_mut() {
        let Ok(quota) = &row.quota else { continue };
        let key = (quota.user_id, quota.period);
        if let Some(first) = seen.get(&key) {
            row.quota = Err(vec![FieldViolation::new(
                "user_id",
                format!("row {first} already sets this user's quota for this period"),
            )]);
        } else {
            seen.insert(key, row.row);
        }
    }
}

/// Whether the written rows stand: not when the upload is all or nothing and a row failed; then
/// the rows written are reported as skipped (the caller rolls back).
pub fn settle(reports: &mut [RowReport], all_or_nothing: bool) -> bool {
    let failed = reports
        .iter()
        .any(|r| matches!(r.result, RowResult::Failed(_)));
    if !(all_or_nothing && failed) {
        return true;
    }
    for report in reports.iter_mut() {
        if matches!(report.result, RowResult::Created | RowResult::Updated) {
            report.result = RowResult::Skipped;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::domain::period::PeriodKind;

    fn good(row: u64, user: Uuid, month: u32) -> UploadRow {
        UploadRow {
            row,
            key: RawKey::default(),
            quota: Ok(Quota {
                user_id: user,
                period: Period {
                    kind: PeriodKind::Month,
                    start: NaiveDate::from_ymd_opt(2026, month, 1).expect("date"),
                },
                currency: "EUR".into(),
                amount: 100,
            }),
        }
    }

    fn report(row: u64, result: RowResult) -> RowReport {
        RowReport {
            row,
            key: RawKey::default(),
            result,
        }
    }

    #[test]
    fn a_repeated_user_and_period_fails_the_later_row_naming_the_first() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut rows = vec![good(2, a, 4), good(3, b, 4), good(4, a, 5), good(5, a, 4)];
        refuse_repeats(&mut rows);
        let failed: Vec<(u64, Vec<FieldViolation>)> = rows
            .into_iter()
            .filter_map(|r| r.quota.err().map(|e| (r.row, e)))
            .collect();
        assert_eq!(
            failed,
            [(
                5,
                vec![FieldViolation::new(
                    "user_id",
                    "row 2 already sets this user's quota for this period"
                )]
            )]
        );
    }

    #[test]
    fn all_or_nothing_skips_the_good_rows_when_one_fails() {
        let bad = RowResult::Failed(vec![FieldViolation::new("user_id", "unknown")]);
        let mut reports = vec![
            report(2, RowResult::Created),
            report(3, bad.clone()),
            report(4, RowResult::Updated),
        ];
        let mut per_row = reports.clone();
        assert!(settle(&mut per_row, false));
        assert_eq!(counts(&per_row), (1, 1, 1));
        assert!(!settle(&mut reports, true));
        assert_eq!(
            reports.iter().map(|r| r.result.clone()).collect::<Vec<_>>(),
            [RowResult::Skipped, bad, RowResult::Skipped]
        );
        assert_eq!(counts(&reports), (0, 0, 1));
        let mut clean = vec![report(2, RowResult::Created)];
        assert!(settle(&mut clean, true));
    }
}
