//! Bearer tokens at the edge.
//!
//! Rule: a bearer that is a JWT must verify (signature by a key of the tenants service's key
//! set, issuer, audience, expiry) or the request is refused with 401 before reaching a service.
//! A bearer that is not a JWT (the platform operator's opaque token) and a missing bearer are
//! forwarded unverified: the service decides, as it verifies every call again anyway.
//!
//! Verification itself is `auth::token::Verifier`; this module keeps its key set current
//! (fetched from the tenants service, refreshed on an unknown `kid` at most once per
//! `jwks_min_refresh_secs`, and when older than [`KEYS_MAX_AGE`]) and caches verified tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use auth::token::{Claims, Jwk, Verifier};
use http::uri::PathAndQuery;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, Value};
use tonic::metadata::MetadataMap;

use crate::error::Error;
use crate::settings::AuthSettings;
use crate::upstream::Upstreams;

/// Keys older than this are re-fetched, so a key removed from the set stops verifying.
const KEYS_MAX_AGE: Duration = Duration::from_secs(300);
/// Bound on remembered verified tokens; the cache is cleared when it is reached.
const VERIFIED_CACHE_CAPACITY: usize = 10_000;
/// Deadline of a key-set fetch.
const JWKS_TIMEOUT: Duration = Duration::from_secs(3);
/// Generic on purpose, like the services' own message: no hints for token forgers.
const INVALID_TOKEN: &str = "invalid or expired access token";

/// What the `authorization` header carried.
#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    /// A verified access token, with its tenant id pre-rendered for rate-limit and idempotency
    /// keys.
    User {
        claims: Arc<Claims>,
        tenant: String,
    },
    /// A bearer that is not a JWT (the operator token).
    Opaque(String),
}

impl Caller {
    pub fn tenant_id(&self) -> Option<&str> {
        match self {
            Self::User { tenant, .. } => Some(tenant),
            _ => None,
        }
    }
}

/// Extracts the token of `Authorization: Bearer <token>`; other schemes are refused.
pub fn bearer(header: Option<&http::HeaderValue>) -> Result<Option<&str>, Error> {
    let Some(value) = header else {
        return Ok(None);
    };
    let malformed =
        || Error::Unauthenticated("expected `Authorization: Bearer <token>`".to_owned());
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(malformed());
    }
    Ok(Some(token.trim()))
}

/// The key-set RPC, resolved from the descriptor set.
#[derive(Debug, Clone)]
struct JwksMethod {
    service: String,
    path: PathAndQuery,
    input: MessageDescriptor,
    output: MessageDescriptor,
}

struct KeySet {
    verifier: Arc<Verifier>,
    fetched_at: Option<Instant>,
}

pub struct TokenVerifier {
    upstreams: Upstreams,
    method: Option<JwksMethod>,
    min_refresh: Duration,
    keys: RwLock<KeySet>,
    last_attempt: Mutex<Option<Instant>>,
    fetching: tokio::sync::Mutex<()>,
    verified: Mutex<HashMap<String, Caller>>,
}

