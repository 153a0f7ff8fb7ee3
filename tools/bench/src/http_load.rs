//! HTTP/1.1 load over keep-alive connections (one hyper connection per simulated client; a
//! server that closes after each answer, like gunicorn's sync workers, is reconnected outside
//! the timed request, as wrk does).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONNECTION, CONTENT_TYPE, HOST, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::args::Loopback;
use crate::load::{Clock, ConnectionResult, Turn};
use crate::scenario::{Fixture, HttpCall, Scenario, Side, http_call, search_term};
use crate::stats::{Outcome, Recorder};

type Sender = SendRequest<Full<Bytes>>;

async fn connect(target: &Loopback) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(target.addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the server closes; the sender then reports closed.
        let _ = connection.await;
    });
    Ok(sender)
}

fn request(
    target: &Loopback,
    bearer: &str,
    call: &HttpCall,
) -> anyhow::Result<Request<Full<Bytes>>> {
    let mut builder = Request::builder()
        .method(if call.post { Method::POST } else { Method::GET })
        .uri(&call.path)
        .header(HOST, &target.authority)
        .header(USER_AGENT, "sc-bench")
        .header(AUTHORIZATION, format!("Bearer {bearer}"));
    if call.body.is_some() {
        builder = builder.header(CONTENT_TYPE, "application/json");
    }
    let body = call.body.clone().map(Bytes::from).unwrap_or_default();
    Ok(builder.body(Full::new(body))?)
}

/// Sends one request and reads the whole answer: (status, body, server keeps the connection).
async fn exchange(
    sender: &mut Sender,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes, bool), hyper::Error> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let keep = !response
        .headers()
        .get(CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body, keep))
}

/// One request outside a measurement (fixtures): the JSON body of a 2xx answer.
pub async fn fetch_json(
    target: &Loopback,
    bearer: &str,
    path: &str,
) -> anyhow::Result<serde_json::Value> {
    let mut sender = connect(target).await?;
    let call = HttpCall {
        post: false,
        path: path.to_owned(),
        body: None,
    };
    let (status, body, _) = exchange(&mut sender, request(target, bearer, &call)?).await?;
    anyhow::ensure!(
        status.is_success(),
        "GET {path}: {status}: {}",
        String::from_utf8_lossy(&body)
            .chars()
            .take(300)
            .collect::<String>()
    );
    Ok(serde_json::from_slice(&body)?)
}

/// The peer's fixture from its list endpoint: lead ids, an assignee with leads in some status,
/// and a search term.
pub async fn peer_fixture(
    target: &Loopback,
    bearer: &str,
    id_count: usize,
    deep_offset: usize,
    search: Option<String>,
) -> anyhow::Result<Fixture> {
    let page = fetch_json(target, bearer, &format!("/api/leads/?limit={id_count}")).await?;
    let leads = page["open_leads"]["open_leads"]
        .as_array()
        .context("peer list: no open_leads.open_leads array")?;
    let ids: Vec<String> = leads
        .iter()
        .filter_map(|l| l["id"].as_str().map(str::to_owned))
        .collect();
    anyhow::ensure!(!ids.is_empty(), "the peer has no open leads");
    let assigned = leads
        .iter()
        .find_map(|l| {
            let owner = l["assigned_to"].as_array()?.first()?["id"].as_str()?;
            Some((owner.to_owned(), l["status"].as_str()?.to_owned()))
        })
        .context("peer list: no lead with an assignee")?;
    let last_names: Vec<String> = leads
        .iter()
        .filter_map(|l| l["last_name"].as_str().map(str::to_owned))
        .collect();
    Ok(Fixture {
        ids: Arc::new(ids),
        owner: assigned.0,
        status: assigned.1,
        search: search.unwrap_or_else(|| search_term(&last_names)),
        deep_token: String::new(),
        deep_offset,
        ..Fixture::default()
    })
}

/// Checks the scenario answers 2xx once before loading it (a wrong token or fixture should
/// fail fast with the server's message, not as N thousand errors).
pub async fn probe(
    target: &Loopback,
    bearer: &str,
    side: Side,
    scenario: Scenario,
    fixture: &Fixture,
    tag: &str,
) -> anyhow::Result<()> {
    let call = http_call(side, scenario, fixture, &format!("{tag}p"), 0, 0);
    let mut sender = connect(target).await?;
    let (status, body, _) = exchange(&mut sender, request(target, bearer, &call)?).await?;
    anyhow::ensure!(
        status.is_success(),
        "probe {} {}: {status}: {}",
        if call.post { "POST" } else { "GET" },
        call.path,
        String::from_utf8_lossy(&body)
            .chars()
            .take(300)
            .collect::<String>()
    );
    Ok(())
}

pub struct HttpJob {
    pub target: Loopback,
    pub bearer: String,
    pub side: Side,
    pub scenario: Scenario,
    pub fixture: Fixture,
    pub tag: String,
}

/// One simulated client.
pub async fn connection(job: Arc<HttpJob>, index: usize, clock: Arc<Clock>) -> ConnectionResult {
    let mut result = ConnectionResult {
        recorder: Recorder::new(),
        last_done: None,
    };
    let mut sender: Option<Sender> = None;
    let mut n = 0u64;
    loop {
        let turn = clock.turn();
        if turn == Turn::Stop {
            break;
        }
        let live = match sender.take() {
            Some(s) if !s.is_closed() => Ok(s),
            _ => connect(&job.target).await,
        };
        let mut live = match live {
            Ok(s) => s,
            Err(error) => {
                if turn == Turn::Measured {
                    result.recorder.record(
                        Duration::ZERO,
                        Outcome::Transport(format!("connect: {error}")),
                    );
                }
                // Do not spin on a refused port.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let call = http_call(job.side, job.scenario, &job.fixture, &job.tag, index, n);
        n += 1;
        let req = match request(&job.target, &job.bearer, &call) {
            Ok(r) => r,
            Err(error) => {
                result.recorder.record(
                    Duration::ZERO,
                    Outcome::Transport(format!("request: {error}")),
                );
                break;
            }
        };
        let started = Instant::now();
        let outcome = match exchange(&mut live, req).await {
            Ok((status, body, keep)) => {
                if keep {
                    sender = Some(live);
                }
                if status.is_success() {
                    Outcome::Ok
                } else {
                    if turn == Turn::Measured && result.recorder.first_error().is_none() {
                        let text = String::from_utf8_lossy(&body);
                        eprintln!(
                            "connection {index}: {status}: {}",
                            text.chars().take(300).collect::<String>()
                        );
                    }
                    Outcome::Refused(status.as_u16().to_string())
                }
            }
            Err(error) => Outcome::Transport(error.to_string()),
        };
        let latency = started.elapsed();
        if turn == Turn::Measured {
            result.recorder.record(latency, outcome);
            result.last_done = Some(Instant::now());
        }
    }
    result
}
