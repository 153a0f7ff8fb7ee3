//! Access tokens: EdDSA (Ed25519) JWTs with a key id, signed by the tenants service and verified
//! everywhere else from its published key set (RFC 7517 JWKS, RFC 8037 OKP keys).

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::AuthError;

pub const ISSUER: &str = "salescompass-tenants";
pub const AUDIENCE: &str = "salescompass";
/// Clock skew tolerated between the issuer and verifiers.
const LEEWAY_SECS: u64 = 5;

/// What an access token asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// User id.
    pub sub: Uuid,
    /// Tenant id.
    pub tid: Uuid,
    /// Built-in role name, e.g. `ROLE_ADMIN`.
    pub role: String,
    /// Permissions granted by custom roles, on top of the built-in role's.
    #[serde(default)]
    pub perms: Vec<String>,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

/// What a service token asserts: a named service acting in one tenant, on behalf of no user.
/// Signed by the same keys as user tokens; the `kind` claim (absent from user tokens) and the
/// `service:` subject keep either from passing as the other ([`Verifier::verify`] accepts only
/// users, [`Verifier::verify_any`] tells them apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceClaims {
    pub iss: String,
    pub aud: String,
    /// `service:<name>`.
    pub sub: String,
    /// Always [`SERVICE_KIND`].
    pub kind: String,
    /// Tenant id.
    pub tid: Uuid,
    /// Exactly the permissions configured for the service: no role adds to them.
    pub perms: Vec<String>,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

/// The `kind` claim of a service token.
pub const SERVICE_KIND: &str = "service";

/// A verified token of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    User(Claims),
    Service(ServiceClaims),
}

/// A public key in JWKS form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kid: String,
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not an Ed25519 PKCS#8 private key in PEM form: {0}")]
    Pem(String),
    #[error("invalid public key {kid}: {reason}")]
    PublicKey { kid: String, reason: String },
    #[error("cannot sign token: {0}")]
    Sign(String),
}

/// Signs access tokens with the current private key.
pub struct Signer {
    key: EncodingKey,
    jwk: Jwk,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.jwk.kid)
            .finish()
    }
}

impl Signer {
    /// Loads a PKCS#8 PEM Ed25519 private key (`openssl genpkey -algorithm ed25519`).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let signing =
            SigningKey::from_pkcs8_pem(pem.trim()).map_err(|e| KeyError::Pem(e.to_string()))?;
        let key = EncodingKey::from_ed_pem(pem.trim().as_bytes())
            .map_err(|e| KeyError::Pem(e.to_string()))?;
        let jwk = public_jwk(&signing);
        Ok(Self { key, jwk })
    }

    /// A fresh key pair, as PEM, for local runs and tests.
    pub fn generate_pem() -> Result<String, KeyError> {
        let signing = SigningKey::generate(&mut rand::rngs::OsRng);
        let pem = signing
            .to_pkcs8_pem(Default::default())
            .map_err(|e| KeyError::Pem(e.to_string()))?;
        Ok(pem.to_string())
    }

    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// Signs user [`Claims`] or [`ServiceClaims`].
    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, KeyError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.jwk.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|e| KeyError::Sign(e.to_string()))
    }
}

/// The public half of `signing` as a JWK, with an RFC 7638 thumbprint as key id.
fn public_jwk(signing: &SigningKey) -> Jwk {
    let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
    let thumbprint_input = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint_input.as_bytes()));
    Jwk {
        kid,
        kty: "OKP".to_owned(),
        crv: "Ed25519".to_owned(),
        x,
        alg: "EdDSA".to_owned(),
        use_: "sig".to_owned(),
    }
}

/// Public key of a PEM private key, for publishing keys that still verify older tokens.
pub fn jwk_from_private_pem(pem: &str) -> Result<Jwk, KeyError> {
    let signing =
        SigningKey::from_pkcs8_pem(pem.trim()).map_err(|e| KeyError::Pem(e.to_string()))?;
    Ok(public_jwk(&signing))
}

