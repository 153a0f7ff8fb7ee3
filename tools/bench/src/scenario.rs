//! The benchmark scenarios and the requests each one sends to SalesCompass (REST or gRPC) and
//! to the BottleCRM peer.

use std::sync::Arc;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// Page size of every list scenario (the peer honours `limit=50` too; its default is 10).
pub const PAGE_SIZE: i32 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Create a lead, unique body per request.
    Create,
    /// Get a lead by id, cycling through ids read before the run.
    Get,
    /// First page of the list, 50 per page.
    List,
    /// List filtered by status and owner.
    Filter,
    /// A page far into the list (keyset page token for us, offset for the peer).
    Deep,
    /// Search by name (first or last name contains a term).
    Search,
    /// The forecast of every seeded deal: per currency, per rep and per manager (SalesCompass
    /// over REST only; BottleCRM has no forecast).
    Forecast,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Create => "create",
            Scenario::Get => "get",
            Scenario::List => "list",
            Scenario::Filter => "filter",
            Scenario::Deep => "deep",
            Scenario::Search => "search",
            Scenario::Forecast => "forecast",
        }
    }
}

/// Data read from the target before the run: what the scenarios point at.
#[derive(Debug, Clone, Default)]
pub struct Fixture {
    pub ids: Arc<Vec<String>>,
    /// An owner with at least one lead in `status`.
    pub owner: String,
    pub status: String,
    pub search: String,
    /// SalesCompass: the page token `deep_offset` rows in.
    pub deep_token: String,
    pub deep_offset: usize,
    /// The forecast's period (YYYY-MM-DD, inclusive): where the seeded deals close.
    pub forecast_start: String,
    pub forecast_end: String,
}

impl Fixture {
    /// Spreads the connections over the ids so they do not all read the same row.
    pub fn id_for(&self, connection: usize, n: u64) -> &str {
        let len = self.ids.len().max(1);
        let stride = (len / 8).max(1);
        let i = (connection * stride + n as usize) % len;
        self.ids.get(i).map_or("", String::as_str)
    }

    pub fn filter_expression(&self) -> String {
        format!("status = {} AND owner_id = \"{}\"", self.status, self.owner)
    }

    pub fn search_expression(&self) -> String {
        let q = self.search.replace('\\', "\\\\").replace('"', "\\\"");
        format!("first_name : \"{q}\" OR last_name : \"{q}\"")
    }
}

/// A search term from the data: the first three letters of a last name in the middle of the
/// ids read (so it matches a realistic share of rows on both sides).
pub fn search_term(last_names: &[String]) -> String {
    last_names
        .get(last_names.len() / 2)
        .map(|n| n.chars().take(3).collect::<String>().to_lowercase())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "son".to_owned())
}

/// Which server an HTTP run talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Side {
    /// SalesCompass through its REST gateway.
    Sc,
    /// BottleCRM (django-crm) on loopback.
    Peer,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Sc => "sc",
            Side::Peer => "peer",
        }
    }
}

/// One HTTP request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub post: bool,
    pub path: String,
    pub body: Option<String>,
}

/// The last name and phone of the `n`-th lead a connection creates: unique per run, connection
/// and send, so the CRM's duplicate check (same name or phone) lets every create through.
pub fn unique_lead(tag: &str, connection: usize, n: u64) -> (String, String) {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (tag, connection, n).hash(&mut hasher);
    // +1 and 13 digits: 14 digits, within E.164's 15.
    let phone = format!("+1{:013}", hasher.finish() % 10_000_000_000_000);
    (format!("Bench {tag} {connection} {n}"), phone)
}

