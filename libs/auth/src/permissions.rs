//! The permission catalogue and the built-in roles that hold each permission.
//!
//! | permission            | admin | manager | sales_rep | support |
//! |-----------------------|-------|---------|-----------|---------|
//! | `tenant.read`         | ✓     | ✓       | ✓         | ✓       |
//! | `tenant.update`       | ✓     |         |           |         |
//! | `users.read`          | ✓     | ✓       |           |         |
//! | `users.write`         | ✓     |         |           |         |
//! | `roles.read`          | ✓     | ✓       |           |         |
//! | `roles.write`         | ✓     |         |           |         |
//! | `crm.records.read`    | ✓     | ✓       | ✓         | ✓       |
//! | `crm.deals.read`      | ✓     | ✓       | ✓         |         |
//! | `crm.records.write`   | ✓     | ✓       | ✓         |         |
//! | `crm.pipelines.write` | ✓     |         |           |         |
//! | `crm.settings.write`  | ✓     |         |           |         |
//! | `crm.cases.write`     | ✓     | ✓       | ✓         | ✓       |
//! | `engagement.read`     | ✓     | ✓       | ✓         |         |
//! | `engagement.write`    | ✓     | ✓       | ✓         | ✓       |
//! | `engagement.model.write` | ✓  |         |           |         |
//!
//! A service (see [`crate::service`]) holds no role: exactly the permissions its account lists,
//! drawn from [`SERVICE_GRANTABLE`].
//!
//! Every user may read and change their own profile password without any permission. CRM
//! permissions say what kind of record a caller may touch; which records is record visibility
//! (owner, management chain, admin), enforced by the CRM service.

use std::fmt;

/// One named permission; RPCs require exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Permission {
    pub name: &'static str,
    pub description: &'static str,
    pub built_in_roles: &'static [BuiltinRole],
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

use BuiltinRole::{Admin, Manager, SalesRep, Support};

pub const TENANT_READ: Permission = Permission {
    name: "tenant.read",
    description: "Read the tenant's profile and settings",
    built_in_roles: &[Admin, Manager, SalesRep, Support],
};
pub const TENANT_UPDATE: Permission = Permission {
    name: "tenant.update",
    description: "Change the tenant's display name and settings",
    built_in_roles: &[Admin],
};
pub const USERS_READ: Permission = Permission {
    name: "users.read",
    description: "Read and list the tenant's users",
    built_in_roles: &[Admin, Manager],
};
pub const USERS_WRITE: Permission = Permission {
    name: "users.write",
    description: "Create, update and deactivate users",
    built_in_roles: &[Admin],
};
pub const ROLES_READ: Permission = Permission {
    name: "roles.read",
    description: "Read the tenant's custom roles",
    built_in_roles: &[Admin, Manager],
};
pub const ROLES_WRITE: Permission = Permission {
    name: "roles.write",
    description: "Create, change and delete custom roles",
    built_in_roles: &[Admin],
};

pub const CRM_RECORDS_READ: Permission = Permission {
    name: "crm.records.read",
    description: "Read visible accounts and contacts, and the tenant's pipelines",
    built_in_roles: &[Admin, Manager, SalesRep, Support],
};
pub const CRM_DEALS_READ: Permission = Permission {
    name: "crm.deals.read",
    description: "Read visible leads, opportunities and their stage history",
    built_in_roles: &[Admin, Manager, SalesRep],
};
pub const CRM_RECORDS_WRITE: Permission = Permission {
    name: "crm.records.write",
    description: "Create, change, delete and convert visible accounts, contacts, leads and opportunities",
    built_in_roles: &[Admin, Manager, SalesRep],
};
pub const CRM_PIPELINES_WRITE: Permission = Permission {
    name: "crm.pipelines.write",
    description: "Create sales pipelines",
    built_in_roles: &[Admin],
};
pub const CRM_FIELDS_WRITE: Permission = Permission {
    name: "crm.fields.write",
    description: "Define and remove custom fields of CRM records",
    built_in_roles: &[Admin],
};
pub const CRM_SETTINGS_WRITE: Permission = Permission {
    name: "crm.settings.write",
    description: "Change CRM settings and hand over the records of deactivated users",
    built_in_roles: &[Admin],
};

