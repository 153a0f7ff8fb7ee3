//! The audit context of the request being served: handlers that change something run the change
//! inside [`scope`], and the store hands the context to the database with each transaction, where
//! the audit triggers read it (see the `audit_log` migration).

use std::future::Future;

use tonic::Request;

use crate::domain::audit::AuditContext;

tokio::task_local! {
    static CURRENT: AuditContext;
}

/// Runs `work` with `context` as the audit context of every transaction it opens.
pub async fn scope<F: Future>(context: AuditContext, work: F) -> F::Output {
    CURRENT.scope(context, work).await
}

/// [`scope`] for a whole RPC handler body (its error type pinned for `?`).
pub async fn rpc<T>(
    context: AuditContext,
    work: impl Future<Output = Result<T, tonic::Status>>,
) -> Result<T, tonic::Status> {
    CURRENT.scope(context, work).await
}

/// The context of the running request, if a handler set one.
pub fn current() -> Option<AuditContext> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Who is calling and from where: the caller the interceptor attached (none for a login), the
/// client address (the first `x-forwarded-for` hop when a proxy such as the gateway forwarded
/// it, else the peer) and the user agent (`x-forwarded-user-agent` from a proxy, else the
/// caller's own).
pub fn context_of<T>(request: &Request<T>) -> AuditContext {
    let actor = match auth::caller(request) {
        Ok(auth::Caller::User(ctx)) => ctx.user_id.to_string(),
        Ok(auth::Caller::Service(ctx)) => format!("service:{}", ctx.service),
        Ok(auth::Caller::Operator) => "operator".to_owned(),
        Err(_) => String::new(),
    };
    let header = |name: &str| {
        request
            .metadata()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let ip = header("x-forwarded-for")
        .and_then(|v| v.split(',').next().map(|hop| hop.trim().to_owned()))
        .filter(|hop| !hop.is_empty())
        .or_else(|| request.remote_addr().map(|addr| addr.ip().to_string()))
        .unwrap_or_default();
    let user_agent = header("x-forwarded-user-agent")
        .or_else(|| header("user-agent"))
        .unwrap_or_default();
    AuditContext::new(actor, &ip, &user_agent)
}