impl TokenVerifier {
    pub fn new(
        settings: &AuthSettings,
        pool: &DescriptorPool,
        upstreams: Upstreams,
    ) -> Result<Self, Error> {
        let empty = Verifier::from_jwks(&[]).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Self {
            method: resolve_method(pool, &settings.jwks_method),
            upstreams,
            min_refresh: Duration::from_secs(settings.jwks_min_refresh_secs),
            keys: RwLock::new(KeySet {
                verifier: Arc::new(empty),
                fetched_at: None,
            }),
            last_attempt: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// Classifies the bearer and verifies it when it is a JWT.
    pub async fn authenticate(&self, token: Option<&str>) -> Result<Caller, Error> {
        let Some(token) = token else {
            return Ok(Caller::Anonymous);
        };
        // Only verified JWTs are cached, so a hit needs no header parsing either.
        if let Some(caller) = self.cached(token) {
            return Ok(caller);
        }
        if jsonwebtoken::decode_header(token).is_err() {
            return Ok(Caller::Opaque(token.to_owned()));
        }
        let kid = Verifier::key_id(token)
            .ok_or_else(|| Error::Unauthenticated(INVALID_TOKEN.to_owned()))?;
        let verifier = self.verifier_for(&kid).await?;
        let claims = verifier
            .verify(token)
            .map_err(|_| Error::Unauthenticated(INVALID_TOKEN.to_owned()))?;
        let caller = Caller::User {
            tenant: claims.tid.to_string(),
            claims: Arc::new(claims),
        };
        self.remember(token, &caller);
        Ok(caller)
    }

    fn cached(&self, token: &str) -> Option<Caller> {
        let caller = self.verified.lock().ok()?.get(token).cloned()?;
        match &caller {
            // A cached token still expires; no leeway here keeps the cache conservative.
            Caller::User { claims, .. } if claims.exp > unix_now() => Some(caller),
            _ => None,
        }
    }

    fn remember(&self, token: &str, caller: &Caller) {
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= VERIFIED_CACHE_CAPACITY {
                verified.clear();
            }
            verified.insert(token.to_owned(), caller.clone());
        }
    }

    /// A verifier that knows `kid`, refreshing the key set when needed.
    async fn verifier_for(&self, kid: &str) -> Result<Arc<Verifier>, Error> {
        let (verifier, stale) = self.current();
        let known = verifier.knows(kid);
        if known && !stale {
            return Ok(verifier);
        }
        match self.refresh().await {
            Ok(()) => {}
            // A known key keeps verifying while the key service is briefly unreachable.
            Err(_) if known => return Ok(verifier),
            Err(e) => return Err(e),
        }
        let (verifier, _) = self.current();
        if verifier.knows(kid) {
            Ok(verifier)
        } else {
            Err(Error::Unauthenticated(INVALID_TOKEN.to_owned()))
        }
    }

    fn current(&self) -> (Arc<Verifier>, bool) {
        match self.keys.read() {
            Ok(set) => (
                set.verifier.clone(),
                set.fetched_at.is_none_or(|at| at.elapsed() > KEYS_MAX_AGE),
            ),
            Err(poisoned) => (poisoned.into_inner().verifier.clone(), true),
        }
    }

    /// Fetches the key set unless that was attempted less than `min_refresh` ago.
    async fn refresh(&self) -> Result<(), Error> {
        let _single_flight = self.fetching.lock().await;
        {
            let mut last = self
                .last_attempt
                .lock()
                .map_err(|_| Error::Internal("poisoned key-set lock".to_owned()))?;
            if let Some(at) = *last
                && at.elapsed() < self.min_refresh
            {
                // Fetched moments ago: use what that fetch got, so tokens with made-up kids
                // cannot make the gateway hammer the tenants service.
                let fetched = self.keys.read().is_ok_and(|set| set.fetched_at.is_some());
                return if fetched {
                    Ok(())
                } else {
                    Err(self.keys_unavailable())
                };
            }
            *last = Some(Instant::now());
        }
        let jwks = self.fetch().await?;
        let usable: Vec<Jwk> = jwks
            .into_iter()
            .filter(|k| k.kty == "OKP" && k.crv == "Ed25519")
            .collect();
        let verifier = Verifier::from_jwks(&usable).map_err(|e| {
            tracing::error!(error = %e, "unusable token verification keys");
            self.keys_unavailable()
        })?;
        tracing::info!(keys = usable.len(), "refreshed token verification keys");
        if let Ok(mut set) = self.keys.write() {
            set.verifier = Arc::new(verifier);
            set.fetched_at = Some(Instant::now());
        }
        Ok(())
    }

    fn keys_unavailable(&self) -> Error {
        Error::Unavailable {
            service: "token keys".to_owned(),
            retry_after: self.min_refresh.max(Duration::from_secs(1)),
        }
    }

    async fn fetch(&self) -> Result<Vec<Jwk>, Error> {
        let method = self.method.as_ref().ok_or_else(|| {
            Error::Internal("the key-set method is not in the descriptor set".to_owned())
        })?;
        let response = self
            .upstreams
            .unary(
                &method.service,
                method.path.clone(),
                DynamicMessage::new(method.input.clone()),
                MetadataMap::new(),
                JWKS_TIMEOUT,
            )
            .await?;
        let response = DynamicMessage::decode(method.output.clone(), response)
            .map_err(|e| Error::Internal(format!("unreadable key set: {e}")))?;
        Ok(parse_jwks(&response))
    }

    #[cfg(test)]
    fn preload(&self, keys: &[Jwk]) {
        if let (Ok(verifier), Ok(mut set)) = (Verifier::from_jwks(keys), self.keys.write()) {
            set.verifier = Arc::new(verifier);
            set.fetched_at = Some(Instant::now());
        }
    }
}

/// Reads `keys[]` of a JWKS-shaped message.
fn parse_jwks(response: &DynamicMessage) -> Vec<Jwk> {
    let Some(keys) = response.get_field_by_name("keys") else {
        return Vec::new();
    };
    let text = |key: &DynamicMessage, name: &str| {
        key.get_field_by_name(name)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    keys.as_list()
        .unwrap_or_default()
        .iter()
        .filter_map(|key| match key {
            Value::Message(key) => Some(Jwk {
                kid: text(key, "kid"),
                kty: text(key, "kty"),
                crv: text(key, "crv"),
                x: text(key, "x"),
                alg: text(key, "alg"),
                use_: text(key, "use"),
            }),
            _ => None,
        })
        .collect()
}

fn resolve_method(pool: &DescriptorPool, full: &str) -> Option<JwksMethod> {
    let (service_name, method_name) = full.split_once('/')?;
    let service = pool.get_service_by_name(service_name)?;
    let method = service.methods().find(|m| m.name() == method_name)?;
    let upstream = crate::routes::upstream_name(service.package_name())?.to_owned();
    Some(JwksMethod {
        service: upstream,
        path: PathAndQuery::try_from(format!("/{full}")).ok()?,
        input: method.input(),
        output: method.output(),
    })
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth::token::Signer;
    use uuid::Uuid;

    fn pool() -> DescriptorPool {
        DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).expect("descriptor set")
    }

    fn settings() -> AuthSettings {
        AuthSettings {
            jwks_method: "salescompass.tenants.v1.AuthService/GetJwks".to_owned(),
            jwks_min_refresh_secs: 60,
        }
    }

    fn signer() -> Signer {
        Signer::from_pem(&Signer::generate_pem().expect("key")).expect("signer")
    }

    fn claims(exp_offset: i64) -> Claims {
        let now = unix_now();
        Claims {
            iss: auth::token::ISSUER.to_owned(),
            aud: auth::token::AUDIENCE.to_owned(),
            sub: Uuid::now_v7(),
            tid: Uuid::now_v7(),
            role: "ROLE_ADMIN".to_owned(),
            perms: vec!["users.read".to_owned()],
            iat: now,
            exp: now + exp_offset,
            jti: Uuid::now_v7(),
        }
    }

    /// A verifier whose key set is preloaded; no upstream is configured, so fetches fail.
    fn verifier_with(signer: &Signer) -> TokenVerifier {
        let upstreams = Upstreams::new(&HashMap::new(), 1, Duration::from_secs(1)).expect("none");
        let verifier = TokenVerifier::new(&settings(), &pool(), upstreams).expect("verifier");
        verifier.preload(&[signer.jwk().clone()]);
        verifier
    }

    #[tokio::test]
    async fn valid_tokens_yield_their_claims() {
        let signer = signer();
        let verifier = verifier_with(&signer);
        let claims = claims(600);
        let token = signer.sign(&claims).expect("sign");
        let caller = verifier.authenticate(Some(&token)).await.expect("valid");
        assert_eq!(caller.tenant_id(), Some(claims.tid.to_string().as_str()));
        // The second call is answered from the verified-token cache.
        let again = verifier.authenticate(Some(&token)).await.expect("cached");
        assert_eq!(again.tenant_id(), caller.tenant_id());
    }

    #[tokio::test]
    async fn expired_forged_and_unknown_key_tokens_are_refused() {
        let signer = signer();
        let verifier = verifier_with(&signer);

        let expired = signer.sign(&claims(-120)).expect("sign");
        let err = verifier
            .authenticate(Some(&expired))
            .await
            .expect_err("expired");
        assert!(matches!(err, Error::Unauthenticated(_)), "{err}");

        // Same kid, another key's signature.
        let token = signer.sign(&claims(600)).expect("sign");
        let forged_sig = signer_sig(&self::signer().sign(&claims(600)).expect("sign"));
        let (head, _) = token.rsplit_once('.').expect("jwt");
        let forged = format!("{head}.{forged_sig}");
        let err = verifier
            .authenticate(Some(&forged))
            .await
            .expect_err("forged");
        assert!(matches!(err, Error::Unauthenticated(_)), "{err}");

        // Unknown kid: the refresh fails (no upstream), so the token cannot verify.
        let stranger = self::signer().sign(&claims(600)).expect("sign");
        let err = verifier
            .authenticate(Some(&stranger))
            .await
            .expect_err("unknown kid");
        assert!(
            matches!(err, Error::Unavailable { .. } | Error::Unauthenticated(_)),
            "{err}"
        );
    }

    fn signer_sig(token: &str) -> String {
        token.rsplit('.').next().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn opaque_and_missing_bearers_are_passed_on() {
        let verifier = verifier_with(&signer());
        assert!(matches!(
            verifier.authenticate(Some("operator-secret-token")).await,
            Ok(Caller::Opaque(_))
        ));
        assert!(matches!(
            verifier.authenticate(None).await,
            Ok(Caller::Anonymous)
        ));
    }

    #[test]
    fn jwks_messages_are_read_generically() {
        let jwks = pool()
            .get_message_by_name("salescompass.tenants.v1.GetJwksResponse")
            .expect("jwks message");
        let response = DynamicMessage::deserialize(
            jwks,
            serde_json::json!({"keys":[{"kid":"k1","kty":"OKP","crv":"Ed25519","x":"abc","alg":"EdDSA","use":"sig"}]}),
        )
        .expect("jwks");
        let keys = parse_jwks(&response);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid, "k1");
        assert_eq!(keys[0].use_, "sig");
    }

    #[test]
    fn only_bearer_authorization_is_accepted() {
        let header = |v: &str| http::HeaderValue::from_str(v).expect("header");
        assert_eq!(bearer(None).expect("none"), None);
        assert_eq!(
            bearer(Some(&header("Bearer abc"))).expect("bearer"),
            Some("abc")
        );
        assert_eq!(
            bearer(Some(&header("bearer  abc "))).expect("case"),
            Some("abc")
        );
        assert!(bearer(Some(&header("Basic dXNlcjpwdw=="))).is_err());
        assert!(bearer(Some(&header("Bearer "))).is_err());
    }
}
