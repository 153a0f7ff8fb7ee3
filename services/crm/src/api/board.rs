//! BoardService: the kanban board of a pipeline and the forecast, both visibility-filtered.

use std::sync::Arc;

use auth::permissions::CRM_DEALS_READ;
use chrono::NaiveDate;
use db::{PageSize, PageToken};
use proto::crm as pb;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{optional_id, parse_id, viewer};
use crate::convert::{opportunity_to_pb, stage_to_pb, sum_money_to_pb};
use crate::domain::fiscal::FiscalCalendar;
use crate::domain::forecast::{
    CategoryTotals, ForecastCategory, ForecastQuery, OwnerFilter, check_period, parse_period,
};
use crate::domain::{Violations, day};
use crate::error::{Error, Result};
use crate::listing::Cursor;
use crate::store::board::{BoardStore, CurrencyTotal};

/// Opportunities per board column when the request names no page size.
pub const DEFAULT_COLUMN_SIZE: i32 = 50;

/// Page tokens of one stage's column: valid only for that pipeline and stage.
fn stage_pages(pipeline_id: Uuid, stage_id: Uuid) -> PageToken {
    PageToken::for_query(&format!("board|{pipeline_id}|{stage_id}"))
}

fn column_size(raw: i32) -> Result<u32> {
    let raw = if raw == 0 { DEFAULT_COLUMN_SIZE } else { raw };
    PageSize::parse(raw)
        .map(PageSize::get)
        .map_err(|e| Error::invalid("page_size", e.to_string()))
}

fn total(t: CurrencyTotal) -> Result<pb::CurrencyTotal> {
    let minor = |value: i128| {
        sum_money_to_pb(t.currency, value)
            .ok_or_else(|| Error::Internal("sum exceeds the money range".to_owned()))
    };
    Ok(pb::CurrencyTotal {
        currency_code: t.currency.code().to_owned(),
        count: t.sums.count,
        amount: Some(minor(t.sums.amount)?),
        weighted_amount: Some(minor(t.sums.weighted())?),
    })
}

fn category(c: ForecastCategory) -> pb::ForecastCategory {
    match c {
        ForecastCategory::Pipeline => pb::ForecastCategory::Pipeline,
        ForecastCategory::BestCase => pb::ForecastCategory::BestCase,
        ForecastCategory::Commit => pb::ForecastCategory::Commit,
        ForecastCategory::Closed => pb::ForecastCategory::Closed,
    }
}

pub struct BoardApi {
    store: Arc<dyn BoardStore>,
}

impl BoardApi {
    pub fn new(store: Arc<dyn BoardStore>) -> Self {
        Self { store }
    }
}

/// A named period: in the tenant's fiscal calendar (`FY2027-Q1`), or a calendar month or
/// quarter (`2026-05`, `2026-Q2`).
fn named_period(calendar: FiscalCalendar, raw: &str) -> Result<(NaiveDate, NaiveDate), String> {
    if raw.starts_with("FY") {
        calendar
            .parse(raw)
            .map(|p| (p.start, p.end))
            .map_err(|e| e.to_string())
    } else {
        parse_period(raw).map_err(|_| {
            "must be a fiscal period (FY2027, FY2027-Q1, FY2027-M01), a month (2026-05) or a \
             quarter (2026-Q2)"
                .to_owned()
        })
    }
}

/// Parses a forecast request into its query; named periods follow `calendar`.
fn forecast_query(calendar: FiscalCalendar, r: &pb::GetForecastRequest) -> Result<ForecastQuery> {
    let mut v = Violations::new();
    let (start, end) = if r.period.is_empty() {
        (
            v.check("start_date", day::parse(&r.start_date)),
            v.check("end_date", day::parse(&r.end_date)),
        )
    } else if !r.start_date.is_empty() || !r.end_date.is_empty() {
        v.add("period", "give either period or start_date and end_date");
        (None, None)
    } else {
        v.check("period", named_period(calendar, &r.period)).unzip()
    };
    let owner = v.check("owner_id", optional_id(&r.owner_id));
    let manager = v.check("team_manager_id", optional_id(&r.team_manager_id));
    let pipeline_id = v.check("pipeline_id", optional_id(&r.pipeline_id));
    if let (Some(start), Some(end)) = (start, end) {
        v.check("end_date", check_period(start, end));
    }
    let owners = match (owner, manager) {
        (Some(Some(_)), Some(Some(_))) => {
            v.add("team_manager_id", "give either owner_id or team_manager_id");
            None
        }
        (Some(Some(owner)), Some(None)) => Some(OwnerFilter::Owner(owner)),
        (Some(None), Some(Some(manager))) => Some(OwnerFilter::TeamOf(manager)),
        (Some(None), Some(None)) => Some(OwnerFilter::Everyone),
        _ => None,
    };
    v.finish()?;
    let (Some(start), Some(end), Some(owners), Some(pipeline_id)) =
        (start, end, owners, pipeline_id)
    else {
        return Err(Error::Internal("validated fields missing".to_owned()));
    };
    Ok(ForecastQuery {
        start,
        end,
        owners,
        pipeline_id,
    })
}

