//! One line per failed gRPC call, at a level by who has to act: a caller's mistake (not found,
//! bad argument, wrong password, rate limit…) is DEBUG, a failure of ours is WARN. The cause of
//! a failure of ours is logged where it happens (`service-errors` logs storage and internal
//! failures at ERROR), so this line does not repeat it at ERROR.

use std::time::Duration;

use tonic::Code;
use tower_http::classify::GrpcFailureClass;
use tower_http::trace::OnFailure;
use tracing::Span;

/// Whether `code` reports a problem with the request rather than with the service.
pub fn is_client_error(code: Code) -> bool {
    matches!(
        code,
        Code::Cancelled
            | Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::ResourceExhausted
            | Code::FailedPrecondition
            | Code::Aborted
            | Code::OutOfRange
            | Code::Unauthenticated
    )
}

/// `TraceLayer::on_failure` for the gRPC servers (tower-http's default logs every non-OK status
/// at ERROR, wrong passwords included).
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcFailureLog;

impl OnFailure<GrpcFailureClass> for GrpcFailureLog {
    fn on_failure(&mut self, failure: GrpcFailureClass, latency: Duration, span: &Span) {
        let latency_ms = latency.as_millis();
        match failure {
            GrpcFailureClass::Status(status) => {
                let code = Code::from_i32(status.code_raw());
                let message = status.message().unwrap_or_default();
                if is_client_error(code) {
                    tracing::debug!(parent: span, ?code, message, latency_ms, "call refused");
                } else {
                    tracing::warn!(parent: span, ?code, message, latency_ms, "call failed");
                }
            }
            // A transport error, or a kind of failure tower-http adds later.
            other => tracing::warn!(parent: span, failure = %other, latency_ms, "call failed"),
        }
    }
}
