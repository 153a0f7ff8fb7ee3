//! The ledger the CRM's deal events drive: a win credits each split owner under the plan version
//! in force on the close date; a reopening (or a loss after a win) reverses exactly the lines
//! still in force. Runs in the consumer's transaction, which also records the event id, so each
//! event is applied once. Advisory locks serialize the work on one deal and on one participant.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use fx::RateTable;
use sqlx::types::Json;
use uuid::Uuid;

use super::lines::{self, statement_period};
use super::{Tx, audit, exchange_rates, now, plans, publish, quotas};
use crate::domain::conversion;
use crate::domain::engine::{self, Credit, Line, PeriodState, ProductCredit, Step};
use crate::domain::money::{Minor, split};
use crate::domain::period::{Period, PeriodKind};
use crate::domain::plan::Rules;
use crate::domain::statement::Recalculation;
use crate::error::{Error, Result};

/// A won deal as the CRM announced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WonDeal {
    pub deal_id: Uuid,
    /// Currency code and amount in its minor units; `None` when the deal has no amount.
    pub amount: Option<(String, Minor)>,
    /// Credited users and percents (adding up to 100).
    pub splits: Vec<(Uuid, u32)>,
    pub pipeline_id: Option<Uuid>,
    pub close_date: NaiveDate,
    /// The lines of the deal's accepted quote, in quote order (net amounts in the amount's
    /// currency); empty without one.
    pub products: Vec<DealProduct>,
}

/// A product line of a won deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealProduct {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    /// The line's net amount in minor units of the deal amount's currency.
    pub net: Minor,
}

/// Each split owner's credit: their share of the amount and of every product's net amount
/// (shares of one amount add up to it exactly), ordered by participant.
fn shares(deal: &WonDeal, amount: Minor) -> Vec<(Uuid, Minor, Vec<ProductCredit>)> {
    let percents: Vec<u32> = deal.splits.iter().map(|(_, p)| *p).collect();
    let product_shares: Vec<Vec<Minor>> = deal
        .products
        .iter()
        .map(|p| split(p.net, &percents))
        .collect();
    let mut participants: Vec<(Uuid, Minor, Vec<ProductCredit>)> = deal
        .splits
        .iter()
        .zip(split(amount, &percents))
        .enumerate()
        .map(|(i, ((user, _), credited))| {
            let products = deal
                .products
                .iter()
                .zip(&product_shares)
                .map(|(p, shares)| ProductCredit {
                    product_id: p.product_id,
                    sku: p.sku.clone(),
                    name: p.name.clone(),
                    credited: shares[i],
                })
                .collect();
            (*user, credited, products)
        })
        .collect();
    // Locks in a fixed order: no deadlock between events crediting the same people.
    participants.sort_by_key(|(user, ..)| *user);
    participants
}

