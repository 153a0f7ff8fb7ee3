//! The one handler behind every annotated route: match → authenticate → rate limit → read body →
//! idempotency → transcode → call → transcode back. Every failure is a problem+json response.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt as _, Limited};
use tonic::metadata::{AsciiMetadataValue, MetadataMap, MetadataValue};
use tracing::Instrument as _;

use crate::access_log;
use crate::bearer::{self, Caller, TokenVerifier};
use crate::error::Error;
use crate::idempotency::{self, Begin, IdempotencyStore, StoredResponse};
use crate::metrics::UNMATCHED;
use crate::problem::{Problem, RequestInfo};
use crate::rate_limit::{Quotas, RateLimits};
use crate::routes::{BodyRule, Lookup, Route, RouteTable};
use crate::settings::GatewaySettings;
use crate::spans;
use crate::sse;
use crate::trace_context::{REQUEST_ID, RequestContext, TRACEPARENT, TRACESTATE};
use crate::transcode;
use crate::upstream::Upstreams;

const JSON: &str = "application/json";

/// Everything the handler needs, built once at start.
pub struct Gateway {
    pub routes: RouteTable,
    pub upstreams: Upstreams,
    pub verifier: TokenVerifier,
    pub limits: RateLimits,
    pub idempotency: IdempotencyStore,
    pub settings: GatewaySettings,
    /// Cancelled when the drain ends: open event streams end then, so graceful shutdown is not
    /// held up by streams that would otherwise run until the client leaves.
    pub streams_closing: tokio_util::sync::CancellationToken,
}

/// Route template of the answered request, for metrics labels.
#[derive(Debug, Clone)]
pub struct RouteLabel(pub String);

pub async fn handle(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let context = request
        .extensions()
        .get::<RequestContext>()
        .cloned()
        .unwrap_or_else(|| RequestContext::from_headers(request.headers()));
    let info = RequestInfo {
        trace_id: context.trace_id.clone(),
        request_id: context.request_id.clone(),
        path: request.uri().path().to_owned(),
    };
    let mut quotas = None;
    let mut label = UNMATCHED.to_owned();
    let retry_after = Duration::from_secs(gateway.settings.unavailable_retry_after_secs);
    let mut response = match gateway
        .serve(request, &context, &mut quotas, &mut label)
        .await
    {
        Ok(response) => response,
        Err(error) => Problem::from_error(&error, retry_after).into_response(&info),
    };
    if let Some(quotas) = quotas {
        quotas.write_headers(response.headers_mut());
    }
    response.extensions_mut().insert(RouteLabel(label));
    response
}

