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
///
/// A publish the broker did not confirm because it closed the connection is sent again on a new
/// one, up to [`PUBLISH_ATTEMPTS`] times. RabbitMQ 3.10 closes it with `INTERNAL_ERROR` when a
/// quorum queue bound to the exchange is being deleted at that moment, which happens when a test
/// running in parallel finishes; consumers skip an event they already processed, so a repeat is
/// harmless.
pub async fn publish(exchange: &str, messages: &[(&str, Vec<u8>)]) {
    let (mut connection, mut channel) = confirmed_channel().await;
    for (routing_key, body) in messages {
        let mut attempt = 1;
        let confirmation = loop {
            let sent = async {
                channel
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
                    .await?
                    .await
            };
            match sent.await {
                Ok(confirmation) => break confirmation,
                Err(error) if attempt < PUBLISH_ATTEMPTS => {
                    eprintln!("publish of {routing_key} on {exchange} failed ({error}); again");
                    attempt += 1;
                    (connection, channel) = confirmed_channel().await;
                }
                Err(error) => panic!("{routing_key} on {exchange} not confirmed: {error:?}"),
            }
        };
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

/// Publishes of one message before [`publish`] gives up.
const PUBLISH_ATTEMPTS: usize = 3;

async fn confirmed_channel() -> (Connection, lapin::Channel) {
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("connect to rabbitmq");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("publisher confirms");
    (connection, channel)
}