#[tonic::async_trait]
impl pb::board_service_server::BoardService for BoardApi {
    #[tracing::instrument(skip_all)]
    async fn get_board(
        &self,
        request: Request<pb::GetBoardRequest>,
    ) -> Result<Response<pb::Board>, Status> {
        let viewer = viewer(&request, CRM_DEALS_READ)?;
        let r = request.into_inner();
        let pipeline_id = parse_id("pipeline_id", &r.pipeline_id)?;
        let size = column_size(r.page_size)?;
        let board = self
            .store
            .board(viewer, pipeline_id, size)
            .await?
            .ok_or(Error::NotFound("pipeline"))?;
        let mut columns = Vec::with_capacity(board.columns.len());
        for column in board.columns {
            let pages = stage_pages(board.pipeline_id, column.stage.id);
            columns.push(pb::BoardColumn {
                count: column.count,
                totals: column
                    .totals
                    .into_iter()
                    .map(total)
                    .collect::<Result<_>>()?,
                next_page_token: column
                    .opportunities
                    .next
                    .map(|c| pages.encode(&c))
                    .unwrap_or_default(),
                opportunities: column
                    .opportunities
                    .items
                    .into_iter()
                    .map(opportunity_to_pb)
                    .collect(),
                stage: Some(stage_to_pb(column.stage)),
            });
        }
        Ok(Response::new(pb::Board {
            pipeline_id: board.pipeline_id.to_string(),
            columns,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_board_stage_opportunities(
        &self,
        request: Request<pb::ListBoardStageOpportunitiesRequest>,
    ) -> Result<Response<pb::ListBoardStageOpportunitiesResponse>, Status> {
        let viewer = viewer(&request, CRM_DEALS_READ)?;
        let r = request.into_inner();
        let pipeline_id = parse_id("pipeline_id", &r.pipeline_id)?;
        let stage_id = parse_id("stage_id", &r.stage_id)?;
        let size = column_size(r.page_size)?;
        let pages = stage_pages(pipeline_id, stage_id);
        let after: Option<Cursor> = pages
            .decode(&r.page_token)
            .map_err(|e| Error::invalid("page_token", e.to_string()))?;
        let page = self
            .store
            .board_stage(viewer, pipeline_id, stage_id, size, after)
            .await?
            .ok_or(Error::NotFound("stage"))?;
        Ok(Response::new(pb::ListBoardStageOpportunitiesResponse {
            next_page_token: page.next.map(|c| pages.encode(&c)).unwrap_or_default(),
            opportunities: page.items.into_iter().map(opportunity_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_forecast(
        &self,
        request: Request<pb::GetForecastRequest>,
    ) -> Result<Response<pb::Forecast>, Status> {
        let viewer = viewer(&request, CRM_DEALS_READ)?;
        let r = request.into_inner();
        let calendar = if r.period.is_empty() {
            FiscalCalendar::default()
        } else {
            self.store.fiscal_calendar(viewer).await?
        };
        let query = forecast_query(calendar, &r)?;
        let report = self.store.forecast(viewer, query).await?;
        let rows = |totals: std::collections::BTreeMap<Uuid, CategoryTotals>| -> Result<Vec<_>> {
            let Some(currency) = report.currency else {
                return Ok(Vec::new());
            };
            totals
                .into_iter()
                .map(|(user, t)| forecast_row(currency, user, &t))
                .collect()
        };
        Ok(Response::new(pb::Forecast {
            start_date: day::format(query.start),
            end_date: day::format(query.end),
            currency_code: report
                .currency
                .map(|c| c.code().to_owned())
                .unwrap_or_default(),
            period: if r.period.starts_with("FY") {
                r.period.clone()
            } else {
                String::new()
            },
            reps: rows(report.reps.clone())?,
            managers: rows(report.managers.clone())?,
            unconverted_currency_codes: report
                .unconverted
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
            lines: report
                .lines
                .into_iter()
                .map(|l| {
                    Ok(pb::ForecastLine {
                        category: category(l.category) as i32,
                        total: Some(total(l.total)?),
                    })
                })
                .collect::<Result<_>>()?,
        }))
    }
}

/// One user's (or team's) converted forecast.
fn forecast_row(
    currency: iso_currency::Currency,
    user: Uuid,
    t: &CategoryTotals,
) -> Result<pb::ForecastRow> {
    let amount = |minor: i128| {
        sum_money_to_pb(currency, minor)
            .ok_or_else(|| Error::Internal("sum exceeds the money range".to_owned()))
    };
    let money = |c: ForecastCategory| amount(t.amount(c));
    Ok(pb::ForecastRow {
        user_id: user.to_string(),
        count: t.count,
        pipeline: Some(money(ForecastCategory::Pipeline)?),
        best_case: Some(money(ForecastCategory::BestCase)?),
        commit: Some(money(ForecastCategory::Commit)?),
        closed: Some(money(ForecastCategory::Closed)?),
        quota: t.quota().map(amount).transpose()?,
        gap_to_quota: t.gap_to_quota().map(amount).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(error: Error) -> Vec<String> {
        match error {
            Error::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn forecast_requests_name_every_bad_field() {
        let error = forecast_query(
            FiscalCalendar::default(),
            &pb::GetForecastRequest {
                start_date: "2026-13-01".into(),
                end_date: "".into(),
                owner_id: Uuid::now_v7().to_string(),
                team_manager_id: Uuid::now_v7().to_string(),
                pipeline_id: "x".into(),
                ..Default::default()
            },
        )
        .expect_err("invalid");
        assert_eq!(
            fields(error),
            ["start_date", "end_date", "pipeline_id", "team_manager_id"]
        );
        let reversed = forecast_query(
            FiscalCalendar::default(),
            &pb::GetForecastRequest {
                start_date: "2026-02-01".into(),
                end_date: "2026-01-31".into(),
                ..Default::default()
            },
        )
        .expect_err("invalid");
        assert_eq!(fields(reversed), ["end_date"]);
    }

    #[test]
    fn a_forecast_names_one_owner_or_one_team() {
        let manager = Uuid::now_v7();
        let query = forecast_query(
            FiscalCalendar::default(),
            &pb::GetForecastRequest {
                start_date: "2026-01-01".into(),
                end_date: "2026-03-31".into(),
                team_manager_id: manager.to_string(),
                ..Default::default()
            },
        )
        .expect("valid");
        assert_eq!(query.owners, OwnerFilter::TeamOf(manager));
        assert_eq!(query.pipeline_id, None);
    }

    #[test]
    fn a_forecast_period_is_named_or_given_by_dates_not_both() {
        let quarter = forecast_query(
            FiscalCalendar::default(),
            &pb::GetForecastRequest {
                period: "2026-Q3".into(),
                ..Default::default()
            },
        )
        .expect("valid");
        assert_eq!(
            (day::format(quarter.start), day::format(quarter.end)),
            ("2026-07-01".to_owned(), "2026-09-30".to_owned())
        );
        let both = forecast_query(
            FiscalCalendar::default(),
            &pb::GetForecastRequest {
                period: "2026-Q3".into(),
                start_date: "2026-07-01".into(),
                ..Default::default()
            },
        )
        .expect_err("ambiguous");
        assert_eq!(fields(both), ["period"]);
        let bad = forecast_query(
            FiscalCalendar::default(),
            &pb::GetForecastRequest {
                period: "Q3".into(),
                ..Default::default()
            },
        )
        .expect_err("invalid");
        assert_eq!(fields(bad), ["period"]);
    }

    #[test]
    fn fiscal_periods_follow_the_tenant_calendar_and_name_the_field() {
        let april = FiscalCalendar::new(4);
        let q1 = forecast_query(
            april,
            &pb::GetForecastRequest {
                period: "FY2027-Q1".into(),
                ..Default::default()
            },
        )
        .expect("valid");
        assert_eq!(
            (day::format(q1.start), day::format(q1.end)),
            ("2026-04-01".to_owned(), "2026-06-30".to_owned())
        );
        let outside = forecast_query(
            april,
            &pb::GetForecastRequest {
                period: "FY2027-Q5".into(),
                ..Default::default()
            },
        )
        .expect_err("outside the calendar");
        assert_eq!(fields(outside), ["period"]);
    }

    #[test]
    fn column_tokens_belong_to_their_stage() {
        let (pipeline, stage, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let cursor = Cursor {
            key: crate::listing::KeyValue::Date(chrono::NaiveDate::MIN),
            id: Uuid::now_v7(),
        };
        let token = stage_pages(pipeline, stage).encode(&cursor);
        assert_eq!(
            stage_pages(pipeline, stage)
                .decode::<Cursor>(&token)
                .expect("valid"),
            Some(cursor)
        );
        assert!(
            stage_pages(pipeline, other)
                .decode::<Cursor>(&token)
                .is_err()
        );
        assert!(column_size(-1).is_err());
        assert_eq!(column_size(0).expect("default"), 50);
    }
}
