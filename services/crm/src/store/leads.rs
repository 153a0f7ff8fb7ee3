//! Leads and their conversion.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Column as _, Row};
use uuid::Uuid;

use super::page::{self, PageSql, fetch_page};
use super::tenant_config::TenantConfig;
use super::{
    PgStore, Tx, accounts, assignment, check_owner, check_reassign, contacts, custom_fields, now,
    opportunities, publish, reaches, record_scope, scope, today,
};
use crate::domain::conversion::{
    AccountTarget, Conversion, ConvertError, ConvertOptions, plan as plan_conversion,
};
use crate::domain::custom_fields::{CustomValues, Definition, FieldHost, converted_values};
use crate::domain::duplicates::Probe;
use crate::domain::lead::{ConvertedTo, Lead, LeadData, LeadPatch, LeadRating, LeadStatus};
use crate::domain::opportunity::{OpportunityData, Placement};
use crate::domain::record::Record;
use crate::domain::visibility::{Access, RecordKind, Viewer};
use crate::error::{Error, Result};
use crate::events::publish::{self as events, Change};
use crate::filter::{Field, Kind};
use crate::listing::{KeyKind, ListQuery, Listing, Page, SortKey};

/// Leads, as the API, the import and the export need them.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait LeadStore: Send + Sync + 'static {
    /// `duplicates`: refuse the create when this probe matches existing records (`None`: the
    /// client forced it).
    async fn create_lead(
        &self,
        viewer: Viewer,
        lead: LeadData,
        duplicates: Option<Probe>,
    ) -> Result<Lead>;
    /// A lead created without an owner: the tenant's assignment rules choose one, else the
    /// creator (`lead.owner_id`) owns it.
    async fn create_unowned_lead(
        &self,
        viewer: Viewer,
        lead: LeadData,
        duplicates: Option<Probe>,
    ) -> Result<Lead>;
    /// `None` when missing or not visible; a merged lead the viewer may read is
    /// [`Error::Merged`], naming the survivor.
    async fn lead(&self, viewer: Viewer, id: Uuid) -> Result<Option<Lead>>;
    async fn list_leads(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Lead>>;
    /// Refuses to change a converted lead.
    async fn update_lead(&self, viewer: Viewer, id: Uuid, patch: LeadPatch)
    -> Result<Option<Lead>>;
    async fn delete_lead(&self, viewer: Viewer, id: Uuid) -> Result<bool>;
    /// Converts in one transaction; `None` when the lead is not visible to the viewer.
    async fn convert_lead(
        &self,
        viewer: Viewer,
        id: Uuid,
        options: ConvertOptions,
    ) -> Result<Option<Conversion>>;
}

const STATUSES: &[&str] = &[
    "LEAD_STATUS_NEW",
    "LEAD_STATUS_WORKING",
    "LEAD_STATUS_QUALIFIED",
    "LEAD_STATUS_DISQUALIFIED",
    "LEAD_STATUS_CONVERTED",
];
const RATINGS: &[&str] = &[
    "LEAD_RATING_UNSPECIFIED",
    "LEAD_RATING_COLD",
    "LEAD_RATING_WARM",
    "LEAD_RATING_HOT",
];

