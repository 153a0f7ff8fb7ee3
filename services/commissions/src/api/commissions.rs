//! `salescompass.commissions.v1.CommissionService`: quotas, lines, recalculation, statements.

use std::sync::Arc;

use proto::commissions as pb;
use tonic::{Request, Response, Status};

use super::{Shared, browse, participant_or_self, viewer};
use crate::convert::{
    attainment_to_pb, audit_entry_to_pb, day_from_pb, id_from_pb, period_from_pb, quota_from_pb,
    recalculation_to_pb, statement_to_pb, status_from_pb, uuid_from_pb, validated,
};
use crate::domain::Viewer;
use crate::domain::period::{Period, Window};
use crate::domain::quota::{Measured, Quota};
use crate::domain::statement::{Attainment, rank};
use crate::domain::violations::Violations;
use crate::error::{Error, Result};
use crate::export;
use crate::store::Store;

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
    Ok((raw.clone(), quota_from_pb(raw)?))
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
        let period = period_from_pb(&mut v, kind, start);
        let as_of = if as_of.is_empty() {
            Some(chrono::Utc::now().date_naive())
        } else {
            v.check("as_of", day_from_pb(as_of))
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
        attainment_to_pb(window, measured, self.measure(window, measured))
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
        viewer.require_admin().map_err(Error::from)?;
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
        let listed = browse::list_lines(&self.shared, viewer, request.get_ref()).await?;
        Ok(Response::new(listed))
    }

    #[tracing::instrument(skip_all)]
    async fn recalculate_period(
        &self,
        request: Request<pb::RecalculatePeriodRequest>,
    ) -> Result<Response<pb::RecalculatePeriodResponse>, Status> {
        let viewer = viewer(&request)?;
        viewer.require_admin().map_err(Error::from)?;
        let request = request.get_ref();
        let participant = id_from_pb("participant_id", &request.participant_id)?;
        let mut v = Violations::new();
        let period = period_from_pb(&mut v, request.period, &request.period_start);
        v.finish().map_err(Error::from)?;
        let recalculation = self
            .shared
            .store
            .recalculate(viewer, participant, validated(period)?)
            .await?;
        Ok(Response::new(recalculation_to_pb(recalculation)))
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
        let period = period_from_pb(&mut v, request.period, &request.period_start);
        v.finish().map_err(Error::from)?;
        let statement = self
            .shared
            .store
            .statement(viewer, participant, validated(period)?)
            .await?;
        Ok(Response::new(statement_to_pb(statement)))
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
        let period = period_from_pb(&mut v, request.period, &request.period_start);
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
        viewer.require_admin().map_err(Error::from)?;
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
        viewer.require_team_reader().map_err(Error::from)?;
        let request = request.get_ref();
        let manager = if request.manager_id.is_empty() {
            viewer.user_id
        } else {
            id_from_pb("manager_id", &request.manager_id)?
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
        viewer.require_admin().map_err(Error::from)?;
        let request = request.get_ref();
        let subject = if request.subject_id.is_empty() {
            None
        } else {
            Some(id_from_pb("subject_id", &request.subject_id)?)
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
            entries: entries.into_iter().map(audit_entry_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn set_statement_status(
        &self,
        request: Request<pb::SetStatementStatusRequest>,
    ) -> Result<Response<pb::Statement>, Status> {
        let viewer = viewer(&request)?;
        viewer.require_admin().map_err(Error::from)?;
        let request = request.get_ref();
        let mut v = Violations::new();
        let participant = v.check("participant_id", uuid_from_pb(&request.participant_id));
        let period = period_from_pb(&mut v, request.period, &request.period_start);
        let status = v.check("status", status_from_pb(request.status));
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
        Ok(Response::new(statement_to_pb(statement)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_statements(
        &self,
        request: Request<pb::ListStatementsRequest>,
    ) -> Result<Response<pb::ListStatementsResponse>, Status> {
        let viewer = viewer(&request)?;
        let listed = browse::list_statements(&self.shared, viewer, request.get_ref()).await?;
        Ok(Response::new(listed))
    }

    #[tracing::instrument(skip_all)]
    async fn list_quotas(
        &self,
        request: Request<pb::ListQuotasRequest>,
    ) -> Result<Response<pb::ListQuotasResponse>, Status> {
        let viewer = viewer(&request)?;
        let listed = browse::list_quotas(&self.shared, viewer, request.get_ref()).await?;
        Ok(Response::new(listed))
    }

    #[tracing::instrument(skip_all)]
    async fn get_quota(
        &self,
        request: Request<pb::GetQuotaRequest>,
    ) -> Result<Response<pb::Quota>, Status> {
        let viewer = viewer(&request)?;
        let quota = browse::get_quota(&self.shared, viewer, request.get_ref()).await?;
        Ok(Response::new(quota))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_quota(
        &self,
        request: Request<pb::DeleteQuotaRequest>,
    ) -> Result<Response<()>, Status> {
        let viewer = viewer(&request)?;
        browse::delete_quota(&self.shared, viewer, request.get_ref()).await?;
        Ok(Response::new(()))
    }

    #[tracing::instrument(skip_all)]
    async fn upload_quotas(
        &self,
        request: Request<pb::UploadQuotasRequest>,
    ) -> Result<Response<pb::UploadQuotasResponse>, Status> {
        let viewer = viewer(&request)?;
        let report = browse::upload_quotas(&self.shared, viewer, request.get_ref()).await?;
        Ok(Response::new(report))
    }

    #[tracing::instrument(skip_all)]
    async fn estimate_commission(
        &self,
        request: Request<pb::EstimateCommissionRequest>,
    ) -> Result<Response<pb::CommissionEstimate>, Status> {
        let viewer = viewer(&request)?;
        let estimate = browse::estimate_commission(&self.shared, viewer, request.get_ref()).await?;
        Ok(Response::new(estimate))
    }
}

#[cfg(test)]
mod tests {
    use auth::BuiltinRole;
    use pb::commission_service_server::CommissionService;
    use tonic::Code;
    use uuid::Uuid;

    use super::*;
    use crate::api::testing::{bad_fields, quarter, refused, request, shared, viewer};
    use crate::domain::listing::{Page, PageRequest};
    use crate::domain::quota::TeamFigures;
    use crate::domain::statement::{Statement, Status, Totals};
    use crate::store::MockStore;

    fn empty_statement(participant: Uuid, period: Period) -> Statement {
        Statement {
            participant_id: participant,
            period,
            currency: "EUR".into(),
            status: Status::Draft,
            totals: Totals::default(),
            lines: vec![],
            adjusted: 0,
            opening: 0,
            adjustments: vec![],
        }
    }

    fn quota_request(user: Uuid) -> pb::SetQuotaRequest {
        pb::SetQuotaRequest {
            quota: Some(pb::Quota {
                user_id: user.to_string(),
                period: pb::PeriodKind::Quarter as i32,
                period_start: "2026-04-01".into(),
                currency_code: "EUR".into(),
                amount_minor: 5_000_000,
                ..Default::default()
            }),
        }
    }

    #[tokio::test]
    async fn a_rep_lists_their_own_lines_when_no_participant_is_named() {
        let rep = viewer(BuiltinRole::SalesRep);
        let mut store = MockStore::new();
        store
            .expect_line_page()
            .withf(move |who, participant, period, page| {
                *who == rep
                    && *participant == rep.user_id
                    && *period == quarter("2026-04-01")
                    && *page
                        == PageRequest {
                            size: 50,
                            after: None,
                        }
            })
            .times(1)
            .returning(|_, _, _, _| {
                Ok(Page {
                    items: vec![],
                    next: None,
                })
            });
        let api = CommissionApi::new(shared(store));
        let lines = api
            .list_lines(request(
                rep,
                pb::ListLinesRequest {
                    period: pb::PeriodKind::Quarter as i32,
                    period_start: "2026-04-01".into(),
                    ..Default::default()
                },
            ))
            .await
            .expect("listed")
            .into_inner();
        assert!(lines.lines.is_empty());
        assert!(lines.next_page_token.is_empty());
    }

    #[tokio::test]
    async fn a_bad_period_never_reaches_the_store() {
        let api = CommissionApi::new(shared(MockStore::new()));
        let status = refused(
            api.get_statement(request(
                viewer(BuiltinRole::SalesRep),
                pb::GetStatementRequest {
                    period: 0,
                    period_start: "April".into(),
                    ..Default::default()
                },
            ))
            .await,
        );
        assert_eq!(bad_fields(&status), ["period", "period_start"]);
    }

    #[tokio::test]
    async fn another_participants_statement_the_viewer_may_not_see_is_not_found() {
        let rep = viewer(BuiltinRole::SalesRep);
        let other = Uuid::now_v7();
        let mut store = MockStore::new();
        store
            .expect_statement()
            .withf(move |_, participant, _| *participant == other)
            .times(1)
            .returning(|_, _, _| Err(Error::NotFound("participant")));
        let api = CommissionApi::new(shared(store));
        let status = refused(
            api.get_statement(request(
                rep,
                pb::GetStatementRequest {
                    participant_id: other.to_string(),
                    period: pb::PeriodKind::Quarter as i32,
                    period_start: "2026-04-01".into(),
                },
            ))
            .await,
        );
        assert_eq!(status.code(), Code::NotFound);
    }

    #[tokio::test]
    async fn a_rep_may_not_set_quotas_recalculate_or_read_the_audit_trail() {
        let rep = viewer(BuiltinRole::SalesRep);
        let api = CommissionApi::new(shared(MockStore::new()));
        let quota = refused(
            api.set_quota(request(rep, quota_request(rep.user_id)))
                .await,
        );
        assert_eq!(quota.code(), Code::PermissionDenied);
        let recalculated = refused(
            api.recalculate_period(request(
                rep,
                pb::RecalculatePeriodRequest {
                    participant_id: rep.user_id.to_string(),
                    period: pb::PeriodKind::Quarter as i32,
                    period_start: "2026-04-01".into(),
                },
            ))
            .await,
        );
        assert_eq!(recalculated.code(), Code::PermissionDenied);
        let audit = refused(
            api.list_audit_entries(request(rep, pb::ListAuditEntriesRequest::default()))
                .await,
        );
        assert_eq!(audit.code(), Code::PermissionDenied);
        let team = refused(
            api.get_team_attainment(request(
                rep,
                pb::GetTeamAttainmentRequest {
                    period: pb::PeriodKind::Quarter as i32,
                    period_start: "2026-04-01".into(),
                    ..Default::default()
                },
            ))
            .await,
        );
        assert_eq!(team.code(), Code::PermissionDenied);
    }

    #[tokio::test]
    async fn an_admin_sets_the_parsed_quota_and_gets_it_back() {
        let admin = viewer(BuiltinRole::Admin);
        let rep = Uuid::now_v7();
        let mut store = MockStore::new();
        store
            .expect_set_quota()
            .withf(move |who, quota| {
                *who == admin
                    && *quota
                        == Quota {
                            user_id: rep,
                            period: quarter("2026-04-01"),
                            currency: "EUR".into(),
                            amount: 5_000_000,
                        }
            })
            .times(1)
            .returning(|_, quota| Ok(quota));
        let api = CommissionApi::new(shared(store));
        let echoed = api
            .set_quota(request(admin, quota_request(rep)))
            .await
            .expect("set")
            .into_inner();
        assert_eq!(echoed.user_id, rep.to_string());
        assert_eq!(echoed.amount_minor, 5_000_000);
    }

    #[tokio::test]
    async fn a_statement_moves_only_to_approved_or_paid() {
        let admin = viewer(BuiltinRole::Admin);
        let api = CommissionApi::new(shared(MockStore::new()));
        let status = refused(
            api.set_statement_status(request(
                admin,
                pb::SetStatementStatusRequest {
                    participant_id: Uuid::now_v7().to_string(),
                    period: pb::PeriodKind::Quarter as i32,
                    period_start: "2026-04-01".into(),
                    status: pb::StatementStatus::Draft as i32,
                },
            ))
            .await,
        );
        assert_eq!(bad_fields(&status), ["status"]);

        let rep = Uuid::now_v7();
        let mut store = MockStore::new();
        store
            .expect_set_statement_status()
            .withf(move |_, participant, period, status| {
                (*participant, *period, *status) == (rep, quarter("2026-04-01"), Status::Paid)
            })
            .times(1)
            .returning(|_, participant, period, _| {
                Ok(Statement {
                    status: Status::Paid,
                    ..empty_statement(participant, period)
                })
            });
        let api = CommissionApi::new(shared(store));
        let statement = api
            .set_statement_status(request(
                admin,
                pb::SetStatementStatusRequest {
                    participant_id: rep.to_string(),
                    period: pb::PeriodKind::Quarter as i32,
                    period_start: "2026-04-01".into(),
                    status: pb::StatementStatus::Paid as i32,
                },
            ))
            .await
            .expect("paid")
            .into_inner();
        assert_eq!(statement.status, pb::StatementStatus::Paid as i32);
    }

    #[tokio::test]
    async fn audit_pages_default_to_a_hundred_and_refuse_more_than_the_maximum() {
        let admin = viewer(BuiltinRole::Admin);
        let mut store = MockStore::new();
        store
            .expect_audit_entries()
            .withf(|_, subject, limit| subject.is_none() && *limit == 100)
            .times(1)
            .returning(|_, _, _| Ok(vec![]));
        let api = CommissionApi::new(shared(store));
        api.list_audit_entries(request(admin, pb::ListAuditEntriesRequest::default()))
            .await
            .expect("listed");
        let status = refused(
            api.list_audit_entries(request(
                admin,
                pb::ListAuditEntriesRequest {
                    page_size: MAX_AUDIT_ENTRIES + 1,
                    ..Default::default()
                },
            ))
            .await,
        );
        assert_eq!(bad_fields(&status), ["page_size"]);
    }

    #[tokio::test]
    async fn a_manager_reads_their_team_ranked_by_attainment() {
        let manager = viewer(BuiltinRole::Manager);
        let (ahead, behind) = (Uuid::now_v7(), Uuid::now_v7());
        let measured = |participant_id, attained| Measured {
            participant_id,
            attained,
            quota: Some(("EUR".to_owned(), 1_000)),
        };
        let mut store = MockStore::new();
        store
            .expect_team_attainment()
            .withf(move |_, asked, window| {
                *asked == manager.user_id && window.start == quarter("2026-04-01").start
            })
            .times(1)
            .returning(move |_, manager, _| {
                Ok(TeamFigures::of(
                    manager,
                    vec![measured(behind, 100), measured(ahead, 900)],
                    None,
                ))
            });
        let api = CommissionApi::new(shared(store));
        let team = api
            .get_team_attainment(request(
                manager,
                pb::GetTeamAttainmentRequest {
                    period: pb::PeriodKind::Quarter as i32,
                    period_start: "2026-04-01".into(),
                    as_of: "2026-05-15".into(),
                    ..Default::default()
                },
            ))
            .await
            .expect("team")
            .into_inner();
        let order: Vec<(i32, String)> = team
            .members
            .iter()
            .map(|m| {
                let attainment = m.attainment.as_ref().expect("attainment");
                (m.rank, attainment.participant_id.clone())
            })
            .collect();
        assert_eq!(order, [(1, ahead.to_string()), (2, behind.to_string())]);
        let whole = team.team.expect("team figures");
        assert_eq!((whole.attained_minor, whole.quota_minor), (1_000, 2_000));
        assert!(!team.quota_overridden);
    }
}
