//! What every SalesCompass process needs around its business logic: layered configuration,
//! telemetry, the gRPC server with health, reflection and tower layers, the admin HTTP port and
//! graceful shutdown. The same code runs a service alone or inside the `salescompass` launcher.

pub mod admin;
pub mod component;
pub mod config;
pub mod cpu;
pub mod exemplars;
pub mod exposition;
pub mod grpc;
pub mod grpc_trace;
pub mod logs;
pub mod metrics;
#[cfg(test)]
mod metrics_tests;
pub mod process;
pub mod readiness;
pub mod retry;
pub mod shutdown;
pub mod telemetry;
pub mod trace_context;

pub use tokio_util::sync::CancellationToken;

/// Every process that links the runtime allocates with mimalloc. glibc's malloc keeps freed
/// memory in per-thread arenas and, after the first large free, raises its mmap threshold, so
/// each password-hashing thread kept its 19 MiB argon2 block: the dev platform sat at 200-260 MB
/// under load against 88 MB with large blocks returned to the system (BENCHMARKS.md, issue 8).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Errors raised while starting or running the process plumbing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(#[from] ::config::ConfigError),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("telemetry setup failed: {0}")]
    Telemetry(String),
    #[error("grpc server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("reflection setup failed: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("admin server failed: {0}")]
    Io(#[from] std::io::Error),
}