impl Gateway {
    async fn serve(
        &self,
        request: Request,
        context: &RequestContext,
        quotas: &mut Option<Quotas>,
        label: &mut String,
    ) -> Result<Response, Error> {
        let client = self.client_address(&request);
        let matched = match self.routes.lookup(request.method(), request.uri().path()) {
            Lookup::Found(route, bindings) => Ok((route.clone(), bindings)),
            Lookup::MethodNotAllowed(allowed) => Err(Error::MethodNotAllowed {
                method: request.method().clone(),
                allowed,
            }),
            Lookup::NotFound => Err(Error::RouteNotFound {
                method: request.method().clone(),
                path: request.uri().path().to_owned(),
            }),
        };
        // Known before the rate limits: a refused request is logged and counted by its route.
        if let Ok((route, _)) = &matched {
            *label = route.template.to_string();
        }
        let class = self.limits.class_of(
            matched
                .as_ref()
                .ok()
                .map(|(route, _)| route.full_method.as_str()),
        );
        // The client bucket is checked before any token work, so floods stay cheap.
        match self.limits.check_client(class, client).await {
            Ok(client_quotas) => *quotas = client_quotas,
            Err(limited) => {
                let error = limited.error();
                *quotas = Some(limited.quotas);
                return Err(error);
            }
        }
        let (route, bindings) = matched?;

        let token = bearer::bearer(request.headers().get(header::AUTHORIZATION))?;
        let caller = self.verifier.authenticate(token).await?;
        if let (Some(tenant), Some(slot)) = (
            caller.tenant_id(),
            request.extensions().get::<access_log::TenantSlot>(),
        ) {
            slot.set(tenant);
        }
        if let Some(tenant) = caller.tenant_id() {
            // The request's server span (edge layer) declares the field.
            tracing::Span::current().record("tenant.id", tenant);
            match self.limits.check_tenant(class, tenant).await {
                Ok(tenant_quotas) => *quotas = tighter(quotas.take(), tenant_quotas),
                Err(limited) => {
                    let error = limited.error();
                    *quotas = Some(limited.quotas);
                    return Err(error);
                }
            }
        }

        let (parts, body) = request.into_parts();
        if !matches!(route.body, BodyRule::None) {
            check_content_type(&parts.headers)?;
        }
        let body = self.read_body(&parts.headers, body).await?;
        if route.rpc.is_server_streaming() {
            return self
                .stream(&route, bindings, &parts, &body, &caller, client, context)
                .await;
        }

        let key = if parts.method == Method::POST {
            parts
                .headers
                .get(idempotency::HEADER)
                .map(|v| {
                    let key = v.to_str().map_err(|_| {
                        Error::bad_field("Idempotency-Key", "must be visible ASCII")
                    })?;
                    idempotency::validate_key(key)?;
                    Ok::<_, Error>(idempotency::scoped_key(&caller, client, key))
                })
                .transpose()?
        } else {
            None
        };
        let Some(key) = key else {
            return self
                .call(&route, bindings, &parts, &body, &caller, client, context)
                .await
                .map(json_response);
        };

        let path_and_query = parts.uri.path_and_query().map_or("", |pq| pq.as_str());
        let fingerprint = idempotency::fingerprint(parts.method.as_str(), path_and_query, &body);
        let timeout = self.settings.timeouts.for_method(&route.full_method);
        // The marker outlives the slowest legitimate run of the request.
        let in_flight_ttl = timeout + Duration::from_secs(30);
        match self
            .idempotency
            .begin(&key, &fingerprint, in_flight_ttl)
            .await?
        {
            Begin::Replay(stored) => return Ok(replay(stored)),
            Begin::InFlight => return Err(Error::IdempotencyInFlight),
            Begin::Mismatch => return Err(Error::IdempotencyKeyReused),
            Begin::Proceed => {}
        }
        let info = RequestInfo {
            trace_id: context.trace_id.clone(),
            request_id: context.request_id.clone(),
            path: parts.uri.path().to_owned(),
        };
        let retry_after = Duration::from_secs(self.settings.unavailable_retry_after_secs);
        let response = match self
            .call(&route, bindings, &parts, &body, &caller, client, context)
            .await
        {
            Ok(json) => json_response(json),
            Err(error) => Problem::from_error(&error, retry_after).into_response(&info),
        };
        self.settle(&key, &fingerprint, response).await
    }

    /// Stores a final response for replay, or releases the key so a retry runs again.
    async fn settle(
        &self,
        key: &str,
        fingerprint: &str,
        response: Response,
    ) -> Result<Response, Error> {
        if !idempotency::is_replayable(response.status()) {
            if let Err(error) = self.idempotency.abandon(key).await {
                tracing::warn!(%error, "could not release idempotency key");
            }
            return Ok(response);
        }
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| Error::Internal(format!("buffer response: {e}")))?
            .to_bytes();
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(JSON)
            .to_owned();
        let stored = StoredResponse {
            status: parts.status.as_u16(),
            content_type,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        let ttl = Duration::from_secs(self.settings.idempotency.ttl_secs);
        if let Err(error) = self
            .idempotency
            .complete(key, fingerprint, stored, ttl)
            .await
        {
            // The request did run; answer it, but say loudly that a retry would run it again.
            // The caller has its answer; only a retry of it may run again. Redis being away
            // is an outage the idempotency store reports, not a failure of this request.
            tracing::warn!(%error, "could not store idempotent response");
        }
        Ok(Response::from_parts(parts, Body::from(bytes)))
    }

    #[allow(clippy::too_many_arguments)]
    async fn call(
        &self,
        route: &Route,
        bindings: crate::path_template::Bindings,
        parts: &http::request::Parts,
        body: &Bytes,
        caller: &Caller,
        client: IpAddr,
        context: &RequestContext,
    ) -> Result<Vec<u8>, Error> {
        let message = transcode::request_message(route, bindings, parts.uri.query(), body)?;
        let span = spans::client_span(&route.full_method);
        let metadata = forward_metadata(&parts.headers, caller, client, context, &span);
        let timeout = self.settings.timeouts.for_method(&route.full_method);
        let response = self
            .upstreams
            .unary(
                &route.service,
                route.grpc_path.clone(),
                message,
                metadata,
                timeout,
            )
            .instrument(span.clone())
            .await;
        spans::record_client_result(&span, &response);
        drop(span);
        let response = response?;
        transcode::response_json(route, self.routes.json_plans(), &response)
    }

