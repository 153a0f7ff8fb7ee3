//! ContactService.

use std::sync::Arc;

use auth::permissions::{CRM_RECORDS_READ, CRM_RECORDS_WRITE};
use proto::crm as pb;
use tonic::{Request, Response, Status};

use super::read_mask::ReadMask;
use super::{ListRequest, mask_paths, optional_id, parse_id, required_id, viewer};
use crate::convert;
use crate::domain::contact::{
    ConsentInput, ContactBasics, ContactPatch, MAX_NAME_LEN, MAX_SOURCE_LEN, MAX_TITLE_LEN,
    NewContact, parse_channels,
};
use crate::domain::duplicates::Probe;
use crate::domain::record_fields::CONTACTS;
use crate::domain::visibility::Viewer;
use crate::domain::{Email, PhoneE164, Violations, text};
use crate::error::{Error, Result};
use crate::store::contacts::{ContactStore, LISTING};

pub struct ContactApi {
    store: Arc<dyn ContactStore>,
}

fn consent(field: &str, consent: Option<&pb::Consent>, v: &mut Violations) -> Option<ConsentInput> {
    let Some(c) = consent else {
        return Some(ConsentInput::default());
    };
    let source = v.check(
        &format!("{field}.source"),
        text::optional(&c.source, MAX_SOURCE_LEN),
    )?;
    Some(ConsentInput {
        granted: c.granted,
        source,
    })
}

impl ContactApi {
    pub fn new(store: Arc<dyn ContactStore>) -> Self {
        Self { store }
    }

    /// The validated record of a create request (also one row of an import).
    pub(crate) fn parse_create(viewer: Viewer, r: pb::CreateContactRequest) -> Result<NewContact> {
        let c = r
            .contact
            .ok_or_else(|| Error::invalid("contact", "is required"))?;
        let mut v = Violations::new();
        let basics = ContactBasics::parse(
            &c.first_name,
            &c.last_name,
            &c.emails,
            &c.phones,
            &c.title,
            "contact.",
            &mut v,
        );
        let account_id = v.check("contact.account_id", optional_id(&c.account_id));
        let owner = v.check("contact.owner_id", optional_id(&c.owner_id));
        let email_consent = consent("contact.email_consent", c.email_consent.as_ref(), &mut v);
        let phone_consent = consent("contact.phone_consent", c.phone_consent.as_ref(), &mut v);
        let custom_values = v.check_all(convert::custom_values_from_pb(
            &c.custom_fields,
            "contact.custom_fields.",
        ));
        v.finish()?;
        let (
            Some(basics),
            Some(account_id),
            Some(owner),
            Some(email_consent),
            Some(phone_consent),
            Some(custom_values),
        ) = (
            basics,
            account_id,
            owner,
            email_consent,
            phone_consent,
            custom_values,
        )
        else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        Ok(NewContact {
            email_consent,
            phone_consent,
            custom_fields: custom_values,
            ..basics.into_new(account_id, owner.unwrap_or(viewer.user_id))
        })
    }

    async fn create(&self, viewer: Viewer, r: pb::CreateContactRequest) -> Result<pb::Contact> {
        let force = r.force;
        let data = Self::parse_create(viewer, r)?;
        let probe = (!force).then(|| Probe::contact(&data));
        let record = self
            .store
            .create_contact(viewer, data, probe)
            .await
            .map_err(|e| e.prefixed("contact."))?;
        Ok(convert::contact_to_pb(record))
    }

