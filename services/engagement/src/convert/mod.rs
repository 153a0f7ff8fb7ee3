//! Proto ↔ domain conversion, in one place below `api/` (requests in, responses out) and
//! `events/` (payloads in and out). `<thing>_from_pb` parses a proto value into the domain (bad
//! fields named), `<thing>_to_pb` renders a domain value; nothing here does I/O or checks
//! permissions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use proto::engagement as pb;
use uuid::Uuid;

use crate::domain::heatmap::{Cell, HeatmapQuery};
use crate::domain::report::{self, DisengagedAccount, Money, ReportQuery};
use crate::domain::sankey::{Link, SankeyQuery, StepRate};
use crate::domain::scoring::KindRule;
use crate::domain::touch::{self, Attribution, NewTouch, Touch};
use crate::domain::{
    Engagement, Kind, RecordRef, RecordType, ScoringModel, State, Thresholds, Violations,
};
use crate::error::{Error, Result};

const SECS_PER_DAY: f64 = 86_400.0;

pub fn timestamp_to_pb(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn timestamp_from_pb(
    raw: Option<&prost_types::Timestamp>,
) -> std::result::Result<DateTime<Utc>, &'static str> {
    let raw = raw.ok_or("is required")?;
    let nanos = u32::try_from(raw.nanos).map_err(|_| "must be a valid timestamp")?;
    DateTime::from_timestamp(raw.seconds, nanos).ok_or("must be a valid timestamp")
}

/// A resource id; a malformed id names the field.
pub fn id_from_pb(field: &str, raw: &str) -> Result<Uuid> {
    if raw.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    Uuid::parse_str(raw).map_err(|_| Error::invalid(field, "must be a UUID"))
}

/// An optional id field: empty is `None`.
fn optional_id(raw: &str) -> std::result::Result<Option<Uuid>, &'static str> {
    if raw.is_empty() {
        Ok(None)
    } else {
        Uuid::parse_str(raw).map(Some).map_err(|_| "must be a UUID")
    }
}

const KINDS: &[(pb::EngagementKind, Kind)] = &[
    (pb::EngagementKind::EmailSent, Kind::EmailSent),
    (pb::EngagementKind::EmailOpened, Kind::EmailOpened),
    (pb::EngagementKind::EmailClicked, Kind::EmailClicked),
    (pb::EngagementKind::EmailReplied, Kind::EmailReplied),
    (pb::EngagementKind::Call, Kind::Call),
    (pb::EngagementKind::CallInbound, Kind::CallInbound),
    (pb::EngagementKind::CallOutbound, Kind::CallOutbound),
    (pb::EngagementKind::CallMissed, Kind::CallMissed),
    (pb::EngagementKind::Meeting, Kind::Meeting),
    (pb::EngagementKind::WebVisit, Kind::WebVisit),
    (pb::EngagementKind::FormSubmitted, Kind::FormSubmitted),
    (pb::EngagementKind::QuoteSent, Kind::QuoteSent),
    (pb::EngagementKind::QuoteViewed, Kind::QuoteViewed),
    (pb::EngagementKind::QuoteAccepted, Kind::QuoteAccepted),
    (pb::EngagementKind::InvoicePaid, Kind::InvoicePaid),
    (pb::EngagementKind::CaseOpened, Kind::CaseOpened),
    (pb::EngagementKind::CaseClosed, Kind::CaseClosed),
    (pb::EngagementKind::LeadConverted, Kind::LeadConverted),
];

/// A kind and, for ENGAGEMENT_KIND_CUSTOM, its name; errors name `kind` or `custom_kind`.
pub fn kind_from_pb(
    raw: i32,
    custom: &str,
) -> std::result::Result<Kind, (&'static str, &'static str)> {
    match pb::EngagementKind::try_from(raw) {
        Ok(pb::EngagementKind::Custom) => {
            Kind::custom(custom).map_err(|_| ("custom_kind", "must be 1-64 of a-z, 0-9 and _"))
        }
        Ok(known) => KINDS
            .iter()
            .find(|(p, _)| *p == known)
            .map(|(_, k)| k.clone())
            .ok_or(("kind", "must be a known ENGAGEMENT_KIND_…")),
        Err(_) => Err(("kind", "must be a known ENGAGEMENT_KIND_…")),
    }
}

