use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tenants::testing::TestTenants;
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "correct horse 42";

/// The tenants service and a gateway in front of it; both stop when dropped.
pub struct Platform {
    pub base: String,
    pub admin: String,
    pub http: Client,
    pub tenants: TestTenants,
    stop: CancellationToken,
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Starts both with the gateway's defaults plus `overrides` (environment-style keys).
pub async fn platform(overrides: &[(&str, &str)]) -> Platform {
    let tenants = tenants::testing::spawn().await;
    let gateway = gateway_for(&tenants.url(), overrides).await;
    let (base, admin, stop) = gateway;
    Platform {
        base,
        admin,
        http: client(),
        tenants,
        stop,
    }
}

/// A gateway in front of `upstream`; returns its base URL, admin URL and stop token.
pub async fn gateway_for(
    upstream: &str,
    overrides: &[(&str, &str)],
) -> (String, String, CancellationToken) {
    gateway_with_local(upstream, HashMap::new(), overrides).await
}

/// As [`gateway_for`], calling the services in `local` in-process instead of over their URLs.
pub async fn gateway_with_local(
    upstream: &str,
    local: HashMap<String, runtime::grpc::LocalService>,
    overrides: &[(&str, &str)],
) -> (String, String, CancellationToken) {
    let mut env: Vec<(String, String)> = vec![
        ("SALESCOMPASS__GATEWAY__LISTEN".into(), "127.0.0.1:0".into()),
        (
            "SALESCOMPASS__SERVER__ADMIN_LISTEN".into(),
            "127.0.0.1:0".into(),
        ),
        (
            "SALESCOMPASS__GATEWAY__UPSTREAMS__TENANTS".into(),
            upstream.into(),
        ),
        (
            "SALESCOMPASS__SERVER__SHUTDOWN_GRACE_SECS".into(),
            "1".into(),
        ),
    ];
    env.extend(
        overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let settings = gateway::Settings::load_from(env).expect("gateway settings");
    let server = gateway::Server::build_with_local(settings, local)
        .await
        .expect("gateway starts");
    let base = format!("http://{}", server.local_addr());
    let admin = format!("http://{}", server.admin_addr());
    let stop = CancellationToken::new();
    tokio::spawn(server.run(stop.clone()));
    (base, admin, stop)
}

pub fn client() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

impl Platform {
    /// A platform around a gateway started with [`gateway_for`].
    pub fn from_parts(
        base: String,
        admin: String,
        http: Client,
        tenants: TestTenants,
        stop: CancellationToken,
    ) -> Self {
        Self {
            base,
            admin,
            http,
            tenants,
            stop,
        }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    pub fn authed(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(token)
    }

    /// Sends an authenticated request with an optional JSON body; asserts 200 and returns the JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Value {
        let mut request = self.authed(method, path, token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        expect_json(response, StatusCode::OK).await
    }

    /// Provisions a tenant with a unique slug through the gateway and logs its admin in.
    pub async fn tenant(&self, prefix: &str) -> Tenant {
        let slug = format!("{prefix}-{}", testkit::unique_suffix());
        let email = format!("admin@{slug}.test");
        let response = self
            .authed(
                Method::POST,
                "/v1/tenants:provision",
                &self.tenants.operator_token,
            )
            .json(&json!({
                "tenant": {"slug": slug, "displayName": format!("Tenant {slug}")},
                "admin": {"email": email, "password": PASSWORD, "displayName": "Ann Admin"}
            }))
            .send()
            .await
            .expect("provision sent");
        let body = expect_json(response, StatusCode::OK).await;
        let tenant_id = body["tenant"]["id"].as_str().expect("tenant id").to_owned();
        let admin_id = body["admin"]["id"].as_str().expect("admin id").to_owned();
        let token = self.login(&slug, &email, PASSWORD).await;
        Tenant {
            slug,
            tenant_id,
            admin_id,
            token,
        }
    }

    pub async fn login(&self, slug: &str, email: &str, password: &str) -> String {
        let response = self
            .request(Method::POST, "/v1/auth:login")
            .json(&json!({"tenantSlug": slug, "email": email, "password": password}))
            .send()
            .await
            .expect("login sent");
        let body = expect_json(response, StatusCode::OK).await;
        body["accessToken"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// Creates a user through the gateway; returns its JSON.
    pub async fn create_user(&self, tenant: &Tenant, name: &str, role: &str) -> Value {
        let response = self
            .authed(Method::POST, "/v1/users", &tenant.token)
            .json(&json!({
                "email": format!("{name}@{}.test", tenant.slug),
                "password": PASSWORD,
                "displayName": name,
                "role": role,
            }))
            .send()
            .await
            .expect("create sent");
        expect_json(response, StatusCode::OK).await
    }
}

pub struct Tenant {
    pub slug: String,
    pub tenant_id: String,
    pub admin_id: String,
    pub token: String,
}

/// Asserts the status and returns the JSON body, printing the body on a mismatch.
pub async fn expect_json(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts an RFC 9457 problem with `status` and returns it.
pub async fn expect_problem(response: Response, status: StatusCode) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = expect_json(response, status).await;
    assert_eq!(content_type, "application/problem+json", "{body}");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert!(
        body["traceId"].as_str().is_some_and(|t| t.len() == 32),
        "trace id in {body}"
    );
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}

/// The `field` of each violation in a problem's `errors`.
pub fn violation_fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .expect("field violations")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect()
}
