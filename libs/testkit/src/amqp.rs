//! Publishing to the real broker as another service's relay would: confirmed and mandatory, so
//! a test fails at the publish, not 30 s later, when a message was dropped or routed nowhere.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};

/// Broker used by tests: `TEST_AMQP_URL`, else the local RabbitMQ as guest.
pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// Publishes `(routing key, body)` messages to `exchange` in order, persistent, and waits for
/// the broker to confirm each one. Panics if the broker refuses a message or no queue is bound
/// for it.
///
/// Without confirms a publish only hands the frame to the client library: closing the
/// connection right after can drop it, and the consumer under test then waits for an event
/// that was never sent.
pub async fn publish(exchange: &str, messages: &[(&str, Vec<u8>)]) {
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("connect to rabbitmq");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("publisher confirms");
    for (routing_key, body) in messages {
        let confirmation = channel
            .basic_publish(
                exchange.into(),
                (*routing_key).into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
        match confirmation {
            Confirmation::Ack(None) => {}
            Confirmation::Ack(Some(returned)) => panic!(
                "{routing_key} on {exchange} reached no queue: {:?}",
                returned.reply_text
            ),
            other => panic!("{routing_key} on {exchange} not confirmed: {other:?}"),
        }
    }
    let _ = connection.close(200, "done".into()).await;
}
