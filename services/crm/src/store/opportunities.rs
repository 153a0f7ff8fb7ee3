//! Opportunities and their stage history.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::accounts::money_from;
use super::page::{PageSql, fetch_page};
use super::pipelines;
use super::quotes;
use super::{
    PgStore, Tx, check_owner, check_reassign, check_reference, custom_fields, lost_reasons, now,
    publish, reaches, record_scope, scope, tenant_state, today, users,
};
use crate::domain::FieldViolation;
use crate::domain::forecast::CategoryOverride;
use crate::domain::lost_reason;
use crate::domain::opportunity::{
    CreditSplit, CurrentStage, MoveError, MoveOutcome, NewOpportunity, Opportunity,
    OpportunityData, OpportunityPatch, Placement, StageChange, plan_move, seconds_in_stage,
};
use crate::domain::pipeline::{Stage, StageCategory};
use crate::domain::record::Record;
use crate::domain::visibility::{Access, RecordKind, Viewer};
use crate::error::{Error, Result};
use crate::events::publish::{self as events, Change, StageMove};
use crate::filter::{Field, Kind};
use crate::listing::{KeyKind, ListQuery, Listing, Page, SortKey};

/// Opportunities and their stage moves, as the API and the export need them.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait OpportunityStore: Send + Sync + 'static {
    async fn create_opportunity(
        &self,
        viewer: Viewer,
        opportunity: NewOpportunity,
    ) -> Result<Opportunity>;
    async fn opportunity(&self, viewer: Viewer, id: Uuid) -> Result<Option<Opportunity>>;
    async fn list_opportunities(
        &self,
        viewer: Viewer,
        query: ListQuery,
    ) -> Result<Page<Opportunity>>;
    async fn update_opportunity(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: OpportunityPatch,
    ) -> Result<Option<Opportunity>>;
    async fn delete_opportunity(&self, viewer: Viewer, id: Uuid) -> Result<bool>;
    /// Moves to `stage_id` of the opportunity's pipeline, recording history and events.
    async fn move_stage(
        &self,
        viewer: Viewer,
        id: Uuid,
        stage_id: Uuid,
        lost_reason: String,
    ) -> Result<Option<Opportunity>>;
    /// Oldest first; `None` when the opportunity is not visible.
    async fn stage_history(&self, viewer: Viewer, id: Uuid) -> Result<Option<Vec<StageChange>>>;
}

pub static LISTING: Listing = Listing {
    resource: "opportunities",
    fields: &[
        Field {
            name: "name",
            column: "o.name",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "pipeline_id",
            column: "o.pipeline_id",
            kind: Kind::Uuid { nullable: false },
        },
        Field {
            name: "stage_id",
            column: "o.stage_id",
            kind: Kind::Uuid { nullable: false },
        },
        Field {
            name: "owner_id",
            column: "o.owner_id",
            kind: Kind::Uuid { nullable: false },
        },
        Field {
            name: "account_id",
            column: "o.account_id",
            kind: Kind::Uuid { nullable: true },
        },
        Field {
            name: "primary_contact_id",
            column: "o.primary_contact_id",
            kind: Kind::Uuid { nullable: true },
        },
        Field {
            name: "state",
            column: "s.category",
            kind: Kind::Enum(&["open", "won", "lost"]),
        },
        Field {
            name: "close_date",
            column: "o.close_date",
            kind: Kind::Date,
        },
        Field {
            name: "amount_units",
            column: "o.amount_units",
            kind: Kind::Integer,
        },
        Field {
            name: "amount_currency",
            column: "o.amount_currency",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "create_time",
            column: "o.created_at",
            kind: Kind::Timestamp,
        },
        Field {
            name: "update_time",
            column: "o.updated_at",
            kind: Kind::Timestamp,
        },
    ],
    sort_keys: &[
        SortKey {
            name: "create_time",
            expr: "o.created_at",
            kind: KeyKind::Timestamp,
        },
        SortKey {
            name: "update_time",
            expr: "o.updated_at",
            kind: KeyKind::Timestamp,
        },
        SortKey {
            name: "close_date",
            expr: "o.close_date",
            kind: KeyKind::Date,
        },
        // Deals without an amount sort as zero.
        SortKey {
            name: "amount_units",
            expr: "COALESCE(o.amount_units, 0)",
            kind: KeyKind::Int8,
        },
        SortKey {
            name: "name",
            expr: "o.name",
            kind: KeyKind::Text,
        },
    ],
};

