//! Custom roles: named sets of permissions a tenant defines.

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub const MAX_NAME_LEN: usize = 64;
pub const MAX_DESCRIPTION_LEN: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomRole {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewRole {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub permissions: Option<Vec<String>>,
}

/// Checks each name against the catalogue; returns the sorted, deduplicated list or the index
/// and name of the first unknown permission.
pub fn parse_permissions(raw: &[String]) -> Result<Vec<String>, (usize, String)> {
    for (index, name) in raw.iter().enumerate() {
        if auth::permissions::by_name(name).is_none() {
            return Err((index, name.clone()));
        }
    }
    let mut names = raw.to_vec();
    names.sort_unstable();
    names.dedup();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_permissions_are_sorted_and_deduplicated() {
        let raw = vec![
            "users.write".to_owned(),
            "users.read".to_owned(),
            "users.write".to_owned(),
        ];
        assert_eq!(
            parse_permissions(&raw),
            Ok(vec!["users.read".to_owned(), "users.write".to_owned()])
        );
    }

    #[test]
    fn unknown_permission_is_named_with_its_index() {
        let raw = vec!["users.read".to_owned(), "launch.missiles".to_owned()];
        assert_eq!(
            parse_permissions(&raw),
            Err((1, "launch.missiles".to_owned()))
        );
    }
}
