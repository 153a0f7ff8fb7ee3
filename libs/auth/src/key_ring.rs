//! Verification keys for access tokens: fetched from the tenants service
//! (`salescompass.tenants.v1.AuthService/GetJwks`) at start and again when a token names a key
//! id we do not know yet (a key rotation), at most once per `min_refresh`. The interceptor
//! (`auth::Authenticator`) then verifies with whatever keys are installed.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::Authenticator;
use crate::token::{Jwk, Verifier};
use async_trait::async_trait;
use futures::future::BoxFuture;
use proto::tenants as pb;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::Endpoint;

/// How long one JWKS request may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the public keys come from.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait KeySource: Send + Sync + 'static {
    async fn fetch(&self) -> Result<Vec<Jwk>, String>;
}

/// The tenants service's GetJwks, over a lazily connected channel.
pub struct TenantsKeys {
    client: pb::auth_service_client::AuthServiceClient<tonic::transport::Channel>,
}

impl TenantsKeys {
    pub fn new(url: &str) -> Result<Self, String> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| format!("auth.tenants_url {url:?}: {e}"))?
            .connect_timeout(FETCH_TIMEOUT)
            .timeout(FETCH_TIMEOUT);
        Ok(Self {
            client: pb::auth_service_client::AuthServiceClient::new(endpoint.connect_lazy()),
        })
    }
}

#[async_trait]
impl KeySource for TenantsKeys {
    async fn fetch(&self) -> Result<Vec<Jwk>, String> {
        let mut request = tonic::Request::new(pb::GetJwksRequest {});
        // A refresh triggered by a request's unknown key id stays in that request's trace.
        runtime::trace_context::inject_metadata(&tracing::Span::current(), request.metadata_mut());
        let response = self
            .client
            .clone()
            .get_jwks(request)
            .await
            .map_err(|status| format!("GetJwks failed: {}", status.message()))?;
        Ok(response
            .into_inner()
            .keys
            .into_iter()
            .map(|k| Jwk {
                kid: k.kid,
                kty: k.kty,
                crv: k.crv,
                x: k.x,
                alg: k.alg,
                use_: k.r#use,
            })
            .collect())
    }
}

/// Keys installed in the authenticator, and when they may be fetched again.
pub struct KeyRing {
    authenticator: Authenticator,
    source: Arc<dyn KeySource>,
    known: RwLock<HashSet<String>>,
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    min_refresh: Duration,
}

impl KeyRing {
    pub fn new(
        authenticator: Authenticator,
        source: Arc<dyn KeySource>,
        min_refresh: Duration,
    ) -> Self {
        Self {
            authenticator,
            source,
            known: RwLock::new(HashSet::new()),
            last_fetch: tokio::sync::Mutex::new(None),
            min_refresh,
        }
    }

    fn knows(&self, kid: &str) -> bool {
        self.known.read().is_ok_and(|known| known.contains(kid))
    }

    /// Fetches and installs the key set now.
    pub async fn refresh(&self) -> Result<usize, String> {
        let mut last = self.last_fetch.lock().await;
        self.fetch_locked(&mut last).await
    }

    async fn fetch_locked(&self, last: &mut Option<Instant>) -> Result<usize, String> {
        *last = Some(Instant::now());
        let keys: Vec<Jwk> = self
            .source
            .fetch()
            .await?
            .into_iter()
            .filter(|k| k.kty == "OKP" && k.crv == "Ed25519")
            .collect();
        let verifier = Verifier::from_jwks(&keys).map_err(|e| e.to_string())?;
        self.authenticator.set_verifier(verifier);
        if let Ok(mut known) = self.known.write() {
            *known = keys.iter().map(|k| k.kid.clone()).collect();
        }
        tracing::info!(keys = keys.len(), "token verification keys installed");
        Ok(keys.len())
    }