async fn lock(tx: &mut Tx, key: String) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The last recorded step of a deal (`won` or `reversed`).
async fn last_step(tx: &mut Tx, deal_id: Uuid) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT step FROM deal_steps WHERE deal_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(deal_id)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Records the win and its lines; returns how many lines were written.
#[tracing::instrument(name = "commissions.postgres.record_win", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "record_win", %tenant_id, deal_id = %deal.deal_id))]
pub async fn record_win(
    tx: &mut Tx,
    tenant_id: Uuid,
    event_id: Uuid,
    deal: &WonDeal,
    today: NaiveDate,
) -> Result<usize> {
    lock(tx, format!("commissions.deal:{tenant_id}:{}", deal.deal_id)).await?;
    if last_step(tx, deal.deal_id).await?.as_deref() == Some("won") {
        audit(
            tx,
            tenant_id,
            None,
            "deal.duplicate_win_ignored",
            Some(deal.deal_id),
            &event_id.to_string(),
        )
        .await?;
        return Ok(0);
    }
    let Some((currency, amount)) = &deal.amount else {
        audit(
            tx,
            tenant_id,
            None,
            "deal.no_amount",
            Some(deal.deal_id),
            "won without an amount: nothing to credit",
        )
        .await?;
        return Ok(0);
    };
    let mut written = 0;
    // Loaded when a participant's plan is in another currency than the deal.
    let mut rates: Option<Option<RateTable>> = None;
    for (participant, credited, products) in shares(deal, *amount) {
        let Some(version) = plans::in_force(tx, participant, deal.close_date).await? else {
            audit(
                tx,
                tenant_id,
                None,
                "deal.no_plan",
                Some(deal.deal_id),
                &format!(
                    "participant {participant} has no plan on {}",
                    deal.close_date
                ),
            )
            .await?;
            continue;
        };
        let (credited, products) = if &version.rules.currency == currency {
            (credited, products)
        } else {
            if rates.is_none() {
                rates = Some(exchange_rates::table(tx).await?);
            }
            let plan_currency = &version.rules.currency;
            let converted = match rates.as_ref().and_then(Option::as_ref) {
                Some(table) => conversion::credit_in(
                    table,
                    currency,
                    plan_currency,
                    deal.close_date,
                    credited,
                    products,
                )
                .map_err(|e| e.to_string()),
                None => Err("the tenant's currency is not known yet".to_owned()),
            };
            match converted {
                Ok(converted) => {
                    audit(tx, tenant_id, None, "deal.converted", Some(deal.deal_id), &format!("participant {participant}: {credited} {currency} credited as {} {plan_currency} at the rates of {}", converted.0, deal.close_date)).await?;
                    converted
                }
                Err(reason) => {
                    audit(
                        tx,
                        tenant_id,
                        None,
                        "deal.currency_refused",
                        Some(deal.deal_id),
                        &format!(
                            "deal in {currency}, plan {} in {plan_currency}: not converted ({reason})",
                            version.id
                        ),
                    )
                    .await?;
                    continue;
                }
            }
        };
        lock(
            tx,
            format!("commissions.participant:{tenant_id}:{participant}"),
        )
        .await?;
        let rules = &version.rules;
        let period =
            Period::containing(rules.period, rules.fiscal_year_start_month, deal.close_date);
        let state = PeriodState::from_lines(
            lines::credited_in(tx, participant, period)
                .await?
                .iter()
                .map(|l| &l.line),
        );
        let quota = quotas::get(tx, participant, period, &rules.currency).await?;
        let credit = Credit {
            deal_id: deal.deal_id,
            credited,
            pipeline_id: deal.pipeline_id,
            products,
        };
        let computed = engine::calculate(rules, quota, &state, &credit);
        insert_step(
            tx,
            tenant_id,
            participant,
            version.id,
            period,
            deal.deal_id,
            Some((&credit, deal.close_date)),
            event_id,
        )
        .await?;
        let lands = statement_period(
            tx,
            participant,
            period,
            rules.fiscal_year_start_month,
            today,
        )
        .await?;
        lines::insert(
            tx,
            tenant_id,
            participant,
            version.id,
            period,
            lands,
            &rules.currency,
            &computed,
            event_id,
        )
        .await?;
        if !computed.is_empty() {
            publish(
                tx,
                crate::events::publish::lines_recorded(
                    tenant_id,
                    participant,
                    deal.deal_id,
                    &rules.currency,
                    &computed,
                    event_id,
                ),
            )
            .await?;
        }
        let total: Minor = computed.iter().map(|l| l.amount).sum();
        audit(
            tx,
            tenant_id,
            None,
            "deal.credited",
            Some(deal.deal_id),
            &format!(
                "participant {participant} credited {credited}, {} line(s) totalling {total} {}",
                computed.len(),
                rules.currency
            ),
        )
        .await?;
        written += computed.len();
    }
    Ok(written)
}