pub static LISTING: Listing = Listing {
    resource: "leads",
    fields: &[
        Field {
            name: "first_name",
            column: "l.first_name",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "last_name",
            column: "l.last_name",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "email",
            column: "l.email",
            kind: Kind::Text { lowercase: true },
        },
        Field {
            name: "phone",
            column: "l.phone",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "company",
            column: "l.company",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "title",
            column: "l.title",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "source",
            column: "l.source",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "country_code",
            column: "l.country_code",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "status",
            column: "l.status",
            kind: Kind::Enum(STATUSES),
        },
        Field {
            name: "rating",
            column: "l.rating",
            kind: Kind::Enum(RATINGS),
        },
        Field {
            name: "score",
            column: "l.score",
            kind: Kind::Integer,
        },
        Field {
            name: "employee_count",
            column: "l.employee_count",
            kind: Kind::Integer,
        },
        Field {
            name: "owner_id",
            column: "l.owner_id",
            kind: Kind::Uuid { nullable: false },
        },
        Field {
            name: "create_time",
            column: "l.created_at",
            kind: Kind::Timestamp,
        },
        Field {
            name: "update_time",
            column: "l.updated_at",
            kind: Kind::Timestamp,
        },
    ],
    sort_keys: &[
        SortKey {
            name: "create_time",
            expr: "l.created_at",
            kind: KeyKind::Timestamp,
        },
        SortKey {
            name: "update_time",
            expr: "l.updated_at",
            kind: KeyKind::Timestamp,
        },
        SortKey {
            name: "last_name",
            expr: "l.last_name",
            kind: KeyKind::Text,
        },
        SortKey {
            name: "company",
            expr: "l.company",
            kind: KeyKind::Text,
        },
        SortKey {
            name: "score",
            expr: "l.score",
            kind: KeyKind::Int4,
        },
    ],
};

pub(crate) const COLUMNS: &str = "l.id, l.first_name, l.last_name, l.email, l.phone, l.company, l.title, \
    l.source, l.country_code, l.employee_count, l.status, l.rating, l.score, l.owner_id, \
    l.converted_account_id, l.converted_contact_id, l.converted_opportunity_id, l.converted_at, \
    l.created_at, l.updated_at, l.custom_fields::text AS custom_fields";

/// Where `custom.<key>` filters read.
const CUSTOM_COLUMN: &str = "l.custom_fields";

const PAGE: PageSql = PageSql {
    columns: COLUMNS,
    from: "FROM leads l",
    base: "l.deleted_at IS NULL",
    owner_column: "l.owner_id",
    id_column: "l.id",
};

pub(crate) fn from_row(row: &PgRow) -> Result<Lead> {
    from_row_at(row, &Columns::of(row)?)
}

/// Where the lead columns sit in one result set. Every row of a query shares them, so a page
/// resolves the names once ([`page::by_position`]) instead of hashing each name again for every
/// field of every row.
pub(crate) struct Columns {
    id: usize,
    first_name: usize,
    last_name: usize,
    email: usize,
    phone: usize,
    company: usize,
    title: usize,
    source: usize,
    country_code: usize,
    employee_count: usize,
    status: usize,
    rating: usize,
    score: usize,
    owner_id: usize,
    converted_account_id: usize,
    converted_contact_id: usize,
    converted_opportunity_id: usize,
    converted_at: usize,
    created_at: usize,
    updated_at: usize,
    custom_fields: usize,
}

impl Columns {
    pub(crate) fn of(row: &PgRow) -> Result<Self> {
        let at = |name: &str| -> Result<usize> { Ok(row.try_column(name)?.ordinal()) };
        Ok(Self {
            id: at("id")?,
            first_name: at("first_name")?,
            last_name: at("last_name")?,
            email: at("email")?,
            phone: at("phone")?,
            company: at("company")?,
            title: at("title")?,
            source: at("source")?,
            country_code: at("country_code")?,
            employee_count: at("employee_count")?,
            status: at("status")?,
            rating: at("rating")?,
            score: at("score")?,
            owner_id: at("owner_id")?,
            converted_account_id: at("converted_account_id")?,
            converted_contact_id: at("converted_contact_id")?,
            converted_opportunity_id: at("converted_opportunity_id")?,
            converted_at: at("converted_at")?,
            created_at: at("created_at")?,
            updated_at: at("updated_at")?,
            custom_fields: at("custom_fields")?,
        })
    }
}

