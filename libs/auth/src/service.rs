//! Service identities: a named service (engagement, telephony, automation, …) acting in one
//! tenant on behalf of no user.
//!
//! The tenants service mints a short-lived token for a service (`sub = "service:<name>"`,
//! `kind = "service"`, the tenant, and only the permissions configured for that service); every
//! service verifies it like a user token and gets a [`crate::Caller::Service`]. Where a service
//! records who acted in a UUID column (field history, event `actor_id`, record owners), a service
//! is its [`ServiceName::actor_id`]: a UUIDv8 whose payload spells the name, so the name reads
//! back from the id ([`ServiceName::from_actor_id`]) and can never be a user's id (those are
//! UUIDv7).

use std::fmt;

use uuid::Uuid;

/// What a service's `sub` claim and its recorded actor start with.
pub const SUBJECT_PREFIX: &str = "service:";

/// Letters of a service name; a symbol's code is its index + 1 (0 ends the name).
const ALPHABET: &[u8; 38] = b"abcdefghijklmnopqrstuvwxyz0123456789-_";
/// Bits per symbol: 38 symbols and the end mark fit in 6.
const SYMBOL_BITS: u32 = 6;
/// 20 symbols of 6 bits and a 2-bit tag fill the 122 free bits of a UUIDv8.
pub const MAX_LEN: usize = 20;
/// Marks a UUIDv8 as a service actor id (the two high payload bits).
const TAG: u128 = 0b10;
/// The bits of a UUID that carry version and variant; the payload goes around them.
const VERSION_BITS: u128 = 0xF << 76;
const VARIANT_BITS: u128 = 0b11 << 62;
/// Version 8 and the RFC 4122 variant, in those bits.
const V8_MARKS: u128 = (0x8 << 76) | (0b10 << 62);

/// A service's name: 1 to 20 of `a-z 0-9 - _`, starting with a letter. Parsed once where a name
/// enters (configuration, token claims); Copy, so it travels inside request contexts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceName {
    len: u8,
    bytes: [u8; MAX_LEN],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceNameError {
    #[error("must be 1 to {MAX_LEN} characters")]
    Length,
    #[error("must start with a letter and hold only a-z, 0-9, '-' and '_'")]
    Characters,
}

impl ServiceName {
    pub fn parse(raw: &str) -> Result<Self, ServiceNameError> {
        if raw.is_empty() || raw.len() > MAX_LEN {
            return Err(ServiceNameError::Length);
        }
        if !raw.as_bytes()[0].is_ascii_lowercase() || !raw.bytes().all(|b| ALPHABET.contains(&b)) {
            return Err(ServiceNameError::Characters);
        }
        let mut bytes = [0; MAX_LEN];
        bytes[..raw.len()].copy_from_slice(raw.as_bytes());
        Ok(Self {
            // At most MAX_LEN, checked above.
            len: raw.len() as u8,
            bytes,
        })
    }

    /// Parses a `service:<name>` subject.
    pub fn from_subject(subject: &str) -> Option<Self> {
        Self::parse(subject.strip_prefix(SUBJECT_PREFIX)?).ok()
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII from ALPHABET is ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }

    /// `service:<name>`: the token subject and the actor as recorded in text.
    pub fn subject(&self) -> String {
        format!("{SUBJECT_PREFIX}{}", self.as_str())
    }

    /// The service's fixed actor id, for columns and fields that hold a UUID.
    pub fn actor_id(&self) -> Uuid {
        let mut payload = TAG;
        for i in 0..MAX_LEN {
            let code = self
                .bytes
                .get(i)
                .filter(|_| i < usize::from(self.len))
                .and_then(|b| ALPHABET.iter().position(|a| a == b))
                .map_or(0, |p| p as u128 + 1);
            payload = (payload << SYMBOL_BITS) | code;
        }
        Uuid::from_u128(spread(payload) | V8_MARKS)
    }

