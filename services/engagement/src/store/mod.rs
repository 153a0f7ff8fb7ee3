//! Persistence of engagement: the [`Store`] trait the API depends on and its Postgres
//! implementation. Every request runs in one transaction scoped to the caller's tenant
//! (row-level security); reads and writes are limited to the records the caller sees, from the
//! projections of CRM ownership and the management chain ([`records`], [`users`]).

pub mod heatmap;
pub mod models;
pub mod records;
pub mod report;
pub mod sankey;
pub mod scores;
pub mod sweep;
pub mod tenants;
pub mod touches;
pub mod users;

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};

use crate::domain::heatmap::{Cell, HeatmapQuery};
use crate::domain::record::KnownRecord;
use crate::domain::report::{DisengagedAccount, ReportKey, ReportQuery};
use crate::domain::sankey::{Link, SankeyQuery};
use crate::domain::touch::{NewTouch, Touch};
use crate::domain::{Engagement, RecordRef, ScoringModel, Viewer};
use crate::error::{Error, Result};

pub type Tx = Transaction<'static, Postgres>;

/// A tenant's model and when an admin last changed it (`None`: the defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredModel {
    pub model: ScoringModel,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Why a touch of a batch cannot be recorded: its record is unknown or invisible to the caller
/// (the index into the batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreachable(pub usize);

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Records the touches (idempotent on request ids), in order. Nothing is written when a
    /// record is unknown or invisible: those are answered as `Err(Ok(indices))`.
    async fn record_touches(
        &self,
        viewer: Viewer,
        touches: Vec<NewTouch>,
    ) -> Result<std::result::Result<Vec<Touch>, Vec<Unreachable>>>;
    /// A visible record's engagement now.
    async fn engagement(&self, viewer: Viewer, record: RecordRef) -> Result<Engagement>;
    /// Heatmap cells and the tenant's time zone they are in.
    async fn heatmap(&self, viewer: Viewer, query: HeatmapQuery) -> Result<(Vec<Cell>, String)>;
    /// One page of the disengaged accounts report after `after`, and the key after its last row
    /// when another page follows.
    async fn disengaged_accounts(
        &self,
        viewer: Viewer,
        query: ReportQuery,
        after: Option<ReportKey>,
        page_size: u32,
    ) -> Result<(Vec<DisengagedAccount>, Option<ReportKey>)>;
    /// Sankey links of the period over the records the viewer sees.
    async fn sankey(&self, viewer: Viewer, query: SankeyQuery) -> Result<Vec<Link>>;
    async fn scoring_model(&self, viewer: Viewer) -> Result<StoredModel>;
    /// Replaces the model and re-scores the tenant's records from their recorded touches.
    async fn set_scoring_model(&self, viewer: Viewer, model: ScoringModel) -> Result<StoredModel>;
}

/// The Postgres store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    async fn tx(&self, viewer: Viewer) -> Result<Tx> {
        Ok(db::begin_for_tenant(&self.pool, viewer.tenant_id).await?)
    }
}

/// The current time at the database's precision (microseconds).
pub fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

/// The viewer's reports when visibility needs them (managers).
async fn reports(tx: &mut Tx, viewer: Viewer) -> Result<Vec<uuid::Uuid>> {
    if viewer.needs_team() {
        users::reports(tx, viewer.user_id).await
    } else {
        Ok(Vec::new())
    }
}

/// The records known to the projection and visible to the viewer.
async fn visible_records(
    tx: &mut Tx,
    viewer: Viewer,
    refs: &[RecordRef],
) -> Result<HashMap<RecordRef, KnownRecord>> {
    let mut known = records::known(tx, refs).await?;
    let reports = reports(tx, viewer).await?;
    known.retain(|_, record| viewer.may_see(record.owner_id, &reports));
    Ok(known)
}

#[async_trait]
impl Store for PgStore {
    #[tracing::instrument(name = "engagement.postgres.record_touches", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "record_touches", tenant_id = %viewer.tenant_id, touches = touches.len()))]
    async fn record_touches(
        &self,
        viewer: Viewer,
        touches: Vec<NewTouch>,
    ) -> Result<std::result::Result<Vec<Touch>, Vec<Unreachable>>> {
        let mut tx = self.tx(viewer).await?;
        let mut refs: Vec<RecordRef> = touches.iter().map(|t| t.record).collect();
        refs.sort_unstable();
        refs.dedup();
        let visible = visible_records(&mut tx, viewer, &refs).await?;
        let unreachable: Vec<Unreachable> = touches
            .iter()
            .enumerate()
            .filter(|(_, t)| !visible.contains_key(&t.record))
            .map(|(i, _)| Unreachable(i))
            .collect();
        if !unreachable.is_empty() {
            return Ok(Err(unreachable));
        }
        let model = models::load(&mut tx).await?.model;
        let known: Vec<KnownRecord> = touches
            .iter()
            .map(|t| visible.get(&t.record).copied())
            .collect::<Option<_>>()
            .ok_or_else(|| Error::Internal("visible record missing".to_owned()))?;
        let recorded = touches::record(&mut tx, viewer.tenant_id, &model, touches, &known).await?;
        tx.commit().await?;
        Ok(Ok(recorded))
    }

