//! RFC 9457 `application/problem+json` responses and the gRPC → HTTP status mapping.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use tonic::Code;
use tonic_types::StatusExt;

use crate::error::{Error, Violation, retry_after_secs};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// What a problem body says about the request it answers.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub trace_id: String,
    pub request_id: String,
    pub path: String,
}

/// The standard gRPC → HTTP mapping (as in grpc-gateway and Envoy's transcoder).
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Stable machine-readable name of a gRPC code, e.g. `INVALID_ARGUMENT`.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// An RFC 9457 problem plus the headers that belong with it.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub violations: Vec<Violation>,
    pub retry_after: Option<Duration>,
    pub allow: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    instance: &'a str,
    code: &'static str,
    trace_id: &'a str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [Violation],
}

impl Problem {
    fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            violations: Vec::new(),
            retry_after: None,
            allow: None,
        }
    }

    pub fn from_error(error: &Error, unavailable_retry_after: Duration) -> Self {
        match error {
            Error::RouteNotFound { .. } => {
                Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", error.to_string())
            }
            Error::MethodNotAllowed { allowed, .. } => {
                let mut p = Self::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "METHOD_NOT_ALLOWED",
                    error.to_string(),
                );
                p.allow = Some(
                    allowed
                        .iter()
                        .map(http::Method::as_str)
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                p
            }
            Error::UnsupportedMediaType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                error.to_string(),
            ),
            Error::PayloadTooLarge { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                error.to_string(),
            ),
            Error::BadRequest { detail, violations } => {
                let mut p = Self::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", detail.clone());
                p.violations.clone_from(violations);
                p
            }
            Error::Unauthenticated(_) => Self::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                error.to_string(),
            ),
            Error::RateLimited { retry_after } => {
                let mut p = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RESOURCE_EXHAUSTED",
                    error.to_string(),
                );
                p.retry_after = Some(*retry_after);
                p
            }
            Error::IdempotencyInFlight => {
                let mut p = Self::new(StatusCode::CONFLICT, "ABORTED", error.to_string());
                p.retry_after = Some(Duration::from_secs(1));
                p
            }
            Error::IdempotencyKeyReused => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "FAILED_PRECONDITION",
                error.to_string(),
            ),
            Error::Upstream(status) => Self::from_status(status, unavailable_retry_after),
            Error::Unavailable { retry_after, .. } => {
                let mut p = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    error.to_string(),
                );
                p.retry_after = Some(*retry_after);
                p
            }
            Error::DeadlineExceeded => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "DEADLINE_EXCEEDED",
                error.to_string(),
            ),
            Error::Store(_) => {
                let mut p = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    "the idempotency store is unavailable; retry later",
                );
                p.retry_after = Some(unavailable_retry_after);
                p
            }
            Error::Config(_)
            | Error::Runtime(_)
            | Error::InvalidSetting { .. }
            | Error::Descriptors(_)
            | Error::Bind { .. }
            | Error::Serve(_)
            | Error::Internal(_) => Self::internal(),
        }
    }

    /// A problem for a bare status produced outside the handler (framework rejections).
    pub fn for_status(status: StatusCode) -> Self {
        let (code, detail) = match status.as_u16() {
            404 => ("NOT_FOUND", "no such resource"),
            405 => ("METHOD_NOT_ALLOWED", "method not allowed for this path"),
            413 => ("PAYLOAD_TOO_LARGE", "request body too large"),
            415 => ("UNSUPPORTED_MEDIA_TYPE", "unsupported content type"),
            s if s >= 500 => {
                return Self {
                    status,
                    ..Self::internal()
                };
            }
            _ => ("INVALID_ARGUMENT", "the request was refused"),
        };
        Self::new(status, code, detail)
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error; quote the trace id when reporting it",
        )
    }

    /// Maps an upstream status, keeping its message and field violations but never the text of
    /// an internal error (which may describe internals).
    pub fn from_status(status: &tonic::Status, unavailable_retry_after: Duration) -> Self {
        let code = status.code();
        if matches!(code, Code::Unknown | Code::Internal | Code::DataLoss) {
            return Self::internal();
        }
        let mut p = Self::new(http_status(code), code_name(code), status.message());
        let details = status.get_error_details();
        if let Some(bad_request) = details.bad_request() {
            p.violations
                .extend(bad_request.field_violations.iter().map(|v| Violation {
                    field: json_field_path(&v.field),
                    description: v.description.clone(),
                }));
        }
        if let Some(precondition) = details.precondition_failure() {
            p.violations
                .extend(precondition.violations.iter().map(|v| Violation {
                    field: json_field_path(&v.subject),
                    description: v.description.clone(),
                }));
        }
        p.retry_after = details
            .retry_info()
            .and_then(|info| info.retry_delay)
            .or((code == Code::Unavailable).then_some(unavailable_retry_after));
        if p.detail.is_empty() {
            p.detail = p
                .status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_owned();
        }
        p
    }

    /// The problem+json body, also what a server-sent event stream sends as its `error` event.
    pub fn to_json(&self, info: &RequestInfo) -> Vec<u8> {
        let body = Body {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            instance: &info.path,
            code: self.code,
            trace_id: &info.trace_id,
            request_id: &info.request_id,
            errors: &self.violations,
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }

    pub fn into_response(self, info: &RequestInfo) -> Response {
        // A service that is away or too slow (503, 504) is an outage its own logs and
        // readiness report; any other 5xx is a failure someone has to look at.
        let unavailable = matches!(
            self.status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
        );
        if unavailable {
            tracing::warn!(
                status = self.status.as_u16(),
                code = self.code,
                trace_id = %info.trace_id,
                request_id = %info.request_id,
                "request failed"
            );
        } else if self.status.is_server_error() {
            tracing::error!(
                status = self.status.as_u16(),
                code = self.code,
                trace_id = %info.trace_id,
                request_id = %info.request_id,
                "request failed"
            );
        }
        let bytes = self.to_json(info);
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(wait) = self.retry_after {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(wait)),
            );
        }
        if let Some(allow) = self.allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
            headers.insert(header::ALLOW, allow);
        }
        response
    }
}