/// The proto kind and custom name of `kind`.
pub fn kind_to_pb(kind: &Kind) -> (pb::EngagementKind, String) {
    match kind {
        Kind::Custom(name) => (pb::EngagementKind::Custom, name.clone()),
        other => (
            KINDS
                .iter()
                .find(|(_, k)| k == other)
                .map_or(pb::EngagementKind::Unspecified, |(p, _)| *p),
            String::new(),
        ),
    }
}

pub fn state_to_pb(state: State) -> pb::EngagementState {
    match state {
        State::Engaged => pb::EngagementState::Engaged,
        State::Cooling => pb::EngagementState::Cooling,
        State::Disengaged => pb::EngagementState::Disengaged,
    }
}

fn text(v: &mut Violations, field: String, raw: &str, max: usize) -> String {
    if raw.chars().count() > max {
        v.add(field, format!("must be at most {max} characters"));
    }
    raw.to_owned()
}

/// One event of a batch; violations are named `<prefix>.<field>`.
pub fn new_touch_from_pb(
    v: &mut Violations,
    prefix: &str,
    raw: &pb::EngagementEvent,
    now: DateTime<Utc>,
) -> Option<NewTouch> {
    let field = |name: &str| format!("{prefix}.{name}");
    let request_id = raw.request_id.trim();
    if request_id.is_empty() {
        v.add(field("request_id"), "is required");
    } else if request_id.chars().count() > touch::MAX_REQUEST_ID_CHARS {
        v.add(
            field("request_id"),
            format!("must be at most {} characters", touch::MAX_REQUEST_ID_CHARS),
        );
    }
    let kind = match kind_from_pb(raw.kind, &raw.custom_kind) {
        Ok(kind) => Some(kind),
        Err((name, why)) => {
            v.add(field(name), why);
            None
        }
    };
    let named: Vec<(RecordType, &str, &str)> = [
        (RecordType::Lead, "lead_id", raw.lead_id.as_str()),
        (RecordType::Contact, "contact_id", raw.contact_id.as_str()),
        (RecordType::Account, "account_id", raw.account_id.as_str()),
    ]
    .into_iter()
    .filter(|(_, _, id)| !id.is_empty())
    .collect();
    let record = match named.as_slice() {
        [(record_type, name, id)] => v
            .check(
                &field(name),
                Uuid::parse_str(id).map_err(|_| "must be a UUID"),
            )
            .map(|id| RecordRef {
                record_type: *record_type,
                id,
            }),
        [] => {
            v.add(
                field("lead_id"),
                "exactly one of lead_id, contact_id, account_id is required",
            );
            None
        }
        [_, (_, second, _), ..] => {
            v.add(
                field(second),
                "exactly one of lead_id, contact_id, account_id may be set",
            );
            None
        }
    };
    let occurred_at = v
        .check(
            &field("occur_time"),
            timestamp_from_pb(raw.occur_time.as_ref()),
        )
        .and_then(|at| {
            v.check(&field("occur_time"), touch::check_time(at, now))
                .map(|()| at)
        });
    let user_id = v.check(&field("user_id"), optional_id(&raw.user_id));
    let max = touch::MAX_TEXT_CHARS;
    let attribution = Attribution {
        channel: text(v, field("channel"), &raw.channel, max),
        source: text(v, field("source"), &raw.source, max),
        campaign: text(v, field("campaign"), &raw.campaign, max),
        utm_source: text(v, field("utm_source"), &raw.utm_source, max),
        utm_medium: text(v, field("utm_medium"), &raw.utm_medium, max),
        utm_campaign: text(v, field("utm_campaign"), &raw.utm_campaign, max),
        utm_term: text(v, field("utm_term"), &raw.utm_term, max),
        utm_content: text(v, field("utm_content"), &raw.utm_content, max),
    };
    Some(NewTouch {
        request_id: request_id.to_owned(),
        kind: kind?,
        record: record?,
        occurred_at: occurred_at?,
        user_id: user_id?,
        attribution,
    })
}

