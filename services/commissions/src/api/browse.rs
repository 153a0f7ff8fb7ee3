//! Statements, lines and quotas page by page, quota deletion and upload, and the estimator: the
//! `CommissionService` methods that browse and manage, called from `commissions.rs`.

use proto::commissions as pb;
use uuid::Uuid;

use super::{Shared, participant_or_self};
use crate::convert::{
    Paging, day_from_pb, estimate_to_pb, line_to_pb, period_filter_from_pb, period_from_pb,
    quota_to_pb, rows_from_csv, statement_to_pb, upload_report_to_pb, uuid_from_pb, validated,
};
use crate::domain::Viewer;
use crate::domain::estimate::{EstimateRequest, Subject};
use crate::domain::listing::PeriodCursor;
use crate::domain::period::Period;
use crate::domain::violations::Violations;
use crate::error::{Error, Result};

pub async fn list_statements(
    shared: &Shared,
    viewer: Viewer,
    request: &pb::ListStatementsRequest,
) -> Result<pb::ListStatementsResponse> {
    let mut v = Violations::new();
    let filter = period_filter_from_pb(
        &mut v,
        "participant_id",
        &request.participant_id,
        request.period,
        &request.period_start,
    );
    v.finish()?;
    let paging = Paging::<PeriodCursor>::parse(
        &filter.fingerprint("statements"),
        request.page_size,
        &request.page_token,
    )?;
    let page = shared
        .store
        .list_statements(viewer, filter, paging.page)
        .await?;
    Ok(pb::ListStatementsResponse {
        statements: page.items.into_iter().map(statement_to_pb).collect(),
        next_page_token: paging.next_page_token(page.next),
    })
}

pub async fn list_lines(
    shared: &Shared,
    viewer: Viewer,
    request: &pb::ListLinesRequest,
) -> Result<pb::ListLinesResponse> {
    let participant = participant_or_self(&viewer, &request.participant_id)?;
    let mut v = Violations::new();
    let period = period_from_pb(&mut v, request.period, &request.period_start);
    v.finish()?;
    let period = validated(period)?;
    let paging = Paging::<i64>::parse(
        &format!(
            "lines|{participant}|{}|{}",
            period.kind.as_str(),
            period.start
        ),
        request.page_size,
        &request.page_token,
    )?;
    let page = shared
        .store
        .line_page(viewer, participant, period, paging.page)
        .await?;
    Ok(pb::ListLinesResponse {
        lines: page.items.into_iter().map(line_to_pb).collect(),
        next_page_token: paging.next_page_token(page.next),
    })
}

pub async fn list_quotas(
    shared: &Shared,
    viewer: Viewer,
    request: &pb::ListQuotasRequest,
) -> Result<pb::ListQuotasResponse> {
    let mut v = Violations::new();
    let filter = period_filter_from_pb(
        &mut v,
        "user_id",
        &request.user_id,
        request.period,
        &request.period_start,
    );
    v.finish()?;
    let paging = Paging::<PeriodCursor>::parse(
        &filter.fingerprint("quotas"),
        request.page_size,
        &request.page_token,
    )?;
    let page = shared
        .store
        .list_quotas(viewer, filter, paging.page)
        .await?;
    Ok(pb::ListQuotasResponse {
        quotas: page.items.into_iter().map(quota_to_pb).collect(),
        next_page_token: paging.next_page_token(page.next),
    })
}

/// A user and period named by a quota request.
fn quota_key(user: &str, kind: i32, start: &str) -> Result<(Uuid, Period)> {
    let mut v = Violations::new();
    let user = v.check("user_id", uuid_from_pb(user));
    let period = period_from_pb(&mut v, kind, start);
    v.finish()?;
    Ok((validated(user)?, validated(period)?))
}

pub async fn get_quota(
    shared: &Shared,
    viewer: Viewer,
    request: &pb::GetQuotaRequest,
) -> Result<pb::Quota> {
    let (user, period) = quota_key(&request.user_id, request.period, &request.period_start)?;
    Ok(quota_to_pb(shared.store.quota(viewer, user, period).await?))
}

pub async fn delete_quota(
    shared: &Shared,
    viewer: Viewer,
    request: &pb::DeleteQuotaRequest,
) -> Result<()> {
    viewer.require_admin()?;
    let (user, period) = quota_key(&request.user_id, request.period, &request.period_start)?;
    shared.store.delete_quota(viewer, user, period).await
}

pub async fn upload_quotas(
    shared: &Shared,
    viewer: Viewer,
    request: &pb::UploadQuotasRequest,
) -> Result<pb::UploadQuotasResponse> {
    viewer.require_admin()?;
    if request.csv.trim().is_empty() {
        return Err(Error::invalid("csv", "is required"));
    }
    let fiscal = shared.store.fiscal_year_start_month(viewer).await?;
    let rows = rows_from_csv(&request.csv, fiscal)?;
    let reports = shared
        .store
        .upload_quotas(viewer, rows, request.all_or_nothing)
        .await?;
    Ok(upload_report_to_pb(reports))
}

