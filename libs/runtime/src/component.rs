//! A backend service as a launcher runs it. Each service crate implements [`Component`] once,
//! so the `salescompass dev` launcher runs, migrates, routes and lists every service from one
//! list instead of one block of code per service.

use std::net::SocketAddr;

pub use futures::future::{BoxFuture, LocalBoxFuture};
use tokio_util::sync::CancellationToken;

use crate::config::EnvLayers;
use crate::grpc::LocalService;

/// A service's start-up or run failure, whatever its own error type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One backend service: its name, its built-in settings and how to migrate and build it from an
/// environment (see [`crate::config::scoped_env`]).
pub trait Component: Send + Sync {
    /// Short name: the gateway's upstream key (it routes `salescompass.<name>.v1.*`), the
    /// launcher's environment prefix (`SALESCOMPASS__<NAME>__…`) and the log field.
    fn name(&self) -> &'static str;

    /// The built-in settings (TOML) that `env` overrides, with the service's default ports and
    /// database schema.
    fn defaults(&self) -> &'static str;

    /// Creates the schema and role if missing and applies the migrations. (Not `Send`: the
    /// launcher awaits it in place, and rustc cannot prove sqlx's migration futures `Send` for
    /// every lifetime behind a boxed future.)
    fn migrate(&self, env: EnvLayers) -> LocalBoxFuture<'static, Result<(), BoxError>>;

    /// Builds the service: migrated when `database.migrate_on_start` is set, listeners bound,
    /// not yet serving. Not `Send`, as [`Component::migrate`].
    fn build(&self, env: EnvLayers) -> LocalBoxFuture<'static, Result<Box<dyn Built>, BoxError>>;
}

/// A service built by [`Component::build`], bound to its ports.
pub trait Built: Send {
    fn grpc_addr(&self) -> Result<SocketAddr, BoxError>;

    fn admin_addr(&self) -> Result<SocketAddr, BoxError>;

    /// Its gRPC services for a caller in the same process (the launcher's gateway).
    fn local_service(&self) -> LocalService;

    /// Serves until `shutdown` is cancelled, then drains and stops its background tasks.
    fn run(
        self: Box<Self>,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, Result<(), BoxError>>;
}