pub const CRM_CASES_WRITE: Permission = Permission {
    name: "crm.cases.write",
    description: "Create and work visible support cases, and log activities on visible records",
    built_in_roles: &[Admin, Manager, SalesRep, Support],
};

pub const ENGAGEMENT_READ: Permission = Permission {
    name: "engagement.read",
    description: "Read the engagement scores of visible records and touch heatmaps",
    built_in_roles: &[Admin, Manager, SalesRep],
};
pub const ENGAGEMENT_WRITE: Permission = Permission {
    name: "engagement.write",
    description: "Record touches (engagement events) on visible records",
    built_in_roles: &[Admin, Manager, SalesRep, Support],
};
pub const ENGAGEMENT_MODEL_WRITE: Permission = Permission {
    name: "engagement.model.write",
    description: "Change the tenant's engagement scoring model",
    built_in_roles: &[Admin],
};

/// Every permission, in documentation order.
pub const ALL: &[Permission] = &[
    TENANT_READ,
    TENANT_UPDATE,
    USERS_READ,
    USERS_WRITE,
    ROLES_READ,
    ROLES_WRITE,
    CRM_RECORDS_READ,
    CRM_DEALS_READ,
    CRM_RECORDS_WRITE,
    CRM_PIPELINES_WRITE,
    CRM_FIELDS_WRITE,
    CRM_SETTINGS_WRITE,
    CRM_CASES_WRITE,
    ENGAGEMENT_READ,
    ENGAGEMENT_WRITE,
    ENGAGEMENT_MODEL_WRITE,
];

/// What a service account may be granted (the tenants service refuses to start with any other):
/// reading the tenant and its users, and reading and writing its records. Settings, pipelines,
/// custom fields, users and roles stay decisions of a tenant's admins, never a service's.
pub const SERVICE_GRANTABLE: &[Permission] = &[
    TENANT_READ,
    USERS_READ,
    CRM_RECORDS_READ,
    CRM_DEALS_READ,
    CRM_RECORDS_WRITE,
    CRM_CASES_WRITE,
];

/// Looks a permission up by name (custom roles store names).
pub fn by_name(name: &str) -> Option<Permission> {
    ALL.iter().copied().find(|p| p.name == name)
}

/// The four roles every tenant has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BuiltinRole {
    Admin,
    Manager,
    SalesRep,
    Support,
}

impl BuiltinRole {
    pub const ALL: [BuiltinRole; 4] = [Admin, Manager, SalesRep, Support];

    /// The proto enum value name, also used in tokens and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Admin => "ROLE_ADMIN",
            Manager => "ROLE_MANAGER",
            SalesRep => "ROLE_SALES_REP",
            Support => "ROLE_SUPPORT",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    pub fn grants(self, permission: Permission) -> bool {
        permission.built_in_roles.contains(&self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_holds_every_permission() {
        assert!(ALL.iter().all(|p| Admin.grants(*p)));
    }

    #[test]
    fn sales_rep_cannot_manage_users() {
        assert!(!SalesRep.grants(USERS_WRITE));
        assert!(!SalesRep.grants(USERS_READ));
        assert!(SalesRep.grants(TENANT_READ));
    }

    #[test]
    fn role_names_round_trip() {
        for role in BuiltinRole::ALL {
            assert_eq!(BuiltinRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(BuiltinRole::parse("ROLE_ROOT"), None);
    }

    #[test]
    fn no_admin_decision_is_grantable_to_a_service() {
        for admin_only in [
            TENANT_UPDATE,
            USERS_WRITE,
            ROLES_WRITE,
            CRM_PIPELINES_WRITE,
            CRM_FIELDS_WRITE,
            CRM_SETTINGS_WRITE,
            ENGAGEMENT_MODEL_WRITE,
        ] {
            assert!(!SERVICE_GRANTABLE.contains(&admin_only), "{admin_only}");
        }
    }

    #[test]
    fn permission_names_are_unique() {
        let mut names: Vec<_> = ALL.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }
}
