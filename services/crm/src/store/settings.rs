//! The [`SettingsStore`]: CRM settings of the tenant and the admin's hand-over of records.

use async_trait::async_trait;
use uuid::Uuid;

use super::handover::{self, Moved, Orphan, OrphanKey};
use super::{PgStore, Tx, tenant_state, users};
use crate::domain::settings::CrmSettings;
use crate::domain::visibility::Viewer;
use crate::error::{Error, Result};

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait SettingsStore: Send + Sync + 'static {
    async fn settings(&self, viewer: Viewer) -> Result<CrmSettings>;
    /// Refuses a fallback owner who is not an active user of the tenant.
    async fn update_settings(&self, viewer: Viewer, settings: CrmSettings) -> Result<CrmSettings>;
    async fn orphans(
        &self,
        viewer: Viewer,
        after: Option<OrphanKey>,
        limit: i64,
    ) -> Result<Vec<Orphan>>;
    /// Refuses an unknown `from`, and a `to` that is not an active user or is `from`.
    async fn reassign(&self, viewer: Viewer, from: Uuid, to: Uuid) -> Result<Moved>;
}

async fn require_active(tx: &mut Tx, user: Uuid, field: &'static str) -> Result<()> {
    match users::is_active(tx, user).await? {
        Some(true) => Ok(()),
        Some(false) => Err(Error::invalid(field, "the user is deactivated")),
        None => Err(Error::invalid(field, "no such user in this tenant")),
    }
}

#[async_trait]
impl SettingsStore for PgStore {
    async fn settings(&self, viewer: Viewer) -> Result<CrmSettings> {
        let mut tx = self.tx(viewer).await?;
        let settings = tenant_state::settings(&mut tx).await?;
        tx.commit().await?;
        Ok(settings)
    }

    async fn update_settings(&self, viewer: Viewer, settings: CrmSettings) -> Result<CrmSettings> {
        let mut tx = self.tx(viewer).await?;
        if let Some(fallback) = settings.fallback_owner_id {
            require_active(&mut tx, fallback, "settings.fallback_owner_id").await?;
        }
        tenant_state::save_settings(&mut tx, viewer.tenant_id, &settings).await?;
        tx.commit().await?;
        Ok(settings)
    }

    async fn orphans(
        &self,
        viewer: Viewer,
        after: Option<OrphanKey>,
        limit: i64,
    ) -> Result<Vec<Orphan>> {
        let mut tx = self.tx(viewer).await?;
        let orphans = handover::orphans(&mut tx, after, limit).await?;
        tx.commit().await?;
        Ok(orphans)
    }

    async fn reassign(&self, viewer: Viewer, from: Uuid, to: Uuid) -> Result<Moved> {
        if from == to {
            return Err(Error::invalid(
                "to_user_id",
                "must differ from from_user_id",
            ));
        }
        let mut tx = self.tx(viewer).await?;
        if users::is_active(&mut tx, from).await?.is_none() {
            return Err(Error::invalid(
                "from_user_id",
                "no such user in this tenant",
            ));
        }
        require_active(&mut tx, to, "to_user_id").await?;
        let moved =
            handover::move_records(&mut tx, viewer.tenant_id, viewer.user_id, from, to).await?;
        tx.commit().await?;
        Ok(moved)
    }
}
