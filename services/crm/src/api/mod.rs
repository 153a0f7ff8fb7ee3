//! gRPC handlers: parse proto requests into domain values, identify the caller, call the
//! resource's store (an `Arc<dyn …Store>`, mocked in the handlers' unit tests), map results back
//! with `crate::convert`.

pub mod accounts;
pub mod activities;
pub mod assignment;
pub mod board;
pub mod cases;
pub mod catalog;
pub mod contacts;
pub mod custom_fields;
pub mod duplicates;
pub mod history;
pub mod import_jobs;
pub mod imports;
pub mod leads;
pub mod notifications;
pub mod opportunities;
pub mod pipelines;
pub mod quotes;
pub mod read_mask;
pub mod search;
pub mod settings;
pub mod sharing;

use auth::{BuiltinRole, Caller, Permission};
use db::{PageSize, PageToken};
use proto::google::r#type::Money as PbMoney;
use tonic::Request;
use uuid::Uuid;

use crate::domain::money::Money;
use crate::domain::visibility::Viewer;
use crate::domain::{FieldViolation, Violations};
use crate::error::{Error, Result};
use crate::listing::{Cursor, ListQuery, Listing};

/// The calling tenant user or service, holding `permission`.
///
/// A service (`auth::Caller::Service`) holds exactly the permissions its account lists, none
/// of which is an admin decision (`auth::permissions::SERVICE_GRANTABLE`); what those let it
/// read or write it reaches tenant-wide, as an admin's reach. It acts as its actor id
/// (`auth::ServiceName::actor_id`): records it creates without an owner are owned by it, and
/// history and events record it, read back as `service:<name>`.
pub fn viewer<T>(request: &Request<T>, permission: Permission) -> Result<Viewer> {
    let caller = auth::caller(request)?;
    caller.require(permission)?;
    match caller {
        Caller::User(ctx) => Ok(Viewer {
            tenant_id: ctx.tenant_id,
            user_id: ctx.user_id,
            role: ctx.role,
        }),
        Caller::Service(ctx) => Ok(Viewer {
            tenant_id: ctx.tenant_id,
            user_id: ctx.service.actor_id(),
            role: BuiltinRole::Admin,
        }),
        Caller::Operator => Err(auth::AuthError::TenantUserOnly.into()),
    }
}

/// Parses a resource id; a malformed id names the field.
pub fn parse_id(field: &str, raw: &str) -> Result<Uuid> {
    if raw.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    Uuid::parse_str(raw).map_err(|_| Error::invalid(field, "must be a UUID"))
}

/// An optional id: empty means none.
pub fn optional_id(raw: &str) -> Result<Option<Uuid>, &'static str> {
    if raw.is_empty() {
        Ok(None)
    } else {
        Uuid::parse_str(raw).map(Some).map_err(|_| "must be a UUID")
    }
}

/// A required id given in a body field.
pub fn required_id(raw: &str) -> Result<Uuid, &'static str> {
    optional_id(raw)?.ok_or("is required")
}

/// An optional non-negative amount; violations name the google.type.Money sub-field.
pub fn parse_amount(
    field: &str,
    money: Option<&PbMoney>,
    v: &mut Violations,
) -> Option<Option<Money>> {
    let Some(money) = money else {
        return Some(None);
    };
    match Money::parse_non_negative(&money.currency_code, money.units, money.nanos) {
        Ok(parsed) => Some(Some(parsed)),
        Err(error) => {
            v.add(format!("{field}.{}", error.field()), error.to_string());
            None
        }
    }
}

/// The field-mask paths, refusing an empty mask (AIP-134: say what to change); `*` means every
/// updatable field.
pub fn mask_paths(mask: Option<prost_types::FieldMask>, allowed: &[&str]) -> Result<Vec<String>> {
    let paths = mask.map(|m| m.paths).unwrap_or_default();
    if paths.is_empty() {
        return Err(Error::invalid(
            "update_mask",
            "is required and must name the fields to update",
        ));
    }
    if paths.iter().any(|p| p == "*") {
        return Ok(allowed.iter().map(|p| (*p).to_owned()).collect());
    }
    let violations: Vec<FieldViolation> = paths
        .iter()
        .filter(|p| !allowed.contains(&p.as_str()))
        .map(|p| {
            FieldViolation::new(
                "update_mask",
                format!("cannot update {p:?}; updatable: {}", allowed.join(", ")),
            )
        })
        .collect();
    if violations.is_empty() {
        Ok(paths)
    } else {
        Err(violations.into())
    }
}

/// A validated List request and the page tokens of its query.
pub struct ListRequest {
    pub query: ListQuery,
    pub pages: PageToken,
}

impl ListRequest {
    /// Validates paging, filter and order; a page token is accepted only for the same listing,
    /// filter and order it was issued for.
    pub fn parse(
        listing: &'static Listing,
        page_size: i32,
        page_token: &str,
        filter: &str,
        order_by: &str,
    ) -> Result<Self> {
        Self::parse_with(listing, page_size, page_token, filter, order_by, false)
    }

