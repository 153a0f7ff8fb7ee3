//! Proto ↔ domain conversion, in one module below `api/` and `events/`: handlers build their
//! responses with it, event builders their payloads, so neither `events` nor `store` needs `api`.
//!
//! One naming style: `<thing>_to_pb` turns a domain value into its proto message or enum;
//! `<thing>_from_pb` reads a proto value into the domain and returns the violation's text when
//! the value is not acceptable (the caller names the field).

mod activities;
mod assignment;
mod cases;
mod catalog;
mod custom_fields;
mod duplicates;
mod history;
mod import_jobs;
mod notifications;
mod quotes;
mod records;
mod sharing;

pub use activities::*;
pub use assignment::*;
pub use cases::*;
pub use catalog::*;
pub use custom_fields::*;
pub use duplicates::*;
pub use history::*;
pub use import_jobs::*;
pub use notifications::*;
pub use quotes::*;
pub use records::*;
pub use sharing::*;

use chrono::{DateTime, Utc};
use proto::crm as pb;
use proto::google::r#type::Money as PbMoney;
use uuid::Uuid;

use crate::domain::money::Money;
use crate::domain::visibility::RecordKind;

pub fn timestamp_to_pb(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        // Always below 1e9, so it fits.
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// An optional instant; out-of-range timestamps are refused.
pub fn timestamp_from_pb(
    t: Option<&prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, &'static str> {
    let Some(t) = t else {
        return Ok(None);
    };
    let nanos = u32::try_from(t.nanos).map_err(|_| "is not a valid timestamp")?;
    DateTime::from_timestamp(t.seconds, nanos)
        .filter(|_| nanos < 1_000_000_000)
        .map(Some)
        .ok_or("is not a valid timestamp")
}

pub fn money_to_pb(m: Money) -> PbMoney {
    PbMoney {
        currency_code: m.currency_code().to_owned(),
        units: m.units(),
        nanos: m.nanos(),
    }
}

/// An optional id; none is the empty string.
pub fn optional_id_to_pb(id: Option<Uuid>) -> String {
    id.map(|i| i.to_string()).unwrap_or_default()
}

pub fn record_kind_to_pb(kind: RecordKind) -> pb::RecordType {
    match kind {
        RecordKind::Account => pb::RecordType::Account,
        RecordKind::Contact => pb::RecordType::Contact,
        RecordKind::Lead => pb::RecordType::Lead,
        RecordKind::Opportunity => pb::RecordType::Opportunity,
    }
}

/// One of the four record kinds (cases are support records: not searched, imported, shared or
/// given custom fields).
pub fn record_kind_from_pb(raw: i32) -> Result<RecordKind, &'static str> {
    match pb::RecordType::try_from(raw) {
        Ok(pb::RecordType::Account) => Ok(RecordKind::Account),
        Ok(pb::RecordType::Contact) => Ok(RecordKind::Contact),
        Ok(pb::RecordType::Lead) => Ok(RecordKind::Lead),
        Ok(pb::RecordType::Opportunity) => Ok(RecordKind::Opportunity),
        Ok(pb::RecordType::Case) => Err("must be an account, contact, lead or opportunity"),
        Ok(_) | Err(_) => Err("is not a known record type"),
    }
}

#[cfg(test)]
mod tests {
    use prost::Name;
    use prost_reflect::DescriptorPool;

    use super::*;
    use crate::domain::record_fields::{ACCOUNTS, CONTACTS, FieldTable, LEADS, OPPORTUNITIES};

    /// The names of `M`'s proto fields, from the descriptor set the service is built with.
    fn proto_fields<M: Name>(pool: &DescriptorPool) -> Vec<String> {
        let message = pool
            .get_message_by_name(&M::full_name())
            .unwrap_or_else(|| panic!("no descriptor for {}", M::full_name()));
        message.fields().map(|f| f.name().to_owned()).collect()
    }

    #[test]
    fn every_proto_field_of_a_record_has_a_row_in_its_field_table() {
        let pool = DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
        let cases: [(Vec<String>, &FieldTable); 4] = [
            (proto_fields::<pb::Account>(&pool), &ACCOUNTS),
            (proto_fields::<pb::Contact>(&pool), &CONTACTS),
            (proto_fields::<pb::Lead>(&pool), &LEADS),
            (proto_fields::<pb::Opportunity>(&pool), &OPPORTUNITIES),
        ];
        for (proto, table) in cases {
            let rows: Vec<&str> = table.fields.iter().map(|f| f.name).collect();
            let missing: Vec<&String> = proto
                .iter()
                .filter(|name| !rows.contains(&name.as_str()))
                .collect();
            let stale: Vec<&&str> = rows
                .iter()
                .filter(|name| !proto.iter().any(|p| p == **name))
                .collect();
            assert!(
                missing.is_empty() && stale.is_empty(),
                "{:?} field table: add rows for {missing:?}, remove {stale:?}",
                table.kind
            );
        }
    }

    #[test]
    fn record_kinds_survive_the_round_trip_and_cases_are_refused() {
        for kind in [
            RecordKind::Account,
            RecordKind::Contact,
            RecordKind::Lead,
            RecordKind::Opportunity,
        ] {
            assert_eq!(
                record_kind_from_pb(record_kind_to_pb(kind) as i32),
                Ok(kind)
            );
        }
        assert!(record_kind_from_pb(pb::RecordType::Case as i32).is_err());
        assert!(record_kind_from_pb(99).is_err());
    }

    #[test]
    fn out_of_range_timestamps_are_refused() {
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: 1_000_000_000,
        };
        assert!(timestamp_from_pb(Some(&bad)).is_err());
        let now = Utc::now();
        assert_eq!(
            timestamp_from_pb(Some(&timestamp_to_pb(now))),
            Ok(Some(now))
        );
    }
}