/// `admin.display_name` → `admin.displayName`: services name fields as in proto, clients know
/// the JSON names.
pub fn json_field_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut upper_next = false;
    for c in path.chars() {
        if c == '_' {
            upper_next = true;
            continue;
        }
        if upper_next && c.is_ascii_alphabetic() {
            out.push(c.to_ascii_uppercase());
        } else {
            if upper_next {
                out.push('_');
            }
            out.push(c);
        }
        upper_next = false;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    fn info() -> RequestInfo {
        RequestInfo {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
            request_id: "req-1".to_owned(),
            path: "/v1/users".to_owned(),
        }
    }

    async fn body_json(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        serde_json::from_slice(&bytes).expect("json body")
    }

    #[test]
    fn grpc_codes_map_to_the_standard_http_statuses() {
        let cases = [
            (Code::InvalidArgument, 400),
            (Code::FailedPrecondition, 400),
            (Code::OutOfRange, 400),
            (Code::Unauthenticated, 401),
            (Code::PermissionDenied, 403),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::Aborted, 409),
            (Code::ResourceExhausted, 429),
            (Code::Cancelled, 499),
            (Code::Unimplemented, 501),
            (Code::Unavailable, 503),
            (Code::DeadlineExceeded, 504),
            (Code::Internal, 500),
            (Code::Unknown, 500),
            (Code::DataLoss, 500),
        ];
        for (code, http) in cases {
            assert_eq!(http_status(code).as_u16(), http, "{code:?}");
        }
    }

    #[tokio::test]
    async fn field_violations_become_problem_errors_with_json_names() {
        let details = ErrorDetails::with_bad_request(vec![tonic_types::FieldViolation::new(
            "admin.display_name",
            "must not be empty",
        )]);
        let status = tonic::Status::with_error_details(
            Code::InvalidArgument,
            "invalid provisioning request",
            details,
        );
        let response = Problem::from_status(&status, Duration::from_secs(1)).into_response(&info());
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = body_json(response).await;
        assert_eq!(body["status"], 400);
        assert_eq!(body["title"], "Bad Request");
        assert_eq!(body["code"], "INVALID_ARGUMENT");
        assert_eq!(body["detail"], "invalid provisioning request");
        assert_eq!(body["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(body["instance"], "/v1/users");
        assert_eq!(body["errors"][0]["field"], "admin.displayName");
        assert_eq!(body["errors"][0]["description"], "must not be empty");
    }

    #[tokio::test]
    async fn internal_errors_never_leak_their_message() {
        let status = tonic::Status::internal("relation \"tenants.users\" does not exist");
        let response = Problem::from_status(&status, Duration::from_secs(1)).into_response(&info());
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_json(response).await;
        assert!(
            !body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("relation")
        );
        assert_eq!(body["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[tokio::test]
    async fn unavailable_and_rate_limits_carry_retry_after() {
        let response =
            Problem::from_status(&tonic::Status::unavailable("down"), Duration::from_secs(2))
                .into_response(&info());
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");

        let limited = Error::RateLimited {
            retry_after: Duration::from_millis(1500),
        };
        let response = Problem::from_error(&limited, Duration::from_secs(1)).into_response(&info());
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }

    #[tokio::test]
    async fn method_not_allowed_lists_the_allowed_methods() {
        let error = Error::MethodNotAllowed {
            method: http::Method::PUT,
            allowed: vec![http::Method::GET, http::Method::PATCH],
        };
        let response = Problem::from_error(&error, Duration::from_secs(1)).into_response(&info());
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "GET, PATCH");
        let body = body_json(response).await;
        assert!(body.get("errors").is_none(), "no empty errors list");
    }

    #[test]
    fn proto_field_paths_become_json_paths() {
        assert_eq!(json_field_path("page_size"), "pageSize");
        assert_eq!(json_field_path("admin.display_name"), "admin.displayName");
        assert_eq!(json_field_path("users[0].manager_id"), "users[0].managerId");
        assert_eq!(json_field_path("email"), "email");
    }
}