pub(crate) const COLUMNS: &str = "o.id, o.name, o.amount_currency, o.amount_units, o.amount_nanos, \
    o.close_date, o.pipeline_id, o.stage_id, o.owner_id, o.account_id, o.primary_contact_id, \
    o.lost_reason, o.split_user_ids, o.split_percents, o.stage_entered_at, o.created_at, \
    o.updated_at, s.probability AS stage_probability, s.category AS stage_category, \
    o.custom_fields::text AS custom_fields, o.forecast_category";

/// Where `custom.<key>` filters read.
const CUSTOM_COLUMN: &str = "o.custom_fields";

const FROM: &str = "FROM opportunities o JOIN stages s ON s.id = o.stage_id";

pub(crate) const PAGE: PageSql = PageSql {
    columns: COLUMNS,
    from: FROM,
    base: "o.deleted_at IS NULL",
    owner_column: "o.owner_id",
    id_column: "o.id",
};

pub(crate) fn from_row(row: &PgRow) -> Result<Opportunity> {
    let user_ids: Vec<Uuid> = row.try_get("split_user_ids")?;
    let percents: Vec<i32> = row.try_get("split_percents")?;
    let category: String = row.try_get("stage_category")?;
    Ok(Opportunity {
        id: row.try_get("id")?,
        data: OpportunityData {
            name: row.try_get("name")?,
            amount: money_from(
                row.try_get("amount_currency")?,
                row.try_get("amount_units")?,
                row.try_get("amount_nanos")?,
            )?,
            close_date: row.try_get("close_date")?,
            owner_id: row.try_get("owner_id")?,
            custom_fields: custom_fields::from_json(row)?,
            forecast_category: forecast_category_from(row.try_get("forecast_category")?)?,
            account_id: row.try_get("account_id")?,
            primary_contact_id: row.try_get("primary_contact_id")?,
            lost_reason: row.try_get("lost_reason")?,
            splits: user_ids
                .into_iter()
                .zip(percents)
                .map(|(user_id, percent)| CreditSplit { user_id, percent })
                .collect(),
        },
        pipeline_id: row.try_get("pipeline_id")?,
        stage: CurrentStage {
            id: row.try_get("stage_id")?,
            probability: row.try_get("stage_probability")?,
            category: StageCategory::parse(&category)
                .ok_or_else(|| Error::Internal(format!("unknown stage category {category}")))?,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        stage_entered_at: row.try_get("stage_entered_at")?,
    })
}

fn forecast_category_from(raw: Option<String>) -> Result<Option<CategoryOverride>> {
    match raw {
        None => Ok(None),
        Some(raw) => CategoryOverride::parse(&raw)
            .map_err(|_| Error::Internal(format!("stored forecast category {raw:?}"))),
    }
}

/// A live opportunity (any owner), locked for update unless only read.
async fn fetch(tx: &mut Tx, id: Uuid, access: Access) -> Result<Option<Opportunity>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} {FROM} WHERE o.id = $1 AND o.deleted_at IS NULL{}",
        if access == Access::Read {
            ""
        } else {
            " FOR UPDATE OF o"
        }
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A live opportunity the viewer reaches for `access` by ownership, hierarchy or role; shares
/// do not count (see [`reachable`]): quotes follow the opportunity's owner.
pub(crate) async fn visible(
    tx: &mut Tx,
    viewer: Viewer,
    id: Uuid,
    access: Access,
) -> Result<Option<Opportunity>> {
    let Some(opportunity) = fetch(tx, id, access).await? else {
        return Ok(None);
    };
    let scope = scope(tx, viewer, RecordKind::Opportunity, access).await?;
    Ok(scope
        .allows(opportunity.data.owner_id)
        .then_some(opportunity))
}

