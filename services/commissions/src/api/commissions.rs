//! `salescompass.commissions.v1.CommissionService`: quotas, lines, recalculation, statements.

use std::sync::Arc;

use proto::commissions as pb;
use tonic::{Request, Response, Status};

use super::{Shared, convert, parse_id, parse_period, participant_or_self, validated, viewer};
use crate::domain::Viewer;
use crate::domain::period::{Period, Window};
use crate::domain::statement::{Attainment, Status as StatementStatus, rank};
use crate::domain::violations::Violations;
use crate::error::{Error, Result};
use crate::export;
use crate::store::{Measured, Quota, Store};

const DEFAULT_AUDIT_ENTRIES: i32 = 100;
const MAX_AUDIT_ENTRIES: i32 = 500;

pub struct CommissionApi {
    shared: Arc<Shared>,
}

impl CommissionApi {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

/// The request's quota, as sent (the response echoes it) and parsed.
fn required_quota(raw: Option<&pb::Quota>) -> Result<(pb::Quota, Quota)> {
    let raw = raw.ok_or_else(|| Error::invalid("quota", "is required"))?;
    Ok((raw.clone(), quota(raw)?))
}

fn quota(raw: &pb::Quota) -> Result<Quota> {
    let mut v = Violations::new();
    let user_id = v.check(
        "quota.user_id",
        uuid::Uuid::parse_str(&raw.user_id).map_err(|_| "must be a UUID"),
    );
    let fiscal = if raw.fiscal_year_start_month == 0 {
        1
    } else {
        u32::try_from(raw.fiscal_year_start_month).unwrap_or(0)
    };
    if !(1..=12).contains(&fiscal) {
        v.add("quota.fiscal_year_start_month", "must be between 1 and 12");
    }
    let kind = v.check("quota.period", super::period_kind(raw.period));
    let start = v.check("quota.period_start", super::parse_day(&raw.period_start));
    let period = match (kind, start) {
        (Some(kind), Some(start)) => {
            let period = Period::starting(kind, fiscal, start);
            if period.is_none() {
                v.add(
                    "quota.period_start",
                    format!("is not the first day of a fiscal {}", kind.as_str()),
                );
            }
            period
        }
        _ => None,
    };
    if iso_currency::Currency::from_code(&raw.currency_code).is_none() {
        v.add("quota.currency_code", "must be an ISO 4217 currency code");
    }
    if raw.amount_minor < 0 {
        v.add("quota.amount_minor", "must not be negative");
    }
    v.finish()?;
    Ok(Quota {
        user_id: validated(user_id)?,
        period: validated(period)?,
        currency: raw.currency_code.clone(),
        amount: raw.amount_minor,
    })
}

/// What an attainment request measures: one period or its fiscal year to date, at `as_of`.
struct AttainmentSpan {
    period: Period,
    as_of: chrono::NaiveDate,
    year_to_date: bool,
}

impl AttainmentSpan {
    fn parse(kind: i32, start: &str, as_of: &str, year_to_date: bool) -> Result<Self> {
        let mut v = Violations::new();
        let period = parse_period(&mut v, kind, start);
        let as_of = if as_of.is_empty() {
            Some(chrono::Utc::now().date_naive())
        } else {
            v.check("as_of", super::parse_day(as_of))
        };
        v.finish()?;
        Ok(Self {
            period: validated(period)?,
            as_of: validated(as_of)?,
            year_to_date,
        })
    }

    /// The window, in the tenant's fiscal year when year to date.
    async fn window(&self, store: &dyn Store, viewer: Viewer) -> Result<Window> {
        if self.year_to_date {
            let month = store.fiscal_year_start_month(viewer).await?;
            Ok(Window::fiscal_year(self.period, month))
        } else {
            Ok(Window::period(self.period))
        }
    }

    fn measure(&self, window: Window, measured: &Measured) -> Attainment {
        let (elapsed, total) = window.elapsed_days(self.as_of);
        Attainment::measure(
            measured.attained,
            measured.quota.as_ref().map(|q| q.1),
            elapsed,
            total,
        )
    }

    fn attainment(&self, window: Window, measured: &Measured) -> pb::Attainment {
        let figures = self.measure(window, measured);
        pb::Attainment {
            participant_id: measured.participant_id.to_string(),
            period: convert::period(window.kind) as i32,
            period_start: window.start.to_string(),
            currency_code: measured
                .quota
                .as_ref()
                .map(|q| q.0.clone())
                .unwrap_or_default(),
            attained_minor: figures.attained,
            quota_minor: figures.quota,
            attainment_basis_points: figures.attainment,
            elapsed_basis_points: figures.elapsed,
            pace_basis_points: figures.pace,
            year_to_date: window.year_to_date,
        }
    }
}

#[tonic::async_trait]
impl pb::commission_service_server::CommissionService for CommissionApi {
    #[tracing::instrument(skip_all)]
    async fn set_quota(
        &self,
        request: Request<pb::SetQuotaRequest>,
    ) -> Result<Response<pb::Quota>, Status> {
        let viewer = viewer(&request)?;
        let (raw, parsed) = required_quota(request.get_ref().quota.as_ref())?;
        self.shared.store.set_quota(viewer, parsed).await?;
        Ok(Response::new(raw))
    }

