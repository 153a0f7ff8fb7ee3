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

/// Declares a service's launcher entry: a unit struct implementing [`Component`] and
/// [`Built`] for its `Application`, so each service states only what differs (its name, types
/// and built-in settings) and the wiring is written once, here.
///
/// The application type needs `async fn build(Settings) -> Result<Self, E>`,
/// `grpc_addr()`/`admin_addr() -> Result<SocketAddr, E>`, `local_service() -> LocalService` and
/// `async fn run(self, CancellationToken) -> Result<(), E>`, and the crate
/// `async fn migrate(&Settings) -> Result<(), E>`, for an error type `E` that converts into
/// [`BoxError`].
///
/// ```ignore
/// runtime::service_component!(
///     /// The CRM service, migrated and built from a launcher's environment.
///     Crm = "crm", crate::Application, crate::Settings, crate::DEFAULTS, crate::migrate
/// );
/// ```
#[macro_export]
macro_rules! service_component {
    ($(#[$doc:meta])* $component:ident = $name:literal, $app:ty, $settings:ty, $defaults:expr, $migrate:path) => {
        $(#[$doc])*
        pub struct $component;

        impl $component {
            fn settings(
                env: &$crate::config::EnvLayers,
            ) -> Result<$settings, $crate::component::BoxError> {
                Ok($crate::config::load_from($defaults, env.vars())?)
            }
        }

        impl $crate::component::Component for $component {
            fn name(&self) -> &'static str {
                $name
            }

            fn defaults(&self) -> &'static str {
                $defaults
            }

            fn migrate(
                &self,
                env: $crate::config::EnvLayers,
            ) -> $crate::component::LocalBoxFuture<'static, Result<(), $crate::component::BoxError>>
            {
                Box::pin(async move { Ok($migrate(&Self::settings(&env)?).await?) })
            }

            fn build(
                &self,
                env: $crate::config::EnvLayers,
            ) -> $crate::component::LocalBoxFuture<
                'static,
                Result<Box<dyn $crate::component::Built>, $crate::component::BoxError>,
            > {
                Box::pin(async move {
                    let app = <$app>::build(Self::settings(&env)?).await?;
                    Ok(Box::new(app) as Box<dyn $crate::component::Built>)
                })
            }
        }

        impl $crate::component::Built for $app {
            fn grpc_addr(&self) -> Result<std::net::SocketAddr, $crate::component::BoxError> {
                Ok(<$app>::grpc_addr(self)?)
            }

            fn admin_addr(&self) -> Result<std::net::SocketAddr, $crate::component::BoxError> {
                Ok(<$app>::admin_addr(self)?)
            }

            fn local_service(&self) -> $crate::grpc::LocalService {
                <$app>::local_service(self)
            }

            fn run(
                self: Box<Self>,
                shutdown: $crate::CancellationToken,
            ) -> $crate::component::BoxFuture<'static, Result<(), $crate::component::BoxError>>
            {
                Box::pin(async move { Ok(<$app>::run(*self, shutdown).await?) })
            }
        }
    };
}
