//! Reminders and the notification feed over REST: a rep opens the notification stream (server-
//! sent events), sets a reminder a moment ahead, sees it arrive on the stream and in the list with
//! the unread count, and marks it read; a past reminder is refused naming the field. Run over
//! HTTP/2 to the CRM and in process (the launcher's path).

use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::helpers::{
    Platform, client, expect_json, expect_problem, gateway_with_local, violation_fields,
};

/// Long enough for a slow shared machine; the journey ends as soon as the event is there.
const DEADLINE: Duration = Duration::from_secs(30);

struct Journey {
    platform: Platform,
    _crm: crm::testing::TestCrm,
}

/// Tenants and CRM services and a gateway (heartbeats every second) in front of both; the CRM
/// over HTTP/2, or in process.
async fn journey(in_process: bool) -> Journey {
    let tenants = tenants::testing::spawn().await;
    let crm = crm::testing::spawn_with_tenants(&tenants.url()).await;
    let crm_url = crm.url();
    let mut overrides = vec![("SALESCOMPASS__GATEWAY__SSE_HEARTBEAT_SECS", "1")];
    let mut local = HashMap::new();
    if in_process {
        local.insert("crm".to_owned(), crm.local.clone());
        // The URL is configured too (the launcher does), and must not be used.
        overrides.push((
            "SALESCOMPASS__GATEWAY__UPSTREAMS__CRM",
            "http://127.0.0.1:9",
        ));
    } else {
        overrides.push(("SALESCOMPASS__GATEWAY__UPSTREAMS__CRM", &crm_url));
    }
    let (base, admin, stop) = gateway_with_local(&tenants.url(), local, &overrides).await;
    Journey {
        platform: Platform::from_parts(base, admin, client(), tenants, stop),
        _crm: crm,
    }
}

/// Reads server-sent events off a response body.
struct Events {
    response: Response,
    buffer: String,
}

#[derive(Debug, PartialEq)]
enum Event {
    Data(Value),
    Heartbeat,
    Error(Value),
}

impl Events {
    /// The next event (or heartbeat), within the deadline.
    async fn next(&mut self) -> Event {
        let until = Instant::now() + DEADLINE;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return parse(block.trim_end());
            }
            let chunk = tokio::time::timeout_at(until, self.response.chunk())
                .await
                .expect("an event in time")
                .expect("stream readable")
                .expect("stream still open");
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("utf-8 events"));
        }
    }

    /// Skips heartbeats up to the next data event.
    async fn next_data(&mut self) -> Value {
        loop {
            match self.next().await {
                Event::Heartbeat => {}
                Event::Data(value) => return value,
                Event::Error(problem) => panic!("stream failed: {problem}"),
            }
        }
    }
}

fn parse(block: &str) -> Event {
    if block.starts_with(':') {
        return Event::Heartbeat;
    }
    let mut name = "message";
    let mut data = String::new();
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("event: ") {
            name = value;
        } else if let Some(value) = line.strip_prefix("data: ") {
            data.push_str(value);
        }
    }
    let value =
        serde_json::from_str(&data).unwrap_or_else(|e| panic!("data not JSON ({e}): {block}"));
    if name == "error" {
        Event::Error(value)
    } else {
        Event::Data(value)
    }
}