#[allow(clippy::too_many_arguments)]
async fn insert_step(
    tx: &mut Tx,
    tenant_id: Uuid,
    participant: Uuid,
    version_id: Uuid,
    period: Period,
    deal_id: Uuid,
    won: Option<(&Credit, NaiveDate)>,
    event_id: Uuid,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO deal_steps (tenant_id, participant_id, plan_version_id, period_kind, period_start,
             deal_id, step, credited, pipeline_id, event_id, recorded_at, close_date, products)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(tenant_id)
    .bind(participant)
    .bind(version_id)
    .bind(period.kind.as_str())
    .bind(period.start)
    .bind(deal_id)
    .bind(if won.is_some() { "won" } else { "reversed" })
    .bind(won.map_or(0, |(c, _)| c.credited))
    .bind(won.and_then(|(c, _)| c.pipeline_id))
    .bind(event_id)
    .bind(now())
    .bind(won.map(|(_, day)| day))
    .bind(Json(won.map_or(&[][..], |(c, _)| &c.products[..])))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Reverses the lines of a won deal; returns how many clawback lines were written (none when
/// the deal is not in force: never won, or already reversed).
#[tracing::instrument(name = "commissions.postgres.reverse_deal", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "reverse_deal", %tenant_id, %deal_id))]
pub async fn reverse(
    tx: &mut Tx,
    tenant_id: Uuid,
    event_id: Uuid,
    deal_id: Uuid,
    today: NaiveDate,
) -> Result<usize> {
    lock(tx, format!("commissions.deal:{tenant_id}:{deal_id}")).await?;
    if last_step(tx, deal_id).await?.as_deref() != Some("won") {
        return Ok(0);
    }
    // The participants credited by the last win, with their version and period.
    let credited: Vec<(Uuid, Uuid, String, NaiveDate)> = sqlx::query_as(
        "SELECT DISTINCT ON (participant_id) participant_id, plan_version_id, period_kind, period_start
         FROM deal_steps WHERE deal_id = $1 ORDER BY participant_id, seq DESC",
    )
    .bind(deal_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut written = 0;
    for (participant, version_id, kind, start) in credited {
        lock(
            tx,
            format!("commissions.participant:{tenant_id}:{participant}"),
        )
        .await?;
        let kind = PeriodKind::parse(&kind)
            .ok_or_else(|| Error::Internal(format!("stored period kind {kind:?}")))?;
        let period = Period { kind, start };
        let version = plans::version(tx, version_id)
            .await?
            .ok_or_else(|| Error::Internal(format!("plan version {version_id} missing")))?;
        let in_force = lines::in_force_of_deal(tx, participant, deal_id).await?;
        let reversal = engine::clawback(
            &in_force
                .iter()
                .map(|l| l.line.clone())
                .collect::<Vec<Line>>(),
        );
        insert_step(
            tx,
            tenant_id,
            participant,
            version_id,
            period,
            deal_id,
            None,
            event_id,
        )
        .await?;
        let lands = statement_period(
            tx,
            participant,
            period,
            version.rules.fiscal_year_start_month,
            today,
        )
        .await?;
        lines::insert(
            tx,
            tenant_id,
            participant,
            version_id,
            period,
            lands,
            &version.rules.currency,
            &reversal,
            event_id,
        )
        .await?;
        if !reversal.is_empty() {
            publish(
                tx,
                crate::events::publish::lines_recorded(
                    tenant_id,
                    participant,
                    deal_id,
                    &version.rules.currency,
                    &reversal,
                    event_id,
                ),
            )
            .await?;
        }
        lines::mark_reversed(tx, &in_force.iter().map(|l| l.id).collect::<Vec<_>>()).await?;
        let total: Minor = reversal.iter().map(|l| l.amount).sum();
        audit(tx, tenant_id, None, "deal.clawed_back", Some(deal_id), &format!("participant {participant}: {} line(s) reversed, {total} landing in the period of {lands}", reversal.len())).await?;
        written += reversal.len();
    }
    Ok(written)
}

/// Replays the recorded steps of `participant`'s credit `period` and compares with the stored
/// lines.
pub async fn recalculate(tx: &mut Tx, participant: Uuid, period: Period) -> Result<Recalculation> {
    type StepRow = (
        Uuid,
        Uuid,
        String,
        Minor,
        Option<Uuid>,
        Json<Vec<ProductCredit>>,
    );
    let steps: Vec<StepRow> = sqlx::query_as(
        "SELECT plan_version_id, deal_id, step, credited, pipeline_id, products FROM deal_steps
         WHERE participant_id = $1 AND period_kind = $2 AND period_start = $3 ORDER BY seq",
    )
    .bind(participant)
    .bind(period.kind.as_str())
    .bind(period.start)
    .fetch_all(&mut **tx)
    .await?;
    let mut versions: BTreeMap<Uuid, Rules> = BTreeMap::new();
    for (version_id, ..) in &steps {
        if !versions.contains_key(version_id) {
            let version = plans::version(tx, *version_id)
                .await?
                .ok_or_else(|| Error::Internal(format!("plan version {version_id} missing")))?;
            versions.insert(*version_id, version.rules);
        }
    }
    let mut replayable = Vec::with_capacity(steps.len());
    let mut currency = None;
    for (version_id, deal_id, step, credited, pipeline_id, products) in &steps {
        let rules = &versions[version_id];
        currency.get_or_insert_with(|| rules.currency.clone());
        let step = if step == "won" {
            Step::Won(Credit {
                deal_id: *deal_id,
                credited: *credited,
                pipeline_id: *pipeline_id,
                products: products.0.clone(),
            })
        } else {
            Step::Reversed(*deal_id)
        };
        replayable.push((step, rules));
    }
    let quota = match &currency {
        Some(currency) => quotas::get(tx, participant, period, currency).await?,
        None => None,
    };
    let recalculated = engine::replay(quota, &replayable);
    let stored: Vec<Line> = lines::credited_in(tx, participant, period)
        .await?
        .into_iter()
        .map(|l| l.line)
        .collect();
    let total = |lines: &[Line]| lines.iter().map(|l| l.amount).sum::<Minor>();
    Ok(Recalculation {
        stored_total: total(&stored),
        recalculated_total: total(&recalculated),
        matches: stored == recalculated,
        lines: recalculated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_shares_every_product_net_exactly_like_the_amount() {
        let (a, b) = (Uuid::from_u128(2), Uuid::from_u128(1));
        let product = |net| DealProduct {
            product_id: Uuid::now_v7(),
            sku: "WID-1".into(),
            name: "Widget".into(),
            net,
        };
        let deal = WonDeal {
            deal_id: Uuid::now_v7(),
            amount: Some(("USD".into(), 100_001)),
            splits: vec![(a, 60), (b, 40)],
            pipeline_id: None,
            close_date: NaiveDate::MIN,
            products: vec![product(50_001), product(333)],
        };
        let credited = shares(&deal, 100_001);
        let summary: Vec<(Uuid, Minor, Vec<Minor>)> = credited
            .iter()
            .map(|(user, amount, products)| {
                (
                    *user,
                    *amount,
                    products.iter().map(|p| p.credited).collect(),
                )
            })
            .collect();
        // Ordered by participant; 60 % of 50 001 is 30 000.6, so the odd cent goes to a.
        assert_eq!(
            summary,
            [
                (b, 40_000, vec![20_000, 133]),
                (a, 60_001, vec![30_001, 200])
            ]
        );
        for (i, p) in deal.products.iter().enumerate() {
            let total: Minor = credited.iter().map(|(_, _, ps)| ps[i].credited).sum();
            assert_eq!(total, p.net);
            assert!(
                credited
                    .iter()
                    .all(|(_, _, ps)| ps[i].product_id == p.product_id)
            );
        }
    }
}