    /// Makes sure `kid` is known if the source has it, fetching at most once per `min_refresh`
    /// (an attacker sending random key ids must not turn us into a JWKS hammer).
    pub async fn ensure_known(&self, kid: &str) {
        if self.knows(kid) {
            return;
        }
        let mut last = self.last_fetch.lock().await;
        // Someone else may have fetched while we waited for the lock.
        if self.knows(kid) || last.is_some_and(|at| at.elapsed() < self.min_refresh) {
            return;
        }
        if let Err(error) = self.fetch_locked(&mut last).await {
            tracing::warn!(%error, "cannot refresh token verification keys");
        }
    }
}

/// The key id of a request's bearer token, if it carries one.
fn bearer_kid(request: &http::Request<Body>) -> Option<String> {
    let value = request.headers().get("authorization")?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    Verifier::key_id(token.trim())
}

/// Wraps a gRPC service so that a token signed with a key we do not know yet triggers a key
/// refresh before the authenticating interceptor runs.
#[derive(Clone)]
pub struct RefreshKeys<S> {
    inner: S,
    keys: Arc<KeyRing>,
}

impl<S> RefreshKeys<S> {
    pub fn new(inner: S, keys: Arc<KeyRing>) -> Self {
        Self { inner, keys }
    }
}

impl<S> tower::Service<http::Request<Body>> for RefreshKeys<S>
where
    S: tower::Service<http::Request<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<S::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // The clone is the one polled ready; keep it and leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let keys = self.keys.clone();
        Box::pin(async move {
            if let Some(kid) = bearer_kid(&request) {
                keys.ensure_known(&kid).await;
            }
            inner.call(request).await
        })
    }
}

impl<S: NamedService> NamedService for RefreshKeys<S> {
    const NAME: &'static str = S::NAME;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Signer;

    fn ring(source: MockKeySource, min_refresh: Duration) -> KeyRing {
        let empty = Verifier::from_jwks(&[]).expect("empty key set");
        KeyRing::new(
            Authenticator::new(empty, None),
            Arc::new(source),
            min_refresh,
        )
    }

    #[tokio::test]
    async fn an_unknown_key_id_triggers_one_fetch_and_then_verifies() {
        let signer = Signer::from_pem(&Signer::generate_pem().expect("pem")).expect("key");
        let jwk = signer.jwk().clone();
        let kid = jwk.kid.clone();
        let mut source = MockKeySource::new();
        source
            .expect_fetch()
            .times(1)
            .returning(move || Ok(vec![jwk.clone()]));
        let ring = ring(source, Duration::from_secs(60));
        ring.ensure_known(&kid).await;
        ring.ensure_known(&kid).await;
        assert!(ring.knows(&kid));
    }

    #[tokio::test]
    async fn random_key_ids_cannot_force_repeated_fetches() {
        let mut source = MockKeySource::new();
        source.expect_fetch().times(1).returning(|| Ok(vec![]));
        let ring = ring(source, Duration::from_secs(60));
        for i in 0..5 {
            ring.ensure_known(&format!("kid-{i}")).await;
        }
    }

    #[tokio::test]
    async fn an_unreachable_source_leaves_the_ring_usable() {
        let mut source = MockKeySource::new();
        source
            .expect_fetch()
            .returning(|| Err("connection refused".into()));
        let ring = ring(source, Duration::ZERO);
        assert!(ring.refresh().await.is_err());
        ring.ensure_known("any").await;
        assert!(!ring.knows("any"));
    }

    #[test]
    fn the_key_id_comes_from_the_bearer_token() {
        let signer = Signer::from_pem(&Signer::generate_pem().expect("pem")).expect("key");
        let now = chrono::Utc::now().timestamp();
        let token = signer
            .sign(&crate::token::Claims {
                iss: crate::token::ISSUER.into(),
                aud: crate::token::AUDIENCE.into(),
                sub: uuid::Uuid::now_v7(),
                tid: uuid::Uuid::now_v7(),
                role: "ROLE_ADMIN".into(),
                perms: vec![],
                iat: now,
                exp: now + 60,
                jti: uuid::Uuid::now_v7(),
            })
            .expect("token");
        let request = http::Request::builder()
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        assert_eq!(bearer_kid(&request), Some(signer.jwk().kid.clone()));
        let anonymous = http::Request::builder()
            .body(Body::empty())
            .expect("request");
        assert_eq!(bearer_kid(&anonymous), None);
    }
}