fn get(path: String) -> HttpCall {
    HttpCall {
        post: false,
        path,
        body: None,
    }
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// The request for the `n`-th send of `connection`; `tag` makes created records unique per run.
pub fn http_call(
    side: Side,
    scenario: Scenario,
    fixture: &Fixture,
    tag: &str,
    connection: usize,
    n: u64,
) -> HttpCall {
    match (side, scenario) {
        (Side::Sc, Scenario::Create) => {
            let (last_name, phone) = unique_lead(tag, connection, n);
            HttpCall {
                post: true,
                path: "/v1/leads".to_owned(),
                body: Some(
                    serde_json::json!({
                        "firstName": "Ada",
                        "lastName": last_name,
                        "email": format!("ada.{tag}.{connection}.{n}@load.test"),
                        "phone": phone,
                        "company": "Analytical Engines",
                        "title": "CTO",
                        "source": "call",
                        "countryCode": "GB",
                        "employeeCount": 40,
                        "rating": "LEAD_RATING_WARM",
                    })
                    .to_string(),
                ),
            }
        }
        (Side::Sc, Scenario::Get) => get(format!("/v1/leads/{}", fixture.id_for(connection, n))),
        (Side::Sc, Scenario::List) => get(format!("/v1/leads?pageSize={PAGE_SIZE}")),
        (Side::Sc, Scenario::Filter) => get(format!(
            "/v1/leads?pageSize={PAGE_SIZE}&filter={}",
            enc(&fixture.filter_expression())
        )),
        (Side::Sc, Scenario::Deep) => get(format!(
            "/v1/leads?pageSize={PAGE_SIZE}&pageToken={}",
            enc(&fixture.deep_token)
        )),
        (Side::Sc, Scenario::Search) => get(format!(
            "/v1/leads?pageSize={PAGE_SIZE}&filter={}",
            enc(&fixture.search_expression())
        )),
        (Side::Sc, Scenario::Forecast) => get(format!(
            "/v1/forecast?startDate={}&endDate={}",
            fixture.forecast_start, fixture.forecast_end
        )),
        // The same body as the peer's own wrk script (../shared/peer/wrk/post_lead.lua).
        (Side::Peer, Scenario::Create) => HttpCall {
            post: true,
            path: "/api/leads/".to_owned(),
            body: Some(
                serde_json::json!({
                    "title": format!("Bench lead {n}"),
                    "first_name": "Ada",
                    "last_name": format!("Bench{n}"),
                    "email": format!("ada.{tag}.{connection}.{n}@wrk.bench"),
                    "phone": "+1 555-555-0100",
                    "company_name": "Analytical Engines",
                    "job_title": "CTO",
                    "status": "assigned",
                    "source": "call",
                    "industry": "ADVERTISING",
                    "rating": "WARM",
                    "opportunity_amount": "12345.00",
                    "currency": "USD",
                    "probability": 40,
                    "city": "London",
                    "country": "GB",
                    "description": "created by sc-bench",
                })
                .to_string(),
            ),
        },
        (Side::Peer, Scenario::Get) => {
            get(format!("/api/leads/{}/", fixture.id_for(connection, n)))
        }
        (Side::Peer, Scenario::List) => get(format!("/api/leads/?limit={PAGE_SIZE}")),
        (Side::Peer, Scenario::Filter) => get(format!(
            "/api/leads/?limit={PAGE_SIZE}&status={}&assigned_to={}",
            enc(&fixture.status),
            enc(&fixture.owner)
        )),
        (Side::Peer, Scenario::Deep) => get(format!(
            "/api/leads/?limit={PAGE_SIZE}&offset={}",
            fixture.deep_offset
        )),
        (Side::Peer, Scenario::Search) => get(format!(
            "/api/leads/?limit={PAGE_SIZE}&name={}",
            enc(&fixture.search)
        )),
        // Never sent: `sc-bench http` refuses a forecast run against the peer.
        (Side::Peer, Scenario::Forecast) => get(format!("/api/opportunities/?limit={PAGE_SIZE}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Fixture {
        Fixture {
            ids: Arc::new(vec!["a".into(), "b".into(), "c".into()]),
            owner: "0190".into(),
            status: "LEAD_STATUS_NEW".into(),
            search: "sm\"i".into(),
            deep_token: "tok/+=".into(),
            deep_offset: 5000,
            forecast_start: "2026-12-07".into(),
            forecast_end: "2027-06-04".into(),
        }
    }

    #[test]
    fn creates_are_unique_per_connection_and_request() {
        let f = fixture();
        for side in [Side::Sc, Side::Peer] {
            let a = http_call(side, Scenario::Create, &f, "r1", 0, 1);
            let b = http_call(side, Scenario::Create, &f, "r1", 0, 2);
            let c = http_call(side, Scenario::Create, &f, "r1", 1, 1);
            assert!(a.post);
            assert_ne!(a.body, b.body);
            assert_ne!(a.body, c.body);
        }
    }

    #[test]
    fn gets_cycle_through_the_ids() {
        let f = fixture();
        let paths: Vec<String> = (0..4)
            .map(|n| http_call(Side::Sc, Scenario::Get, &f, "t", 0, n).path)
            .collect();
        assert_eq!(
            paths,
            ["/v1/leads/a", "/v1/leads/b", "/v1/leads/c", "/v1/leads/a"]
        );
    }

    #[test]
    fn list_queries_are_encoded() {
        let f = fixture();
        assert_eq!(
            http_call(Side::Sc, Scenario::Filter, &f, "t", 0, 0).path,
            "/v1/leads?pageSize=50&filter=status%20%3D%20LEAD%5FSTATUS%5FNEW%20AND%20owner%5Fid%20%3D%20%220190%22"
        );
        assert_eq!(
            http_call(Side::Sc, Scenario::Deep, &f, "t", 0, 0).path,
            "/v1/leads?pageSize=50&pageToken=tok%2F%2B%3D"
        );
        assert_eq!(
            f.search_expression(),
            "first_name : \"sm\\\"i\" OR last_name : \"sm\\\"i\""
        );
        assert_eq!(
            http_call(Side::Peer, Scenario::Deep, &f, "t", 0, 0).path,
            "/api/leads/?limit=50&offset=5000"
        );
    }

    #[test]
    fn the_forecast_asks_for_the_seeded_window() {
        assert_eq!(
            http_call(Side::Sc, Scenario::Forecast, &fixture(), "t", 0, 0).path,
            "/v1/forecast?startDate=2026-12-07&endDate=2027-06-04"
        );
    }

    #[test]
    fn search_term_is_a_prefix_of_a_middle_name() {
        let names = vec!["Adams".into(), "Brown".into(), "Clark".into()];
        assert_eq!(search_term(&names), "bro");
        assert_eq!(search_term(&[]), "son");
    }
}
