//! Scoring a batch of new touches: which touches still score under their kind's daily cap, and
//! what the batch adds to each record's per-kind score. A contact's touch also counts for its
//! account (with the same points: the cap is the touched record's).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::kind::Kind;
use super::record::{RecordRef, RecordType};
use super::scoring::{Decayed, ScoringModel, counted_within_cap};
use super::touch::NewTouch;

/// The daily cap's counter: record, kind, UTC day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CapKey {
    pub record: RecordRef,
    pub kind: Kind,
    pub day: NaiveDate,
}

/// The touches of a batch under each cap counter, earliest first, as indices into the batch.
/// Sorted by key, so concurrent batches lock the counters in one order.
pub fn cap_groups(touches: &[NewTouch]) -> BTreeMap<CapKey, Vec<usize>> {
    let mut groups: BTreeMap<CapKey, Vec<usize>> = BTreeMap::new();
    for (i, touch) in touches.iter().enumerate() {
        groups
            .entry(CapKey {
                record: touch.record,
                kind: touch.kind.clone(),
                day: touch.occurred_at.date_naive(),
            })
            .or_default()
            .push(i);
    }
    for indices in groups.values_mut() {
        indices.sort_by_key(|i| (touches[*i].occurred_at, *i));
    }
    groups
}

/// Points of each touch: the kind's points for those within the cap, 0 for the rest.
/// `totals` holds each counter's count after the batch was added to it.
pub fn points(
    model: &ScoringModel,
    touches: &[NewTouch],
    groups: &BTreeMap<CapKey, Vec<usize>>,
    totals: &BTreeMap<CapKey, u32>,
) -> Vec<f64> {
    let mut points = vec![0.0; touches.len()];
    for (key, indices) in groups {
        let rule = model.rule(&key.kind);
        let new = u32::try_from(indices.len()).unwrap_or(u32::MAX);
        let total = totals.get(key).copied().unwrap_or(new);
        let counted = counted_within_cap(total.saturating_sub(new), rule.daily_cap, new);
        for i in indices.iter().take(counted as usize) {
            points[*i] = rule.points;
        }
    }
    points
}

/// What the batch adds to each (record, kind) score, valid at the group's latest touch; a
/// contact's touch also adds to `accounts[i]`, its account. Sorted by key (lock order).
pub fn contributions(
    model: &ScoringModel,
    touches: &[NewTouch],
    points: &[f64],
    accounts: &[Option<uuid::Uuid>],
) -> BTreeMap<(RecordRef, Kind), Decayed> {
    let mut sums: BTreeMap<(RecordRef, Kind), Decayed> = BTreeMap::new();
    let mut add = |record: RecordRef, kind: &Kind, points: f64, at: DateTime<Utc>| {
        let touch = Decayed {
            score: points,
            as_of: at,
        };
        sums.entry((record, kind.clone()))
            .and_modify(|sum| *sum = sum.merge(touch, model.half_life_secs))
            .or_insert(touch);
    };
    for (i, touch) in touches.iter().enumerate() {
        if points[i] <= 0.0 {
            continue;
        }
        add(touch.record, &touch.kind, points[i], touch.occurred_at);
        if let (RecordType::Contact, Some(Some(account))) =
            (touch.record.record_type, accounts.get(i))
        {
            let account = RecordRef {
                record_type: RecordType::Account,
                id: *account,
            };
            add(account, &touch.kind, points[i], touch.occurred_at);
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use uuid::Uuid;

    use super::*;
    use crate::domain::touch::Attribution;

    fn touch(record: RecordRef, kind: Kind, minutes: i64) -> NewTouch {
        let base = Utc
            .with_ymd_and_hms(2026, 12, 2, 9, 0, 0)
            .single()
            .expect("time");
        NewTouch {
            request_id: Uuid::now_v7().to_string(),
            kind,
            record,
            occurred_at: base + Duration::minutes(minutes),
            user_id: None,
            attribution: Attribution::default(),
        }
    }

    #[test]
    fn a_hundred_opens_from_one_mail_client_score_as_the_cap() {
        let model = ScoringModel::default();
        let contact = RecordRef {
            record_type: RecordType::Contact,
            id: Uuid::now_v7(),
        };
        let touches: Vec<_> = (0..100)
            .map(|m| touch(contact, Kind::EmailOpened, 100 - m))
            .collect();
        let groups = cap_groups(&touches);
        let totals = groups
            .keys()
            .map(|k| (k.clone(), 100))
            .collect::<BTreeMap<_, _>>();
        let points = points(&model, &touches, &groups, &totals);
        let cap = Kind::EmailOpened.default_daily_cap() as usize;
        assert_eq!(points.iter().filter(|p| **p > 0.0).count(), cap);
        // The earliest touches are the ones that count.
        assert!(points[99] > 0.0 && points[0] == 0.0);
    }

    #[test]
    fn a_contacts_touch_counts_for_its_account_too() {
        let model = ScoringModel::default();
        let contact = RecordRef {
            record_type: RecordType::Contact,
            id: Uuid::now_v7(),
        };
        let account = Uuid::now_v7();
        let touches = vec![touch(contact, Kind::Meeting, 0)];
        let sums = contributions(&model, &touches, &[20.0], &[Some(account)]);
        let account_ref = RecordRef {
            record_type: RecordType::Account,
            id: account,
        };
        assert_eq!(sums[&(contact, Kind::Meeting)].score, 20.0);
        assert_eq!(sums[&(account_ref, Kind::Meeting)].score, 20.0);
    }

    #[test]
    fn earlier_counts_of_the_day_use_up_the_cap() {
        let model = ScoringModel::default();
        let lead = RecordRef {
            record_type: RecordType::Lead,
            id: Uuid::now_v7(),
        };
        let touches = vec![
            touch(lead, Kind::WebVisit, 0),
            touch(lead, Kind::WebVisit, 1),
        ];
        let groups = cap_groups(&touches);
        let cap = Kind::WebVisit.default_daily_cap();
        // The day already had cap - 1 visits: one more scores.
        let totals = groups.keys().map(|k| (k.clone(), cap + 1)).collect();
        let points = points(&model, &touches, &groups, &totals);
        assert_eq!(points, [Kind::WebVisit.default_points(), 0.0]);
    }
}
