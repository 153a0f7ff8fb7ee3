//! One line per failed gRPC call, at a level by who has to act: a caller's mistake (not found,
//! bad argument, wrong password, rate limit…) is DEBUG, a failure of ours is WARN. The cause of
//! a failure of ours is logged where it happens (`service-errors` logs storage and internal
//! failures at ERROR), so this line does not repeat it at ERROR.

use tonic::Code;
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

/// Logs a gRPC call that ended with `status` (not OK) inside `span`, at the level of who has
/// to act.
pub fn log_failed_call(span: &Span, status: &tonic::Status) {
    let code = status.code();
    let message = status.message();
    if is_client_error(code) {
        tracing::debug!(parent: span, ?code, message, "call refused");
    } else {
        tracing::warn!(parent: span, ?code, message, "call failed");
    }
}
