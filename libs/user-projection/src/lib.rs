//! The tenants service's users as other services keep them: a projection (manager, role,
//! active) fed by `tenants.user.*` events (and the admin of `tenants.tenant.provisioned`), used
//! for manager visibility and for who may own records. Each service keeps it in a table of its
//! own with the same shape (see [`UserTable`]); the projection ignores events older than what it
//! holds, so a late redelivery never rolls a user back.

mod project;
mod table;

pub use project::{ProjectedUser, ProjectionError, project, user_of};
pub use table::{TableName, UserTable};
