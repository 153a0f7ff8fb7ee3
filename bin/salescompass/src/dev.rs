//! The local platform: fixed loopback ports per service, generated secrets when none are set.

use std::collections::HashMap;
use std::net::SocketAddr;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

/// Ports of the local platform (the gateway's public port comes from its own settings).
const TENANTS_GRPC: &str = "127.0.0.1:50051";
const TENANTS_ADMIN: &str = "127.0.0.1:9091";
const GATEWAY_ADMIN: &str = "127.0.0.1:9090";
const CRM_GRPC: &str = "127.0.0.1:50052";
const CRM_ADMIN: &str = "127.0.0.1:9092";
const COMMISSIONS_GRPC: &str = "127.0.0.1:50053";
const COMMISSIONS_ADMIN: &str = "127.0.0.1:9093";

pub async fn migrate() -> anyhow::Result<()> {
    let settings = tenants::Settings::load().context("tenants settings")?;
    let _telemetry = runtime::telemetry::init("salescompass", &settings.telemetry)?;
    tenants::migrate(&settings)
        .await
        .context("migrating tenants")?;
    println!("migrated: tenants");
    let crm_settings = crm::Settings::load().context("crm settings")?;
    crm::migrate(&crm_settings).await.context("migrating crm")?;
    println!("migrated: crm");
    let commissions_settings = commissions::Settings::load().context("commissions settings")?;
    commissions::migrate(&commissions_settings)
        .await
        .context("migrating commissions")?;
    println!("migrated: commissions");
    Ok(())
}

/// Starts every service and the gateway; with `in_process` the gateway calls them directly.
pub async fn run(in_process: bool) -> anyhow::Result<()> {
    let mut tenants_settings = tenants::Settings::load().context("tenants settings")?;
    let _telemetry = runtime::telemetry::init("salescompass", &tenants_settings.telemetry)?;
    tenants_settings.server.grpc_listen = addr(TENANTS_GRPC)?;
    tenants_settings.server.admin_listen = addr(TENANTS_ADMIN)?;
    tenants_settings.database.migrate_on_start = true;
    let generated_token = tenants_settings.operator.token.is_empty();
    if generated_token {
        tenants_settings.operator.token = random_token();
    }
    if tenants_settings.auth.signing_key_pem.trim().is_empty() {
        // Ephemeral: access tokens do not survive a restart of the dev platform.
        tenants_settings.auth.signing_key_pem = auth::token::Signer::generate_pem()?;
    }
    let operator_token = tenants_settings.operator.token.clone();

    let shutdown = runtime::shutdown::on_signal();
    let mut components = tokio::task::JoinSet::new();

    let tenants_app = tenants::Application::build(tenants_settings)
        .await
        .context("starting tenants")?;
    let tenants_addr = tenants_app.grpc_addr()?;
    let tenants_local = tenants_app.local_service();
    let token = shutdown.clone();
    // Serving before the next component starts: crm fetches the token keys from tenants.
    components.spawn(async move {
        (
            "tenants",
            tenants_app.run(token).await.map_err(anyhow::Error::from),
        )
    });

    let mut crm_settings = crm::Settings::load().context("crm settings")?;
    crm_settings.server.grpc_listen = addr(CRM_GRPC)?;
    crm_settings.server.admin_listen = addr(CRM_ADMIN)?;
    crm_settings.database.migrate_on_start = true;
    crm_settings.auth.tenants_url = format!("http://{tenants_addr}");
    let crm_app = crm::Application::build(crm_settings)
        .await
        .context("starting crm")?;
    let crm_addr = crm_app.grpc_addr()?;
    let crm_local = crm_app.local_service();
    let token = shutdown.clone();
    components.spawn(async move { ("crm", crm_app.run(token).await.map_err(anyhow::Error::from)) });

    let mut commissions_settings = commissions::Settings::load().context("commissions settings")?;
    commissions_settings.server.grpc_listen = addr(COMMISSIONS_GRPC)?;
    commissions_settings.server.admin_listen = addr(COMMISSIONS_ADMIN)?;
    commissions_settings.database.migrate_on_start = true;
    commissions_settings.auth.tenants_url = format!("http://{tenants_addr}");
    let commissions_app = commissions::Application::build(commissions_settings)
        .await
        .context("starting commissions")?;
    let commissions_addr = commissions_app.grpc_addr()?;
    let commissions_local = commissions_app.local_service();
    let token = shutdown.clone();
    components.spawn(async move {
        (
            "commissions",
            commissions_app
                .run(token)
                .await
                .map_err(anyhow::Error::from),
        )
    });

    let mut gateway_settings = gateway::Settings::load().context("gateway settings")?;
    gateway_settings.server.admin_listen = addr(GATEWAY_ADMIN)?;
    let upstreams = &mut gateway_settings.gateway.upstreams;
    upstreams.insert("tenants".to_owned(), format!("http://{tenants_addr}"));
    upstreams.insert("crm".to_owned(), format!("http://{crm_addr}"));
    upstreams.insert(
        "commissions".to_owned(),
        format!("http://{commissions_addr}"),
    );
    let local = if in_process {
        HashMap::from([
            ("tenants".to_owned(), tenants_local),
            ("crm".to_owned(), crm_local),
            ("commissions".to_owned(), commissions_local),
        ])
    } else {
        HashMap::new()
    };
    let gateway_server = gateway::Server::build_with_local(gateway_settings, local)
        .await
        .context("starting gateway")?;
    let gateway_addr = gateway_server.local_addr();
    let token = shutdown.clone();
    components.spawn(async move {
        (
            "gateway",
            gateway_server.run(token).await.map_err(anyhow::Error::from),
        )
    });

    print_banner(
        tenants_addr,
        crm_addr,
        gateway_addr,
        &operator_token,
        generated_token,
        in_process,
    );

    // One component stopping, for whatever reason, stops the platform: a half-running local
    // platform would only confuse.
    let mut failure = None;
    while let Some(joined) = components.join_next().await {
        shutdown.cancel();
        match joined {
            Ok((_, Ok(()))) => {}
            Ok((name, Err(error))) => {
                tracing::error!(component = name, error = %format!("{error:#}"), "component failed");
                failure.get_or_insert(error.context(name));
            }
            Err(join) => {
                failure.get_or_insert(anyhow::Error::from(join));
            }
        }
    }
    failure.map_or(Ok(()), Err)
}