pub(crate) fn from_row_at(row: &PgRow, c: &Columns) -> Result<Lead> {
    let status: &str = row.try_get(c.status)?;
    let rating: &str = row.try_get(c.rating)?;
    let account: Option<Uuid> = row.try_get(c.converted_account_id)?;
    let contact: Option<Uuid> = row.try_get(c.converted_contact_id)?;
    let converted_at: Option<chrono::DateTime<chrono::Utc>> = row.try_get(c.converted_at)?;
    Ok(Lead {
        id: row.try_get(c.id)?,
        data: LeadData {
            first_name: row.try_get(c.first_name)?,
            last_name: row.try_get(c.last_name)?,
            email: row.try_get(c.email)?,
            phone: row.try_get(c.phone)?,
            company: row.try_get(c.company)?,
            title: row.try_get(c.title)?,
            source: row.try_get(c.source)?,
            country_code: row.try_get(c.country_code)?,
            employee_count: row.try_get(c.employee_count)?,
            status: LeadStatus::parse(status)
                .ok_or_else(|| Error::Internal(format!("unknown lead status {status}")))?,
            rating: LeadRating::parse(rating)
                .ok_or_else(|| Error::Internal(format!("unknown lead rating {rating}")))?,
            score: row.try_get(c.score)?,
            owner_id: row.try_get(c.owner_id)?,
            custom_fields: custom_fields::from_json_at(row, c.custom_fields)?,
        },
        converted: match (account, contact, converted_at) {
            (Some(account_id), Some(contact_id), Some(converted_at)) => Some(ConvertedTo {
                account_id,
                contact_id,
                opportunity_id: row.try_get(c.converted_opportunity_id)?,
                converted_at,
            }),
            _ => None,
        },
        created_at: row.try_get(c.created_at)?,
        updated_at: row.try_get(c.updated_at)?,
    })
}

/// A live lead (any owner), locked for update unless only read.
async fn fetch(tx: &mut Tx, id: Uuid, access: Access) -> Result<Option<Lead>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM leads l WHERE l.id = $1 AND l.deleted_at IS NULL{}",
        if access == Access::Read {
            ""
        } else {
            " FOR UPDATE"
        }
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A live lead the viewer reaches for `access` by ownership, hierarchy or role; shares do not
/// count (see [`reachable`]).
pub(crate) async fn visible(
    tx: &mut Tx,
    viewer: Viewer,
    id: Uuid,
    access: Access,
) -> Result<Option<Lead>> {
    let Some(lead) = fetch(tx, id, access).await? else {
        return Ok(None);
    };
    let scope = scope(tx, viewer, RecordKind::Lead, access).await?;
    Ok(scope.allows(lead.data.owner_id).then_some(lead))
}

/// As [`visible`], for the lead's own RPCs: a share of it with the viewer counts too.
async fn reachable(tx: &mut Tx, viewer: Viewer, id: Uuid, access: Access) -> Result<Option<Lead>> {
    let Some(lead) = fetch(tx, id, access).await? else {
        return Ok(None);
    };
    let reached = reaches(tx, viewer, RecordKind::Lead, access, id, lead.data.owner_id).await?;
    Ok(reached.then_some(lead))
}