    async fn update(&self, viewer: Viewer, r: pb::UpdateContactRequest) -> Result<pb::Contact> {
        let paths = mask_paths(r.update_mask, &CONTACTS.updatable())?;
        let c = r
            .contact
            .ok_or_else(|| Error::invalid("contact", "is required"))?;
        let id = parse_id("contact.id", &c.id)?;
        let mut v = Violations::new();
        let mut patch = ContactPatch::default();
        for path in &paths {
            match path.as_str() {
                "first_name" => {
                    patch.first_name = v.check(
                        "contact.first_name",
                        text::optional(&c.first_name, MAX_NAME_LEN),
                    )
                }
                "last_name" => {
                    patch.last_name = v.check(
                        "contact.last_name",
                        text::required(&c.last_name, MAX_NAME_LEN),
                    )
                }
                "emails" => {
                    patch.emails =
                        v.check("contact.emails", parse_channels(&c.emails, Email::parse))
                }
                "phones" => {
                    patch.phones = v.check(
                        "contact.phones",
                        parse_channels(&c.phones, PhoneE164::parse),
                    )
                }
                "title" => {
                    patch.title = v.check("contact.title", text::optional(&c.title, MAX_TITLE_LEN))
                }
                "account_id" => {
                    patch.account_id = v.check("contact.account_id", optional_id(&c.account_id))
                }
                "owner_id" => {
                    patch.owner_id = v.check("contact.owner_id", required_id(&c.owner_id))
                }
                "custom_fields" => {
                    patch.custom_fields = v.check_all(convert::custom_values_from_pb(
                        &c.custom_fields,
                        "contact.custom_fields.",
                    ))
                }
                "email_consent" => {
                    patch.email_consent =
                        consent("contact.email_consent", c.email_consent.as_ref(), &mut v)
                }
                "phone_consent" => {
                    patch.phone_consent =
                        consent("contact.phone_consent", c.phone_consent.as_ref(), &mut v)
                }
                _ => {}
            }
        }
        v.finish()?;
        let contact = self
            .store
            .update_contact(viewer, id, patch)
            .await
            .map_err(|e| e.prefixed("contact."))?
            .ok_or(Error::NotFound("contact"))?;
        Ok(convert::contact_to_pb(contact))
    }
}

#[tonic::async_trait]
impl pb::contact_service_server::ContactService for ContactApi {
    #[tracing::instrument(skip_all)]
    async fn create_contact(
        &self,
        request: Request<pb::CreateContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        Ok(Response::new(
            self.create(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_contact(
        &self,
        request: Request<pb::GetContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let mask = ReadMask::<pb::Contact>::parse(request.get_ref().read_mask.clone())?;
        let contact = self
            .store
            .contact(viewer, id)
            .await?
            .ok_or(Error::NotFound("contact"))?;
        Ok(Response::new(mask.apply(convert::contact_to_pb(contact))?))
    }

    #[tracing::instrument(skip_all)]
    async fn list_contacts(
        &self,
        request: Request<pb::ListContactsRequest>,
    ) -> Result<Response<pb::ListContactsResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let r = request.into_inner();
        let list = ListRequest::parse_with_custom(
            &LISTING,
            r.page_size,
            &r.page_token,
            &r.filter,
            &r.order_by,
        )?;
        let mask = ReadMask::<pb::Contact>::parse(r.read_mask)?;
        let page = self.store.list_contacts(viewer, list.query.clone()).await?;
        Ok(Response::new(pb::ListContactsResponse {
            next_page_token: list.next_page_token(page.next),
            contacts: mask.apply_all(page.items.into_iter().map(convert::contact_to_pb))?,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_contact(
        &self,
        request: Request<pb::UpdateContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        Ok(Response::new(
            self.update(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_contact(
        &self,
        request: Request<pb::DeleteContactRequest>,
    ) -> Result<Response<()>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        let id = parse_id("id", &request.get_ref().id)?;
        if !self.store.delete_contact(viewer, id).await? {
            return Err(Error::NotFound("contact").into());
        }
        Ok(Response::new(()))
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::store::contacts::MockContactStore;

    #[tokio::test]
    async fn bad_emails_and_phones_name_the_entry() {
        let mut store = MockContactStore::new();
        store.expect_create_contact().never();
        let api = ContactApi::new(Arc::new(store));
        let error = api
            .create(
                Viewer {
                    tenant_id: Uuid::now_v7(),
                    user_id: Uuid::now_v7(),
                    role: auth::BuiltinRole::SalesRep,
                },
                pb::CreateContactRequest {
                    // Not about duplicates: skip the check (and the store call).
                    force: true,
                    contact: Some(pb::Contact {
                        last_name: "Lee".into(),
                        emails: vec!["ann@acme.test".into(), "not-an-email".into()],
                        phones: vec!["030 1234567".into()],
                        ..Default::default()
                    }),
                },
            )
            .await
            .expect_err("invalid");
        let Error::InvalidArgument(violations) = error else {
            panic!("expected InvalidArgument");
        };
        let named: Vec<(&str, &str)> = violations
            .iter()
            .map(|v| (v.field.as_str(), v.description.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("contact.emails", "entry 1 is not a valid email address"),
                (
                    "contact.phones",
                    "entry 0 must start with + and the country code (E.164, e.g. +4930123456)"
                ),
            ]
        );
    }
}
