//! CrmSettingsService: the tenant's CRM settings and the hand-over of deactivated users' records.

use std::sync::Arc;

use auth::permissions::{CRM_SETTINGS_WRITE, TENANT_READ};
use db::{PageSize, PageToken};
use proto::crm as pb;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{mask_paths, optional_id, parse_id, viewer};
use crate::domain::settings::{CrmSettings, DeactivatedOwnerPolicy, RESTORE_WINDOW_DAYS};
use crate::error::{Error, Result};
use crate::store::handover::{Orphan, OrphanKey};
use crate::store::settings::SettingsStore;

const UPDATABLE: &[&str] = &[
    "deactivated_owner_policy",
    "fallback_owner_id",
    "lost_reason_required",
    "restore_window_days",
];

pub struct SettingsApi {
    store: Arc<dyn SettingsStore>,
}

impl SettingsApi {
    pub fn new(store: Arc<dyn SettingsStore>) -> Self {
        Self { store }
    }
}

fn to_pb(settings: CrmSettings) -> pb::CrmSettings {
    pb::CrmSettings {
        deactivated_owner_policy: match settings.deactivated_owner_policy {
            DeactivatedOwnerPolicy::Reassign => pb::DeactivatedOwnerPolicy::Reassign,
            DeactivatedOwnerPolicy::Keep => pb::DeactivatedOwnerPolicy::Keep,
        } as i32,
        fallback_owner_id: settings
            .fallback_owner_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        lost_reason_required: settings.lost_reason_required,
        restore_window_days: settings.restore_window_days,
    }
}

/// `current` with the masked fields of `patch` applied.
fn apply(current: CrmSettings, patch: &pb::CrmSettings, paths: &[String]) -> Result<CrmSettings> {
    let mut next = current;
    for path in paths {
        match path.as_str() {
            "deactivated_owner_policy" => {
                next.deactivated_owner_policy = match pb::DeactivatedOwnerPolicy::try_from(
                    patch.deactivated_owner_policy,
                ) {
                    Ok(pb::DeactivatedOwnerPolicy::Reassign) => DeactivatedOwnerPolicy::Reassign,
                    Ok(pb::DeactivatedOwnerPolicy::Keep) => DeactivatedOwnerPolicy::Keep,
                    _ => {
                        return Err(Error::invalid(
                            "settings.deactivated_owner_policy",
                            "must be DEACTIVATED_OWNER_POLICY_REASSIGN or DEACTIVATED_OWNER_POLICY_KEEP",
                        ));
                    }
                };
            }
            "fallback_owner_id" => {
                next.fallback_owner_id = optional_id(&patch.fallback_owner_id)
                    .map_err(|e| Error::invalid("settings.fallback_owner_id", e))?;
            }
            "lost_reason_required" => next.lost_reason_required = patch.lost_reason_required,
            "restore_window_days" => {
                if !RESTORE_WINDOW_DAYS.contains(&patch.restore_window_days) {
                    return Err(Error::invalid(
                        "settings.restore_window_days",
                        "must be between 1 and 3650",
                    ));
                }
                next.restore_window_days = patch.restore_window_days;
            }
            other => {
                return Err(Error::invalid(
                    "update_mask",
                    format!("cannot update {other:?}"),
                ));
            }
        }
    }
    Ok(next)
}

fn record_type(kind: &str) -> pb::RecordType {
    match kind {
        "account" => pb::RecordType::Account,
        "contact" => pb::RecordType::Contact,
        "lead" => pb::RecordType::Lead,
        "opportunity" => pb::RecordType::Opportunity,
        _ => pb::RecordType::Unspecified,
    }
}