    #[tracing::instrument(name = "engagement.postgres.get_engagement", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "get_engagement", tenant_id = %viewer.tenant_id))]
    async fn engagement(&self, viewer: Viewer, record: RecordRef) -> Result<Engagement> {
        let mut tx = self.tx(viewer).await?;
        if !visible_records(&mut tx, viewer, &[record])
            .await?
            .contains_key(&record)
        {
            return Err(Error::NotFound(record.record_type.as_str()));
        }
        let model = models::load(&mut tx).await?.model;
        let engagement = scores::read(&mut tx, &model, record, now()).await?;
        tx.commit().await?;
        Ok(engagement)
    }

    #[tracing::instrument(name = "engagement.postgres.heatmap", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "heatmap", tenant_id = %viewer.tenant_id))]
    async fn heatmap(&self, viewer: Viewer, query: HeatmapQuery) -> Result<(Vec<Cell>, String)> {
        let mut tx = self.tx(viewer).await?;
        let reports = reports(&mut tx, viewer).await?;
        let owners = viewer.owners(&reports);
        let time_zone = tenants::time_zone(&mut tx).await?;
        let cells = heatmap::cells(&mut tx, &query, owners.as_deref(), &time_zone).await?;
        tx.commit().await?;
        Ok((cells, time_zone))
    }

    #[tracing::instrument(name = "engagement.postgres.disengaged_accounts", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "disengaged_accounts", tenant_id = %viewer.tenant_id))]
    async fn disengaged_accounts(
        &self,
        viewer: Viewer,
        query: ReportQuery,
        after: Option<ReportKey>,
        page_size: u32,
    ) -> Result<(Vec<DisengagedAccount>, Option<ReportKey>)> {
        let mut tx = self.tx(viewer).await?;
        let reports = reports(&mut tx, viewer).await?;
        let owners = viewer.owners(&reports);
        let model = models::load(&mut tx).await?.model;
        let currency = tenants::currency(&mut tx).await?;
        let mut rows = report::page(
            &mut tx,
            &model,
            query,
            owners.as_deref(),
            &currency,
            after.as_ref(),
            i64::from(page_size) + 1,
            now(),
        )
        .await?;
        tx.commit().await?;
        let next = if rows.len() > page_size as usize {
            rows.truncate(page_size as usize);
            rows.last().map(|(_, key)| key.clone())
        } else {
            None
        };
        Ok((rows.into_iter().map(|(account, _)| account).collect(), next))
    }

    #[tracing::instrument(name = "engagement.postgres.sankey", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "sankey", tenant_id = %viewer.tenant_id))]
    async fn sankey(&self, viewer: Viewer, query: SankeyQuery) -> Result<Vec<Link>> {
        let mut tx = self.tx(viewer).await?;
        let reports = reports(&mut tx, viewer).await?;
        let owners = viewer.owners(&reports);
        let currency = tenants::currency(&mut tx).await?;
        let links = sankey::links(&mut tx, query, owners.as_deref(), &currency).await?;
        tx.commit().await?;
        Ok(links)
    }

    #[tracing::instrument(name = "engagement.postgres.get_scoring_model", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "get_scoring_model", tenant_id = %viewer.tenant_id))]
    async fn scoring_model(&self, viewer: Viewer) -> Result<StoredModel> {
        let mut tx = self.tx(viewer).await?;
        let model = models::load(&mut tx).await?;
        tx.commit().await?;
        Ok(model)
    }

    #[tracing::instrument(name = "engagement.postgres.set_scoring_model", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "set_scoring_model", tenant_id = %viewer.tenant_id))]
    async fn set_scoring_model(&self, viewer: Viewer, model: ScoringModel) -> Result<StoredModel> {
        let mut tx = self.tx(viewer).await?;
        let stored = models::save(&mut tx, viewer, &model, now()).await?;
        let rescored = scores::rescore(&mut tx, viewer.tenant_id, &model).await?;
        tracing::info!(rescored, "tenant re-scored");
        tx.commit().await?;
        Ok(stored)
    }
}