/// As [`visible`], for the opportunity's own RPCs: a share of it with the viewer counts too.
async fn reachable(
    tx: &mut Tx,
    viewer: Viewer,
    id: Uuid,
    access: Access,
) -> Result<Option<Opportunity>> {
    let Some(opportunity) = fetch(tx, id, access).await? else {
        return Ok(None);
    };
    let owner = opportunity.data.owner_id;
    let reached = reaches(tx, viewer, RecordKind::Opportunity, access, id, owner).await?;
    Ok(reached.then_some(opportunity))
}

/// The pipeline and open stage a new opportunity goes to.
pub(crate) async fn place(
    tx: &mut Tx,
    tenant_id: Uuid,
    placement: Placement,
) -> Result<(Uuid, Stage)> {
    let requested_stage = match placement.stage_id {
        Some(id) => Some(
            pipelines::stage(tx, id)
                .await?
                .ok_or_else(|| Error::invalid("stage_id", "no such stage"))?,
        ),
        None => None,
    };
    let pipeline = match (placement.pipeline_id, &requested_stage) {
        (Some(id), _) => pipelines::load_one(tx, id)
            .await?
            .ok_or_else(|| Error::invalid("pipeline_id", "no such pipeline"))?,
        (None, Some((pipeline_id, _))) => pipelines::load_one(tx, *pipeline_id)
            .await?
            .ok_or_else(|| Error::Internal("stage without pipeline".to_owned()))?,
        (None, None) => pipelines::ensure_default(tx, tenant_id).await?,
    };
    if pipeline.archived {
        return Err(Error::invalid(
            if placement.pipeline_id.is_some() {
                "pipeline_id"
            } else {
                "stage_id"
            },
            "the pipeline is archived and takes no new opportunities",
        ));
    }
    let stage = match requested_stage {
        Some((_, stage)) if stage.archived => {
            return Err(Error::invalid(
                "stage_id",
                "is archived and takes no new opportunities",
            ));
        }
        Some((pipeline_id, _)) if pipeline_id != pipeline.id => {
            return Err(Error::invalid(
                "stage_id",
                "is a stage of another pipeline than pipeline_id",
            ));
        }
        Some((_, stage)) if stage.category != StageCategory::Open => {
            return Err(Error::invalid(
                "stage_id",
                "new opportunities start in an open stage; close them with MoveStage",
            ));
        }
        Some((_, stage)) => stage,
        None => pipeline
            .first_open_stage()
            .cloned()
            .ok_or_else(|| Error::invalid("pipeline_id", "the pipeline has no open stage"))?,
    };
    Ok((pipeline.id, stage))
}

/// Inserts an opportunity in `stage`, its first history row and `crm.opportunity.created`.
pub(crate) async fn insert(
    tx: &mut Tx,
    viewer: Viewer,
    data: OpportunityData,
    pipeline_id: Uuid,
    stage: &Stage,
) -> Result<Opportunity> {
    let at = now();
    let opportunity = Opportunity {
        id: Uuid::now_v7(),
        data,
        pipeline_id,
        stage: CurrentStage {
            id: stage.id,
            probability: stage.probability,
            category: stage.category,
        },
        created_at: at,
        updated_at: at,
        stage_entered_at: at,
    };
    let d = &opportunity.data;
    sqlx::query(
        "INSERT INTO opportunities (id, tenant_id, name, amount_currency, amount_units,
             amount_nanos, close_date, pipeline_id, stage_id, owner_id, account_id,
             primary_contact_id, lost_reason, split_user_ids, split_percents, stage_entered_at,
             created_at, updated_at, custom_fields, forecast_category)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $16,
             $17::jsonb, $18)",
    )
    .bind(opportunity.id)
    .bind(viewer.tenant_id)
    .bind(&d.name)
    .bind(d.amount.map(|m| m.currency_code()))
    .bind(d.amount.map(|m| m.units()))
    .bind(d.amount.map(|m| m.nanos()))
    .bind(d.close_date)
    .bind(pipeline_id)
    .bind(stage.id)
    .bind(d.owner_id)
    .bind(d.account_id)
    .bind(d.primary_contact_id)
    .bind(&d.lost_reason)
    .bind(d.splits.iter().map(|s| s.user_id).collect::<Vec<_>>())
    .bind(d.splits.iter().map(|s| s.percent).collect::<Vec<_>>())
    .bind(at)
    .bind(custom_fields::to_json(&d.custom_fields)?)
    .bind(d.forecast_category.map(CategoryOverride::as_str))
    .execute(&mut *tx)
    .await?;
    record_stage_change(
        tx,
        viewer,
        opportunity.id,
        StageChange {
            from_stage_id: None,
            to_stage_id: stage.id,
            changed_by: viewer.user_id,
            changed_at: at,
            seconds_in_stage: 0,
        },
    )
    .await?;
    publish(
        tx,
        &[events::record_changed(
            viewer.tenant_id,
            viewer.user_id,
            Change::Created,
            Record::Opportunity(opportunity.clone()),
            &[],
        )?],
    )
    .await?;
    Ok(opportunity)
}