pub fn touch_to_pb(touch: Touch) -> pb::EngagementEvent {
    let (kind, custom_kind) = kind_to_pb(&touch.touch.kind);
    let record = touch.touch.record;
    let id_if = |t: RecordType| {
        if record.record_type == t {
            record.id.to_string()
        } else {
            String::new()
        }
    };
    let a = touch.touch.attribution;
    pb::EngagementEvent {
        id: touch.id.to_string(),
        request_id: touch.touch.request_id,
        kind: kind as i32,
        custom_kind,
        lead_id: id_if(RecordType::Lead),
        contact_id: id_if(RecordType::Contact),
        account_id: id_if(RecordType::Account),
        occur_time: Some(timestamp_to_pb(touch.touch.occurred_at)),
        user_id: touch
            .touch
            .user_id
            .map(|u| u.to_string())
            .unwrap_or_default(),
        channel: a.channel,
        source: a.source,
        campaign: a.campaign,
        utm_source: a.utm_source,
        utm_medium: a.utm_medium,
        utm_campaign: a.utm_campaign,
        utm_term: a.utm_term,
        utm_content: a.utm_content,
        points: touch.points,
        create_time: Some(timestamp_to_pb(touch.created_at)),
    }
}

pub fn engagement_to_pb(engagement: Engagement) -> pb::Engagement {
    pb::Engagement {
        score: engagement.score,
        state: state_to_pb(engagement.state) as i32,
        last_touch_time: engagement.last_touch.map(timestamp_to_pb),
        breakdown: engagement
            .breakdown
            .into_iter()
            .map(|(kind, points)| {
                let (kind, custom_kind) = kind_to_pb(&kind);
                pb::KindPoints {
                    kind: kind as i32,
                    custom_kind,
                    points,
                }
            })
            .collect(),
    }
}

pub fn heatmap_query_from_pb(raw: &pb::GetEngagementHeatmapRequest) -> Result<HeatmapQuery> {
    let mut v = Violations::new();
    let start = v.check("start_time", timestamp_from_pb(raw.start_time.as_ref()));
    let end = v.check("end_time", timestamp_from_pb(raw.end_time.as_ref()));
    let kind = if raw.kind == 0 {
        Some(None)
    } else {
        match kind_from_pb(raw.kind, "") {
            Ok(kind) => Some(Some(kind)),
            Err((_, why)) => {
                v.add("kind", why);
                None
            }
        }
    };
    let owner_id = v.check("owner_id", optional_id(&raw.owner_id));
    let account_id = v.check("account_id", optional_id(&raw.account_id));
    v.finish().map_err(Error::InvalidArgument)?;
    let query = HeatmapQuery {
        start: validated(start)?,
        end: validated(end)?,
        kind: validated(kind)?,
        owner_id: validated(owner_id)?,
        account_id: validated(account_id)?,
    };
    query.validate().map_err(Error::InvalidArgument)?;
    Ok(query)
}

pub fn cell_to_pb(cell: Cell) -> pb::HeatmapCell {
    pb::HeatmapCell {
        weekday: i32::try_from(cell.weekday).unwrap_or(0),
        hour: i32::try_from(cell.hour).unwrap_or(0),
        count: cell.count,
    }
}

/// A model an admin sends; violations name `scoring_model.<field>`.
pub fn model_from_pb(raw: &pb::ScoringModel) -> Result<ScoringModel> {
    let mut v = Violations::new();
    let mut rules = BTreeMap::new();
    for (i, rule) in raw.rules.iter().enumerate() {
        let kind = match kind_from_pb(rule.kind, &rule.custom_kind) {
            Ok(kind) => kind,
            Err((name, why)) => {
                v.add(format!("scoring_model.rules[{i}].{name}"), why);
                continue;
            }
        };
        let Ok(daily_cap) = u32::try_from(rule.daily_cap) else {
            v.add(
                format!("scoring_model.rules[{i}].daily_cap"),
                "must not be negative",
            );
            continue;
        };
        if rules
            .insert(
                kind,
                KindRule {
                    points: rule.points,
                    daily_cap,
                },
            )
            .is_some()
        {
            v.add(format!("scoring_model.rules[{i}].kind"), "is listed twice");
        }
    }
    v.finish().map_err(Error::InvalidArgument)?;
    let model = ScoringModel {
        half_life_secs: raw.half_life_days * SECS_PER_DAY,
        rules,
        thresholds: Thresholds {
            engaged_enter: raw.engaged_enter,
            engaged_exit: raw.engaged_exit,
            disengaged_enter: raw.disengaged_enter,
            disengaged_exit: raw.disengaged_exit,
        },
    };
    // The domain numbers rules in key order; name them by their place in the request instead.
    let positions: Vec<usize> = {
        let mut order: Vec<(Kind, usize)> = raw
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| kind_from_pb(r.kind, &r.custom_kind).ok().map(|k| (k, i)))
            .collect();
        order.sort();
        order.into_iter().map(|(_, i)| i).collect()
    };
    model.validate().map_err(|violations| {
        Error::InvalidArgument(
            violations
                .into_iter()
                .map(|mut violation| {
                    violation.field = renumber(&violation.field, &positions);
                    violation.field = format!("scoring_model.{}", violation.field);
                    violation
                })
                .collect(),
        )
    })?;
    Ok(model)
}

