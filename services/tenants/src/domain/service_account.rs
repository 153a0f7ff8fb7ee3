//! Service accounts: which named services may ask for a service token, with which secret, and
//! the permissions their tokens carry (least privilege per calling service).
//!
//! A service proves itself with a secret of its own rather than the operator token: the operator
//! token provisions and suspends tenants, so handing it to every service would give each of them
//! the platform's master key, and one leak would expose every tenant for every purpose. A
//! per-service secret confines a leak to that service's permissions, and is rotated alone.

use std::collections::HashMap;

use auth::permissions::{self, Permission, SERVICE_GRANTABLE};
use auth::service::{ServiceName, ServiceNameError};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A shorter secret could be guessed; 32 characters of a random token carry ≥ 128 bits.
pub const MIN_SECRET_LEN: usize = 32;

/// One configured service: what `service_accounts.<name>` says, parsed.
pub struct ServiceAccount {
    pub name: ServiceName,
    /// SHA-256 of the secret: compared in constant time, and equal in length whatever was sent.
    secret_digest: [u8; 32],
    pub permissions: Vec<Permission>,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("name", &self.name)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

/// A service account as configured, before parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountSpec {
    pub secret: String,
    pub permissions: Vec<String>,
}

/// A configuration mistake, naming the key to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceAccountError {
    #[error("service_accounts.{name}: the service name {reason}")]
    Name {
        name: String,
        reason: ServiceNameError,
    },
    #[error("service_accounts.{name}.secret: must be at least {MIN_SECRET_LEN} characters")]
    Secret { name: String },
    #[error("service_accounts.{name}.permissions: unknown permission {permission:?}")]
    UnknownPermission { name: String, permission: String },
    #[error(
        "service_accounts.{name}.permissions: {permission} cannot be granted to a service (grantable: {grantable})"
    )]
    NotGrantable {
        name: String,
        permission: String,
        grantable: String,
    },
}

/// Every configured service account.
#[derive(Debug, Default)]
pub struct ServiceAccounts {
    by_name: HashMap<ServiceName, ServiceAccount>,
}

impl ServiceAccounts {
    pub fn parse<'a>(
        specs: impl IntoIterator<Item = (&'a String, &'a ServiceAccountSpec)>,
    ) -> Result<Self, ServiceAccountError> {
        let mut by_name = HashMap::new();
        for (raw_name, spec) in specs {
            let name =
                ServiceName::parse(raw_name).map_err(|reason| ServiceAccountError::Name {
                    name: raw_name.clone(),
                    reason,
                })?;
            if spec.secret.chars().count() < MIN_SECRET_LEN {
                return Err(ServiceAccountError::Secret {
                    name: raw_name.clone(),
                });
            }
            let mut granted = Vec::new();
            for raw in spec
                .permissions
                .iter()
                .map(|p| p.trim())
                .filter(|p| !p.is_empty())
            {
                let permission = permissions::by_name(raw).ok_or_else(|| {
                    ServiceAccountError::UnknownPermission {
                        name: raw_name.clone(),
                        permission: raw.to_owned(),
                    }
                })?;
                if !SERVICE_GRANTABLE.contains(&permission) {
                    return Err(ServiceAccountError::NotGrantable {
                        name: raw_name.clone(),
                        permission: raw.to_owned(),
                        grantable: SERVICE_GRANTABLE
                            .iter()
                            .map(|p| p.name)
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
                if !granted.contains(&permission) {
                    granted.push(permission);
                }
            }
            by_name.insert(
                name,
                ServiceAccount {
                    name,
                    secret_digest: digest(&spec.secret),
                    permissions: granted,
                },
            );
        }
        Ok(Self { by_name })
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The account `name` when `secret` is its secret. An unknown name costs the same
    /// comparison as a wrong secret, and both answer `None`: a caller cannot tell them apart.
    pub fn authenticate(&self, name: &str, secret: &str) -> Option<&ServiceAccount> {
        let presented = digest(secret);
        let account = ServiceName::parse(name)
            .ok()
            .and_then(|name| self.by_name.get(&name));
        let expected = account.map_or([0xA5; 32], |a| a.secret_digest);
        let matches = bool::from(presented.ct_eq(&expected));
        account.filter(|_| matches)
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn spec(secret: &str, permissions: &[&str]) -> ServiceAccountSpec {
        ServiceAccountSpec {
            secret: secret.to_owned(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn parse(name: &str, spec: ServiceAccountSpec) -> Result<ServiceAccounts, ServiceAccountError> {
        let specs = HashMap::from([(name.to_owned(), spec)]);
        ServiceAccounts::parse(&specs)
    }

    #[test]
    fn a_configured_service_authenticates_with_its_secret_only() {
        let accounts = parse(
            "engagement",
            spec(
                SECRET,
                &["crm.cases.write", " crm.deals.read", "crm.cases.write"],
            ),
        )
        .expect("valid");
        let account = accounts
            .authenticate("engagement", SECRET)
            .expect("its own secret");
        assert_eq!(
            account.permissions,
            vec![permissions::CRM_CASES_WRITE, permissions::CRM_DEALS_READ]
        );
        assert!(accounts.authenticate("engagement", "wrong").is_none());
        assert!(
            accounts
                .authenticate("engagement", &format!("{SECRET}x"))
                .is_none()
        );
        assert!(accounts.authenticate("telephony", SECRET).is_none());
        assert!(accounts.authenticate("Not a name", SECRET).is_none());
    }

    #[test]
    fn mistakes_name_the_key_to_fix() {
        assert_eq!(
            parse("engagement", spec("short", &[]))
                .expect_err("short secret")
                .to_string(),
            "service_accounts.engagement.secret: must be at least 32 characters"
        );
        assert!(matches!(
            parse("engagement", spec(SECRET, &["crm.everything"])),
            Err(ServiceAccountError::UnknownPermission { .. })
        ));
        assert!(matches!(
            parse("Engagement", spec(SECRET, &[])),
            Err(ServiceAccountError::Name { .. })
        ));
    }

    #[test]
    fn an_admin_decision_cannot_be_granted_to_a_service() {
        let error =
            parse("automation", spec(SECRET, &["crm.settings.write"])).expect_err("not grantable");
        assert!(
            error
                .to_string()
                .starts_with("service_accounts.automation.permissions: crm.settings.write cannot"),
            "{error}"
        );
    }
}