    /// A server-streaming RPC as server-sent events (see [`crate::sse`]). Errors before the
    /// first message (refused, unauthenticated, bad input) are problem+json responses like any
    /// other; later ones end the stream with an `error` event.
    #[allow(clippy::too_many_arguments)]
    async fn stream(
        &self,
        route: &Arc<Route>,
        bindings: crate::path_template::Bindings,
        parts: &http::request::Parts,
        body: &Bytes,
        caller: &Caller,
        client: IpAddr,
        context: &RequestContext,
    ) -> Result<Response, Error> {
        let message = transcode::request_message(route, bindings, parts.uri.query(), body)?;
        let span = spans::client_span(&route.full_method);
        let metadata = forward_metadata(&parts.headers, caller, client, context, &span);
        let timeout = self.settings.timeouts.for_method(&route.full_method);
        let opened = self
            .upstreams
            .server_stream(
                &route.service,
                route.grpc_path.clone(),
                message,
                metadata,
                timeout,
            )
            .instrument(span.clone())
            .await;
        let messages = opened?;
        let info = RequestInfo {
            trace_id: context.trace_id.clone(),
            request_id: context.request_id.clone(),
            path: parts.uri.path().to_owned(),
        };
        Ok(sse::response(sse::EventSource {
            route: route.clone(),
            messages,
            heartbeat: Duration::from_secs(self.settings.sse_heartbeat_secs.max(1)),
            info,
            retry_after: Duration::from_secs(self.settings.unavailable_retry_after_secs),
            closing: self.streams_closing.clone(),
        }))
    }

    async fn read_body(&self, headers: &HeaderMap, body: Body) -> Result<Bytes, Error> {
        let limit = self.settings.max_body_bytes;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(Error::PayloadTooLarge { limit });
        }
        match Limited::new(body, limit).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                Err(Error::PayloadTooLarge { limit })
            }
            Err(error) => Err(Error::bad_request(format!(
                "could not read the body: {error}"
            ))),
        }
    }

    fn client_address(&self, request: &Request) -> IpAddr {
        if self.settings.trust_forwarded_for {
            // The last hop was appended by our own proxy; earlier entries are client-controlled.
            let forwarded = request
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
                .next_back();
            if let Some(address) = forwarded {
                return address;
            }
        }
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip())
    }
}

fn tighter(current: Option<Quotas>, other: Option<Quotas>) -> Option<Quotas> {
    match (current, other) {
        (Some(a), Some(b)) => Some(a.tighter(b)),
        (a, b) => a.or(b),
    }
}

/// `application/json` (any parameters, e.g. charset) is required when a body is sent.
fn check_content_type(headers: &HeaderMap) -> Result<(), Error> {
    let has_body = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|len| len.trim() != "0")
        && (headers.contains_key(header::CONTENT_LENGTH)
            || headers.contains_key(header::TRANSFER_ENCODING));
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return if has_body {
            Err(Error::UnsupportedMediaType("none".to_owned()))
        } else {
            Ok(())
        };
    };
    let text = content_type.to_str().unwrap_or_default();
    let essence = text.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case(JSON) {
        Ok(())
    } else {
        Err(Error::UnsupportedMediaType(text.to_owned()))
    }
}

fn forward_metadata(
    headers: &HeaderMap,
    caller: &Caller,
    client: IpAddr,
    context: &RequestContext,
    client_span: &tracing::Span,
) -> MetadataMap {
    let mut metadata = MetadataMap::new();
    if !matches!(caller, Caller::Anonymous)
        && let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| AsciiMetadataValue::try_from(v.as_bytes()).ok())
    {
        metadata.insert("authorization", value);
    }
    // The client span is the upstream's parent; without an OpenTelemetry layer the generated
    // context still carries the trace on.
    runtime::trace_context::inject_metadata(client_span, &mut metadata);
    if !metadata.contains_key(TRACEPARENT) {
        if let Ok(value) = MetadataValue::try_from(context.traceparent()) {
            metadata.insert(TRACEPARENT, value);
        }
        if let Some(value) = context
            .tracestate
            .as_ref()
            .and_then(|v| AsciiMetadataValue::try_from(v.as_bytes()).ok())
        {
            metadata.insert(TRACESTATE, value);
        }
    }
    if let Ok(value) = MetadataValue::try_from(context.request_id.as_str()) {
        metadata.insert(REQUEST_ID, value);
    }
    if let Ok(value) = MetadataValue::try_from(client.to_string()) {
        metadata.insert("x-forwarded-for", value);
    }
    // The browser's user agent, for the tenants service's audit log (logins, changes).
    if let Some(value) = headers
        .get(header::USER_AGENT)
        .and_then(|v| AsciiMetadataValue::try_from(v.as_bytes()).ok())
    {
        metadata.insert("x-forwarded-user-agent", value);
    }
    metadata
}

fn json_response(body: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    if let Ok(content_type) = HeaderValue::from_str(&stored.content_type) {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response.headers_mut().insert(
        idempotency::REPLAYED_HEADER,
        HeaderValue::from_static("true"),
    );
    response
}
