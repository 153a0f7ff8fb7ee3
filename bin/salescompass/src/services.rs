//! The platform's backend services, the one list that `dev`, `migrate`, the gateway's upstreams
//! and the banner iterate, and the environment each of them sees in the launcher.

use runtime::component::Component;
use runtime::config::{EnvLayers, key_matches, scoped_env, settings_key};

/// The service that issues tokens, started first: the others fetch its token keys
/// (`auth.tenants_url`), and the launcher generates its operator token and signing key when
/// none is set.
pub const TOKEN_ISSUER: &dyn Component = &tenants::component::Tenants;

/// Every other backend service, in start order. Adding a service is one entry here.
pub const SERVICES: &[&dyn Component] = &[
    &crm::component::Crm,
    &commissions::component::Commissions,
    &engagement::component::Engagement,
];

/// The gateway's settings are its own `gateway.*` section, so `SALESCOMPASS__GATEWAY__…` keeps
/// its plain meaning.
const GATEWAY_SECTION: &str = "gateway";

/// Keys that mean the same for every service, so the plain `SALESCOMPASS__…` prefix sets them for
/// all. Every other key (`database.schema`, `server.*`, `amqp.queue`, …) differs per service and
/// is taken only from `SALESCOMPASS__<SERVICE>__…` (docs/operations.md, "Configuration in
/// salescompass dev").
pub const SHARED_KEYS: &[&str] = &[
    "database.url",
    "database.migrate_url",
    "database.max_connections",
    "database.acquire_timeout_secs",
    "database.test_before_acquire",
    "amqp.url",
    // One process, one log subscriber.
    "telemetry",
    // The platform's secrets: only the token issuer reads them.
    "operator.token",
    "auth.signing_key_pem",
    "auth.verification_keys_pem",
];

/// The token issuer, then every other service: the start order.
pub fn all() -> impl Iterator<Item = &'static dyn Component> {
    std::iter::once(TOKEN_ISSUER).chain(SERVICES.iter().copied())
}

/// What `service` reads: the shared keys, overridden by its own `SALESCOMPASS__<SERVICE>__…`.
pub fn service_env(env: &[(String, String)], service: &str) -> EnvLayers {
    scoped_env(env.iter().cloned(), Some(service), SHARED_KEYS)
}

/// What the gateway reads: the shared keys and its own `gateway.*` section.
pub fn gateway_env(env: &[(String, String)]) -> EnvLayers {
    let mut keys = SHARED_KEYS.to_vec();
    keys.push(GATEWAY_SECTION);
    scoped_env(env.iter().cloned(), None, &keys)
}

/// What the launcher itself reads (its log settings).
pub fn shared_env(env: &[(String, String)]) -> EnvLayers {
    scoped_env(env.iter().cloned(), None, SHARED_KEYS)
}

/// The `SALESCOMPASS__…` variables no part of the launcher reads: per-service keys set without
/// a service prefix.
pub fn unscoped_vars(env: &[(String, String)]) -> Vec<String> {
    let mut sections: Vec<&str> = all().map(|service| service.name()).collect();
    sections.push(GATEWAY_SECTION);
    sections.extend_from_slice(SHARED_KEYS);
    env.iter()
        .filter(|(var, _)| settings_key(var).is_some_and(|key| !key_matches(&key, &sections)))
        .map(|(var, _)| var.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use runtime::config::ServerSettings;
    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    struct Defaults {
        server: ServerSettings,
        database: Database,
    }
    #[derive(Deserialize)]
    struct Database {
        schema: String,
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_service_has_its_own_ports_and_schema() {
        let gateway = gateway::Settings::load_from(Vec::new()).expect("gateway defaults");
        let mut ports = HashSet::from([gateway.gateway.listen.port()]);
        assert!(ports.insert(gateway.server.admin_listen.port()));
        let mut schemas = HashSet::new();
        for service in all() {
            let defaults: Defaults = runtime::config::load_from(service.defaults(), Vec::new())
                .expect("built-in defaults are valid");
            let name = service.name();
            assert!(ports.insert(defaults.server.grpc_listen.port()), "{name}");
            assert!(ports.insert(defaults.server.admin_listen.port()), "{name}");
            assert!(schemas.insert(defaults.database.schema), "{name}");
        }
    }

    #[test]
    fn a_schema_set_without_a_service_prefix_reaches_no_service() {
        let env = env(&[("SALESCOMPASS__DATABASE__SCHEMA", "leaked")]);
        for service in all() {
            assert_eq!(
                service_env(&env, service.name()).get("database.schema"),
                None
            );
        }
        assert_eq!(gateway_env(&env).get("database.schema"), None);
        assert_eq!(unscoped_vars(&env), ["SALESCOMPASS__DATABASE__SCHEMA"]);
    }

    #[test]
    fn a_service_prefix_overrides_the_shared_key_for_that_service_only() {
        let env = env(&[
            ("SALESCOMPASS__DATABASE__URL", "postgres://shared/db"),
            ("SALESCOMPASS__CRM__DATABASE__URL", "postgres://crm/db"),
            ("SALESCOMPASS__CRM__DATABASE__SCHEMA", "crm_dev"),
        ]);
        assert_eq!(
            service_env(&env, "crm").get("database.url"),
            Some("postgres://crm/db")
        );
        assert_eq!(
            service_env(&env, "crm").get("database.schema"),
            Some("crm_dev")
        );
        for other in all().filter(|service| service.name() != "crm") {
            let layers = service_env(&env, other.name());
            assert_eq!(layers.get("database.url"), Some("postgres://shared/db"));
            assert_eq!(layers.get("database.schema"), None);
        }
        assert!(unscoped_vars(&env).is_empty());
    }

    #[test]
    fn gateway_keys_reach_the_gateway_only() {
        let env = env(&[("SALESCOMPASS__GATEWAY__LISTEN", "127.0.0.1:8181")]);
        assert_eq!(
            gateway_env(&env).get("gateway.listen"),
            Some("127.0.0.1:8181")
        );
        for service in all() {
            assert_eq!(service_env(&env, service.name()), EnvLayers::default());
        }
        assert!(unscoped_vars(&env).is_empty());
    }
}