async fn record_stage_change(
    tx: &mut Tx,
    viewer: Viewer,
    opportunity_id: Uuid,
    change: StageChange,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO stage_history (id, tenant_id, opportunity_id, from_stage_id, to_stage_id,
             changed_by, changed_at, seconds_in_stage)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::now_v7())
    .bind(viewer.tenant_id)
    .bind(opportunity_id)
    .bind(change.from_stage_id)
    .bind(change.to_stage_id)
    .bind(change.changed_by)
    .bind(change.changed_at)
    .bind(change.seconds_in_stage)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Credit goes to active users of the tenant. Users already credited before this change keep
/// their share even if deactivated since (the credit was earned); only new names are checked.
async fn check_split_users(
    tx: &mut Tx,
    data: &OpportunityData,
    before: Option<&OpportunityData>,
) -> Result<()> {
    let credited_before =
        |user: Uuid| before.is_some_and(|b| b.splits.iter().any(|s| s.user_id == user));
    let added: Vec<(usize, Uuid)> = data
        .splits
        .iter()
        .enumerate()
        .filter(|(_, s)| !credited_before(s.user_id))
        .map(|(i, s)| (i, s.user_id))
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = added.iter().map(|(_, id)| *id).collect();
    let violations: Vec<FieldViolation> = added
        .iter()
        .zip(users::activity(tx, &ids).await?)
        .filter_map(|((i, _), active)| {
            let problem = match active {
                Some(true) => return None,
                Some(false) => "the user is deactivated",
                None => "no such user in this tenant",
            };
            Some(FieldViolation::new(format!("splits[{i}].user_id"), problem))
        })
        .collect();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(violations.into())
    }
}

/// Checks the references and owner of an opportunity's data (all of them, or those that
/// changed from `before`).
async fn check_links(
    tx: &mut Tx,
    viewer: Viewer,
    data: &OpportunityData,
    before: Option<&OpportunityData>,
) -> Result<()> {
    match before {
        None => {
            let write = scope(tx, viewer, RecordKind::Opportunity, Access::Write).await?;
            check_owner(tx, viewer, &write, data.owner_id).await?;
        }
        Some(b) if b.owner_id != data.owner_id => {
            let kind = RecordKind::Opportunity;
            check_reassign(tx, viewer, kind, b.owner_id, data.owner_id).await?;
        }
        Some(_) => {}
    }
    check_split_users(tx, data, before).await?;
    if let Some(account) = data.account_id
        && before.is_none_or(|b| b.account_id != data.account_id)
    {
        check_reference(tx, viewer, RecordKind::Account, account, "account_id").await?;
    }
    if let Some(contact) = data.primary_contact_id
        && before.is_none_or(|b| b.primary_contact_id != data.primary_contact_id)
    {
        check_reference(
            tx,
            viewer,
            RecordKind::Contact,
            contact,
            "primary_contact_id",
        )
        .await?;
    }
    Ok(())
}

