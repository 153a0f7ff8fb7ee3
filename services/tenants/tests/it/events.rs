use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use prost::Message;
use proto::events::Envelope;
use proto::tenants as pb;

use crate::helpers::*;

const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// An exclusive, auto-deleted queue bound to every tenants event.
async fn listen() -> (Connection, lapin::Consumer) {
    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default())
        .await
        .expect("rabbitmq");
    let channel = conn.create_channel().await.expect("channel");
    channel
        .exchange_declare(
            events::EXCHANGE.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("exchange");
    let queue = format!("tenants-it-{}", testkit::unique_suffix());
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("queue");
    channel
        .queue_bind(
            queue.as_str().into(),
            events::EXCHANGE.into(),
            "tenants.#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
    let consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("consume");
    (conn, consumer)
}

/// Collects this tenant's event types until `expected` were all seen or the deadline passes.
async fn collect(
    consumer: &mut lapin::Consumer,
    tenant_id: &str,
    expected: &[&str],
) -> Vec<Envelope> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !expected
        .iter()
        .all(|t| seen.iter().any(|e: &Envelope| e.event_type == *t))
    {
        let next = tokio::time::timeout_at(deadline, consumer.next()).await;
        let Ok(Some(Ok(delivery))) = next else { break };
        let envelope = Envelope::decode(delivery.data.as_slice()).expect("envelope");
        if envelope.tenant_id == tenant_id {
            seen.push(envelope);
        }
    }
    seen
}

#[tokio::test]
async fn tenant_and_user_changes_are_published_through_the_outbox() {
    let (_conn, mut consumer) = listen().await;
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "events").await;
    let rep = create_user(
        &mut c,
        &f.admin_token,
        &format!("rep@{}.test", f.slug),
        pb::Role::SalesRep,
        "",
    )
    .await;
    c.users
        .deactivate_user(authed(
            &f.admin_token,
            pb::DeactivateUserRequest { id: rep.id.clone() },
        ))
        .await
        .expect("deactivate");
    c.tenants
        .suspend_tenant(authed(
            &svc.operator_token,
            pb::SuspendTenantRequest {
                id: f.tenant.id.clone(),
                reason: "test".into(),
            },
        ))
        .await
        .expect("suspend");

    let expected = [
        "tenants.tenant.provisioned",
        "tenants.user.created",
        "tenants.user.deactivated",
        "tenants.tenant.suspended",
    ];
    let seen = collect(&mut consumer, &f.tenant.id, &expected).await;
    let types: Vec<&str> = seen.iter().map(|e| e.event_type.as_str()).collect();
    for t in expected {
        assert!(types.contains(&t), "missing {t} in {types:?}");
    }

    let provisioned = seen
        .iter()
        .find(|e| e.event_type == "tenants.tenant.provisioned")
        .expect("provisioned");
    assert_eq!(provisioned.producer, "tenants");
    let payload = pb::TenantProvisioned::decode(
        provisioned
            .payload
            .as_ref()
            .expect("payload")
            .value
            .as_slice(),
    )
    .expect("payload decodes");
    assert_eq!(payload.tenant.expect("tenant").slug, f.slug);
    assert_eq!(payload.admin.expect("admin").id, f.admin.id);

    let deactivated = seen
        .iter()
        .find(|e| e.event_type == "tenants.user.deactivated")
        .expect("deactivated");
    assert_eq!(deactivated.aggregate_id, rep.id);
    let user = pb::UserDeactivated::decode(
        deactivated
            .payload
            .as_ref()
            .expect("payload")
            .value
            .as_slice(),
    )
    .expect("decodes");
    assert!(!user.user.expect("user").active);
}

#[tokio::test]
async fn exchange_rate_changes_are_published_through_the_outbox() {
    let (_conn, mut consumer) = listen().await;
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "fx-events").await;
    let rate = pb::ExchangeRate {
        currency_code: "USD".into(),
        effective_date: "2026-01-01".into(),
        rate: "0.92".into(),
        ..Default::default()
    };
    c.rates
        .set_exchange_rate(authed(
            &f.admin_token,
            pb::SetExchangeRateRequest {
                exchange_rate: Some(rate),
            },
        ))
        .await
        .expect("set");
    c.rates
        .delete_exchange_rate(authed(
            &f.admin_token,
            pb::DeleteExchangeRateRequest {
                currency_code: "USD".into(),
                effective_date: "2026-01-01".into(),
            },
        ))
        .await
        .expect("delete");

    let expected = ["tenants.exchange_rate.set", "tenants.exchange_rate.deleted"];
    let seen = collect(&mut consumer, &f.tenant.id, &expected).await;
    let set = seen
        .iter()
        .find(|e| e.event_type == "tenants.exchange_rate.set")
        .expect("set published");
    assert_eq!(set.aggregate_id, "USD/2026-01-01");
    let payload =
        pb::ExchangeRateSet::decode(set.payload.as_ref().expect("payload").value.as_slice())
            .expect("decodes")
            .exchange_rate
            .expect("rate");
    assert_eq!(payload.rate, "0.92");
    assert_eq!(payload.base_currency_code, "EUR");
    let deleted = seen
        .iter()
        .find(|e| e.event_type == "tenants.exchange_rate.deleted")
        .expect("deleted published");
    let payload = pb::ExchangeRateDeleted::decode(
        deleted.payload.as_ref().expect("payload").value.as_slice(),
    )
    .expect("decodes");
    assert_eq!(payload.effective_date, "2026-01-01");
}