    /// Like [`ListRequest::parse`], for records with custom fields: `custom.<key>` may appear in
    /// the filter (the store types it with the key's definition).
    pub fn parse_with_custom(
        listing: &'static Listing,
        page_size: i32,
        page_token: &str,
        filter: &str,
        order_by: &str,
    ) -> Result<Self> {
        Self::parse_with(listing, page_size, page_token, filter, order_by, true)
    }

    fn parse_with(
        listing: &'static Listing,
        page_size: i32,
        page_token: &str,
        filter: &str,
        order_by: &str,
        allow_custom: bool,
    ) -> Result<Self> {
        let mut v = Violations::new();
        let page_size = v.check("page_size", PageSize::parse(page_size));
        let filter_condition = v.check(
            "filter",
            crate::filter::parse_with(filter, listing.fields, allow_custom),
        );
        let order = v.check("order_by", listing.parse_order(order_by));
        v.finish()?;
        let (Some(page_size), Some(filter_condition), Some(order)) =
            (page_size, filter_condition, order)
        else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        let normalized_order = order_by.split_whitespace().collect::<Vec<_>>().join(" ");
        let pages = PageToken::for_query(&format!(
            "{}|{}|{}",
            listing.resource,
            filter.trim(),
            normalized_order
        ));
        let after: Option<Cursor> = pages
            .decode(page_token)
            .map_err(|e| Error::invalid("page_token", e.to_string()))?;
        if after.as_ref().is_some_and(|c| !c.key.fits(order.key.kind)) {
            return Err(Error::invalid("page_token", "page_token is malformed"));
        }
        Ok(Self {
            query: ListQuery {
                filter: filter_condition,
                order,
                after,
                page_size: page_size.get(),
            },
            pages,
        })
    }

    pub fn next_page_token(&self, next: Option<Cursor>) -> String {
        next.map(|cursor| self.pages.encode(&cursor))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::leads::LISTING;

    fn fields(error: Error) -> Vec<String> {
        match error {
            Error::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn list_requests_name_every_bad_parameter() {
        let error = ListRequest::parse(&LISTING, -1, "", "shoe_size = 9", "password")
            .err()
            .expect("invalid");
        assert_eq!(fields(error), ["page_size", "filter", "order_by"]);
    }

    #[test]
    fn filter_errors_carry_the_position() {
        let error = ListRequest::parse(&LISTING, 10, "", "status = LEAD_STATUS_NEW AND (", "")
            .err()
            .expect("invalid");
        let Error::InvalidArgument(violations) = error else {
            panic!("expected InvalidArgument");
        };
        assert_eq!(violations[0].field, "filter");
        assert!(
            violations[0].description.starts_with("at position 30:"),
            "{}",
            violations[0].description
        );
    }

    #[test]
    fn page_tokens_only_continue_their_own_query() {
        let first = ListRequest::parse(&LISTING, 10, "", "score > 5", "score desc").expect("valid");
        let token = first.next_page_token(Some(Cursor {
            key: crate::listing::KeyValue::Int(7),
            id: Uuid::now_v7(),
        }));
        assert!(ListRequest::parse(&LISTING, 10, &token, "score > 5", " score   desc ").is_ok());
        let other_filter = ListRequest::parse(&LISTING, 10, &token, "score > 6", "score desc");
        assert_eq!(fields(other_filter.err().expect("refused")), ["page_token"]);
        let other_order = ListRequest::parse(&LISTING, 10, &token, "score > 5", "score");
        assert_eq!(fields(other_order.err().expect("refused")), ["page_token"]);
        let mut tampered = token.clone();
        tampered.replace_range(5..6, if &token[5..6] == "A" { "B" } else { "A" });
        let tampered = ListRequest::parse(&LISTING, 10, &tampered, "score > 5", "score desc");
        assert_eq!(fields(tampered.err().expect("refused")), ["page_token"]);
    }

    #[test]
    fn money_violations_name_the_sub_field() {
        let mut v = Violations::new();
        let amount = PbMoney {
            currency_code: "EURO".into(),
            units: 1,
            nanos: 0,
        };
        assert_eq!(
            parse_amount("opportunity.amount", Some(&amount), &mut v),
            None
        );
        assert_eq!(parse_amount("x", None, &mut v), Some(None));
        let violations = v.finish().expect_err("invalid");
        assert_eq!(violations[0].field, "opportunity.amount.currency_code");
    }
}

/// Requests for handler unit tests.
#[cfg(test)]
pub(crate) mod test_requests {
    use tonic::Request;
    use uuid::Uuid;

    use crate::domain::visibility::Viewer;

    /// A request as the token interceptor leaves it: carrying `viewer` in `role`.
    pub fn request_as<T>(viewer: Viewer, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .extensions_mut()
            .insert(auth::Caller::User(auth::RequestContext {
                tenant_id: viewer.tenant_id,
                user_id: viewer.user_id,
                role: viewer.role,
                extra_permissions: Default::default(),
                token_id: Uuid::now_v7(),
                expires_at: i64::MAX,
            }));
        request
    }
}