async fn write_row(tx: &mut Tx, lead: &Lead) -> Result<()> {
    let d = &lead.data;
    let converted = lead.converted.as_ref();
    sqlx::query(
        "UPDATE leads SET first_name = $2, last_name = $3, email = $4, phone = $5, company = $6,
             title = $7, source = $8, country_code = $9, employee_count = $10, status = $11,
             rating = $12, score = $13, owner_id = $14, converted_account_id = $15,
             converted_contact_id = $16, converted_opportunity_id = $17, converted_at = $18,
             updated_at = $19, custom_fields = $20::jsonb
         WHERE id = $1",
    )
    .bind(lead.id)
    .bind(&d.first_name)
    .bind(&d.last_name)
    .bind(&d.email)
    .bind(&d.phone)
    .bind(&d.company)
    .bind(&d.title)
    .bind(&d.source)
    .bind(&d.country_code)
    .bind(d.employee_count)
    .bind(d.status.as_str())
    .bind(d.rating.as_str())
    .bind(d.score)
    .bind(d.owner_id)
    .bind(converted.map(|c| c.account_id))
    .bind(converted.map(|c| c.contact_id))
    .bind(converted.and_then(|c| c.opportunity_id))
    .bind(converted.map(|c| c.converted_at))
    .bind(lead.updated_at)
    .bind(custom_fields::to_json(&d.custom_fields)?)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Inserts a new lead (owner and custom fields already checked) and enqueues
/// `crm.lead.created`.
pub(crate) async fn insert(tx: &mut Tx, viewer: Viewer, data: LeadData) -> Result<Lead> {
    let at = now();
    let lead = Lead {
        id: Uuid::now_v7(),
        data,
        converted: None,
        created_at: at,
        updated_at: at,
    };
    let d = &lead.data;
    sqlx::query(
        "INSERT INTO leads (id, tenant_id, first_name, last_name, email, phone, company, title,
                 source, country_code, employee_count, status, rating, score, owner_id,
                 created_at, updated_at, custom_fields)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16,
                 $17::jsonb)",
    )
    .bind(lead.id)
    .bind(viewer.tenant_id)
    .bind(&d.first_name)
    .bind(&d.last_name)
    .bind(&d.email)
    .bind(&d.phone)
    .bind(&d.company)
    .bind(&d.title)
    .bind(&d.source)
    .bind(&d.country_code)
    .bind(d.employee_count)
    .bind(d.status.as_str())
    .bind(d.rating.as_str())
    .bind(d.score)
    .bind(d.owner_id)
    .bind(at)
    .bind(custom_fields::to_json(&d.custom_fields)?)
    .execute(&mut *tx)
    .await?;
    publish(
        tx,
        &[events::record_changed(
            viewer.tenant_id,
            viewer.user_id,
            Change::Created,
            Record::Lead(lead.clone()),
            &[],
        )?],
    )
    .await?;
    Ok(lead)
}

/// Creates a lead owned by `data.owner_id`, or by whom the tenant's rules choose when
/// `assign_by_rules` (the creator when no rule matches).
async fn create(
    store: &PgStore,
    viewer: Viewer,
    data: LeadData,
    assign_by_rules: bool,
    duplicates: Option<Probe>,
) -> Result<Lead> {
    let (mut tx, config) = store.open(viewer).await?;
    super::duplicates::refuse(&mut tx, viewer, RecordKind::Lead, duplicates.as_ref()).await?;
    // An owner chosen by the tenant's rules needs no check against the creator's team.
    let assigned = if assign_by_rules {
        assignment::assign(&mut tx, &config, &data).await?
    } else {
        None
    };
    let data = match assigned {
        Some(owner_id) => LeadData { owner_id, ..data },
        None => {
            let write = scope(&mut tx, viewer, RecordKind::Lead, Access::Write).await?;
            check_owner(&mut tx, viewer, &write, data.owner_id).await?;
            data
        }
    };
    let data = LeadData {
        custom_fields: custom_fields::checked_new(
            &mut tx,
            &config,
            RecordKind::Lead,
            &data.custom_fields,
        )
        .await?,
        ..data
    };
    let lead = insert(&mut tx, viewer, data).await?;
    tx.commit().await?;
    Ok(lead)
}

/// What a conversion carries over of a lead's custom values.
struct Mapped<'a> {
    config: &'a TenantConfig<'a>,
    lead_fields: &'a [Definition],
    lead_values: &'a CustomValues,
}

impl Mapped<'_> {
    /// The created `host` record's custom values: the lead values the tenant maps to its fields,
    /// checked (and defaulted) like a create of it; violations are named under `prefix`.
    async fn values(&self, tx: &mut Tx, host: FieldHost, prefix: &str) -> Result<CustomValues> {
        let values = converted_values(self.lead_fields, self.lead_values, host);
        custom_fields::checked_new(tx, self.config, host, &values)
            .await
            .map_err(|e| e.prefixed(prefix))
    }
}

