//! The commissions service as an entry of the `salescompass` launcher's list of services.

use std::net::SocketAddr;

use runtime::CancellationToken;
use runtime::component::{BoxError, BoxFuture, Built, Component, LocalBoxFuture};
use runtime::config::EnvLayers;
use runtime::grpc::LocalService;

use crate::{Application, DEFAULTS, Settings};

/// The commissions service, migrated and built from a launcher's environment.
pub struct Commissions;

impl Component for Commissions {
    fn name(&self) -> &'static str {
        "commissions"
    }

    fn defaults(&self) -> &'static str {
        DEFAULTS
    }

    fn migrate(&self, env: EnvLayers) -> LocalBoxFuture<'static, Result<(), BoxError>> {
        Box::pin(async move { Ok(crate::migrate(&settings(&env)?).await?) })
    }

    fn build(&self, env: EnvLayers) -> LocalBoxFuture<'static, Result<Box<dyn Built>, BoxError>> {
        Box::pin(async move {
            let app = Application::build(settings(&env)?).await?;
            Ok(Box::new(app) as Box<dyn Built>)
        })
    }
}

fn settings(env: &EnvLayers) -> Result<Settings, runtime::Error> {
    Ok(runtime::config::load_from(DEFAULTS, env.vars())?)
}

impl Built for Application {
    fn grpc_addr(&self) -> Result<SocketAddr, BoxError> {
        Ok(Application::grpc_addr(self)?)
    }

    fn admin_addr(&self) -> Result<SocketAddr, BoxError> {
        Ok(Application::admin_addr(self)?)
    }

    fn local_service(&self) -> LocalService {
        Application::local_service(self)
    }

    fn run(
        self: Box<Self>,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, Result<(), BoxError>> {
        Box::pin(async move { Ok(Application::run(*self, shutdown).await?) })
    }
}
