//! The local platform: every service of [`services::all`] on its default ports, the gateway in
//! front of them, each with its own environment (see [`services`]); secrets generated when none
//! are set.

use std::collections::HashMap;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use runtime::component::Component;
use runtime::config::{CONFIG_FILE_ENV, EnvLayers, TelemetrySettings};
use runtime::grpc::LocalService;
use serde::Deserialize;

use crate::banner::{Banner, Listed, OperatorToken};
use crate::services::{self, SERVICES, TOKEN_ISSUER};
use crate::supervisor::Supervisor;

/// Applies every service's migrations (creating the database, schemas and roles if missing).
pub async fn migrate() -> anyhow::Result<()> {
    let env = process_env();
    let _telemetry = init_telemetry(&env)?;
    warn_unapplied(&env);
    for service in services::all() {
        let name = service.name();
        service
            .migrate(services::service_env(&env, name))
            .await
            .map_err(anyhow::Error::from_boxed)
            .with_context(|| format!("migrating {name}"))?;
        println!("migrated: {name}");
    }
    Ok(())
}

/// Starts every service and the gateway; with `in_process` the gateway calls them directly.
/// Runs until SIGTERM/Ctrl-C or until a part stops, then stops the gateway first.
pub async fn run(in_process: bool) -> anyhow::Result<()> {
    let env = process_env();
    let _telemetry = init_telemetry(&env)?;
    warn_unapplied(&env);
    let signal = runtime::shutdown::on_signal();
    let mut supervisor = Supervisor::default();
    // A service waits for its database at start (not ready, retrying): Ctrl-C still stops it.
    let started = tokio::select! {
        started = start(&env, in_process, &mut supervisor) => Some(started),
        () = signal.cancelled() => None,
    };
    match started {
        Some(Ok(banner)) => {
            banner.print();
            supervisor.run(signal).await
        }
        Some(Err(error)) => {
            supervisor.stop().await;
            Err(error)
        }
        None => {
            supervisor.stop().await;
            Ok(())
        }
    }
}

/// Starts the token issuer, then the other services (each serving before the next starts),
/// then the gateway with every one of them as an upstream.
async fn start(
    env: &[(String, String)],
    in_process: bool,
    supervisor: &mut Supervisor,
) -> anyhow::Result<Banner> {
    let mut issuer_env = services::service_env(env, TOKEN_ISSUER.name());
    let operator_token = issuer_secrets(&mut issuer_env)?;
    let issuer = start_service(supervisor, TOKEN_ISSUER, issuer_env).await?;
    let issuer_url = format!("http://{}", issuer.listed.grpc_addr);
    let mut started = vec![issuer];
    for service in SERVICES {
        let mut service_env = services::service_env(env, service.name());
        service_env.set("auth.tenants_url", issuer_url.clone());
        started.push(start_service(supervisor, *service, service_env).await?);
    }

    let mut gateway_env = services::gateway_env(env);
    let mut local = HashMap::new();
    for service in &started {
        let name = service.listed.name;
        let url = format!("http://{}", service.listed.grpc_addr);
        gateway_env.set(&format!("gateway.upstreams.{name}"), url);
        if in_process {
            local.insert(name.to_owned(), service.local.clone());
        }
    }
    let settings = gateway::Settings::load_from(gateway_env.vars()).context("gateway settings")?;
    let gateway = gateway::Server::build_with_local(settings, local)
        .await
        .context("starting gateway")?;
    let (gateway_addr, gateway_admin) = (gateway.local_addr(), gateway.admin_addr());
    supervisor.start("gateway", move |stop| async move {
        gateway.run(stop).await.map_err(anyhow::Error::from)
    });

    Ok(Banner {
        gateway: gateway_addr,
        gateway_admin,
        in_process,
        services: started.into_iter().map(|service| service.listed).collect(),
        operator_token,
    })
}

/// A service serving under the supervisor.
struct Started {
    listed: Listed,
    local: LocalService,
}

async fn start_service(
    supervisor: &mut Supervisor,
    service: &dyn Component,
    env: EnvLayers,
) -> anyhow::Result<Started> {
    let name = service.name();
    let built = service
        .build(env)
        .await
        .map_err(anyhow::Error::from_boxed)
        .with_context(|| format!("starting {name}"))?;
    let listed = Listed {
        name,
        grpc_addr: built.grpc_addr().map_err(anyhow::Error::from_boxed)?,
        admin_addr: built.admin_addr().map_err(anyhow::Error::from_boxed)?,
    };
    let local = built.local_service();
    supervisor.start(name, move |stop| async move {
        built.run(stop).await.map_err(anyhow::Error::from_boxed)
    });
    Ok(Started { listed, local })
}

/// The token issuer needs an operator token and a signing key; the dev platform generates each
/// one that is not set. The key is ephemeral: access tokens do not survive a restart.
fn issuer_secrets(env: &mut EnvLayers) -> anyhow::Result<OperatorToken> {
    let unset = |value: Option<&str>| value.is_none_or(|v| v.trim().is_empty());
    if unset(env.get("auth.signing_key_pem")) {
        env.set("auth.signing_key_pem", auth::token::Signer::generate_pem()?);
    }
    let generated = unset(env.get("operator.token"));
    if generated {
        env.set("operator.token", random_token());
    }
    let value = env.get("operator.token").unwrap_or_default().to_owned();
    Ok(OperatorToken { value, generated })
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("sc_op_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The process environment; variables that are not UTF-8 are not settings.
fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .collect()
}

/// One process, one log subscriber: configured by the shared `telemetry.*` keys.
fn init_telemetry(env: &[(String, String)]) -> anyhow::Result<runtime::telemetry::TelemetryGuard> {
    #[derive(Deserialize)]
    struct Launcher {
        #[serde(default)]
        telemetry: TelemetrySettings,
    }
    let launcher: Launcher = runtime::config::load_from("", services::shared_env(env).vars())
        .context("telemetry settings")?;
    Ok(runtime::telemetry::init(
        "salescompass",
        &launcher.telemetry,
    )?)
}

/// Says which variables the launcher leaves out, so a setting is never silently lost.
fn warn_unapplied(env: &[(String, String)]) {
    for var in services::unscoped_vars(env) {
        tracing::warn!(
            variable = %var,
            "not applied: in salescompass dev this key is per service; prefix it with the service (SALESCOMPASS__CRM__…)"
        );
    }
    if env.iter().any(|(name, _)| name == CONFIG_FILE_ENV) {
        tracing::warn!(
            variable = CONFIG_FILE_ENV,
            "not applied: salescompass dev is configured by the environment only"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_generated_only_when_unset() {
        let mut env = EnvLayers::default();
        let token = issuer_secrets(&mut env).expect("generates");
        assert!(token.generated);
        assert!(token.value.starts_with("sc_op_"));
        assert_eq!(env.get("operator.token"), Some(token.value.as_str()));
        assert!(
            env.get("auth.signing_key_pem")
                .is_some_and(|pem| pem.contains("PRIVATE KEY"))
        );

        let mut env = EnvLayers::default();
        env.set("operator.token", "mine");
        env.set("auth.signing_key_pem", "my key");
        let token = issuer_secrets(&mut env).expect("keeps");
        assert!(!token.generated);
        assert_eq!(token.value, "mine");
        assert_eq!(env.get("auth.signing_key_pem"), Some("my key"));
    }
}
