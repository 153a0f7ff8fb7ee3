//! `Idempotency-Key` for POST: the first response under a key is stored (24 h by default) and
//! replayed for retries, so a retried create does not create twice.
//!
//! Keys are scoped to the credential, as Stripe scopes them to the account and API key: a user's
//! key is theirs within their tenant (another user of the tenant who sends the same key and body
//! makes a request of their own, never sees the first user's response), an operator token's is
//! its own, and an anonymous caller's is its client address'. While the first request
//! runs, its key holds an in-flight marker: a concurrent duplicate gets 409 and retries. The
//! marker expires on its own if the gateway dies mid-request. Storage is Redis when
//! `gateway.redis_url` is set (shared by all gateway replicas), otherwise process memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::AsyncCommands as _;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bearer::Caller;
use crate::error::Error;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
const MAX_KEY_LEN: usize = 255;
const REDIS_PREFIX: &str = "salescompass:gateway:idempotency:";
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// A response kept for replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Record {
    InFlight {
        fingerprint: String,
    },
    Done {
        fingerprint: String,
        response: StoredResponse,
    },
}

/// What to do with a request that carries a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Begin {
    /// First use: run the request, then `complete` or `abandon`.
    Proceed,
    Replay(StoredResponse),
    InFlight,
    /// The key was used for a different request (method, path or body).
    Mismatch,
}

/// Checks a client-chosen key: 1-255 visible ASCII characters.
pub fn validate_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::bad_field(
            "Idempotency-Key",
            "must be 1-255 visible ASCII characters",
        ));
    }
    Ok(())
}

/// The store key of a client's `key`: scoped to the credential that sent it (tenant and user for
/// a verified token, a digest of an operator token, else the client address), so no caller can
/// reach another's stored response by guessing or replaying their key.
pub fn scoped_key(caller: &Caller, client: IpAddr, key: &str) -> String {
    match caller {
        Caller::User { tenant, claims } => format!("tenant:{tenant}:user:{}:{key}", claims.sub),
        Caller::Opaque(token) => {
            let digest = Sha256::digest(token.as_bytes());
            format!("bearer:{}:{key}", hex(&digest[..16]))
        }
        Caller::Anonymous => format!("client:{client}:{key}"),
    }
}

/// Hash of what makes two requests "the same" for a key.
pub fn fingerprint(method: &str, path_and_query: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_bytes());
    hash.update([0]);
    hash.update(path_and_query.as_bytes());
    hash.update([0]);
    hash.update(body);
    hex(&hash.finalize())
}

/// Lowercase hex; every request's trace and span ids go through here, so no `format!` per byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Whether a response is final enough to replay: errors that a retry may cure are not kept.
pub fn is_replayable(status: http::StatusCode) -> bool {
    !(status.is_server_error() || matches!(status.as_u16(), 401 | 408 | 409 | 425 | 429 | 499))
}

#[derive(Clone)]
pub enum IdempotencyStore {
    Memory(Arc<MemoryStore>),
    Redis(ConnectionManager),
}

impl std::fmt::Debug for IdempotencyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Memory(_) => "IdempotencyStore::Memory",
            Self::Redis(_) => "IdempotencyStore::Redis",
        })
    }
}

impl IdempotencyStore {
    /// Redis when a URL is given (checked now, so a wrong URL fails the start), else memory.
    pub async fn connect(
        redis_url: Option<&str>,
        max_memory_entries: usize,
    ) -> Result<Self, Error> {
        match redis_url {
            Some(url) => {
                let client = redis::Client::open(url).map_err(store_error)?;
                let manager = client.get_connection_manager().await.map_err(store_error)?;
                Ok(Self::Redis(manager))
            }
            None => Ok(Self::memory(max_memory_entries)),
        }
    }

    pub fn memory(max_entries: usize) -> Self {
        Self::Memory(Arc::new(MemoryStore {
            entries: Mutex::new(HashMap::new()),
            max_entries,
        }))
    }

    pub async fn begin(
        &self,
        key: &str,
        fingerprint: &str,
        in_flight_ttl: Duration,
    ) -> Result<Begin, Error> {
        bounded(self.begin_unbounded(key, fingerprint, in_flight_ttl)).await
    }

