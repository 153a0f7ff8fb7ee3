//! SearchService.

use std::sync::Arc;

use auth::permissions::{CRM_DEALS_READ, CRM_RECORDS_READ};
use db::PageToken;
use proto::crm as pb;
use tonic::{Request, Response, Status};

use super::viewer;
use crate::convert::{record_kind_from_pb, record_kind_to_pb};
use crate::domain::Violations;
use crate::domain::search::{self, MAX_OFFSET, SearchQuery};
use crate::domain::visibility::RecordKind;
use crate::error::{Error, Result};
use crate::store::search::SearchStore;

pub struct SearchApi {
    store: Arc<dyn SearchStore>,
}

impl SearchApi {
    pub fn new(store: Arc<dyn SearchStore>) -> Self {
        Self { store }
    }
}

/// Leads and opportunities are deals; accounts and contacts are covered by the read permission
/// the RPC itself requires.
fn kind_permission(kind: RecordKind) -> auth::Permission {
    match kind {
        RecordKind::Account | RecordKind::Contact => CRM_RECORDS_READ,
        RecordKind::Lead | RecordKind::Opportunity => CRM_DEALS_READ,
    }
}

/// The validated request and the token codec of its query.
fn parse(
    r: &pb::SearchRequest,
    readable: impl Fn(RecordKind) -> bool,
) -> Result<(SearchQuery, PageToken)> {
    let mut v = Violations::new();
    let text = v.check("query", search::parse_text(&r.query));
    let limit = v.check("page_size", search::parse_page_size(r.page_size));
    let mut requested = Vec::new();
    for (i, raw) in r.types.iter().enumerate() {
        if let Some(kind) = v.check(&format!("types[{i}]"), record_kind_from_pb(*raw)) {
            requested.push(kind);
        }
    }
    v.finish()?;
    let (Some(text), Some(limit)) = (text, limit) else {
        return Err(Error::Internal("validated fields missing".to_owned()));
    };
    let kinds = search::kinds(&requested, readable)
        .map_err(|kind| Error::Auth(auth::AuthError::Forbidden(kind_permission(kind).name)))?;
    let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    let pages = PageToken::for_query(&format!("search|{text}|{}", names.join(",")));
    let offset: u32 = pages
        .decode(&r.page_token)
        .map_err(|e| Error::invalid("page_token", e.to_string()))?
        .unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(Error::invalid("page_token", "page_token is malformed"));
    }
    Ok((
        SearchQuery {
            text,
            kinds,
            offset,
            limit,
        },
        pages,
    ))
}

#[tonic::async_trait]
impl pb::search_service_server::SearchService for SearchApi {
    #[tracing::instrument(skip_all)]
    async fn search(
        &self,
        request: Request<pb::SearchRequest>,
    ) -> Result<Response<pb::SearchResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let caller = auth::caller(&request).map_err(Error::from)?;
        let (query, pages) = parse(request.get_ref(), |kind| caller.has(kind_permission(kind)))?;
        if query.kinds.is_empty() {
            return Ok(Response::new(pb::SearchResponse::default()));
        }
        let next_offset = query.offset + query.limit;
        let hits = self.store.search(viewer, query).await?;
        let next_page_token = if hits.more && next_offset <= MAX_OFFSET {
            pages.encode(&next_offset)
        } else {
            String::new()
        };
        Ok(Response::new(pb::SearchResponse {
            results: hits
                .hits
                .into_iter()
                .map(|hit| pb::SearchResult {
                    record: Some(pb::RecordRef {
                        r#type: record_kind_to_pb(hit.kind).into(),
                        id: hit.id.to_string(),
                    }),
                    title: hit.title,
                    snippet: hit.snippet,
                    score: hit.score,
                })
                .collect(),
            next_page_token,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, types: &[pb::RecordType]) -> pb::SearchRequest {
        pb::SearchRequest {
            query: query.to_owned(),
            types: types.iter().map(|t| i32::from(*t)).collect(),
            ..Default::default()
        }
    }

    fn fields(error: Error) -> Vec<String> {
        match error {
            Error::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_query_and_unknown_types_are_field_violations() {
        let mut bad = request("  ", &[]);
        bad.types = vec![0, 99];
        bad.page_size = 500;
        let error = parse(&bad, |_| true).expect_err("invalid");
        assert_eq!(
            fields(error),
            ["query", "page_size", "types[0]", "types[1]"]
        );
    }

    #[test]
    fn page_tokens_continue_only_their_own_search() {
        let (_, pages) = parse(&request("acme", &[]), |_| true).expect("valid");
        let mut next = request("acme", &[]);
        next.page_token = pages.encode(&20u32);
        assert_eq!(parse(&next, |_| true).expect("valid").0.offset, 20);
        let mut other = request("globex", &[]);
        other.page_token = next.page_token.clone();
        assert_eq!(
            fields(parse(&other, |_| true).expect_err("refused")),
            ["page_token"]
        );
    }

    #[test]
    fn asking_for_unreadable_types_is_denied() {
        let deals = |k: RecordKind| matches!(k, RecordKind::Account | RecordKind::Contact);
        let error = parse(&request("acme", &[pb::RecordType::Lead]), deals).expect_err("denied");
        assert!(matches!(error, Error::Auth(_)), "{error:?}");
        let (query, _) = parse(&request("acme", &[]), deals).expect("valid");
        assert_eq!(query.kinds, [RecordKind::Account, RecordKind::Contact]);
    }
}
