//! The estimator's reads: the deal or amount, the plan version in force, the period so far and
//! the quota, handed to `domain::estimate`. Nothing is written.

use uuid::Uuid;

use super::{Tx, check_visible, lines, open_deals, plans, quotas};
use crate::domain::Viewer;
use crate::domain::engine::{Credit, PeriodState};
use crate::domain::estimate::{Estimate, EstimateInput, EstimateRequest, Subject, estimate};
use crate::domain::period::Period;
use crate::error::{Error, Result};

pub async fn run(tx: &mut Tx, viewer: Viewer, request: EstimateRequest) -> Result<Estimate> {
    let participant = request.participant;
    check_visible(tx, viewer, participant).await?;
    let (currency, credited, pipeline_id, deal_id) = match request.subject {
        Subject::Deal { deal_id, amount } => {
            let deal = open_deals::open(tx, deal_id)
                .await?
                .ok_or(Error::NotFound("open opportunity"))?;
            let Some((currency, amount)) = amount.or(deal.amount.clone()) else {
                return Err(Error::invalid(
                    "amount_minor",
                    "the opportunity has no amount: give one",
                ));
            };
            let credited = deal.share_of(participant, amount).ok_or_else(|| {
                Error::FailedPrecondition(
                    "the opportunity does not credit this participant (owner or split)".to_owned(),
                )
            })?;
            (currency, credited, deal.pipeline_id, deal_id)
        }
        Subject::Amount {
            currency,
            amount,
            pipeline_id,
        } => (currency, amount, pipeline_id, Uuid::nil()),
    };
    let version = plans::in_force(tx, participant, request.close_date)
        .await?
        .ok_or_else(|| {
            Error::FailedPrecondition(format!(
                "no commission plan is in force for the participant on {}",
                request.close_date
            ))
        })?;
    let rules = &version.rules;
    if rules.currency != currency {
        // As a win in another currency earns nothing (no conversion yet), nor does the estimate.
        return Err(Error::invalid(
            "currency_code",
            format!(
                "the plan pays in {}: a deal in {currency} earns nothing under it",
                rules.currency
            ),
        ));
    }
    let period = Period::containing(
        rules.period,
        rules.fiscal_year_start_month,
        request.close_date,
    );
    let state = PeriodState::from_lines(
        lines::credited_in(tx, participant, period)
            .await?
            .iter()
            .map(|l| &l.line),
    );
    let quota = quotas::get(tx, participant, period, &rules.currency).await?;
    Ok(estimate(
        participant,
        EstimateInput {
            period,
            quota,
            state,
            credit: Credit {
                deal_id,
                credited,
                pipeline_id,
                products: vec![],
            },
            version,
        },
    ))
}
