//! Read models over opportunities: the kanban board of a pipeline and the forecast. Both are
//! limited to the opportunities the viewer may read.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::NaiveDate;
use fx::RateTable;
use iso_currency::Currency;
use sqlx::{Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::opportunities::{LISTING as OPPORTUNITIES, PAGE, from_row};
use super::page::fetch_page;
use super::{
    PgStore, Tx, exchange_rates, pipelines, push_scope, quotas, record_scope, tenant_state, users,
};
use crate::domain::fiscal::FiscalCalendar;
use crate::domain::forecast::{
    CategoryOverride, CategoryTotals, ForecastCategory, ForecastQuery, OwnerFilter, QuotaKind,
    Sums, covering, effective, roll_up,
};
use crate::domain::opportunity::Opportunity;
use crate::domain::pipeline::{Stage, StageCategory};
use crate::domain::pricing::minor_digits;
use crate::domain::visibility::{Access, RecordKind, Scope, Viewer};
use crate::error::{Error, Result};
use crate::filter::{CompareOp, Condition, Value};
use crate::listing::{Cursor, ListQuery, Order, Page};

/// Sums of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrencyTotal {
    pub currency: Currency,
    /// In minor units of the currency.
    pub sums: Sums,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BoardColumn {
    pub stage: Stage,
    pub count: i64,
    /// By currency code.
    pub totals: Vec<CurrencyTotal>,
    pub opportunities: Page<Opportunity>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Board {
    pub pipeline_id: Uuid,
    pub columns: Vec<BoardColumn>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ForecastLine {
    pub category: ForecastCategory,
    pub total: CurrencyTotal,
}

/// The forecast of a period: per currency as the deals are, and per rep and manager in the
/// tenant's currency.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ForecastReport {
    /// In category order, then by currency code.
    pub lines: Vec<ForecastLine>,
    /// The tenant's currency; `None` until a tenants event named it (nothing is converted).
    pub currency: Option<Currency>,
    /// Per owner, in minor units of `currency`.
    pub reps: BTreeMap<Uuid, CategoryTotals>,
    /// Per manager within the viewer's scope: their team, themselves included.
    pub managers: BTreeMap<Uuid, CategoryTotals>,
    /// Currencies without a rate in force on some deal's close date.
    pub unconverted: BTreeSet<&'static str>,
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait BoardStore: Send + Sync + 'static {
    /// `None` when there is no such pipeline.
    async fn board(
        &self,
        viewer: Viewer,
        pipeline_id: Uuid,
        page_size: u32,
    ) -> Result<Option<Board>>;
    /// A page of one stage's opportunities; `None` when the stage is not in the pipeline.
    async fn board_stage(
        &self,
        viewer: Viewer,
        pipeline_id: Uuid,
        stage_id: Uuid,
        page_size: u32,
        after: Option<Cursor>,
    ) -> Result<Option<Page<Opportunity>>>;
    async fn forecast(&self, viewer: Viewer, query: ForecastQuery) -> Result<ForecastReport>;
    /// The tenant's fiscal calendar, for naming forecast periods.
    async fn fiscal_calendar(&self, viewer: Viewer) -> Result<FiscalCalendar>;
}

/// A stage's opportunities, by close date then id.
fn stage_query(stage_id: Uuid, page_size: u32, after: Option<Cursor>) -> Result<ListQuery> {
    let field = OPPORTUNITIES
        .fields
        .iter()
        .find(|f| f.name == "stage_id")
        .ok_or_else(|| Error::Internal("opportunity listing lacks stage_id".to_owned()))?;
    let key = OPPORTUNITIES
        .sort_keys
        .iter()
        .find(|k| k.name == "close_date")
        .ok_or_else(|| Error::Internal("opportunity listing lacks close_date".to_owned()))?;
    Ok(ListQuery {
        filter: Some(Condition::Compare {
            field,
            op: CompareOp::Eq,
            value: Value::Uuid(stage_id),
        }),
        order: Order {
            key,
            descending: false,
        },
        after,
        page_size,
    })
}

/// An amount summed in nanos (as Postgres numeric text) in minor units of `currency`. Stored
/// amounts never carry more precision than the currency's minor unit, so this is exact.
fn nanos_to_minor(currency: Currency, nanos: &str) -> Result<i128> {
    let nanos: i128 = nanos
        .parse()
        .map_err(|_| Error::Internal(format!("sum {nanos:?} is not an integer")))?;
    Ok(nanos / 10_i128.pow(9 - minor_digits(currency)))
}

fn parse_currency(code: &str) -> Result<Currency> {
    Currency::from_code(code).ok_or_else(|| Error::Internal(format!("stored currency {code}")))
}

/// Per stage: the count of every opportunity, and per-currency sums of those with an amount.
async fn stage_totals(
    tx: &mut Tx,
    pipeline_id: Uuid,
    read: &Scope,
    stages: &[Stage],
) -> Result<BTreeMap<Uuid, (i64, BTreeMap<&'static str, CurrencyTotal>)>> {
    let mut qb = QueryBuilder::<Postgres>::new(
        "SELECT o.stage_id, o.amount_currency, count(*) AS n,
             COALESCE(sum(o.amount_units::numeric * 1000000000 + o.amount_nanos), 0)::text
                 AS nanos
         FROM opportunities o
         WHERE o.deleted_at IS NULL AND o.pipeline_id = ",
    );
    qb.push_bind(pipeline_id);
    push_scope(&mut qb, "o.owner_id", "o.id", read);
    qb.push(" GROUP BY o.stage_id, o.amount_currency");
    let rows = qb.build().fetch_all(&mut *tx).await?;
    let mut totals: BTreeMap<Uuid, (i64, BTreeMap<&'static str, CurrencyTotal>)> = BTreeMap::new();
    for row in &rows {
        let stage_id: Uuid = row.try_get("stage_id")?;
        let count: i64 = row.try_get("n")?;
        let Some(stage) = stages.iter().find(|s| s.id == stage_id) else {
            continue;
        };
        let entry = totals.entry(stage_id).or_default();
        entry.0 += count;
        let Some(code) = row.try_get::<Option<String>, _>("amount_currency")? else {
            continue;
        };
        let currency = parse_currency(&code)?;
        let minor = nanos_to_minor(currency, row.try_get("nanos")?)?;
        entry
            .1
            .entry(currency.code())
            .or_insert(CurrencyTotal {
                currency,
                sums: Sums::default(),
            })
            .sums
            .add(count, minor, stage.probability);
    }
    Ok(totals)
}

/// The owners a forecast is asked for (`None`: everyone); it counts their opportunities
/// within the viewer's read scope, shared ones included.
async fn forecast_owners(tx: &mut Tx, filter: OwnerFilter) -> Result<Option<Vec<Uuid>>> {
    Ok(match filter {
        OwnerFilter::Everyone => None,
        OwnerFilter::Owner(owner) => Some(vec![owner]),
        OwnerFilter::TeamOf(manager) => {
            let mut team = vec![manager];
            team.extend(users::reports(tx, manager).await?);
            Some(team)
        }
    })
}

/// The forecast deals of one owner, stage, override, currency and rate slot.
struct ForecastGroup {
    owner_id: Uuid,
    stage_category: StageCategory,
    probability: i32,
    set: Option<CategoryOverride>,
    currency: Currency,
    /// 1-based index of the threshold the deals' close dates are at or after.
    slot: i32,
    count: i64,
    /// In minor units of `currency`.
    minor: i128,
}

/// The period's deals aggregated in SQL (one index range scan; no per-deal rows travel).
async fn forecast_groups(
    tx: &mut Tx,
    read: &Scope,
    owners: Option<&[Uuid]>,
    query: &ForecastQuery,
    thresholds: &[NaiveDate],
) -> Result<Vec<ForecastGroup>> {
    let mut qb = QueryBuilder::<Postgres>::new(
        "SELECT o.owner_id, s.category, s.probability, o.forecast_category, o.amount_currency,
             width_bucket(o.close_date, ",
    );
    qb.push_bind(thresholds.to_vec());
    qb.push(
        "::date[]) AS slot, count(*) AS n,
             sum(o.amount_units::numeric * 1000000000 + o.amount_nanos)::text AS nanos
         FROM opportunities o JOIN stages s ON s.id = o.stage_id
         WHERE o.deleted_at IS NULL AND o.amount_currency IS NOT NULL
             AND s.category <> 'lost' AND o.close_date BETWEEN ",
    );
    qb.push_bind(query.start);
    qb.push(" AND ");
    qb.push_bind(query.end);
    push_scope(&mut qb, "o.owner_id", "o.id", read);
    if let Some(owners) = owners {
        qb.push(" AND o.owner_id = ANY(");
        qb.push_bind(owners.to_vec());
        qb.push(")");
    }
    if let Some(pipeline_id) = query.pipeline_id {
        qb.push(" AND o.pipeline_id = ");
        qb.push_bind(pipeline_id);
    }
    qb.push(" GROUP BY 1, 2, 3, 4, 5, 6");
    let rows = qb.build().fetch_all(&mut *tx).await?;
    rows.iter()
        .map(|row| {
            let category: String = row.try_get("category")?;
            let code: String = row.try_get("amount_currency")?;
            let currency = parse_currency(&code)?;
            let set: Option<String> = row.try_get("forecast_category")?;
            Ok(ForecastGroup {
                owner_id: row.try_get("owner_id")?,
                stage_category: StageCategory::parse(&category)
                    .ok_or_else(|| Error::Internal(format!("unknown stage category {category}")))?,
                probability: row.try_get("probability")?,
                set: match set {
                    Some(raw) => Some(CategoryOverride::parse(&raw).ok().flatten().ok_or_else(
                        || Error::Internal(format!("stored forecast category {raw:?}")),
                    )?),
                    None => None,
                },
                currency,
                slot: row.try_get("slot")?,
                count: row.try_get("n")?,
                minor: nanos_to_minor(currency, row.try_get("nanos")?)?,
            })
        })
        .collect()
}

/// `minor` units of `from` in minor units of `to` at the rates in force on `day`; `None`
/// without a rate (or beyond the money range).
fn convert(
    rates: &RateTable,
    from: Currency,
    to: Currency,
    minor: i128,
    day: NaiveDate,
) -> Option<i128> {
    if from == to {
        return Some(minor);
    }
    let from_rate = rates.rate_on(from.code(), day)?;
    let to_rate = rates.rate_on(to.code(), day)?;
    let converted = fx::convert_at(
        i64::try_from(minor).ok()?,
        (from_rate, minor_digits(from)),
        (to_rate, minor_digits(to)),
    )
    .ok()?;
    Some(i128::from(converted))
}

#[async_trait]
impl BoardStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.board", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "board", tenant_id = %viewer.tenant_id))]
    async fn board(
        &self,
        viewer: Viewer,
        pipeline_id: Uuid,
        page_size: u32,
    ) -> Result<Option<Board>> {
        let mut tx = self.tx(viewer).await?;
        let Some(pipeline) = pipelines::load_one(&mut tx, pipeline_id).await? else {
            return Ok(None);
        };
        let read = record_scope(&mut tx, viewer, RecordKind::Opportunity, Access::Read).await?;
        let mut totals = stage_totals(&mut tx, pipeline.id, &read, &pipeline.stages).await?;
        let mut columns = Vec::with_capacity(pipeline.stages.len());
        for stage in pipeline.stages {
            let query = stage_query(stage.id, page_size, None)?;
            let opportunities =
                fetch_page(&mut tx, &PAGE, &read, &query, from_row, |o| o.id).await?;
            let (count, by_currency) = totals.remove(&stage.id).unwrap_or_default();
            columns.push(BoardColumn {
                stage,
                count,
                totals: by_currency.into_values().collect(),
                opportunities,
            });
        }
        tx.commit().await?;
        Ok(Some(Board {
            pipeline_id: pipeline.id,
            columns,
        }))
    }

    #[tracing::instrument(name = "crm.postgres.board_stage", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "board_stage", tenant_id = %viewer.tenant_id))]
    async fn board_stage(
        &self,
        viewer: Viewer,
        pipeline_id: Uuid,
        stage_id: Uuid,
        page_size: u32,
        after: Option<Cursor>,
    ) -> Result<Option<Page<Opportunity>>> {
        let mut tx = self.tx(viewer).await?;
        match pipelines::stage(&mut tx, stage_id).await? {
            Some((pipeline, _)) if pipeline == pipeline_id => {}
            _ => return Ok(None),
        }
        let read = record_scope(&mut tx, viewer, RecordKind::Opportunity, Access::Read).await?;
        let query = stage_query(stage_id, page_size, after)?;
        let page = fetch_page(&mut tx, &PAGE, &read, &query, from_row, |o| o.id).await?;
        tx.commit().await?;
        Ok(Some(page))
    }

    #[tracing::instrument(name = "crm.postgres.forecast", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "forecast", tenant_id = %viewer.tenant_id))]
    async fn forecast(&self, viewer: Viewer, query: ForecastQuery) -> Result<ForecastReport> {
        let mut tx = self.tx(viewer).await?;
        let read = record_scope(&mut tx, viewer, RecordKind::Opportunity, Access::Read).await?;
        let owners = forecast_owners(&mut tx, query.owners).await?;
        let (_, base) = tenant_state::calendar(&mut tx).await?;
        let base = Currency::from_code(&base);
        let rates = match base {
            Some(base) => Some(exchange_rates::table(&mut tx, base.code()).await?),
            None => None,
        };
        // Between two thresholds every rate in force is the same: the groups are per slot.
        let mut thresholds = vec![query.start];
        if let Some(rates) = &rates {
            thresholds.extend(rates.changes_between(query.start, query.end));
        }
        let groups =
            forecast_groups(&mut tx, &read, owners.as_deref(), &query, &thresholds).await?;
        let manager_of = users::managers(&mut tx).await?;
        let period_quotas = quotas::inside(&mut tx, query.start, query.end).await?;
        tx.commit().await?;

        let mut report = ForecastReport {
            currency: base,
            ..ForecastReport::default()
        };
        let mut lines: BTreeMap<(ForecastCategory, &'static str), CurrencyTotal> = BTreeMap::new();
        for g in groups {
            let Some(category) = effective(g.stage_category, g.probability, g.set) else {
                continue;
            };
            lines
                .entry((category, g.currency.code()))
                .or_insert(CurrencyTotal {
                    currency: g.currency,
                    sums: Sums::default(),
                })
                .sums
                .add(g.count, g.minor, g.probability);
            let day = thresholds
                .get(usize::try_from(g.slot).unwrap_or(1).saturating_sub(1))
                .copied()
                .unwrap_or(query.start);
            match (base, &rates) {
                (Some(base), Some(rates)) => match convert(rates, g.currency, base, g.minor, day) {
                    Some(converted) => report
                        .reps
                        .entry(g.owner_id)
                        .or_default()
                        .add(category, g.count, converted),
                    None => {
                        report.unconverted.insert(g.currency.code());
                    }
                },
                _ => {
                    report.unconverted.insert(g.currency.code());
                }
            }
        }
        report.lines = lines
            .into_iter()
            .map(|((category, _), total)| ForecastLine { category, total })
            .collect();
        // Whose rows the viewer sees: the owners in their scope (and asked for).
        let visible: Option<Vec<Uuid>> = match (&read, &owners) {
            (Scope::All, None) => None,
            (Scope::All, Some(filter)) => Some(filter.clone()),
            (Scope::Owners { owners: scope, .. }, None) => Some(scope.clone()),
            (Scope::Owners { owners: scope, .. }, Some(filter)) => Some(
                filter
                    .iter()
                    .filter(|u| scope.contains(u))
                    .copied()
                    .collect(),
            ),
        };
        let is_visible = |user: &Uuid| visible.as_ref().is_none_or(|v| v.contains(user));
        if let (Some(base), Some(rates)) = (base, &rates) {
            let mut by_user: HashMap<Uuid, Vec<(QuotaKind, (String, i64))>> = HashMap::new();
            for q in period_quotas.into_iter().filter(|q| is_visible(&q.user_id)) {
                by_user
                    .entry(q.user_id)
                    .or_default()
                    .push((q.kind, (q.currency_code, q.amount)));
            }
            for (user, quotas) in by_user {
                for (code, amount) in covering(quotas) {
                    // A quota is a target for the whole period: converted at its first day's rate.
                    let converted = Currency::from_code(&code).and_then(|currency| {
                        convert(rates, currency, base, i128::from(amount), query.start)
                    });
                    match converted {
                        Some(converted) => {
                            report.reps.entry(user).or_default().add_quota(converted)
                        }
                        None => {
                            if let Some(currency) = Currency::from_code(&code) {
                                report.unconverted.insert(currency.code());
                            }
                        }
                    }
                }
            }
        }
        report.managers = roll_up(&report.reps, &manager_of);
        report.managers.retain(|m, _| is_visible(m));
        Ok(report)
    }

    async fn fiscal_calendar(&self, viewer: Viewer) -> Result<FiscalCalendar> {
        let mut tx = self.tx(viewer).await?;
        let (calendar, _) = tenant_state::calendar(&mut tx).await?;
        tx.commit().await?;
        Ok(calendar)
    }
}