pub(crate) async fn write_row(tx: &mut Tx, o: &Opportunity) -> Result<()> {
    let d = &o.data;
    sqlx::query(
        "UPDATE opportunities SET name = $2, amount_currency = $3, amount_units = $4,
             amount_nanos = $5, close_date = $6, stage_id = $7, owner_id = $8, account_id = $9,
             primary_contact_id = $10, lost_reason = $11, split_user_ids = $12,
             split_percents = $13, stage_entered_at = $14, updated_at = $15,
             custom_fields = $16::jsonb, forecast_category = $17
         WHERE id = $1",
    )
    .bind(o.id)
    .bind(&d.name)
    .bind(d.amount.map(|m| m.currency_code()))
    .bind(d.amount.map(|m| m.units()))
    .bind(d.amount.map(|m| m.nanos()))
    .bind(d.close_date)
    .bind(o.stage.id)
    .bind(d.owner_id)
    .bind(d.account_id)
    .bind(d.primary_contact_id)
    .bind(&d.lost_reason)
    .bind(d.splits.iter().map(|s| s.user_id).collect::<Vec<_>>())
    .bind(d.splits.iter().map(|s| s.percent).collect::<Vec<_>>())
    .bind(o.stage_entered_at)
    .bind(o.updated_at)
    .bind(custom_fields::to_json(&d.custom_fields)?)
    .bind(d.forecast_category.map(CategoryOverride::as_str))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn move_error(error: MoveError) -> Error {
    match error {
        MoveError::SameStage => Error::FailedPrecondition(error.to_string()),
        MoveError::ArchivedStage => Error::invalid("stage_id", error.to_string()),
        MoveError::LostReasonRequired | MoveError::LostReasonNotAllowed => {
            Error::invalid("lost_reason", error.to_string())
        }
    }
}

#[async_trait]
impl OpportunityStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.create_opportunity", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_opportunity", tenant_id = %viewer.tenant_id))]
    async fn create_opportunity(&self, viewer: Viewer, new: NewOpportunity) -> Result<Opportunity> {
        let (mut tx, config) = self.open(viewer).await?;
        check_links(&mut tx, viewer, &new.data, None).await?;
        let mut new = new;
        new.data.custom_fields = custom_fields::checked_new(
            &mut tx,
            &config,
            RecordKind::Opportunity,
            &new.data.custom_fields,
        )
        .await?;
        let (pipeline_id, stage) = place(&mut tx, viewer.tenant_id, new.placement).await?;
        let opportunity = insert(&mut tx, viewer, new.data, pipeline_id, &stage).await?;
        tx.commit().await?;
        Ok(opportunity)
    }

    async fn opportunity(&self, viewer: Viewer, id: Uuid) -> Result<Option<Opportunity>> {
        let mut tx = self.tx(viewer).await?;
        let opportunity = reachable(&mut tx, viewer, id, Access::Read).await?;
        tx.commit().await?;
        Ok(opportunity)
    }

    #[tracing::instrument(name = "crm.postgres.list_opportunities", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_opportunities", tenant_id = %viewer.tenant_id))]
    async fn list_opportunities(
        &self,
        viewer: Viewer,
        query: ListQuery,
    ) -> Result<Page<Opportunity>> {
        let mut tx = self.tx(viewer).await?;
        let read = record_scope(&mut tx, viewer, RecordKind::Opportunity, Access::Read).await?;
        let query =
            custom_fields::resolve_filter(&mut tx, RecordKind::Opportunity, CUSTOM_COLUMN, query)
                .await?;
        let page = fetch_page(&mut tx, &PAGE, &read, &query, from_row, |o| o.id).await?;
        tx.commit().await?;
        Ok(page)
    }

    #[tracing::instrument(name = "crm.postgres.update_opportunity", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "update_opportunity", tenant_id = %viewer.tenant_id))]
    async fn update_opportunity(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: OpportunityPatch,
    ) -> Result<Option<Opportunity>> {
        let (mut tx, config) = self.open(viewer).await?;
        if patch.custom_fields.is_some() {
            // Before the record's row lock (see `custom_fields::hold_definitions`).
            custom_fields::hold_definitions(&mut tx, &config, RecordKind::Opportunity).await?;
        }
        let Some(before) = reachable(&mut tx, viewer, id, Access::Write).await? else {
            return Ok(None);
        };
        let new_custom_fields = patch.custom_fields.is_some();
        let mut after = before
            .data
            .apply(patch, before.stage.category)
            .map_err(|e| Error::invalid("lost_reason", e.to_string()))?;
        // A changed reason on a lost deal follows the picklist like a move does.
        if after.lost_reason != before.data.lost_reason {
            let picklist = lost_reasons::picklist(&mut tx).await?;
            after.lost_reason = lost_reason::resolve(&picklist, &after.lost_reason, true)
                .map_err(|e| Error::invalid("lost_reason", e.to_string()))?;
        }
        if new_custom_fields {
            after.custom_fields = custom_fields::checked(
                &mut tx,
                &config,
                RecordKind::Opportunity,
                &after.custom_fields,
            )
            .await?;
        }
        let changed = before.data.changed_fields(&after);
        if changed.is_empty() {
            return Ok(Some(before));
        }
        check_links(&mut tx, viewer, &after, Some(&before.data)).await?;
        let updated = Opportunity {
            data: after,
            updated_at: now(),
            ..before
        };
        write_row(&mut tx, &updated).await?;
        publish(
            &mut tx,
            &[events::record_changed(
                viewer.tenant_id,
                viewer.user_id,
                Change::Updated,
                Record::Opportunity(updated.clone()),
                &changed,
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    #[tracing::instrument(name = "crm.postgres.delete_opportunity", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "delete_opportunity", tenant_id = %viewer.tenant_id))]
    async fn delete_opportunity(&self, viewer: Viewer, id: Uuid) -> Result<bool> {
        let mut tx = self.tx(viewer).await?;
        let Some(opportunity) = reachable(&mut tx, viewer, id, Access::Control).await? else {
            return Ok(false);
        };
        sqlx::query("UPDATE opportunities SET deleted_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        publish(
            &mut tx,
            &[events::record_changed(
                viewer.tenant_id,
                viewer.user_id,
                Change::Deleted,
                Record::Opportunity(opportunity),
                &[],
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(name = "crm.postgres.move_stage", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "move_stage", tenant_id = %viewer.tenant_id))]
    async fn move_stage(
        &self,
        viewer: Viewer,
        id: Uuid,
        stage_id: Uuid,
        lost_reason: String,
    ) -> Result<Option<Opportunity>> {
        let mut tx = self.tx(viewer).await?;
        let Some(before) = reachable(&mut tx, viewer, id, Access::Write).await? else {
            return Ok(None);
        };
        let (target_pipeline, to) = pipelines::stage(&mut tx, stage_id)
            .await?
            .ok_or_else(|| Error::invalid("stage_id", "no such stage"))?;
        if target_pipeline != before.pipeline_id {
            return Err(Error::invalid(
                "stage_id",
                "is not a stage of the opportunity's pipeline",
            ));
        }
        if pipelines::is_archived(&mut tx, target_pipeline).await? {
            return Err(Error::FailedPrecondition(
                "the opportunity's pipeline is archived; its deals no longer move".to_owned(),
            ));
        }
        let from = current_stage(&mut tx, before.stage.id).await?;
        let (lost_reason, reason_required) = if to.category == StageCategory::Lost {
            let required = tenant_state::settings(&mut tx).await?.lost_reason_required;
            let picklist = lost_reasons::picklist(&mut tx).await?;
            let reason = lost_reason::resolve(&picklist, &lost_reason, required)
                .map_err(|e| Error::invalid("lost_reason", e.to_string()))?;
            (reason, required)
        } else {
            (lost_reason, true)
        };
        let plan = plan_move(&from, &to, &lost_reason, reason_required).map_err(move_error)?;
        let at = now();
        let today = today();
        let seconds = seconds_in_stage(before.stage_entered_at, at);
        let mut data = before.data.clone();
        data.lost_reason = plan.lost_reason.clone();
        if plan.closes {
            data.close_date = today;
        }
        let mut changed = vec!["stage_id"];
        changed.extend(before.data.changed_fields(&data));
        let moved = Opportunity {
            data,
            stage: CurrentStage {
                id: to.id,
                probability: to.probability,
                category: to.category,
            },
            updated_at: at,
            stage_entered_at: at,
            ..before.clone()
        };
        write_row(&mut tx, &moved).await?;
        record_stage_change(
            &mut tx,
            viewer,
            id,
            StageChange {
                from_stage_id: Some(from.id),
                to_stage_id: to.id,
                changed_by: viewer.user_id,
                changed_at: at,
                seconds_in_stage: seconds,
            },
        )
        .await?;
        let mut announced = vec![events::record_changed(
            viewer.tenant_id,
            viewer.user_id,
            Change::Updated,
            Record::Opportunity(moved.clone()),
            &changed,
        )?];
        // A closing move announces the accepted quote's products, read in this transaction so
        // the event matches what was accepted when the deal closed.
        let closes = plan
            .outcomes
            .iter()
            .any(|o| matches!(o, MoveOutcome::Won | MoveOutcome::Lost));
        let products = if closes {
            quotes::accepted_products(&mut tx, &moved).await?
        } else {
            Vec::new()
        };
        announced.extend(events::stage_moved(
            viewer.tenant_id,
            viewer.user_id,
            &moved,
            StageMove {
                from_stage_id: from.id,
                seconds_in_previous_stage: seconds,
                outcomes: &plan.outcomes,
                today,
                products: &products,
            },
        )?);
        publish(&mut tx, &announced).await?;
        tx.commit().await?;
        tracing::info!(opportunity_id = %id, from = %from.id, to = %to.id, "opportunity moved");
        Ok(Some(moved))
    }

    async fn stage_history(&self, viewer: Viewer, id: Uuid) -> Result<Option<Vec<StageChange>>> {
        let mut tx = self.tx(viewer).await?;
        if reachable(&mut tx, viewer, id, Access::Read)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT from_stage_id, to_stage_id, changed_by, changed_at, seconds_in_stage
             FROM stage_history WHERE opportunity_id = $1
             ORDER BY changed_at, id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let changes = rows
            .iter()
            .map(|row| {
                Ok(StageChange {
                    from_stage_id: row.try_get("from_stage_id")?,
                    to_stage_id: row.try_get("to_stage_id")?,
                    changed_by: row.try_get("changed_by")?,
                    changed_at: row.try_get("changed_at")?,
                    seconds_in_stage: row.try_get("seconds_in_stage")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(changes))
    }
}

async fn current_stage(tx: &mut Tx, id: Uuid) -> Result<Stage> {
    pipelines::stage(tx, id)
        .await?
        .map(|(_, stage)| stage)
        .ok_or_else(|| Error::Internal("opportunity in a vanished stage".to_owned()))
}

/// Moves every live opportunity of `from` to `to` (an admin's stage archive; both stages of
/// one pipeline and category, so nothing is won, lost or reopened). Each move is recorded like
/// a MoveStage: stage history, field history (the row trigger) and
/// `crm.opportunity.updated` + `crm.opportunity.stage_changed`. Returns how many moved.
pub(crate) async fn move_all(tx: &mut Tx, viewer: Viewer, from: &Stage, to: &Stage) -> Result<i64> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} {FROM} WHERE o.stage_id = $1 AND o.deleted_at IS NULL
         ORDER BY o.id FOR UPDATE OF o"
    )))
    .bind(from.id)
    .fetch_all(&mut *tx)
    .await?;
    let at = now();
    let today = today();
    for row in &rows {
        let before = from_row(row)?;
        let seconds = seconds_in_stage(before.stage_entered_at, at);
        let moved = Opportunity {
            stage: CurrentStage {
                id: to.id,
                probability: to.probability,
                category: to.category,
            },
            updated_at: at,
            stage_entered_at: at,
            ..before
        };
        write_row(tx, &moved).await?;
        record_stage_change(
            tx,
            viewer,
            moved.id,
            StageChange {
                from_stage_id: Some(from.id),
                to_stage_id: to.id,
                changed_by: viewer.user_id,
                changed_at: at,
                seconds_in_stage: seconds,
            },
        )
        .await?;
        let mut announced = vec![events::record_changed(
            viewer.tenant_id,
            viewer.user_id,
            Change::Updated,
            Record::Opportunity(moved.clone()),
            &["stage_id"],
        )?];
        announced.extend(events::stage_moved(
            viewer.tenant_id,
            viewer.user_id,
            &moved,
            StageMove {
                from_stage_id: from.id,
                seconds_in_previous_stage: seconds,
                outcomes: &[],
                today,
                products: &[],
            },
        )?);
        publish(tx, &announced).await?;
    }
    Ok(i64::try_from(rows.len()).unwrap_or(i64::MAX))
}
