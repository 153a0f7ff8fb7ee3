//! AccountService.

use std::sync::Arc;

use auth::permissions::{CRM_RECORDS_READ, CRM_RECORDS_WRITE};
use proto::crm as pb;
use tonic::{Request, Response, Status};

use super::read_mask::ReadMask;
use super::{ListRequest, mask_paths, optional_id, parse_amount, parse_id, required_id, viewer};
use crate::convert;
use crate::domain::Violations;
use crate::domain::account::{
    AccountBasics, AccountData, AccountPatch, Address, MAX_NAME_LEN, MAX_TEXT_LEN,
    parse_employee_count,
};
use crate::domain::duplicates::Probe;
use crate::domain::record_fields::ACCOUNTS;
use crate::domain::visibility::Viewer;
use crate::domain::{country, text, web_domain};
use crate::error::{Error, Result};
use crate::store::accounts::{AccountStore, LISTING};

pub struct AccountApi {
    store: Arc<dyn AccountStore>,
}

impl AccountApi {
    pub fn new(store: Arc<dyn AccountStore>) -> Self {
        Self { store }
    }

    /// The validated record of a create request (also one row of an import).
    pub(crate) fn parse_create(viewer: Viewer, r: pb::CreateAccountRequest) -> Result<AccountData> {
        let a = r
            .account
            .ok_or_else(|| Error::invalid("account", "is required"))?;
        let mut v = Violations::new();
        let basics = AccountBasics::parse(
            &a.name,
            &a.domain,
            &a.industry,
            a.employee_count,
            "account.",
            &mut v,
        );
        let annual_revenue =
            parse_amount("account.annual_revenue", a.annual_revenue.as_ref(), &mut v);
        let billing = parse_address(
            "account.billing_address",
            a.billing_address.as_ref(),
            &mut v,
        );
        let shipping = parse_address(
            "account.shipping_address",
            a.shipping_address.as_ref(),
            &mut v,
        );
        let parent = v.check(
            "account.parent_account_id",
            optional_id(&a.parent_account_id),
        );
        let owner = v.check("account.owner_id", optional_id(&a.owner_id));
        let custom_values = v.check_all(convert::custom_values_from_pb(
            &a.custom_fields,
            "account.custom_fields.",
        ));
        v.finish()?;
        let (
            Some(basics),
            Some(annual_revenue),
            Some(billing_address),
            Some(shipping_address),
            Some(parent_account_id),
            Some(owner),
            Some(custom_values),
        ) = (
            basics,
            annual_revenue,
            billing,
            shipping,
            parent,
            owner,
            custom_values,
        )
        else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        Ok(AccountData {
            annual_revenue,
            billing_address,
            shipping_address,
            parent_account_id,
            custom_fields: custom_values,
            ..basics.into_data(owner.unwrap_or(viewer.user_id))
        })
    }

    async fn create(&self, viewer: Viewer, r: pb::CreateAccountRequest) -> Result<pb::Account> {
        let force = r.force;
        let data = Self::parse_create(viewer, r)?;
        let probe = (!force).then(|| Probe::account(&data));
        let record = self
            .store
            .create_account(viewer, data, probe)
            .await
            .map_err(|e| e.prefixed("account."))?;
        Ok(convert::account_to_pb(record))
    }

    async fn update(&self, viewer: Viewer, r: pb::UpdateAccountRequest) -> Result<pb::Account> {
        let paths = mask_paths(r.update_mask, &ACCOUNTS.updatable())?;
        let a = r
            .account
            .ok_or_else(|| Error::invalid("account", "is required"))?;
        let id = parse_id("account.id", &a.id)?;
        let mut v = Violations::new();
        let mut patch = AccountPatch::default();
        for path in &paths {
            match path.as_str() {
                "name" => {
                    patch.name = v.check("account.name", text::required(&a.name, MAX_NAME_LEN))
                }
                "domain" => {
                    patch.domain = v.check("account.domain", web_domain::parse_optional(&a.domain))
                }
                "industry" => {
                    patch.industry = v.check(
                        "account.industry",
                        text::optional(&a.industry, MAX_TEXT_LEN),
                    )
                }
                "employee_count" => {
                    patch.employee_count = v.check(
                        "account.employee_count",
                        parse_employee_count(a.employee_count),
                    )
                }
                "annual_revenue" => {
                    patch.annual_revenue =
                        parse_amount("account.annual_revenue", a.annual_revenue.as_ref(), &mut v)
                }
                "billing_address" => {
                    patch.billing_address = parse_address(
                        "account.billing_address",
                        a.billing_address.as_ref(),
                        &mut v,
                    )
                }
                "shipping_address" => {
                    patch.shipping_address = parse_address(
                        "account.shipping_address",
                        a.shipping_address.as_ref(),
                        &mut v,
                    )
                }
                "parent_account_id" => {
                    patch.parent_account_id = v.check(
                        "account.parent_account_id",
                        optional_id(&a.parent_account_id),
                    );
                    if patch.parent_account_id == Some(Some(id)) {
                        v.add(
                            "account.parent_account_id",
                            "an account cannot be its own parent",
                        );
                    }
                }
                "owner_id" => {
                    patch.owner_id = v.check("account.owner_id", required_id(&a.owner_id))
                }
                "custom_fields" => {
                    patch.custom_fields = v.check_all(convert::custom_values_from_pb(
                        &a.custom_fields,
                        "account.custom_fields.",
                    ))
                }
                _ => {}
            }
        }
        v.finish()?;
        let account = self
            .store
            .update_account(viewer, id, patch)
            .await
            .map_err(|e| e.prefixed("account."))?
            .ok_or(Error::NotFound("account"))?;
        Ok(convert::account_to_pb(account))
    }
}