    /// The service whose [`Self::actor_id`] this is; `None` for any other id (users' included).
    pub fn from_actor_id(id: Uuid) -> Option<Self> {
        if id.get_version_num() != 8 || id.get_variant() != uuid::Variant::RFC4122 {
            return None;
        }
        let mut payload = gather(id.as_u128());
        let mut codes = [0u8; MAX_LEN];
        for slot in codes.iter_mut().rev() {
            *slot = (payload & 0x3F) as u8;
            payload >>= SYMBOL_BITS;
        }
        if payload != TAG {
            return None;
        }
        let len = codes.iter().position(|c| *c == 0).unwrap_or(MAX_LEN);
        let mut name = String::with_capacity(len);
        for code in &codes[..len] {
            name.push(char::from(*ALPHABET.get(usize::from(*code) - 1)?));
        }
        // Canonical only: nothing after the end mark.
        if codes[len..].iter().any(|c| *c != 0) {
            return None;
        }
        let parsed = Self::parse(&name).ok()?;
        (parsed.actor_id() == id).then_some(parsed)
    }
}

/// Places a 122-bit payload in the bits a UUIDv8 leaves free.
fn spread(payload: u128) -> u128 {
    let mut out = 0u128;
    let mut source = 0;
    for bit in 0..128 {
        if (VERSION_BITS | VARIANT_BITS) & (1 << bit) != 0 {
            continue;
        }
        out |= ((payload >> source) & 1) << bit;
        source += 1;
    }
    out
}

/// The inverse of [`spread`].
fn gather(value: u128) -> u128 {
    let mut out = 0u128;
    let mut target = 0;
    for bit in 0..128 {
        if (VERSION_BITS | VARIANT_BITS) & (1 << bit) != 0 {
            continue;
        }
        out |= ((value >> bit) & 1) << target;
        target += 1;
    }
    out
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServiceName({})", self.as_str())
    }
}

/// Who acted: a user, or a service on its own behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User(Uuid),
    Service(ServiceName),
}

impl Actor {
    /// The id recorded where a UUID is stored.
    pub fn id(&self) -> Uuid {
        match self {
            Actor::User(id) => *id,
            Actor::Service(name) => name.actor_id(),
        }
    }

    /// Reads a recorded actor id back.
    pub fn from_id(id: Uuid) -> Self {
        ServiceName::from_actor_id(id).map_or(Actor::User(id), Actor::Service)
    }
}

/// A user's id, or `service:<name>`.
impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(id) => write!(f, "{id}"),
            Actor::Service(name) => write!(f, "{SUBJECT_PREFIX}{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(ServiceName::parse(""), Err(ServiceNameError::Length));
        assert_eq!(
            ServiceName::parse("a-name-longer-than-20"),
            Err(ServiceNameError::Length)
        );
        for bad in ["Engagement", "9lives", "-x", "tele phony", "ünicode"] {
            assert_eq!(
                ServiceName::parse(bad),
                Err(ServiceNameError::Characters),
                "{bad}"
            );
        }
        assert_eq!(
            ServiceName::parse("lead_scoring-2").map(|n| n.to_string()),
            Ok("lead_scoring-2".to_owned())
        );
    }

    #[test]
    fn an_actor_id_reads_back_as_its_service() {
        for name in [
            "a",
            "engagement",
            "telephony",
            "automation",
            "abcdefghij0123456789",
        ] {
            let service = ServiceName::parse(name).expect("valid name");
            let id = service.actor_id();
            assert_eq!(id.get_version_num(), 8, "{name}");
            assert_eq!(ServiceName::from_actor_id(id), Some(service), "{name}");
            assert_eq!(Actor::from_id(id).to_string(), format!("service:{name}"));
        }
    }

    #[test]
    fn different_services_have_different_actor_ids() {
        let a = ServiceName::parse("engagement").expect("valid");
        let b = ServiceName::parse("engagemenu").expect("valid");
        assert_ne!(a.actor_id(), b.actor_id());
    }

    #[test]
    fn a_user_id_is_never_a_service() {
        let user = Uuid::now_v7();
        assert_eq!(ServiceName::from_actor_id(user), None);
        assert_eq!(Actor::from_id(user), Actor::User(user));
        assert_eq!(ServiceName::from_actor_id(Uuid::nil()), None);
        // Any other UUIDv8 is not a service either.
        assert_eq!(
            ServiceName::from_actor_id(Uuid::from_u128(!(VERSION_BITS | VARIANT_BITS) | V8_MARKS)),
            None
        );
    }

    #[test]
    fn subjects_parse_only_with_the_prefix() {
        assert_eq!(
            ServiceName::from_subject("service:telephony").map(|n| n.to_string()),
            Some("telephony".to_owned())
        );
        assert_eq!(ServiceName::from_subject("telephony"), None);
        assert_eq!(ServiceName::from_subject(&Uuid::now_v7().to_string()), None);
    }
}
