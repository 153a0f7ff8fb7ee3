//! Lead assignment rules.

use proto::crm as pb;
use uuid::Uuid;

use super::timestamp_to_pb;
use crate::domain::assignment::Rule;

pub fn assignment_rule_to_pb(r: Rule) -> pb::LeadAssignmentRule {
    pb::LeadAssignmentRule {
        id: r.id.to_string(),
        name: r.data.name,
        position: r.data.position,
        source: r.data.source,
        country_code: r.data.country_code,
        min_employee_count: r.data.min_employees,
        max_employee_count: r.data.max_employees,
        user_ids: r.data.user_ids.iter().map(Uuid::to_string).collect(),
        create_time: Some(timestamp_to_pb(r.created_at)),
        update_time: Some(timestamp_to_pb(r.updated_at)),
    }
}
