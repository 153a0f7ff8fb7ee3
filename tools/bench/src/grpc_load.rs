//! Direct gRPC calls to the crm LeadService (one HTTP/2 channel per simulated client), the
//! SalesCompass login, and the SalesCompass fixture (read over gRPC for both REST and gRPC runs).

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use proto::crm::lead_service_client::LeadServiceClient;
use proto::crm::{CreateLeadRequest, GetLeadRequest, LeadRating, ListLeadsRequest};
use proto::tenants::LoginRequest;
use proto::tenants::auth_service_client::AuthServiceClient;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use crate::args::Loopback;
use crate::load::{Clock, ConnectionResult, Turn};
use crate::scenario::{Fixture, PAGE_SIZE, Scenario, search_term, unique_lead};
use crate::stats::{Outcome, Recorder};

/// Largest page the crm serves; used to read fixtures in few calls.
const MAX_PAGE: i32 = 1000;

pub async fn channel(target: &Loopback) -> anyhow::Result<Channel> {
    Endpoint::from_shared(target.http_uri())?
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("connecting to {}", target.addr))
}

/// `SLUG:EMAIL:PASSWORD` (the password may contain colons).
pub fn parse_login(raw: &str) -> Result<(String, String, String), String> {
    let mut parts = raw.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(slug), Some(email), Some(password))
            if !slug.is_empty() && !email.is_empty() && !password.is_empty() =>
        {
            Ok((slug.to_owned(), email.to_owned(), password.to_owned()))
        }
        _ => Err("expected SLUG:EMAIL:PASSWORD".to_owned()),
    }
}

/// Logs in through the tenants service: a fresh 15-minute access token per run.
pub async fn login(tenants: &Loopback, login: &(String, String, String)) -> anyhow::Result<String> {
    let mut client = AuthServiceClient::new(channel(tenants).await?);
    let response = client
        .login(LoginRequest {
            tenant_slug: login.0.clone(),
            email: login.1.clone(),
            password: login.2.clone(),
        })
        .await
        .context("login")?;
    Ok(response.into_inner().access_token)
}

pub fn authorized<T>(message: T, bearer: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {bearer}").parse()?;
    request.metadata_mut().insert("authorization", value);
    Ok(request)
}

/// Lead ids, an owner with new leads, a search term and the page token `deep_offset` rows into
/// the default order (walked with large pages: tokens do not depend on the page size).
pub async fn sc_fixture(
    crm: &Loopback,
    bearer: &str,
    id_count: usize,
    deep_offset: usize,
    search: Option<String>,
) -> anyhow::Result<Fixture> {
    let mut client = LeadServiceClient::new(channel(crm).await?);
    let first = client
        .list_leads(authorized(
            ListLeadsRequest {
                page_size: i32::try_from(id_count)
                    .unwrap_or(MAX_PAGE)
                    .clamp(1, MAX_PAGE),
                ..Default::default()
            },
            bearer,
        )?)
        .await
        .context("listing leads")?
        .into_inner();
    anyhow::ensure!(
        !first.leads.is_empty(),
        "the tenant has no leads: seed first"
    );
    let status = "LEAD_STATUS_NEW";
    let owner = first
        .leads
        .iter()
        .find(|l| l.status == proto::crm::LeadStatus::New as i32)
        .context("no lead with status NEW among the first page")?
        .owner_id
        .clone();
    let last_names: Vec<String> = first.leads.iter().map(|l| l.last_name.clone()).collect();

    let mut walked = 0usize;
    let mut token = String::new();
    while walked < deep_offset {
        let want = i32::try_from(deep_offset - walked)
            .unwrap_or(MAX_PAGE)
            .min(MAX_PAGE);
        let page = client
            .list_leads(authorized(
                ListLeadsRequest {
                    page_size: want,
                    page_token: token.clone(),
                    ..Default::default()
                },
                bearer,
            )?)
            .await
            .context("walking to the deep page")?
            .into_inner();
        if page.next_page_token.is_empty() {
            eprintln!("only {walked} rows before the last page: the deep page starts there");
            break;
        }
        walked += page.leads.len();
        token = page.next_page_token;
    }
    Ok(Fixture {
        ids: Arc::new(first.leads.into_iter().map(|l| l.id).collect()),
        owner,
        status: status.to_owned(),
        search: search.unwrap_or_else(|| search_term(&last_names)),
        deep_token: token,
        deep_offset: walked,
        ..Fixture::default()
    })
}

pub struct GrpcJob {
    pub target: Loopback,
    pub bearer: String,
    pub scenario: Scenario,
    pub fixture: Fixture,
    pub tag: String,
}