/// `rules[<key order>]…` as `rules[<request order>]…`.
fn renumber(field: &str, positions: &[usize]) -> String {
    let Some(rest) = field.strip_prefix("rules[") else {
        return field.to_owned();
    };
    let Some((index, tail)) = rest.split_once(']') else {
        return field.to_owned();
    };
    match index.parse::<usize>().ok().and_then(|i| positions.get(i)) {
        Some(position) => format!("rules[{position}]{tail}"),
        None => field.to_owned(),
    }
}

pub fn model_to_pb(model: &ScoringModel, updated_at: Option<DateTime<Utc>>) -> pb::ScoringModel {
    let kinds = Kind::built_in().chain(
        model
            .rules
            .keys()
            .filter(|k| matches!(k, Kind::Custom(_)))
            .cloned(),
    );
    pb::ScoringModel {
        half_life_days: model.half_life_secs / SECS_PER_DAY,
        rules: kinds
            .map(|kind| {
                let rule = model.rule(&kind);
                let (kind, custom_kind) = kind_to_pb(&kind);
                pb::KindRule {
                    kind: kind as i32,
                    custom_kind,
                    points: rule.points,
                    daily_cap: i32::try_from(rule.daily_cap).unwrap_or(i32::MAX),
                }
            })
            .collect(),
        engaged_enter: model.thresholds.engaged_enter,
        engaged_exit: model.thresholds.engaged_exit,
        disengaged_enter: model.thresholds.disengaged_enter,
        disengaged_exit: model.thresholds.disengaged_exit,
        update_time: updated_at.map(timestamp_to_pb),
    }
}

/// The report's filters; errors name `owner_id` or `inactive_days`.
pub fn report_query_from_pb(raw: &pb::ListDisengagedAccountsRequest) -> Result<ReportQuery> {
    let mut v = Violations::new();
    let owner_id = v.check("owner_id", optional_id(&raw.owner_id));
    let inactive_days = match raw.inactive_days {
        0 => Some(report::DEFAULT_INACTIVE_DAYS),
        days => match u32::try_from(days) {
            Ok(days) if days <= report::MAX_INACTIVE_DAYS => Some(days),
            _ => {
                v.add(
                    "inactive_days",
                    format!("must be between 1 and {}", report::MAX_INACTIVE_DAYS),
                );
                None
            }
        },
    };
    v.finish().map_err(Error::InvalidArgument)?;
    Ok(ReportQuery {
        owner_id: validated(owner_id)?,
        inactive_days: validated(inactive_days)?,
    })
}

pub fn disengaged_account_to_pb(account: DisengagedAccount) -> pb::DisengagedAccount {
    pb::DisengagedAccount {
        account_id: account.account_id.to_string(),
        owner_id: account.owner_id.map(|o| o.to_string()).unwrap_or_default(),
        score: account.score,
        open_pipeline: Some(money_to_pb(account.open_pipeline)),
        last_touch_time: account.last_touch.map(timestamp_to_pb),
    }
}

pub fn money_to_pb(money: Money) -> proto::google::r#type::Money {
    proto::google::r#type::Money {
        currency_code: money.currency_code,
        units: money.units,
        nanos: money.nanos,
    }
}