pub async fn estimate_commission(
    shared: &Shared,
    viewer: Viewer,
    request: &pb::EstimateCommissionRequest,
) -> Result<pb::CommissionEstimate> {
    let participant = participant_or_self(&viewer, &request.participant_id)?;
    let mut v = Violations::new();
    let close_date = if request.close_date.is_empty() {
        Some(chrono::Utc::now().date_naive())
    } else {
        v.check("close_date", day_from_pb(&request.close_date))
    };
    let has_amount = request.amount_minor != 0 || !request.currency_code.is_empty();
    if has_amount {
        if request.amount_minor <= 0 {
            v.add("amount_minor", "must be positive");
        }
        if iso_currency::Currency::from_code(&request.currency_code).is_none() {
            v.add("currency_code", "must be an ISO 4217 currency code");
        }
    }
    let pipeline_id = if request.pipeline_id.is_empty() {
        None
    } else {
        v.check("pipeline_id", uuid_from_pb(&request.pipeline_id))
    };
    let amount = has_amount.then(|| (request.currency_code.clone(), request.amount_minor));
    let subject = if request.opportunity_id.is_empty() {
        if !has_amount {
            v.add(
                "opportunity_id",
                "is required unless amount_minor and currency_code are given",
            );
        }
        amount.map(|(currency, amount)| Subject::Amount {
            currency,
            amount,
            pipeline_id,
        })
    } else {
        if pipeline_id.is_some() {
            v.add(
                "pipeline_id",
                "is the deal's own when opportunity_id is given",
            );
        }
        v.check("opportunity_id", uuid_from_pb(&request.opportunity_id))
            .map(|deal_id| Subject::Deal { deal_id, amount })
    };
    v.finish()?;
    let estimate = shared
        .store
        .estimate(
            viewer,
            EstimateRequest {
                participant,
                subject: validated(subject)?,
                close_date: validated(close_date)?,
            },
        )
        .await?;
    Ok(estimate_to_pb(estimate))
}

#[cfg(test)]
mod tests {
    use auth::BuiltinRole;
    use tonic::Code;

    use super::*;
    use crate::api::testing::{bad_fields, day, quarter, shared, viewer};
    use crate::domain::listing::{Page, PageRequest, PeriodFilter};
    use crate::domain::period::PeriodKind;
    use crate::domain::quota_upload::{RowReport, RowResult};
    use crate::domain::statement::{Statement, Status, Totals};
    use crate::store::MockStore;

    fn statement(participant: Uuid, start: &str) -> Statement {
        Statement {
            participant_id: participant,
            period: quarter(start),
            currency: "EUR".into(),
            status: Status::Approved,
            totals: Totals {
                earned: 500,
                clawbacks: 0,
                total: 500,
            },
            lines: vec![],
            adjusted: 0,
            opening: 0,
            adjustments: vec![],
        }
    }

    fn status(result: Result<impl std::fmt::Debug>) -> tonic::Status {
        tonic::Status::from(result.expect_err("refused"))
    }

    #[tokio::test]
    async fn statements_page_on_with_the_token_the_previous_page_gave() {
        let manager = viewer(BuiltinRole::Manager);
        let report = Uuid::now_v7();
        let cursor = PeriodCursor {
            start: day("2026-04-01"),
            holder: report,
            kind: PeriodKind::Quarter,
        };
        let mut store = MockStore::new();
        let quarters = PeriodFilter {
            kind: Some(PeriodKind::Quarter),
            ..PeriodFilter::default()
        };
        store
            .expect_list_statements()
            .withf(move |_, filter, page| *filter == quarters && page.after.is_none())
            .times(1)
            .returning(move |_, _, _| {
                Ok(Page {
                    items: vec![statement(report, "2026-04-01")],
                    next: Some(cursor),
                })
            });
        store
            .expect_list_statements()
            .withf(move |_, _, page| {
                *page
                    == PageRequest {
                        size: 1,
                        after: Some(cursor),
                    }
            })
            .times(1)
            .returning(|_, _, _| {
                Ok(Page {
                    items: vec![],
                    next: None,
                })
            });
        let shared = shared(store);
        let mut request = pb::ListStatementsRequest {
            period: pb::PeriodKind::Quarter as i32,
            page_size: 1,
            ..Default::default()
        };
        let first = list_statements(&shared, manager, &request)
            .await
            .expect("first page");
        assert_eq!(first.statements.len(), 1);
        assert_eq!(first.statements[0].total_minor, 500);
        assert!(!first.next_page_token.is_empty());
        request.page_token = first.next_page_token;
        let last = list_statements(&shared, manager, &request)
            .await
            .expect("last page");
        assert!(last.statements.is_empty() && last.next_page_token.is_empty());

        // The token belongs to the quarter listing: another filter refuses it.
        request.period = pb::PeriodKind::Month as i32;
        let refused = status(list_statements(&shared, manager, &request).await);
        assert_eq!(bad_fields(&refused), ["page_token"]);
    }

