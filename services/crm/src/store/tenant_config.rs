//! The tenant configuration most writes read, kept in memory: custom field definitions (every
//! create and update of a record with custom fields checks against them) and lead assignment
//! rules (every lead created without an owner).
//!
//! Correctness rests on the version the transaction opening returns (`crm_begin`, migration
//! `…900`): every change of a definition or a rule gives the tenant a new version, in the
//! changing transaction. A copy is used only by a transaction that opened on the version the copy
//! was read under, and it was read after that opening, so it is never older than what the
//! transaction would read itself. Replicas need no invalidation messages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use uuid::Uuid;

use super::Tx;
use crate::domain::assignment::Rule;
use crate::domain::custom_fields::{Definition, FieldHost};
use crate::error::Result;

/// Bound on the tenants remembered; the cache starts over when it is reached.
const CAPACITY: usize = 10_000;

/// What one tenant's transactions read at one version.
#[derive(Debug, Default)]
struct Entry {
    version: i64,
    rules: Option<Arc<[Rule]>>,
    /// By [`kind_slot`].
    definitions: [Option<Arc<[Definition]>>; FieldHost::ALL.len()],
}

fn kind_slot(kind: FieldHost) -> usize {
    match kind {
        FieldHost::Account => 0,
        FieldHost::Contact => 1,
        FieldHost::Lead => 2,
        FieldHost::Opportunity => 3,
        FieldHost::Case => 4,
    }
}

#[derive(Debug, Default)]
pub(crate) struct ConfigCache {
    entries: Mutex<HashMap<Uuid, Entry>>,
}

impl ConfigCache {
    /// The view of a transaction that opened on `version` of `tenant_id`'s configuration.
    pub(crate) fn at(&self, tenant_id: Uuid, version: i64) -> TenantConfig<'_> {
        TenantConfig {
            cache: self,
            tenant_id,
            version,
        }
    }

    /// The piece `slot` picks of `tenant_id`'s entry, if the entry is of `version`.
    fn get<T: Clone>(
        &self,
        tenant_id: Uuid,
        version: i64,
        slot: impl Fn(&mut Entry) -> &mut Option<T>,
    ) -> Option<T> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get_mut(&tenant_id)
            .filter(|e| e.version == version)
            .and_then(|e| slot(e).clone())
    }

    fn put<T>(
        &self,
        tenant_id: Uuid,
        version: i64,
        slot: impl Fn(&mut Entry) -> &mut Option<T>,
        value: T,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY && !entries.contains_key(&tenant_id) {
            entries.clear();
        }
        let entry = entries.entry(tenant_id).or_default();
        // A copy read under another version replaces the entry; which of two racing readers
        // wins does not matter, as a later transaction uses only an entry of its own version.
        if entry.version != version {
            *entry = Entry {
                version,
                ..Entry::default()
            };
        }
        *slot(entry) = Some(value);
    }
}

/// The configuration as one transaction sees it: from the cache when it holds the version the
/// transaction opened on, else read in the transaction (and remembered).
#[derive(Clone, Copy)]
pub(crate) struct TenantConfig<'a> {
    cache: &'a ConfigCache,
    tenant_id: Uuid,
    version: i64,
}

impl TenantConfig<'_> {
    pub(crate) fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    /// The configuration version the transaction opened on.
    pub(crate) fn version(&self) -> i64 {
        self.version
    }

    pub(crate) async fn definitions(
        &self,
        tx: &mut Tx,
        kind: FieldHost,
    ) -> Result<Arc<[Definition]>> {
        let slot = kind_slot(kind);
        self.cached(
            |e| &mut e.definitions[slot],
            super::custom_fields::definitions_of(tx, kind),
        )
        .await
    }

    pub(crate) async fn rules(&self, tx: &mut Tx) -> Result<Arc<[Rule]>> {
        self.cached(|e| &mut e.rules, super::assignment::rules(tx))
            .await
    }

    /// The piece `slot` picks, from the cache or else from `read` (which runs only then).
    async fn cached<T>(
        &self,
        slot: impl Fn(&mut Entry) -> &mut Option<Arc<[T]>>,
        read: impl Future<Output = Result<Vec<T>>>,
    ) -> Result<Arc<[T]>> {
        if let Some(found) = self.cache.get(self.tenant_id, self.version, &slot) {
            return Ok(found);
        }
        let read: Arc<[T]> = read.await?.into();
        self.cache
            .put(self.tenant_id, self.version, slot, read.clone());
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(n: usize) -> Arc<[Rule]> {
        let at = chrono::Utc::now();
        let rule = Rule {
            id: Uuid::now_v7(),
            data: Default::default(),
            created_at: at,
            updated_at: at,
        };
        vec![rule; n].into()
    }

    fn cached_rules(cache: &ConfigCache, tenant: Uuid, version: i64) -> Option<usize> {
        cache
            .get(tenant, version, |e| &mut e.rules)
            .map(|r| r.len())
    }

    fn lead_definitions(e: &mut Entry) -> &mut Option<Arc<[Definition]>> {
        &mut e.definitions[kind_slot(FieldHost::Lead)]
    }

    #[test]
    fn a_copy_serves_only_its_own_version() {
        let cache = ConfigCache::default();
        let tenant = Uuid::now_v7();
        cache.put(tenant, 7, |e| &mut e.rules, rules(1));
        assert_eq!(cached_rules(&cache, tenant, 7), Some(1));
        assert_eq!(
            cached_rules(&cache, tenant, 8),
            None,
            "a newer version reads again"
        );
        assert_eq!(
            cached_rules(&cache, tenant, 6),
            None,
            "so does an older one"
        );
        assert_eq!(cached_rules(&cache, Uuid::now_v7(), 7), None, "per tenant");
    }

    #[test]
    fn a_copy_of_another_version_replaces_every_piece() {
        let cache = ConfigCache::default();
        let tenant = Uuid::now_v7();
        cache.put(tenant, 1, |e| &mut e.rules, rules(2));
        cache.put(tenant, 1, lead_definitions, Vec::new().into());
        assert_eq!(
            cached_rules(&cache, tenant, 1),
            Some(2),
            "pieces of one version add up"
        );
        cache.put(tenant, 2, lead_definitions, Vec::new().into());
        assert_eq!(
            cached_rules(&cache, tenant, 2),
            None,
            "version 1's rules are gone"
        );
        assert!(cache.get(tenant, 2, lead_definitions).is_some());
    }

    #[test]
    fn the_cache_starts_over_at_capacity() {
        let cache = ConfigCache::default();
        let first = Uuid::now_v7();
        cache.put(first, 1, |e| &mut e.rules, rules(0));
        for _ in 1..CAPACITY {
            cache.put(Uuid::now_v7(), 1, |e| &mut e.rules, rules(0));
        }
        assert_eq!(cached_rules(&cache, first, 1), Some(0));
        cache.put(Uuid::now_v7(), 1, |e| &mut e.rules, rules(0));
        assert_eq!(cached_rules(&cache, first, 1), None);
    }
}