    #[tracing::instrument(skip_all)]
    async fn list_lines(
        &self,
        request: Request<pb::ListLinesRequest>,
    ) -> Result<Response<pb::ListLinesResponse>, Status> {
        let viewer = viewer(&request)?;
        let request = request.get_ref();
        let participant = participant_or_self(&viewer, &request.participant_id)?;
        let mut v = Violations::new();
        let period = parse_period(&mut v, request.period, &request.period_start);
        v.finish().map_err(Error::from)?;
        let lines = self
            .shared
            .store
            .lines(viewer, participant, validated(period)?)
            .await?;
        Ok(Response::new(pb::ListLinesResponse {
            lines: lines.into_iter().map(convert::line).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn recalculate_period(
        &self,
        request: Request<pb::RecalculatePeriodRequest>,
    ) -> Result<Response<pb::RecalculatePeriodResponse>, Status> {
        let viewer = viewer(&request)?;
        let request = request.get_ref();
        let participant = parse_id("participant_id", &request.participant_id)?;
        let mut v = Violations::new();
        let period = parse_period(&mut v, request.period, &request.period_start);
        v.finish().map_err(Error::from)?;
        let recalculation = self
            .shared
            .store
            .recalculate(viewer, participant, validated(period)?)
            .await?;
        Ok(Response::new(pb::RecalculatePeriodResponse {
            stored_total_minor: recalculation.stored_total,
            recalculated_total_minor: recalculation.recalculated_total,
            matches: recalculation.matches,
            recalculated_lines: recalculation
                .lines
                .into_iter()
                .map(|l| convert::engine_line(l, ""))
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_statement(
        &self,
        request: Request<pb::GetStatementRequest>,
    ) -> Result<Response<pb::Statement>, Status> {
        let viewer = viewer(&request)?;
        let request = request.get_ref();
        let participant = participant_or_self(&viewer, &request.participant_id)?;
        let mut v = Violations::new();
        let period = parse_period(&mut v, request.period, &request.period_start);
        v.finish().map_err(Error::from)?;
        let statement = self
            .shared
            .store
            .statement(viewer, participant, validated(period)?)
            .await?;
        Ok(Response::new(convert::statement(statement)))
    }

    #[tracing::instrument(skip_all)]
    async fn export_statement(
        &self,
        request: Request<pb::ExportStatementRequest>,
    ) -> Result<Response<pb::ExportStatementResponse>, Status> {
        let viewer = viewer(&request)?;
        let request = request.get_ref();
        let participant = participant_or_self(&viewer, &request.participant_id)?;
        let mut v = Violations::new();
        let period = parse_period(&mut v, request.period, &request.period_start);
        let format = pb::ExportFormat::try_from(request.format)
            .ok()
            .filter(|f| *f != pb::ExportFormat::Unspecified);
        if format.is_none() {
            v.add("format", "must be EXPORT_FORMAT_PDF or EXPORT_FORMAT_CSV");
        }
        v.finish().map_err(Error::from)?;
        let period = validated(period)?;
        let (statement, tenant) = self
            .shared
            .store
            .statement_document(viewer, participant, period)
            .await?;
        let decimals = iso_currency::Currency::from_code(&statement.currency)
            .and_then(|c| c.exponent())
            .map_or(2, u32::from);
        let tenant = tenant.unwrap_or_else(|| viewer.tenant_id.to_string());
        let heading = export::Heading {
            tenant_name: &tenant,
            decimals,
        };
        let name = format!(
            "commission-statement-{participant}-{}-{}",
            period.kind.as_str(),
            period.start
        );
        let response = match validated(format)? {
            pb::ExportFormat::Csv => pb::ExportStatementResponse {
                content_type: "text/csv".into(),
                filename: format!("{name}.csv"),
                content: export::csv(&statement, &heading),
            },
            _ => pb::ExportStatementResponse {
                content_type: "application/pdf".into(),
                filename: format!("{name}.pdf"),
                content: export::pdf(&statement, &heading)
                    .map_err(|e| Error::Internal(e.to_string()))?,
            },
        };
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all)]
    async fn get_attainment(
        &self,
        request: Request<pb::GetAttainmentRequest>,
    ) -> Result<Response<pb::Attainment>, Status> {
        let viewer = viewer(&request)?;
        let request = request.get_ref();
        let participant = participant_or_self(&viewer, &request.participant_id)?;
        let span = AttainmentSpan::parse(
            request.period,
            &request.period_start,
            &request.as_of,
            request.year_to_date,
        )?;
        let window = span.window(&*self.shared.store, viewer).await?;
        let measured = self
            .shared
            .store
            .attainment(viewer, participant, window)
            .await?;
        Ok(Response::new(span.attainment(window, &measured)))
    }

    #[tracing::instrument(skip_all)]
    async fn set_team_quota(
        &self,
        request: Request<pb::SetTeamQuotaRequest>,
    ) -> Result<Response<pb::Quota>, Status> {
        let viewer = viewer(&request)?;
        let (raw, parsed) = required_quota(request.get_ref().quota.as_ref())?;
        self.shared.store.set_team_quota(viewer, parsed).await?;
        Ok(Response::new(raw))
    }

    #[tracing::instrument(skip_all)]
    async fn get_team_attainment(
        &self,
        request: Request<pb::GetTeamAttainmentRequest>,
    ) -> Result<Response<pb::TeamAttainment>, Status> {
        let viewer = viewer(&request)?;
        let request = request.get_ref();
        let manager = if request.manager_id.is_empty() {
            viewer.user_id
        } else {
            parse_id("manager_id", &request.manager_id)?
        };
        let span = AttainmentSpan::parse(
            request.period,
            &request.period_start,
            &request.as_of,
            request.year_to_date,
        )?;
        let window = span.window(&*self.shared.store, viewer).await?;
        let figures = self
            .shared
            .store
            .team_attainment(viewer, manager, window)
            .await?;
        let measured: Vec<_> = figures
            .members
            .iter()
            .map(|m| (m.participant_id, span.measure(window, m)))
            .collect();
        let by_id: std::collections::HashMap<_, _> = figures
            .members
            .iter()
            .map(|m| (m.participant_id, m))
            .collect();
        let members = rank(measured)
            .into_iter()
            .filter_map(|(rank, id, _)| {
                let member = by_id.get(&id)?;
                Some(pb::RankedAttainment {
                    rank: i32::try_from(rank).unwrap_or(i32::MAX),
                    attainment: Some(span.attainment(window, member)),
                })
            })
            .collect();
        Ok(Response::new(pb::TeamAttainment {
            manager_id: manager.to_string(),
            team: Some(span.attainment(window, &figures.team)),
            quota_overridden: figures.overridden,
            members,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_audit_entries(
        &self,
        request: Request<pb::ListAuditEntriesRequest>,
    ) -> Result<Response<pb::ListAuditEntriesResponse>, Status> {
        let viewer = viewer(&request)?;
        let request = request.get_ref();
        let subject = if request.subject_id.is_empty() {
            None
        } else {
            Some(parse_id("subject_id", &request.subject_id)?)
        };
        let limit = match request.page_size {
            0 => DEFAULT_AUDIT_ENTRIES,
            n if (1..=MAX_AUDIT_ENTRIES).contains(&n) => n,
            _ => {
                return Err(Error::invalid(
                    "page_size",
                    format!("must be between 0 and {MAX_AUDIT_ENTRIES}"),
                )
                .into());
            }
        };
        let entries = self
            .shared
            .store
            .audit_entries(viewer, subject, i64::from(limit))
            .await?;
        Ok(Response::new(pb::ListAuditEntriesResponse {
            entries: entries
                .into_iter()
                .map(|e| pb::AuditEntry {
                    id: e.id.to_string(),
                    actor_id: e.actor_id.map(|a| a.to_string()).unwrap_or_default(),
                    action: e.action,
                    subject_id: e.subject_id.map(|s| s.to_string()).unwrap_or_default(),
                    detail: e.detail,
                    occur_time: Some(convert::timestamp(e.occurred_at)),
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn set_statement_status(
        &self,
        request: Request<pb::SetStatementStatusRequest>,
    ) -> Result<Response<pb::Statement>, Status> {
        let viewer = viewer(&request)?;
        let request = request.get_ref();
        let mut v = Violations::new();
        let participant = v.check(
            "participant_id",
            uuid::Uuid::parse_str(&request.participant_id).map_err(|_| "must be a UUID"),
        );
        let period = parse_period(&mut v, request.period, &request.period_start);
        let status = match pb::StatementStatus::try_from(request.status) {
            Ok(pb::StatementStatus::Approved) => Some(StatementStatus::Approved),
            Ok(pb::StatementStatus::Paid) => Some(StatementStatus::Paid),
            _ => {
                v.add(
                    "status",
                    "must be STATEMENT_STATUS_APPROVED or STATEMENT_STATUS_PAID",
                );
                None
            }
        };
        v.finish().map_err(Error::from)?;
        let statement = self
            .shared
            .store
            .set_statement_status(
                viewer,
                validated(participant)?,
                validated(period)?,
                validated(status)?,
            )
            .await?;
        Ok(Response::new(convert::statement(statement)))
    }
}