/// Verifies access tokens against a set of public keys, chosen by `kid`.
#[derive(Clone)]
pub struct Verifier {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Verifier {
    pub fn from_jwks(keys: &[Jwk]) -> Result<Self, KeyError> {
        let mut map = HashMap::new();
        for jwk in keys {
            if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
                return Err(KeyError::PublicKey {
                    kid: jwk.kid.clone(),
                    reason: format!("unsupported key type {}/{}", jwk.kty, jwk.crv),
                });
            }
            let key = DecodingKey::from_ed_components(&jwk.x).map_err(|e| KeyError::PublicKey {
                kid: jwk.kid.clone(),
                reason: e.to_string(),
            })?;
            map.insert(jwk.kid.clone(), key);
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        Ok(Self {
            keys: map,
            validation,
        })
    }

    /// Whether a key with this id is known (verifiers refresh their key set when it is not).
    pub fn knows(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// The token's key id, without verifying anything.
    pub fn key_id(token: &str) -> Option<String> {
        jsonwebtoken::decode_header(token).ok()?.kid
    }

    /// A user's token; a service token is refused here (the gateway takes user tokens only).
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        match self.verify_any(token)? {
            Verified::User(claims) => Ok(claims),
            Verified::Service(_) => Err(AuthError::Invalid),
        }
    }

    /// A user's or a service's token, told apart by the `kind` claim: a token without it must
    /// be a user's (its `sub` a UUID), one with `kind = "service"` a service's (its `sub`
    /// `service:<valid name>`); any other `kind` is refused.
    pub fn verify_any(&self, token: &str) -> Result<Verified, AuthError> {
        let kid = Self::key_id(token).ok_or(AuthError::Invalid)?;
        let key = self.keys.get(&kid).ok_or(AuthError::Invalid)?;
        let claims = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            key,
            &self.validation,
        )
        .map_err(|_| AuthError::Invalid)?
        .claims;
        let service = match claims.get("kind") {
            None => false,
            Some(serde_json::Value::String(kind)) if kind == SERVICE_KIND => true,
            Some(_) => return Err(AuthError::Invalid),
        };
        let claims = serde_json::Value::Object(claims);
        if service {
            let claims: ServiceClaims =
                serde_json::from_value(claims).map_err(|_| AuthError::Invalid)?;
            crate::service::ServiceName::from_subject(&claims.sub).ok_or(AuthError::Invalid)?;
            Ok(Verified::Service(claims))
        } else {
            serde_json::from_value(claims)
                .map(Verified::User)
                .map_err(|_| AuthError::Invalid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_offset: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: Uuid::now_v7(),
            tid: Uuid::now_v7(),
            role: "ROLE_ADMIN".to_owned(),
            perms: vec![],
            iat: now,
            exp: now + exp_offset,
            jti: Uuid::now_v7(),
        }
    }

    fn signer() -> Signer {
        let pem = Signer::generate_pem().expect("key generation");
        Signer::from_pem(&pem).expect("own key loads")
    }

    #[test]
    fn signed_token_verifies_with_the_published_key() {
        let signer = signer();
        let verifier = Verifier::from_jwks(&[signer.jwk().clone()]).expect("jwks");
        let c = claims(300);
        let token = signer.sign(&c).expect("sign");
        assert_eq!(verifier.verify(&token), Ok(c));
    }

    #[test]
    fn expired_token_is_rejected() {
        let signer = signer();
        let verifier = Verifier::from_jwks(&[signer.jwk().clone()]).expect("jwks");
        let token = signer.sign(&claims(-60)).expect("sign");
        assert_eq!(verifier.verify(&token), Err(AuthError::Invalid));
    }