/// An address; violations name `<field>.<part>`.
pub fn parse_address(
    field: &str,
    address: Option<&pb::Address>,
    v: &mut Violations,
) -> Option<Address> {
    let Some(a) = address else {
        return Some(Address::default());
    };
    let part = |name: &str| format!("{field}.{name}");
    let street = v.check(&part("street"), text::optional(&a.street, MAX_TEXT_LEN));
    let city = v.check(&part("city"), text::optional(&a.city, MAX_TEXT_LEN));
    let region = v.check(&part("region"), text::optional(&a.region, MAX_TEXT_LEN));
    let postal_code = v.check(&part("postal_code"), text::optional(&a.postal_code, 20));
    let country_code = v.check(
        &part("country_code"),
        country::parse_optional(&a.country_code),
    );
    Some(Address {
        street: street?,
        city: city?,
        region: region?,
        postal_code: postal_code?,
        country_code: country_code?,
    })
}

#[tonic::async_trait]
impl pb::account_service_server::AccountService for AccountApi {
    #[tracing::instrument(skip_all)]
    async fn create_account(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        Ok(Response::new(
            self.create(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let mask = ReadMask::<pb::Account>::parse(request.get_ref().read_mask.clone())?;
        let account = self
            .store
            .account(viewer, id)
            .await?
            .ok_or(Error::NotFound("account"))?;
        Ok(Response::new(mask.apply(convert::account_to_pb(account))?))
    }

    #[tracing::instrument(skip_all)]
    async fn list_accounts(
        &self,
        request: Request<pb::ListAccountsRequest>,
    ) -> Result<Response<pb::ListAccountsResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let r = request.into_inner();
        let list = ListRequest::parse_with_custom(
            &LISTING,
            r.page_size,
            &r.page_token,
            &r.filter,
            &r.order_by,
        )?;
        let mask = ReadMask::<pb::Account>::parse(r.read_mask)?;
        let page = self.store.list_accounts(viewer, list.query.clone()).await?;
        Ok(Response::new(pb::ListAccountsResponse {
            next_page_token: list.next_page_token(page.next),
            accounts: mask.apply_all(page.items.into_iter().map(convert::account_to_pb))?,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_account(
        &self,
        request: Request<pb::UpdateAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        Ok(Response::new(
            self.update(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_account(
        &self,
        request: Request<pb::DeleteAccountRequest>,
    ) -> Result<Response<()>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        let id = parse_id("id", &request.get_ref().id)?;
        if !self.store.delete_account(viewer, id).await? {
            return Err(Error::NotFound("account").into());
        }
        Ok(Response::new(()))
    }
}

#[cfg(test)]
mod tests {
    use crate::api::test_requests::request_as;
    use uuid::Uuid;

    use super::*;
    use crate::store::accounts::MockAccountStore;

    fn api(store: MockAccountStore) -> AccountApi {
        AccountApi::new(Arc::new(store))
    }

    fn viewer() -> Viewer {
        Viewer {
            tenant_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            role: auth::BuiltinRole::SalesRep,
        }
    }

    fn fields(error: Error) -> Vec<String> {
        match error {
            Error::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn create_names_every_bad_field_without_touching_the_store() {
        let mut store = MockAccountStore::new();
        store.expect_create_account().never();
        let error = api(store)
            .create(
                viewer(),
                pb::CreateAccountRequest {
                    // Forced: the store is asked to create without a duplicate probe.
                    force: true,
                    account: Some(pb::Account {
                        name: " ".into(),
                        domain: "https://acme.com".into(),
                        employee_count: -1,
                        annual_revenue: Some(proto::google::r#type::Money {
                            currency_code: "usd".into(),
                            units: 5,
                            nanos: 0,
                        }),
                        billing_address: Some(pb::Address {
                            country_code: "XX".into(),
                            ..Default::default()
                        }),
                        parent_account_id: "nope".into(),
                        owner_id: "nope".into(),
                        ..Default::default()
                    }),
                },
            )
            .await
            .expect_err("invalid");
        assert_eq!(
            fields(error),
            [
                "account.name",
                "account.domain",
                "account.employee_count",
                "account.annual_revenue.currency_code",
                "account.billing_address.country_code",
                "account.parent_account_id",
                "account.owner_id",
            ]
        );
    }

    #[tokio::test]
    async fn the_caller_owns_what_they_create_unless_told_otherwise() {
        let caller = viewer();
        let mut store = MockAccountStore::new();
        store
            .expect_create_account()
            .withf(move |v, data, duplicates| {
                *v == caller
                    && data.owner_id == caller.user_id
                    && data.name == "Acme"
                    && duplicates.is_none()
            })
            .returning(|_, data, _| {
                Ok(crate::domain::account::Account {
                    id: Uuid::now_v7(),
                    data,
                    created_at: chrono::Utc::now(),
                    updated_at: chrono::Utc::now(),
                })
            });
        let created = api(store)
            .create(
                caller,
                pb::CreateAccountRequest {
                    // Forced: the store is asked to create without a duplicate probe.
                    force: true,
                    account: Some(pb::Account {
                        name: "Acme".into(),
                        ..Default::default()
                    }),
                },
            )
            .await
            .expect("created");
        assert_eq!(created.owner_id, caller.user_id.to_string());
    }

    #[tokio::test]
    async fn store_violations_are_reported_under_the_account() {
        let mut store = MockAccountStore::new();
        store
            .expect_create_account()
            .returning(|_, _, _| Err(Error::invalid("owner_id", "no such user in this tenant")));
        let error = api(store)
            .create(
                viewer(),
                pb::CreateAccountRequest {
                    // Forced: the store is asked to create without a duplicate probe.
                    force: true,
                    account: Some(pb::Account {
                        name: "Acme".into(),
                        owner_id: Uuid::now_v7().to_string(),
                        ..Default::default()
                    }),
                },
            )
            .await
            .expect_err("refused");
        assert_eq!(fields(error), ["account.owner_id"]);
    }

    #[tokio::test]
    async fn an_account_missing_or_out_of_reach_is_not_found() {
        use pb::account_service_server::AccountService as _;
        let mut store = MockAccountStore::new();
        store.expect_account().times(1).returning(|_, _| Ok(None));
        store
            .expect_delete_account()
            .times(1)
            .returning(|_, _| Ok(false));
        let api = api(store);
        let id = Uuid::now_v7().to_string();
        let get = pb::GetAccountRequest {
            id: id.clone(),
            ..Default::default()
        };
        let status = api
            .get_account(request_as(viewer(), get))
            .await
            .expect_err("missing");
        assert_eq!(status.code(), tonic::Code::NotFound);
        let status = api
            .delete_account(request_as(viewer(), pb::DeleteAccountRequest { id }))
            .await
            .expect_err("missing");
        assert_eq!(status.code(), tonic::Code::NotFound);
    }

    #[tokio::test]
    async fn support_cannot_delete_accounts_and_the_store_is_never_asked() {
        use pb::account_service_server::AccountService as _;
        let mut store = MockAccountStore::new();
        store.expect_delete_account().never();
        let support = Viewer {
            role: auth::BuiltinRole::Support,
            ..viewer()
        };
        let request = pb::DeleteAccountRequest {
            id: Uuid::now_v7().to_string(),
        };
        let status = api(store)
            .delete_account(request_as(support, request))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
    }

    #[tokio::test]
    async fn a_malformed_id_never_reaches_the_store() {
        use pb::account_service_server::AccountService as _;
        let mut store = MockAccountStore::new();
        store.expect_account().never();
        let get = pb::GetAccountRequest {
            id: "acme".into(),
            ..Default::default()
        };
        let status = api(store)
            .get_account(request_as(viewer(), get))
            .await
            .expect_err("invalid");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }
}