fn addr(s: &str) -> anyhow::Result<SocketAddr> {
    s.parse().with_context(|| format!("invalid address {s}"))
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("sc_op_{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn print_banner(
    tenants: SocketAddr,
    crm: SocketAddr,
    gateway: SocketAddr,
    operator_token: &str,
    generated: bool,
    in_process: bool,
) {
    println!();
    println!("SalesCompass is running");
    println!(
        "  gateway (REST)   http://{gateway}   docs: http://{gateway}/docs   OpenAPI: http://{gateway}/openapi.json"
    );
    println!("  gateway admin    http://{GATEWAY_ADMIN}/metrics");
    if in_process {
        println!("  gateway → services: in-process (--in-process)");
    }
    println!("  tenants (gRPC)   {tenants}   admin: http://{TENANTS_ADMIN}/readyz");
    println!("  crm (gRPC)       {crm}   admin: http://{CRM_ADMIN}/readyz");
    println!("  commissions      {COMMISSIONS_GRPC}   admin: http://{COMMISSIONS_ADMIN}/readyz");
    println!();
    if generated {
        println!("  operator token (generated; set SALESCOMPASS__OPERATOR__TOKEN to fix it):");
    } else {
        println!("  operator token: from SALESCOMPASS__OPERATOR__TOKEN");
    }
    println!("    export SC_OPERATOR_TOKEN='{operator_token}'");
    println!();
    println!("  provision a tenant:");
    println!(
        r#"    curl -s http://{gateway}/v1/tenants:provision -H "authorization: Bearer $SC_OPERATOR_TOKEN" -H 'content-type: application/json' \
      -d '{{"tenant":{{"slug":"acme","displayName":"Acme"}},"admin":{{"email":"ann@acme.test","password":"correct horse 42","displayName":"Ann"}}}}'"#
    );
    println!("  over gRPC: grpcurl -plaintext {tenants} list");
    println!();
}