async fn reminder_journey(in_process: bool) {
    let j = journey(in_process).await;
    let p = &j.platform;
    let t = p
        .tenant(if in_process { "remind-local" } else { "remind" })
        .await;
    let rep = p.create_user(&t, "rita", "ROLE_SALES_REP").await;
    let rep_token = p
        .login(
            &t.slug,
            &format!("rita@{}.test", t.slug),
            crate::helpers::PASSWORD,
        )
        .await;

    // Without a token the stream is refused like any route, as problem+json.
    let anonymous = p
        .request(Method::GET, "/v1/notifications:stream")
        .send()
        .await
        .expect("sent");
    expect_problem(anonymous, StatusCode::UNAUTHORIZED).await;

    let stream = p
        .authed(Method::GET, "/v1/notifications:stream", &rep_token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("stream opens");
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    // Never cached (the edge's security headers make it `no-store`).
    let cache = stream.headers()["cache-control"].to_str().expect("ascii");
    assert!(["no-cache", "no-store"].contains(&cache), "{cache}");
    let mut events = Events {
        response: stream,
        buffer: String::new(),
    };

    let lead = p
        .call(
            Method::POST,
            "/v1/leads",
            &rep_token,
            Some(json!({"lastName": "Reminder", "company": "Soon Inc", "force": true})),
        )
        .await;
    let lead_id = lead["id"].as_str().expect("lead id");

    // A reminder in the past is refused, naming the field.
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let refused = p
        .authed(Method::POST, "/v1/activities", &rep_token)
        .json(&json!({
            "kind": "ACTIVITY_KIND_TASK",
            "subject": "Too late",
            "relatedTo": {"type": "RECORD_TYPE_LEAD", "id": lead_id},
            "remindTime": past,
        }))
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(refused, StatusCode::BAD_REQUEST).await;
    assert_eq!(violation_fields(&problem), ["activity.remindTime"]);

    // A reminder a moment ahead arrives on the stream.
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    let activity = p
        .call(
            Method::POST,
            "/v1/activities",
            &rep_token,
            Some(json!({
                "kind": "ACTIVITY_KIND_TASK",
                "subject": "Call Soon Inc",
                "relatedTo": {"type": "RECORD_TYPE_LEAD", "id": lead_id},
                "remindTime": soon,
            })),
        )
        .await;
    let activity_id = activity["id"].as_str().expect("activity id");
    let streamed = events.next_data().await;
    let notification = &streamed["notification"];
    assert_eq!(
        notification["kind"], "NOTIFICATION_KIND_REMINDER",
        "{streamed}"
    );
    assert_eq!(notification["subjectId"], activity_id);
    assert_eq!(notification["title"], "Reminder: Call Soon Inc");
    assert_eq!(streamed["unreadCount"], "1");
    let id = notification["id"].as_str().expect("notification id");

    // The list has it, unread.
    let listed = p
        .call(
            Method::GET,
            "/v1/notifications?unreadOnly=true",
            &rep_token,
            None,
        )
        .await;
    assert_eq!(listed["unreadCount"], "1");
    assert_eq!(listed["notifications"][0]["id"], id);

    // Marked read, the count drops; nobody else's feed had it.
    let marked = p
        .call(
            Method::POST,
            "/v1/notifications:markRead",
            &rep_token,
            Some(json!({"ids": [id]})),
        )
        .await;
    assert_eq!(marked["markedCount"], "1");
    assert_eq!(marked["unreadCount"], "0");
    let after = p
        .call(Method::GET, "/v1/notifications", &rep_token, None)
        .await;
    assert_eq!(after["notifications"][0]["read"], true);
    let admins = p
        .call(Method::GET, "/v1/notifications", &t.token, None)
        .await;
    assert!(
        admins["notifications"]
            .as_array()
            .is_none_or(|n| n.iter().all(|n| n["id"] != id)),
        "{admins}"
    );

    // Bad input over REST: problem+json naming the field.
    let bad = p
        .authed(Method::POST, "/v1/notifications:markRead", &rep_token)
        .json(&json!({}))
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(bad, StatusCode::BAD_REQUEST).await;
    assert_eq!(violation_fields(&problem), ["ids"]);

    // An idle stream carries heartbeats (comment lines).
    assert_eq!(events.next().await, Event::Heartbeat);
    assert!(rep["id"].is_string());
}

#[tokio::test]
async fn a_reminder_reaches_the_stream_and_the_feed_over_http2() {
    reminder_journey(false).await;
}

#[tokio::test]
async fn a_reminder_reaches_the_stream_and_the_feed_in_process() {
    reminder_journey(true).await;
}

/// The OpenAPI document presents the stream as server-sent events.
#[tokio::test]
async fn openapi_documents_the_stream_as_server_sent_events() {
    let j = journey(false).await;
    let doc = expect_json(
        j.platform
            .request(Method::GET, "/openapi.json")
            .send()
            .await
            .expect("sent"),
        StatusCode::OK,
    )
    .await;
    let ok = &doc["paths"]["/v1/notifications:stream"]["get"]["responses"]["200"];
    assert!(
        ok["content"]["text/event-stream"]["schema"]["$ref"]
            .as_str()
            .is_some_and(|r| r.ends_with("StreamNotificationsResponse")),
        "{ok}"
    );
}