    #[test]
    fn token_from_another_key_is_rejected() {
        let forger = signer();
        let real = signer();
        let verifier = Verifier::from_jwks(&[real.jwk().clone()]).expect("jwks");
        let token = forger.sign(&claims(300)).expect("sign");
        assert_eq!(verifier.verify(&token), Err(AuthError::Invalid));
    }

    #[test]
    fn token_with_a_known_kid_but_foreign_signature_is_rejected() {
        let real = signer();
        let verifier = Verifier::from_jwks(&[real.jwk().clone()]).expect("jwks");
        let token = real.sign(&claims(300)).expect("sign");
        let mut parts: Vec<&str> = token.split('.').collect();
        let other = signer().sign(&claims(300)).expect("sign");
        let other_sig = other.rsplit('.').next().expect("signature part");
        parts[2] = other_sig;
        assert_eq!(verifier.verify(&parts.join(".")), Err(AuthError::Invalid));
    }

    fn service_claims(sub: &str, kind: &str) -> ServiceClaims {
        let now = chrono::Utc::now().timestamp();
        ServiceClaims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: sub.to_owned(),
            kind: kind.to_owned(),
            tid: Uuid::now_v7(),
            perms: vec!["crm.cases.write".to_owned()],
            iat: now,
            exp: now + 60,
            jti: Uuid::now_v7(),
        }
    }

    #[test]
    fn a_service_token_verifies_as_a_service_and_never_as_a_user() {
        let signer = signer();
        let verifier = Verifier::from_jwks(&[signer.jwk().clone()]).expect("jwks");
        let c = service_claims("service:engagement", SERVICE_KIND);
        let token = signer.sign(&c).expect("sign");
        assert_eq!(verifier.verify_any(&token), Ok(Verified::Service(c)));
        assert_eq!(verifier.verify(&token), Err(AuthError::Invalid));
    }

    #[test]
    fn a_user_token_verifies_as_a_user_and_never_as_a_service() {
        let signer = signer();
        let verifier = Verifier::from_jwks(&[signer.jwk().clone()]).expect("jwks");
        let c = claims(300);
        let token = signer.sign(&c).expect("sign");
        assert_eq!(verifier.verify_any(&token), Ok(Verified::User(c)));
    }

    #[test]
    fn a_token_mixing_the_kinds_is_rejected() {
        let signer = signer();
        let verifier = Verifier::from_jwks(&[signer.jwk().clone()]).expect("jwks");
        // A user's subject in a service token, an unknown kind, a malformed service name: none
        // passes as either kind.
        let user_sub = Uuid::now_v7().to_string();
        for c in [
            service_claims(&user_sub, SERVICE_KIND),
            service_claims("service:engagement", "user"),
            service_claims("service:Not A Name", SERVICE_KIND),
        ] {
            let token = signer.sign(&c).expect("sign");
            assert_eq!(
                verifier.verify_any(&token),
                Err(AuthError::Invalid),
                "{c:?}"
            );
        }
        let mut user = serde_json::to_value(claims(300)).expect("json");
        user["kind"] = serde_json::Value::String("user".to_owned());
        let token = signer.sign(&user).expect("sign");
        assert_eq!(verifier.verify_any(&token), Err(AuthError::Invalid));
        // A service subject without the kind claim is not a user either.
        let mut service =
            serde_json::to_value(service_claims("service:engagement", SERVICE_KIND)).expect("json");
        service.as_object_mut().expect("object").remove("kind");
        let token = signer.sign(&service).expect("sign");
        assert_eq!(verifier.verify_any(&token), Err(AuthError::Invalid));
    }

    #[test]
    fn garbage_is_rejected() {
        let verifier = Verifier::from_jwks(&[signer().jwk().clone()]).expect("jwks");
        assert_eq!(verifier.verify("not a token"), Err(AuthError::Invalid));
    }

    #[test]
    fn bad_pem_is_a_clear_error() {
        assert!(matches!(Signer::from_pem("nope"), Err(KeyError::Pem(_))));
    }
}
