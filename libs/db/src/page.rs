//! AIP-158 paging: bounded page sizes and opaque keyset page tokens.
//!
//! A token carries the sort key of the last row served and a fingerprint of the query (filter and
//! order) it belongs to, plus a checksum: a token that was altered or that comes from another
//! query is refused instead of silently returning the wrong page. Tokens are not secret — every
//! read they lead to is still tenant- and permission-filtered.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{Postgres, QueryBuilder};

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 1000;
const CHECKSUM_LEN: usize = 8;
const DOMAIN: &[u8] = b"salescompass.page_token.v1";

/// A page size within `1..=MAX_PAGE_SIZE`; 0 from the client means the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    pub fn parse(raw: i32) -> Result<Self, PageTokenError> {
        match raw {
            0 => Ok(Self(DEFAULT_PAGE_SIZE)),
            n if n < 0 => Err(PageTokenError::PageSize(raw)),
            n if n as u32 > MAX_PAGE_SIZE => Err(PageTokenError::PageSize(raw)),
            n => Ok(Self(n as u32)),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// Rows to fetch: one more than the page, to learn whether a next page exists.
    pub fn fetch_limit(self) -> i64 {
        i64::from(self.0) + 1
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageTokenError {
    #[error("page_size must be between 0 and {MAX_PAGE_SIZE}, got {0}")]
    PageSize(i32),
    #[error("page_token is malformed")]
    Malformed,
    #[error("page_token belongs to a different query (filter or order_by changed)")]
    OtherQuery,
}

#[derive(Serialize, Deserialize)]
struct Envelope<K> {
    q: String,
    k: K,
}

/// Encodes and decodes keyset page tokens for one query.
#[derive(Debug, Clone)]
pub struct PageToken {
    fingerprint: String,
}

impl PageToken {
    /// `query` identifies the listing: resource, normalized filter and order (e.g.
    /// `users|role = ROLE_ADMIN|create_time`).
    pub fn for_query(query: &str) -> Self {
        let digest = Sha256::digest(query.as_bytes());
        Self {
            fingerprint: hex(&digest[..8]),
        }
    }

    pub fn encode<K: Serialize>(&self, key: &K) -> String {
        let envelope = Envelope {
            q: self.fingerprint.clone(),
            k: key,
        };
        // Serializing plain keys (strings, numbers, uuids, timestamps) cannot fail.
        let mut bytes = serde_json::to_vec(&envelope).unwrap_or_default();
        let checksum = checksum(&bytes);
        bytes.extend_from_slice(&checksum);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Decodes a token; the empty token means the first page (`None`).
    pub fn decode<K: DeserializeOwned>(&self, token: &str) -> Result<Option<K>, PageTokenError> {
        if token.is_empty() {
            return Ok(None);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| PageTokenError::Malformed)?;
        if bytes.len() <= CHECKSUM_LEN {
            return Err(PageTokenError::Malformed);
        }
        let (body, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        if checksum(body) != sum {
            return Err(PageTokenError::Malformed);
        }
        let envelope: Envelope<K> =
            serde_json::from_slice(body).map_err(|_| PageTokenError::Malformed)?;
        if envelope.q != self.fingerprint {
            return Err(PageTokenError::OtherQuery);
        }
        Ok(Some(envelope.k))
    }
}

fn checksum(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN);
    hasher.update(body);
    let digest = hasher.finalize();
    let mut out = [0u8; CHECKSUM_LEN];
    out.copy_from_slice(&digest[..CHECKSUM_LEN]);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends ` LIMIT n` with `n` written into the SQL. As a bound parameter, PostgreSQL cannot cost
/// a generic plan for the limit and plans the statement again on every execution (a first page
/// of leads spent more time planning than running); an integer carries no client text, and a
/// client uses few page sizes, so the statement cache holds one plan for each.
pub fn push_limit(qb: &mut QueryBuilder<Postgres>, n: i64) {
    qb.push(format_args!(" LIMIT {n}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_bounds() {
        assert_eq!(PageSize::parse(0).map(PageSize::get), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(PageSize::parse(1000).map(PageSize::get), Ok(1000));
        assert_eq!(PageSize::parse(-1), Err(PageTokenError::PageSize(-1)));
        assert_eq!(PageSize::parse(1001), Err(PageTokenError::PageSize(1001)));
    }

    #[test]
    fn token_round_trips_for_the_same_query() {
        let pages = PageToken::for_query("users|active = true|create_time");
        let token = pages.encode(&("2026-01-01T00:00:00Z", 42));
        let key: Option<(String, i32)> = pages.decode(&token).expect("valid token");
        assert_eq!(key, Some(("2026-01-01T00:00:00Z".to_owned(), 42)));
        assert_eq!(pages.decode::<(String, i32)>(""), Ok(None));
    }

    #[test]
    fn token_of_another_query_is_refused() {
        let token = PageToken::for_query("users||create_time").encode(&1);
        let other = PageToken::for_query("users|role = ROLE_ADMIN|create_time");
        assert_eq!(other.decode::<i32>(&token), Err(PageTokenError::OtherQuery));
    }

    #[test]
    fn tampered_token_is_refused() {
        let pages = PageToken::for_query("q");
        let token = pages.encode(&"abc");
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).expect("base64");
        bytes[8] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(
            pages.decode::<String>(&tampered),
            Err(PageTokenError::Malformed)
        );
        assert_eq!(
            pages.decode::<String>("!!not base64"),
            Err(PageTokenError::Malformed)
        );
    }
}