    async fn begin_unbounded(
        &self,
        key: &str,
        fingerprint: &str,
        in_flight_ttl: Duration,
    ) -> Result<Begin, Error> {
        let marker = Record::InFlight {
            fingerprint: fingerprint.to_owned(),
        };
        match self {
            Self::Memory(store) => store.begin(key, marker, fingerprint, in_flight_ttl),
            Self::Redis(conn) => {
                let mut conn = conn.clone();
                let key = format!("{REDIS_PREFIX}{key}");
                let value =
                    serde_json::to_string(&marker).map_err(|e| Error::Store(e.to_string()))?;
                // Two rounds cover a marker that expires between SET NX and GET.
                for _ in 0..2 {
                    let options = redis::SetOptions::default()
                        .conditional_set(redis::ExistenceCheck::NX)
                        .with_expiration(redis::SetExpiry::PX(millis(in_flight_ttl)));
                    let created: Option<String> = conn
                        .set_options(&key, &value, options)
                        .await
                        .map_err(store_error)?;
                    if created.is_some() {
                        return Ok(Begin::Proceed);
                    }
                    let existing: Option<String> = conn.get(&key).await.map_err(store_error)?;
                    if let Some(existing) = existing {
                        let record: Record = serde_json::from_str(&existing)
                            .map_err(|e| Error::Store(format!("unreadable record: {e}")))?;
                        return Ok(decide(&record, fingerprint));
                    }
                }
                Err(Error::Store("key flapped between set and get".to_owned()))
            }
        }
    }

    pub async fn complete(
        &self,
        key: &str,
        fingerprint: &str,
        response: StoredResponse,
        ttl: Duration,
    ) -> Result<(), Error> {
        bounded(self.complete_unbounded(key, fingerprint, response, ttl)).await
    }

    async fn complete_unbounded(
        &self,
        key: &str,
        fingerprint: &str,
        response: StoredResponse,
        ttl: Duration,
    ) -> Result<(), Error> {
        let record = Record::Done {
            fingerprint: fingerprint.to_owned(),
            response,
        };
        match self {
            Self::Memory(store) => {
                store.put(key, record, ttl);
                Ok(())
            }
            Self::Redis(conn) => {
                let mut conn = conn.clone();
                let value =
                    serde_json::to_string(&record).map_err(|e| Error::Store(e.to_string()))?;
                let options =
                    redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(millis(ttl)));
                let _: Option<String> = conn
                    .set_options(format!("{REDIS_PREFIX}{key}"), value, options)
                    .await
                    .map_err(store_error)?;
                Ok(())
            }
        }
    }

    /// Releases the key after a failure that should not be replayed, so a retry runs again.
    pub async fn abandon(&self, key: &str) -> Result<(), Error> {
        bounded(self.abandon_unbounded(key)).await
    }

    async fn abandon_unbounded(&self, key: &str) -> Result<(), Error> {
        match self {
            Self::Memory(store) => {
                store.remove(key);
                Ok(())
            }
            Self::Redis(conn) => {
                let mut conn = conn.clone();
                let _: i64 = conn
                    .del(format!("{REDIS_PREFIX}{key}"))
                    .await
                    .map_err(store_error)?;
                Ok(())
            }
        }
    }
}

/// A store that does not answer in time fails the request with 503 rather than hanging it.
async fn bounded<T>(operation: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::time::timeout(STORE_TIMEOUT, operation)
        .await
        .map_err(|_| Error::Store("timed out".to_owned()))?
}