fn orphan_to_pb(orphan: Orphan) -> pb::OrphanedRecord {
    pb::OrphanedRecord {
        record: Some(pb::RecordRef {
            r#type: record_type(&orphan.kind) as i32,
            id: orphan.id.to_string(),
        }),
        title: orphan.title,
        owner_id: orphan.owner_id.to_string(),
    }
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[tonic::async_trait]
impl pb::crm_settings_service_server::CrmSettingsService for SettingsApi {
    #[tracing::instrument(skip_all)]
    async fn get_crm_settings(
        &self,
        request: Request<pb::GetCrmSettingsRequest>,
    ) -> Result<Response<pb::CrmSettings>, Status> {
        let viewer = viewer(&request, TENANT_READ)?;
        Ok(Response::new(to_pb(self.store.settings(viewer).await?)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_crm_settings(
        &self,
        request: Request<pb::UpdateCrmSettingsRequest>,
    ) -> Result<Response<pb::CrmSettings>, Status> {
        let viewer = viewer(&request, CRM_SETTINGS_WRITE)?;
        let r = request.into_inner();
        let patch = r
            .settings
            .ok_or_else(|| Error::invalid("settings", "is required"))?;
        let paths = mask_paths(r.update_mask, UPDATABLE)?;
        let next = apply(self.store.settings(viewer).await?, &patch, &paths)?;
        Ok(Response::new(to_pb(
            self.store.update_settings(viewer, next).await?,
        )))
    }

    #[tracing::instrument(skip_all)]
    async fn list_orphaned_records(
        &self,
        request: Request<pb::ListOrphanedRecordsRequest>,
    ) -> Result<Response<pb::ListOrphanedRecordsResponse>, Status> {
        let viewer = viewer(&request, CRM_SETTINGS_WRITE)?;
        let r = request.into_inner();
        let size =
            PageSize::parse(r.page_size).map_err(|e| Error::invalid("page_size", e.to_string()))?;
        let pages = PageToken::for_query("orphaned_records");
        let after: Option<OrphanKey> = pages
            .decode(&r.page_token)
            .map_err(|e| Error::invalid("page_token", e.to_string()))?;
        let mut orphans = self
            .store
            .orphans(viewer, after, size.fetch_limit())
            .await?;
        let more = orphans.len() > size.get() as usize;
        orphans.truncate(size.get() as usize);
        let next_page_token = match orphans.last() {
            Some(last) if more => {
                pages.encode::<OrphanKey>(&(last.owner_id, last.kind.clone(), last.id))
            }
            _ => String::new(),
        };
        Ok(Response::new(pb::ListOrphanedRecordsResponse {
            records: orphans.into_iter().map(orphan_to_pb).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn reassign_records(
        &self,
        request: Request<pb::ReassignRecordsRequest>,
    ) -> Result<Response<pb::ReassignRecordsResponse>, Status> {
        let viewer = viewer(&request, CRM_SETTINGS_WRITE)?;
        let r = request.get_ref();
        let from: Uuid = parse_id("from_user_id", &r.from_user_id)?;
        let to: Uuid = parse_id("to_user_id", &r.to_user_id)?;
        let moved = self.store.reassign(viewer, from, to).await?;
        Ok(Response::new(pb::ReassignRecordsResponse {
            accounts: count(moved.accounts),
            contacts: count(moved.contacts),
            leads: count(moved.leads),
            opportunities: count(moved.opportunities),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_masked_fields_change() {
        let current = CrmSettings::default();
        let patch = pb::CrmSettings {
            deactivated_owner_policy: pb::DeactivatedOwnerPolicy::Keep as i32,
            fallback_owner_id: Uuid::from_u128(7).to_string(),
            lost_reason_required: false,
            restore_window_days: 0,
        };
        let next = apply(
            current.clone(),
            &patch,
            &["deactivated_owner_policy".into()],
        )
        .expect("valid");
        assert_eq!(next.deactivated_owner_policy, DeactivatedOwnerPolicy::Keep);
        assert_eq!(next.fallback_owner_id, None);
        assert!(next.lost_reason_required, "unmasked: the default stays");
        let next = apply(current.clone(), &patch, &["fallback_owner_id".into()]).expect("valid");
        assert_eq!(next.fallback_owner_id, Some(Uuid::from_u128(7)));
        let next = apply(current, &patch, &["lost_reason_required".into()]).expect("valid");
        assert!(!next.lost_reason_required);
    }

    #[test]
    fn an_unspecified_policy_or_a_malformed_owner_names_the_field() {
        let patch = pb::CrmSettings {
            deactivated_owner_policy: 0,
            fallback_owner_id: "not-a-uuid".into(),
            ..Default::default()
        };
        for (path, field) in [
            (
                "deactivated_owner_policy",
                "settings.deactivated_owner_policy",
            ),
            ("fallback_owner_id", "settings.fallback_owner_id"),
        ] {
            let Err(Error::InvalidArgument(violations)) =
                apply(CrmSettings::default(), &patch, &[path.into()])
            else {
                panic!("expected InvalidArgument for {path}");
            };
            assert_eq!(violations[0].field, field);
        }
    }
}
