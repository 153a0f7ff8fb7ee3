//! Read models over opportunities: the kanban board of a pipeline and the forecast. Both are
//! limited to the opportunities the viewer may read.

use std::collections::BTreeMap;

use async_trait::async_trait;
use iso_currency::Currency;
use sqlx::{Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::opportunities::{LISTING as OPPORTUNITIES, PAGE, from_row};
use super::page::fetch_page;
use super::{PgStore, Tx, pipelines, push_scope, record_scope, users};
use crate::domain::forecast::{ForecastCategory, ForecastQuery, OwnerFilter, Sums, categorize};
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
    /// In category order, then by currency code.
    async fn forecast(&self, viewer: Viewer, query: ForecastQuery) -> Result<Vec<ForecastLine>>;
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
    async fn forecast(&self, viewer: Viewer, query: ForecastQuery) -> Result<Vec<ForecastLine>> {
        let mut tx = self.tx(viewer).await?;
        let read = record_scope(&mut tx, viewer, RecordKind::Opportunity, Access::Read).await?;
        let owners = forecast_owners(&mut tx, query.owners).await?;
        let mut qb = QueryBuilder::<Postgres>::new(
            "SELECT s.category, s.probability, o.amount_currency, count(*) AS n,
                 sum(o.amount_units::numeric * 1000000000 + o.amount_nanos)::text AS nanos
             FROM opportunities o JOIN stages s ON s.id = o.stage_id
             WHERE o.deleted_at IS NULL AND o.amount_currency IS NOT NULL
                 AND s.category <> 'lost' AND o.close_date BETWEEN ",
        );
        qb.push_bind(query.start);
        qb.push(" AND ");
        qb.push_bind(query.end);
        push_scope(&mut qb, "o.owner_id", "o.id", &read);
        if let Some(owners) = owners {
            qb.push(" AND o.owner_id = ANY(");
            qb.push_bind(owners);
            qb.push(")");
        }
        if let Some(pipeline_id) = query.pipeline_id {
            qb.push(" AND o.pipeline_id = ");
            qb.push_bind(pipeline_id);
        }
        qb.push(" GROUP BY s.category, s.probability, o.amount_currency");
        let rows = qb.build().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let mut lines: BTreeMap<(ForecastCategory, &'static str), CurrencyTotal> = BTreeMap::new();
        for row in &rows {
            let category: String = row.try_get("category")?;
            let category = StageCategory::parse(&category)
                .ok_or_else(|| Error::Internal(format!("unknown stage category {category}")))?;
            let probability: i32 = row.try_get("probability")?;
            let Some(forecast) = categorize(category, probability) else {
                continue;
            };
            let code: String = row.try_get("amount_currency")?;
            let currency = parse_currency(&code)?;
            let minor = nanos_to_minor(currency, row.try_get("nanos")?)?;
            lines
                .entry((forecast, currency.code()))
                .or_insert(CurrencyTotal {
                    currency,
                    sums: Sums::default(),
                })
                .sums
                .add(row.try_get("n")?, minor, probability);
        }
        Ok(lines
            .into_iter()
            .map(|((category, _), total)| ForecastLine { category, total })
            .collect())
    }
}
