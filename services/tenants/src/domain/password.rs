//! Password policy and hashing (argon2id).
//!
//! Parameters: memory 19 MiB, 2 iterations, 1 lane — the OWASP-recommended argon2id minimum,
//! about 20–40 ms per hash on one core of the 2-core reference machine; configurable so a larger
//! machine can raise them. Hashes are PHC strings, so old parameters keep verifying.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 128;

/// A password that satisfies the policy (never logged: no Debug of the content).
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("must be at least {MIN_LEN} characters")]
    TooShort,
    #[error("must be at most {MAX_LEN} characters")]
    TooLong,
    #[error("must contain at least one letter and one digit")]
    TooSimple,
}

impl Password {
    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        let chars = raw.chars().count();
        if chars < MIN_LEN {
            return Err(PasswordError::TooShort);
        }
        if chars > MAX_LEN {
            return Err(PasswordError::TooLong);
        }
        if !raw.chars().any(char::is_alphabetic) || !raw.chars().any(|c| c.is_ascii_digit()) {
            return Err(PasswordError::TooSimple);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes and verifies passwords with fixed argon2id parameters.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    /// Verified when the account does not exist, so a miss costs as much as a hit.
    decoy_hash: String,
}

impl PasswordHasher {
    pub fn new(params: HashParams) -> Result<Self, HashError> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| HashError(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let decoy_hash = argon2
            .hash_password(b"decoy password that matches nothing 0")
            .map_err(|e| HashError(e.to_string()))?
            .to_string();
        Ok(Self { argon2, decoy_hash })
    }

    pub fn hash(&self, password: &Password) -> Result<String, HashError> {
        self.argon2
            .hash_password(password.expose().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| HashError(e.to_string()))
    }

    /// Whether `candidate` matches `hash`; a malformed stored hash never matches.
    pub fn verify(&self, candidate: &str, hash: &str) -> bool {
        PasswordHash::new(hash)
            .map(|parsed| {
                self.argon2
                    .verify_password(candidate.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    }

    /// Spends the same effort as a real verification and fails.
    pub fn verify_decoy(&self, candidate: &str) -> bool {
        let _ = self.verify(candidate, &self.decoy_hash);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordHasher {
        PasswordHasher::new(HashParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .expect("params")
    }

    #[test]
    fn policy_names_the_problem() {
        assert_eq!(
            Password::parse("short1").err(),
            Some(PasswordError::TooShort)
        );
        assert_eq!(
            Password::parse(&"a1".repeat(65)).err(),
            Some(PasswordError::TooLong)
        );
        assert_eq!(
            Password::parse("onlyletterslong").err(),
            Some(PasswordError::TooSimple)
        );
        assert_eq!(
            Password::parse("123456789012345").err(),
            Some(PasswordError::TooSimple)
        );
        assert!(Password::parse("correct horse 42").is_ok());
    }

    #[test]
    fn hash_verifies_only_the_same_password() {
        let hasher = fast();
        let pw = Password::parse("correct horse 42").expect("valid");
        let hash = hasher.hash(&pw).expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(hasher.verify("correct horse 42", &hash));
        assert!(!hasher.verify("correct horse 43", &hash));
        assert!(!hasher.verify("correct horse 42", "not a phc string"));
        assert!(!hasher.verify_decoy("correct horse 42"));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let pw = Password::parse("correct horse 42").expect("valid");
        assert_eq!(format!("{pw:?}"), "Password(***)");
    }
}
