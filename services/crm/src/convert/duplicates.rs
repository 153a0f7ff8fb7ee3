//! Duplicate candidates.

use proto::crm as pb;

use super::record_kind_to_pb;
use crate::domain::duplicates::{Candidate, Rule};

pub fn duplicate_candidate_to_pb(c: Candidate) -> pb::DuplicateCandidate {
    pb::DuplicateCandidate {
        record_type: record_kind_to_pb(c.kind) as i32,
        id: c.id.to_string(),
        display_name: c.display_name,
        owner_id: c.owner_id.to_string(),
        matched_rules: c
            .rules
            .into_iter()
            .map(|r| {
                (match r {
                    Rule::Email => pb::DuplicateRule::Email,
                    Rule::Phone => pb::DuplicateRule::Phone,
                    Rule::Name => pb::DuplicateRule::Name,
                    Rule::Domain => pb::DuplicateRule::Domain,
                }) as i32
            })
            .collect(),
    }
}
