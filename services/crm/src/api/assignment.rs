//! LeadAssignmentService: the tenant's lead assignment rules (admins only).

use std::sync::Arc;

use auth::permissions::CRM_SETTINGS_WRITE;
use proto::crm as pb;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{mask_paths, parse_id, viewer};
use crate::convert::assignment_rule_to_pb;
use crate::domain::assignment::{MAX_NAME_LEN, RuleData, RulePatch, check_users as distinct_users};
use crate::domain::{Violations, country, text};
use crate::error::{Error, Result};
use crate::store::assignment::AssignmentStore;

const UPDATABLE: &[&str] = &[
    "name",
    "position",
    "source",
    "country_code",
    "min_employee_count",
    "max_employee_count",
    "user_ids",
];

const MAX_SOURCE_LEN: usize = 200;

fn non_negative(value: i32) -> Result<i32, &'static str> {
    if value < 0 {
        Err("must not be negative")
    } else {
        Ok(value)
    }
}

fn user_ids(raw: &[String]) -> Result<Vec<Uuid>, String> {
    let ids = raw
        .iter()
        .map(|id| Uuid::parse_str(id.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "must be user UUIDs".to_owned())?;
    distinct_users(&ids)?;
    Ok(ids)
}

/// The rule's fields named by `paths`, validated; violations name `rule.<field>`.
fn patch(r: &pb::LeadAssignmentRule, paths: &[String]) -> Result<RulePatch> {
    let mut v = Violations::new();
    let mut p = RulePatch::default();
    for path in paths {
        match path.as_str() {
            "name" => p.name = v.check("rule.name", text::required(&r.name, MAX_NAME_LEN)),
            "position" => p.position = v.check("rule.position", non_negative(r.position)),
            "source" => {
                p.source = v.check("rule.source", text::optional(&r.source, MAX_SOURCE_LEN))
            }
            "country_code" => {
                p.country_code = v.check(
                    "rule.country_code",
                    country::parse_optional(&r.country_code),
                )
            }
            "min_employee_count" => {
                p.min_employees = v.check(
                    "rule.min_employee_count",
                    non_negative(r.min_employee_count),
                )
            }
            "max_employee_count" => {
                p.max_employees = v.check(
                    "rule.max_employee_count",
                    non_negative(r.max_employee_count),
                )
            }
            "user_ids" => p.user_ids = v.check("rule.user_ids", user_ids(&r.user_ids)),
            _ => {}
        }
    }
    v.finish()?;
    Ok(p)
}

pub struct AssignmentApi {
    store: Arc<dyn AssignmentStore>,
}

impl AssignmentApi {
    pub fn new(store: Arc<dyn AssignmentStore>) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl pb::lead_assignment_service_server::LeadAssignmentService for AssignmentApi {
    #[tracing::instrument(skip_all)]
    async fn list_lead_assignment_rules(
        &self,
        request: Request<pb::ListLeadAssignmentRulesRequest>,
    ) -> Result<Response<pb::ListLeadAssignmentRulesResponse>, Status> {
        let viewer = viewer(&request, CRM_SETTINGS_WRITE)?;
        let rules = self.store.list_assignment_rules(viewer).await?;
        Ok(Response::new(pb::ListLeadAssignmentRulesResponse {
            rules: rules.into_iter().map(assignment_rule_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn create_lead_assignment_rule(
        &self,
        request: Request<pb::CreateLeadAssignmentRuleRequest>,
    ) -> Result<Response<pb::LeadAssignmentRule>, Status> {
        let viewer = viewer(&request, CRM_SETTINGS_WRITE)?;
        let r = request
            .into_inner()
            .rule
            .ok_or_else(|| Error::invalid("rule", "is required"))?;
        let all: Vec<String> = UPDATABLE.iter().map(|p| (*p).to_owned()).collect();
        let data = RuleData::default().apply(patch(&r, &all)?);
        data.check_range()
            .map_err(|e| Error::invalid("rule.max_employee_count", e))?;
        let rule = self.store.create_assignment_rule(viewer, data).await?;
        Ok(Response::new(assignment_rule_to_pb(rule)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_lead_assignment_rule(
        &self,
        request: Request<pb::UpdateLeadAssignmentRuleRequest>,
    ) -> Result<Response<pb::LeadAssignmentRule>, Status> {
        let viewer = viewer(&request, CRM_SETTINGS_WRITE)?;
        let r = request.into_inner();
        let paths = mask_paths(r.update_mask, UPDATABLE)?;
        let rule = r
            .rule
            .ok_or_else(|| Error::invalid("rule", "is required"))?;
        let id = parse_id("rule.id", &rule.id)?;
        let patch = patch(&rule, &paths)?;
        let updated = self.store.update_assignment_rule(viewer, id, patch).await?;
        Ok(Response::new(assignment_rule_to_pb(updated)))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_lead_assignment_rule(
        &self,
        request: Request<pb::DeleteLeadAssignmentRuleRequest>,
    ) -> Result<Response<()>, Status> {
        let viewer = viewer(&request, CRM_SETTINGS_WRITE)?;
        let id = parse_id("id", &request.get_ref().id)?;
        self.store.delete_assignment_rule(viewer, id).await?;
        Ok(Response::new(()))
    }
}