pub fn sankey_query_from_pb(raw: &pb::GetEngagementSankeyRequest) -> Result<SankeyQuery> {
    let mut v = Violations::new();
    let start = v.check("start_time", timestamp_from_pb(raw.start_time.as_ref()));
    let end = v.check("end_time", timestamp_from_pb(raw.end_time.as_ref()));
    v.finish().map_err(Error::InvalidArgument)?;
    let query = SankeyQuery {
        start: validated(start)?,
        end: validated(end)?,
    };
    query.validate().map_err(Error::InvalidArgument)?;
    Ok(query)
}

pub fn link_to_pb(link: Link) -> pb::SankeyLink {
    pb::SankeyLink {
        flow: link.flow,
        source: link.source,
        target: link.target,
        count: link.count,
        lost: link.lost,
        amount: Some(money_to_pb(link.amount)),
    }
}

pub fn step_to_pb(step: StepRate) -> pb::FunnelStep {
    pb::FunnelStep {
        flow: step.flow,
        step: step.step,
        outgoing: step.outgoing,
        converted: step.converted,
        conversion_rate: step.rate,
    }
}

/// Unwraps values a [`Violations::finish`] just vouched for.
pub fn validated<T>(value: Option<T>) -> Result<T> {
    value.ok_or_else(|| Error::Internal("validated field missing".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> pb::EngagementEvent {
        pb::EngagementEvent {
            request_id: "r-1".into(),
            kind: pb::EngagementKind::EmailOpened as i32,
            contact_id: Uuid::now_v7().to_string(),
            occur_time: Some(timestamp_to_pb(Utc::now())),
            ..Default::default()
        }
    }

    fn fields(raw: &pb::EngagementEvent) -> Vec<String> {
        let mut v = Violations::new();
        let parsed = new_touch_from_pb(&mut v, "events[0]", raw, Utc::now());
        match v.finish() {
            Ok(()) => {
                assert!(parsed.is_some());
                Vec::new()
            }
            Err(violations) => violations.into_iter().map(|f| f.field).collect(),
        }
    }

    #[test]
    fn a_good_event_parses() {
        assert!(fields(&event()).is_empty());
    }

    #[test]
    fn each_bad_field_is_named() {
        let twice = pb::EngagementEvent {
            lead_id: Uuid::now_v7().to_string(),
            ..event()
        };
        assert_eq!(fields(&twice), ["events[0].contact_id"]);
        let none = pb::EngagementEvent {
            contact_id: String::new(),
            ..event()
        };
        assert_eq!(fields(&none), ["events[0].lead_id"]);
        let unknown = pb::EngagementEvent {
            kind: 999,
            ..event()
        };
        assert_eq!(fields(&unknown), ["events[0].kind"]);
        let future = pb::EngagementEvent {
            occur_time: Some(timestamp_to_pb(Utc::now() + chrono::Duration::minutes(10))),
            ..event()
        };
        assert_eq!(fields(&future), ["events[0].occur_time"]);
        let custom = pb::EngagementEvent {
            kind: pb::EngagementKind::Custom as i32,
            custom_kind: "Bad Name".into(),
            ..event()
        };
        assert_eq!(fields(&custom), ["events[0].custom_kind"]);
    }

    #[test]
    fn kinds_round_trip() {
        for kind in Kind::built_in().chain([Kind::Custom("webinar".into())]) {
            let (raw, custom) = kind_to_pb(&kind);
            assert_eq!(kind_from_pb(raw as i32, &custom), Ok(kind));
        }
    }

    #[test]
    fn a_model_with_a_zero_half_life_or_negative_points_names_both() {
        let raw = pb::ScoringModel {
            half_life_days: 0.0,
            rules: vec![
                pb::KindRule {
                    kind: pb::EngagementKind::Meeting as i32,
                    points: 5.0,
                    ..Default::default()
                },
                pb::KindRule {
                    kind: pb::EngagementKind::EmailSent as i32,
                    points: -1.0,
                    ..Default::default()
                },
            ],
            ..model_to_pb(&ScoringModel::default(), None)
        };
        let Err(Error::InvalidArgument(violations)) = model_from_pb(&raw) else {
            panic!("refused");
        };
        let fields: Vec<String> = violations.into_iter().map(|f| f.field).collect();
        assert_eq!(
            fields,
            [
                "scoring_model.half_life_days",
                "scoring_model.rules[1].points"
            ]
        );
    }
}
