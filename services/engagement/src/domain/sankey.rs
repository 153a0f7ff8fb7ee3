//! Sankey data: flows between lead statuses and between opportunity stages over a period, with
//! counts and amounts per link, and each step's conversion rate (the share of the moves out of
//! the step that did not end the record: a lost deal, a disqualified lead).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::heatmap::MAX_RANGE;
use super::report::Money;
use super::{FieldViolation, Violations};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SankeyQuery {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl SankeyQuery {
    pub fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        if self.end <= self.start {
            v.add("end_time", "must be after start_time");
        } else if self.end - self.start > MAX_RANGE {
            v.add("end_time", "must be at most 366 days after start_time");
        }
        v.finish()
    }
}

/// Moves from one step to another of one flow (`lead` or `opportunity`).
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub flow: String,
    pub source: String,
    pub target: String,
    pub count: i64,
    /// Moves that ended the record.
    pub lost: i64,
    /// Sum of the moved deals' amounts in the tenant's currency (opportunities).
    pub amount: Money,
}

/// One step's conversion: moves out of it, and those that did not end the record.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRate {
    pub flow: String,
    pub step: String,
    pub outgoing: i64,
    pub converted: i64,
    /// `converted / outgoing`, 0 to 1.
    pub rate: f64,
}

/// Each step's rate from the links leaving it, ordered by flow and step.
pub fn step_rates(links: &[Link]) -> Vec<StepRate> {
    let mut steps: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
    for link in links {
        let entry = steps
            .entry((link.flow.as_str(), link.source.as_str()))
            .or_default();
        entry.0 += link.count;
        entry.1 += link.count - link.lost;
    }
    steps
        .into_iter()
        .map(|((flow, step), (outgoing, converted))| StepRate {
            flow: flow.to_owned(),
            step: step.to_owned(),
            outgoing,
            converted,
            rate: if outgoing > 0 {
                converted as f64 / outgoing as f64
            } else {
                0.0
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(source: &str, target: &str, count: i64, lost: i64) -> Link {
        Link {
            flow: "opportunity".into(),
            source: source.into(),
            target: target.into(),
            count,
            lost,
            amount: Money {
                currency_code: "USD".into(),
                units: 0,
                nanos: 0,
            },
        }
    }

    #[test]
    fn a_steps_rate_is_the_share_of_moves_out_that_kept_the_record_alive() {
        let rates = step_rates(&[
            link("qualify", "propose", 3, 0),
            link("qualify", "lost", 1, 1),
            link("propose", "won", 2, 0),
        ]);
        assert_eq!(rates.len(), 2);
        let qualify = rates.iter().find(|r| r.step == "qualify").expect("qualify");
        assert_eq!((qualify.outgoing, qualify.converted), (4, 3));
        assert_eq!(qualify.rate, 0.75);
        let propose = rates.iter().find(|r| r.step == "propose").expect("propose");
        assert_eq!(propose.rate, 1.0);
    }
}