#[async_trait]
impl LeadStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.create_lead", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_lead", tenant_id = %viewer.tenant_id))]
    async fn create_lead(
        &self,
        viewer: Viewer,
        data: LeadData,
        duplicates: Option<Probe>,
    ) -> Result<Lead> {
        create(self, viewer, data, false, duplicates).await
    }

    #[tracing::instrument(name = "crm.postgres.create_unowned_lead", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_unowned_lead", tenant_id = %viewer.tenant_id))]
    async fn create_unowned_lead(
        &self,
        viewer: Viewer,
        data: LeadData,
        duplicates: Option<Probe>,
    ) -> Result<Lead> {
        create(self, viewer, data, true, duplicates).await
    }

    async fn lead(&self, viewer: Viewer, id: Uuid) -> Result<Option<Lead>> {
        let mut tx = self.tx(viewer).await?;
        let lead = reachable(&mut tx, viewer, id, Access::Read).await?;
        tx.commit().await?;
        if lead.is_none() {
            self.check_merged(viewer, RecordKind::Lead, id).await?;
        }
        Ok(lead)
    }

    #[tracing::instrument(name = "crm.postgres.list_leads", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_leads", tenant_id = %viewer.tenant_id))]
    async fn list_leads(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Lead>> {
        let mut tx = self.tx(viewer).await?;
        let read = record_scope(&mut tx, viewer, RecordKind::Lead, Access::Read).await?;
        let query =
            custom_fields::resolve_filter(&mut tx, RecordKind::Lead, CUSTOM_COLUMN, query).await?;
        let page = fetch_page(
            &mut tx,
            &PAGE,
            &read,
            &query,
            page::by_position(Columns::of, from_row_at),
            |l| l.id,
        )
        .await?;
        tx.commit().await?;
        Ok(page)
    }

    #[tracing::instrument(name = "crm.postgres.update_lead", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "update_lead", tenant_id = %viewer.tenant_id))]
    async fn update_lead(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: LeadPatch,
    ) -> Result<Option<Lead>> {
        let (mut tx, config) = self.open(viewer).await?;
        if patch.custom_fields.is_some() {
            // Before the record's row lock (see `custom_fields::hold_definitions`).
            custom_fields::hold_definitions(&mut tx, &config, RecordKind::Lead).await?;
        }
        let Some(before) = reachable(&mut tx, viewer, id, Access::Write).await? else {
            return Ok(None);
        };
        if before.converted.is_some() {
            return Err(Error::FailedPrecondition(
                "a converted lead cannot be changed".to_owned(),
            ));
        }
        let new_custom_fields = patch.custom_fields.is_some();
        let mut after = before.data.apply(patch);
        if new_custom_fields {
            after.custom_fields =
                custom_fields::checked(&mut tx, &config, RecordKind::Lead, &after.custom_fields)
                    .await?;
        }
        let changed = before.data.changed_fields(&after);
        if changed.is_empty() {
            return Ok(Some(before));
        }
        if after.owner_id != before.data.owner_id {
            let (from, to) = (before.data.owner_id, after.owner_id);
            check_reassign(&mut tx, viewer, RecordKind::Lead, from, to).await?;
        }
        let updated = Lead {
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
                Record::Lead(updated.clone()),
                &changed,
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    #[tracing::instrument(name = "crm.postgres.delete_lead", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "delete_lead", tenant_id = %viewer.tenant_id))]
    async fn delete_lead(&self, viewer: Viewer, id: Uuid) -> Result<bool> {
        let mut tx = self.tx(viewer).await?;
        let Some(lead) = reachable(&mut tx, viewer, id, Access::Control).await? else {
            return Ok(false);
        };
        sqlx::query("UPDATE leads SET deleted_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        publish(
            &mut tx,
            &[events::record_changed(
                viewer.tenant_id,
                viewer.user_id,
                Change::Deleted,
                Record::Lead(lead),
                &[],
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// One transaction: the lead is locked, the account (new or existing), contact and optional
    /// opportunity are written, the lead is linked to them; any failure rolls everything back.
    #[tracing::instrument(name = "crm.postgres.convert_lead", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "convert_lead", tenant_id = %viewer.tenant_id, lead_id = %id))]
    async fn convert_lead(
        &self,
        viewer: Viewer,
        id: Uuid,
        options: ConvertOptions,
    ) -> Result<Option<Conversion>> {
        let (mut tx, config) = self.open(viewer).await?;
        // Before the lead's row lock (see `custom_fields::hold_definitions`).
        custom_fields::hold_definitions(&mut tx, &config, FieldHost::Lead).await?;
        let Some(lead) = reachable(&mut tx, viewer, id, Access::Control).await? else {
            return Ok(None);
        };
        let lead_fields = config.definitions(&mut tx, FieldHost::Lead).await?;
        let lead_values = lead.data.custom_fields.clone();
        let mapped = Mapped {
            config: &config,
            lead_fields: &lead_fields,
            lead_values: &lead_values,
        };
        let plan = plan_conversion(&lead, options, today()).map_err(|e| match e {
            ConvertError::AlreadyConverted => Error::FailedPrecondition(e.to_string()),
        })?;

        let account = match plan.account {
            AccountTarget::Existing(account_id) => {
                accounts::visible(&mut tx, viewer, account_id, Access::Read)
                    .await?
                    .ok_or_else(|| Error::invalid("existing_account_id", "no such account"))?
            }
            AccountTarget::New(mut data) => {
                data.custom_fields = mapped
                    .values(&mut tx, FieldHost::Account, "account.")
                    .await?;
                accounts::insert(&mut tx, viewer, *data).await?
            }
        };
        let mut contact_data = plan.contact;
        contact_data.account_id = Some(account.id);
        contact_data.custom_fields = mapped
            .values(&mut tx, FieldHost::Contact, "contact.")
            .await?;
        let contact = contacts::insert(&mut tx, viewer, contact_data).await?;
        let opportunity = match plan.opportunity {
            Some(draft) => {
                let placement = Placement {
                    pipeline_id: draft.pipeline_id,
                    stage_id: None,
                };
                let (pipeline_id, stage) =
                    opportunities::place(&mut tx, viewer.tenant_id, placement).await?;
                let data = OpportunityData {
                    name: draft.name,
                    amount: draft.amount,
                    close_date: draft.close_date,
                    owner_id: draft.owner_id,
                    account_id: Some(account.id),
                    primary_contact_id: Some(contact.id),
                    lost_reason: String::new(),
                    splits: Vec::new(),
                    custom_fields: mapped
                        .values(&mut tx, FieldHost::Opportunity, "opportunity.")
                        .await?,
                    forecast_category: None,
                };
                Some(opportunities::insert(&mut tx, viewer, data, pipeline_id, &stage).await?)
            }
            None => None,
        };

        let at = now();
        let before = lead.data.clone();
        let converted = Lead {
            data: LeadData {
                status: LeadStatus::Converted,
                ..lead.data
            },
            converted: Some(ConvertedTo {
                account_id: account.id,
                contact_id: contact.id,
                opportunity_id: opportunity.as_ref().map(|o| o.id),
                converted_at: at,
            }),
            updated_at: at,
            ..lead
        };
        write_row(&mut tx, &converted).await?;
        let mut changed = before.changed_fields(&converted.data);
        changed.extend([
            "converted_account_id",
            "converted_contact_id",
            "converted_opportunity_id",
            "convert_time",
        ]);
        publish(
            &mut tx,
            &[
                events::record_changed(
                    viewer.tenant_id,
                    viewer.user_id,
                    Change::Updated,
                    Record::Lead(converted.clone()),
                    &changed,
                )?,
                events::lead_converted(
                    viewer.tenant_id,
                    viewer.user_id,
                    converted.clone(),
                    account.clone(),
                    contact.clone(),
                    opportunity.clone(),
                )?,
            ],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(account_id = %account.id, contact_id = %contact.id, "lead converted");
        Ok(Some(Conversion {
            lead: converted,
            account,
            contact,
            opportunity,
        }))
    }
}