/// One call of the scenario; `Err` carries the gRPC code name.
async fn call(
    client: &mut LeadServiceClient<Channel>,
    job: &GrpcJob,
    index: usize,
    n: u64,
) -> Result<(), Outcome> {
    let bearer = &job.bearer;
    let f = &job.fixture;
    let list = |filter: String, page_token: String| ListLeadsRequest {
        page_size: PAGE_SIZE,
        page_token,
        filter,
        order_by: String::new(),
        read_mask: None,
    };
    let result = match job.scenario {
        Scenario::Create => {
            let (last_name, phone) = unique_lead(&job.tag, index, n);
            let message = CreateLeadRequest {
                first_name: "Ada".to_owned(),
                last_name,
                email: format!("ada.{}.{index}.{n}@load.test", job.tag),
                phone,
                company: "Analytical Engines".to_owned(),
                title: "CTO".to_owned(),
                source: "call".to_owned(),
                country_code: "GB".to_owned(),
                employee_count: 40,
                rating: LeadRating::Warm as i32,
                owner_id: String::new(),
                ..Default::default()
            };
            client
                .create_lead(request(message, bearer)?)
                .await
                .map(drop)
        }
        Scenario::Get => {
            let message = GetLeadRequest {
                id: f.id_for(index, n).to_owned(),
                read_mask: None,
            };
            client.get_lead(request(message, bearer)?).await.map(drop)
        }
        Scenario::List => client
            .list_leads(request(list(String::new(), String::new()), bearer)?)
            .await
            .map(drop),
        Scenario::Filter => client
            .list_leads(request(list(f.filter_expression(), String::new()), bearer)?)
            .await
            .map(drop),
        Scenario::Deep => client
            .list_leads(request(list(String::new(), f.deep_token.clone()), bearer)?)
            .await
            .map(drop),
        Scenario::Search => client
            .list_leads(request(list(f.search_expression(), String::new()), bearer)?)
            .await
            .map(drop),
        // `sc-bench grpc` refuses it before the run: the forecast is measured over REST.
        Scenario::Forecast => return Err(Outcome::Refused("forecast is http only".to_owned())),
    };
    result.map_err(|status| match status.code() {
        tonic::Code::Unavailable | tonic::Code::Unknown => {
            Outcome::Transport(format!("{:?}: {}", status.code(), status.message()))
        }
        code => Outcome::Refused(format!("{code:?}")),
    })
}

fn request<T>(message: T, bearer: &str) -> Result<tonic::Request<T>, Outcome> {
    authorized(message, bearer).map_err(|e| Outcome::Transport(format!("metadata: {e}")))
}

/// Checks the scenario succeeds once before loading it.
pub async fn probe(job: &GrpcJob) -> anyhow::Result<()> {
    let mut client = LeadServiceClient::new(channel(&job.target).await?);
    call(&mut client, job, 0, 0)
        .await
        .map_err(|outcome| anyhow::anyhow!("probe {}: {outcome:?}", job.scenario.name()))
}

/// One simulated client on its own HTTP/2 connection.
pub async fn connection(job: Arc<GrpcJob>, index: usize, clock: Arc<Clock>) -> ConnectionResult {
    let mut result = ConnectionResult {
        recorder: Recorder::new(),
        last_done: None,
    };
    let mut client = match channel(&job.target).await {
        Ok(c) => LeadServiceClient::new(c),
        Err(error) => {
            result.recorder.record(
                std::time::Duration::ZERO,
                Outcome::Transport(format!("connect: {error:#}")),
            );
            return result;
        }
    };
    // Numbered from 1: the probe used 0.
    let mut n = 1u64;
    loop {
        let turn = clock.turn();
        if turn == Turn::Stop {
            break;
        }
        let started = Instant::now();
        let outcome = match call(&mut client, &job, index, n).await {
            Ok(()) => Outcome::Ok,
            Err(outcome) => outcome,
        };
        n += 1;
        if turn == Turn::Measured {
            if result.recorder.first_error().is_none() && outcome != Outcome::Ok {
                eprintln!("connection {index}: {outcome:?}");
            }
            result.recorder.record(started.elapsed(), outcome);
            result.last_done = Some(Instant::now());
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_splits_into_three_parts_keeping_colons_in_the_password() {
        assert_eq!(
            parse_login("bench:admin@bench.test:pass:word 1"),
            Ok((
                "bench".into(),
                "admin@bench.test".into(),
                "pass:word 1".into()
            ))
        );
        assert!(parse_login("bench:admin@bench.test").is_err());
        assert!(parse_login("::x").is_err());
    }
}