    #[tokio::test]
    async fn only_admins_delete_or_upload_quotas_and_nothing_is_read_first() {
        let shared = shared(MockStore::new());
        for role in [BuiltinRole::Manager, BuiltinRole::SalesRep] {
            let who = viewer(role);
            let upload = status(
                upload_quotas(
                    &shared,
                    who,
                    &pb::UploadQuotasRequest {
                        csv: "user_id\n".into(),
                        all_or_nothing: false,
                    },
                )
                .await,
            );
            assert_eq!(upload.code(), Code::PermissionDenied);
            let delete = status(
                delete_quota(
                    &shared,
                    who,
                    &pb::DeleteQuotaRequest {
                        user_id: who.user_id.to_string(),
                        period: pb::PeriodKind::Quarter as i32,
                        period_start: "2026-04-01".into(),
                    },
                )
                .await,
            );
            assert_eq!(delete.code(), Code::PermissionDenied);
        }
    }

    #[tokio::test]
    async fn an_upload_hands_every_row_to_the_store_and_reports_each() {
        let admin = viewer(BuiltinRole::Admin);
        let rep = Uuid::now_v7();
        let mut store = MockStore::new();
        store
            .expect_fiscal_year_start_month()
            .times(1)
            .returning(|_| Ok(4));
        store
            .expect_upload_quotas()
            .withf(move |_, rows, all_or_nothing| {
                // April-based quarters: 2026-04-01 starts one.
                rows.len() == 2
                    && rows[0].quota.as_ref().is_ok_and(|q| q.user_id == rep)
                    && rows[1].quota.is_err()
                    && !*all_or_nothing
            })
            .times(1)
            .returning(|_, rows, _| {
                Ok(rows
                    .into_iter()
                    .map(|row| RowReport {
                        row: row.row,
                        key: row.key,
                        result: match row.quota {
                            Ok(_) => RowResult::Created,
                            Err(e) => RowResult::Failed(e),
                        },
                    })
                    .collect())
            });
        let shared = shared(store);
        let report = upload_quotas(
            &shared,
            admin,
            &pb::UploadQuotasRequest {
                csv: format!(
                    "user_id,period,period_start,currency_code,amount_minor\n\
                     {rep},quarter,2026-04-01,EUR,100\n\
                     {rep},quarter,2026-05-01,EUR,100\n"
                ),
                all_or_nothing: false,
            },
        )
        .await
        .expect("uploaded");
        assert_eq!(
            (
                report.created_count,
                report.updated_count,
                report.failed_count
            ),
            (1, 0, 1)
        );
        let bad = &report.rows[1];
        assert_eq!(bad.row, 3);
        assert_eq!(bad.result, pb::QuotaRowResult::Failed as i32);
        assert_eq!(bad.errors[0].column, "period_start");
    }

    #[tokio::test]
    async fn an_estimate_needs_a_deal_or_an_amount_and_passes_the_amount_on() {
        let rep = viewer(BuiltinRole::SalesRep);
        let refused = status(
            estimate_commission(
                &shared(MockStore::new()),
                rep,
                &pb::EstimateCommissionRequest::default(),
            )
            .await,
        );
        assert_eq!(bad_fields(&refused), ["opportunity_id"]);
        let half = status(
            estimate_commission(
                &shared(MockStore::new()),
                rep,
                &pb::EstimateCommissionRequest {
                    amount_minor: -5,
                    currency_code: "EURO".into(),
                    close_date: "soon".into(),
                    ..Default::default()
                },
            )
            .await,
        );
        assert_eq!(
            bad_fields(&half),
            ["close_date", "amount_minor", "currency_code"]
        );

        let mut store = MockStore::new();
        store
            .expect_estimate()
            .withf(move |_, request| {
                *request
                    == EstimateRequest {
                        participant: rep.user_id,
                        subject: Subject::Amount {
                            currency: "EUR".into(),
                            amount: 1_000_000,
                            pipeline_id: None,
                        },
                        close_date: day("2026-05-10"),
                    }
            })
            .times(1)
            .returning(|_, _| Err(Error::FailedPrecondition("no plan".into())));
        let no_plan = status(
            estimate_commission(
                &shared(store),
                rep,
                &pb::EstimateCommissionRequest {
                    amount_minor: 1_000_000,
                    currency_code: "EUR".into(),
                    close_date: "2026-05-10".into(),
                    ..Default::default()
                },
            )
            .await,
        );
        assert_eq!(no_plan.code(), Code::FailedPrecondition);
    }
}