fn decide(record: &Record, fingerprint: &str) -> Begin {
    match record {
        Record::InFlight { fingerprint: f } if f == fingerprint => Begin::InFlight,
        Record::Done {
            fingerprint: f,
            response,
        } if f == fingerprint => Begin::Replay(response.clone()),
        _ => Begin::Mismatch,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn store_error(e: redis::RedisError) -> Error {
    Error::Store(e.to_string())
}

/// Process-local store for a single gateway (development, tests).
pub struct MemoryStore {
    entries: Mutex<HashMap<String, (Record, Instant)>>,
    max_entries: usize,
}

impl MemoryStore {
    fn begin(
        &self,
        key: &str,
        marker: Record,
        fingerprint: &str,
        ttl: Duration,
    ) -> Result<Begin, Error> {
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| Error::Store("poisoned lock".to_owned()))?;
        let now = Instant::now();
        if let Some((record, expires)) = entries.get(key)
            && *expires > now
        {
            return Ok(decide(record, fingerprint));
        }
        if entries.len() >= self.max_entries {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= self.max_entries {
                return Err(Error::Store(
                    "in-memory idempotency store is full".to_owned(),
                ));
            }
        }
        entries.insert(key.to_owned(), (marker, now + ttl));
        Ok(Begin::Proceed)
    }

    fn put(&self, key: &str, record: Record, ttl: Duration) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(key.to_owned(), (record, Instant::now() + ttl));
        }
    }

    fn remove(&self, key: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    fn user(tenant: &str, user: &str) -> Caller {
        let claims: auth::token::Claims = serde_json::from_value(serde_json::json!({
            "iss": auth::token::ISSUER, "aud": auth::token::AUDIENCE, "sub": user, "tid": tenant,
            "role": "ROLE_SALES_REP", "iat": 0, "exp": 1, "jti": uuid::Uuid::nil(),
        }))
        .expect("claims");
        Caller::User {
            tenant: claims.tid.to_string(),
            claims: std::sync::Arc::new(claims),
        }
    }

    #[test]
    fn keys_are_scoped_to_the_credential_not_the_tenant() {
        let tenant = uuid::Uuid::now_v7().to_string();
        let ann = user(&tenant, &uuid::Uuid::now_v7().to_string());
        let bob = user(&tenant, &uuid::Uuid::now_v7().to_string());
        let client = IpAddr::from([10, 0, 0, 1]);
        assert_eq!(
            scoped_key(&ann, client, "k"),
            scoped_key(&ann, IpAddr::from([10, 0, 0, 2]), "k"),
            "a user's key does not depend on their address"
        );
        assert_ne!(scoped_key(&ann, client, "k"), scoped_key(&bob, client, "k"));
        assert_ne!(
            scoped_key(&Caller::Opaque("op-1".to_owned()), client, "k"),
            scoped_key(&Caller::Opaque("op-2".to_owned()), client, "k")
        );
        assert_ne!(
            scoped_key(&Caller::Anonymous, client, "k"),
            scoped_key(&Caller::Anonymous, IpAddr::from([10, 0, 0, 2]), "k")
        );
        let operator = scoped_key(&Caller::Opaque("secret-token".to_owned()), client, "k");
        assert!(!operator.contains("secret-token"), "{operator}");
    }

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff, 0x3c]), "000fa0ff3c");
    }

    fn created() -> StoredResponse {
        StoredResponse {
            status: 200,
            content_type: "application/json".to_owned(),
            body: r#"{"id":"u1"}"#.to_owned(),
        }
    }

    #[tokio::test]
    async fn first_use_proceeds_and_retries_replay_the_stored_response() {
        let store = IdempotencyStore::memory(10);
        let fp = fingerprint("POST", "/v1/users", b"{}");
        assert_eq!(
            store.begin("t1:k", &fp, TTL).await.expect("ok"),
            Begin::Proceed
        );
        store
            .complete("t1:k", &fp, created(), TTL)
            .await
            .expect("stored");
        assert_eq!(
            store.begin("t1:k", &fp, TTL).await.expect("ok"),
            Begin::Replay(created())
        );
    }

    #[tokio::test]
    async fn concurrent_duplicates_see_the_in_flight_marker() {
        let store = IdempotencyStore::memory(10);
        let fp = fingerprint("POST", "/v1/users", b"{}");
        assert_eq!(
            store.begin("k", &fp, TTL).await.expect("ok"),
            Begin::Proceed
        );
        assert_eq!(
            store.begin("k", &fp, TTL).await.expect("ok"),
            Begin::InFlight
        );
        store.abandon("k").await.expect("abandoned");
        assert_eq!(
            store.begin("k", &fp, TTL).await.expect("ok"),
            Begin::Proceed,
            "an abandoned key may run again"
        );
    }

    #[tokio::test]
    async fn a_key_reused_for_another_request_is_a_mismatch() {
        let store = IdempotencyStore::memory(10);
        let first = fingerprint("POST", "/v1/users", br#"{"email":"a@x.test"}"#);
        let other = fingerprint("POST", "/v1/users", br#"{"email":"b@x.test"}"#);
        assert_ne!(first, other);
        assert_eq!(
            store.begin("k", &first, TTL).await.expect("ok"),
            Begin::Proceed
        );
        store
            .complete("k", &first, created(), TTL)
            .await
            .expect("ok");
        assert_eq!(
            store.begin("k", &other, TTL).await.expect("ok"),
            Begin::Mismatch
        );
    }

    #[tokio::test]
    async fn expired_entries_are_forgotten_and_the_store_is_bounded() {
        let store = IdempotencyStore::memory(2);
        let fp = fingerprint("POST", "/", b"");
        let short = Duration::from_millis(1);
        assert_eq!(
            store.begin("a", &fp, short).await.expect("ok"),
            Begin::Proceed
        );
        assert_eq!(
            store.begin("b", &fp, TTL).await.expect("ok"),
            Begin::Proceed
        );
        // Poll with a deadline rather than sleeping a fixed time.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if store.begin("a", &fp, TTL).await.expect("ok") == Begin::Proceed {
                break;
            }
            assert!(Instant::now() < deadline, "entry never expired");
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            store.begin("c", &fp, TTL).await,
            Err(Error::Store(_))
        ));
    }

    #[test]
    fn keys_are_validated_and_transient_failures_are_not_replayed() {
        assert!(validate_key("8e03978e-40d5-43e8-bc93-6894a57f9324").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("has space").is_err());
        assert!(validate_key(&"k".repeat(256)).is_err());
        assert!(is_replayable(http::StatusCode::OK));
        assert!(is_replayable(http::StatusCode::BAD_REQUEST));
        assert!(!is_replayable(http::StatusCode::SERVICE_UNAVAILABLE));
        assert!(!is_replayable(http::StatusCode::TOO_MANY_REQUESTS));
        assert!(!is_replayable(http::StatusCode::UNAUTHORIZED));
    }
}
