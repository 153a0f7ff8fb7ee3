//! Custom fields: definitions, validation of values on create and update, values on reads,
//! filters on `custom.<key>`.

use std::collections::HashMap;

use prost_types::value::Kind;
use proto::crm as pb;
use tonic::Code;

use crate::helpers::{As, Db, assert_invalid, team, violation_description};

pub(crate) fn client(
    user: &As,
) -> pb::custom_field_service_client::CustomFieldServiceClient<tonic::transport::Channel> {
    pb::custom_field_service_client::CustomFieldServiceClient::new(user.channel())
}

pub(crate) async fn define(
    user: &As,
    definition: pb::CustomFieldDefinition,
) -> Result<pb::CustomFieldDefinition, tonic::Status> {
    Ok(client(user)
        .create_custom_field_definition(user.req(pb::CreateCustomFieldDefinitionRequest {
            definition: Some(definition),
        }))
        .await?
        .into_inner())
}

pub(crate) fn lead_field(key: &str, t: pb::CustomFieldType) -> pb::CustomFieldDefinition {
    pb::CustomFieldDefinition {
        record_type: pb::RecordType::Lead.into(),
        key: key.to_owned(),
        label: key.to_uppercase(),
        r#type: t.into(),
        ..Default::default()
    }
}

pub(crate) fn text(s: &str) -> prost_types::Value {
    prost_types::Value {
        kind: Some(Kind::StringValue(s.to_owned())),
    }
}

pub(crate) fn number(n: f64) -> prost_types::Value {
    prost_types::Value {
        kind: Some(Kind::NumberValue(n)),
    }
}

pub(crate) fn boolean(b: bool) -> prost_types::Value {
    prost_types::Value {
        kind: Some(Kind::BoolValue(b)),
    }
}

pub(crate) fn values(items: &[(&str, prost_types::Value)]) -> HashMap<String, prost_types::Value> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

pub(crate) async fn create_lead(
    user: &As,
    last_name: &str,
    custom_fields: HashMap<String, prost_types::Value>,
) -> Result<pb::Lead, tonic::Status> {
    Ok(user
        .leads()
        .create_lead(user.req(pb::CreateLeadRequest {
            last_name: last_name.to_owned(),
            custom_fields,
            ..Default::default()
        }))
        .await?
        .into_inner())
}

pub(crate) async fn filtered(user: &As, filter: &str) -> Result<Vec<String>, tonic::Status> {
    let mut names: Vec<String> = user
        .leads()
        .list_leads(user.req(pb::ListLeadsRequest {
            filter: filter.to_owned(),
            ..Default::default()
        }))
        .await?
        .into_inner()
        .leads
        .into_iter()
        .map(|l| l.last_name)
        .collect();
    names.sort();
    Ok(names)
}

/// seats (number 1..=500, required), tier (picklist), renewal (date), vip (bool), region (text
/// of at most 5 characters).
async fn define_lead_fields(admin: &As) {
    let mut seats = lead_field("seats", pb::CustomFieldType::Number);
    seats.required = true;
    seats.min = Some(1.0);
    seats.max = Some(500.0);
    let mut tier = lead_field("tier", pb::CustomFieldType::Picklist);
    tier.options = vec!["gold".into(), "silver".into()];
    let mut region = lead_field("region", pb::CustomFieldType::Text);
    region.max_length = Some(5);
    for definition in [
        seats,
        tier,
        lead_field("renewal", pb::CustomFieldType::Date),
        lead_field("vip", pb::CustomFieldType::Bool),
        region,
    ] {
        define(admin, definition).await.expect("definition created");
    }
}

#[tokio::test]
async fn definitions_are_validated_and_admin_only() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;

    let created = define(&t.admin, lead_field("seats", pb::CustomFieldType::Number))
        .await
        .expect("created");
    assert_eq!(created.key, "seats");
    let again = define(&t.admin, lead_field("seats", pb::CustomFieldType::Text))
        .await
        .expect_err("duplicate key");
    assert_eq!(again.code(), Code::AlreadyExists);

    let denied = define(&t.rep, lead_field("tier", pb::CustomFieldType::Text))
        .await
        .expect_err("reps do not define fields");
    assert_eq!(denied.code(), Code::PermissionDenied);

    let mut bad = lead_field("Tier Level", pb::CustomFieldType::Picklist);
    bad.label = String::new();
    let status = define(&t.admin, bad).await.expect_err("invalid");
    assert_invalid(
        &status,
        &["definition.key", "definition.label", "definition.options"],
    );

    let listed = client(&t.rep)
        .list_custom_field_definitions(t.rep.req(pb::ListCustomFieldDefinitionsRequest {
            record_type: pb::RecordType::Lead.into(),
        }))
        .await
        .expect("listed")
        .into_inner()
        .definitions;
    assert_eq!(listed, std::slice::from_ref(&created));

    assert!(
        db.outbox_types(t.tenant_id)
            .await
            .contains(&"crm.custom_field.created".to_owned())
    );
}

#[tokio::test]
async fn values_are_checked_against_the_definitions() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    define_lead_fields(&t.admin).await;

    let missing = create_lead(&t.rep, "Nobody", values(&[]))
        .await
        .expect_err("seats is required");
    assert_invalid(&missing, &["custom_fields.seats"]);
    assert_eq!(violation_description(&missing), "is required");

    let bad = create_lead(
        &t.rep,
        "Wrong",
        values(&[
            ("seats", number(900.0)),
            ("tier", text("bronze")),
            ("renewal", text("31/12/2027")),
            ("vip", text("yes")),
            ("region", text("Europe")),
            ("colour", text("red")),
        ]),
    )
    .await
    .expect_err("every value is wrong");
    assert_invalid(
        &bad,
        &[
            "custom_fields.colour",
            "custom_fields.region",
            "custom_fields.renewal",
            "custom_fields.seats",
            "custom_fields.tier",
            "custom_fields.vip",
        ],
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM leads WHERE tenant_id = $1",
            t.tenant_id
        )
        .await,
        0,
        "nothing half-written"
    );

    let lead = create_lead(
        &t.rep,
        "Right",
        values(&[
            ("seats", number(120.0)),
            ("tier", text("gold")),
            ("renewal", text("2027-06-30")),
            ("vip", boolean(true)),
            ("region", text(" EMEA ")),
        ]),
    )
    .await
    .expect("valid values");
    assert_eq!(lead.custom_fields["region"], text("EMEA"));
    assert_eq!(lead.custom_fields["seats"], number(120.0));
    let read = t
        .rep
        .leads()
        .get_lead(t.rep.req(pb::GetLeadRequest {
            id: lead.id.clone(),
            read_mask: None,
        }))
        .await
        .expect("read")
        .into_inner();
    assert_eq!(read.custom_fields, lead.custom_fields);

    let mut changed = read.clone();
    changed.custom_fields = values(&[("seats", number(0.0)), ("tier", text("silver"))]);
    let status = t
        .rep
        .leads()
        .update_lead(t.rep.req(pb::UpdateLeadRequest {
            lead: Some(changed.clone()),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["custom_fields".into()],
            }),
        }))
        .await
        .expect_err("seats below the minimum");
    assert_invalid(&status, &["lead.custom_fields.seats"]);

    changed.custom_fields = values(&[("seats", number(7.0)), ("tier", text("silver"))]);
    let updated = t
        .rep
        .leads()
        .update_lead(t.rep.req(pb::UpdateLeadRequest {
            lead: Some(changed),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["custom_fields".into()],
            }),
        }))
        .await
        .expect("updated")
        .into_inner();
    assert_eq!(updated.custom_fields.len(), 2, "the map is replaced");
    assert_eq!(updated.custom_fields["tier"], text("silver"));
}

#[tokio::test]
async fn accounts_contacts_and_opportunities_carry_custom_fields_too() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let mut segment = pb::CustomFieldDefinition {
        record_type: pb::RecordType::Account.into(),
        ..lead_field("segment", pb::CustomFieldType::Picklist)
    };
    segment.required = true;
    segment.options = vec!["smb".into(), "enterprise".into()];
    define(&t.admin, segment).await.expect("account field");
    define(
        &t.admin,
        pb::CustomFieldDefinition {
            record_type: pb::RecordType::Contact.into(),
            ..lead_field("birthday", pb::CustomFieldType::Date)
        },
    )
    .await
    .expect("contact field");
    define(
        &t.admin,
        pb::CustomFieldDefinition {
            record_type: pb::RecordType::Opportunity.into(),
            ..lead_field("licenses", pb::CustomFieldType::Number)
        },
    )
    .await
    .expect("opportunity field");

    let account = |name: &str, custom_fields| pb::CreateAccountRequest {
        force: false,
        account: Some(pb::Account {
            name: name.to_owned(),
            custom_fields,
            ..Default::default()
        }),
    };
    let status = t
        .rep
        .accounts()
        .create_account(t.rep.req(account("Initech", values(&[]))))
        .await
        .expect_err("segment is required");
    assert_invalid(&status, &["account.custom_fields.segment"]);
    let created = t
        .rep
        .accounts()
        .create_account(t.rep.req(account(
            "Initech",
            values(&[("segment", text("enterprise"))]),
        )))
        .await
        .expect("account created")
        .into_inner();
    assert_eq!(created.custom_fields["segment"], text("enterprise"));

    let status = t
        .rep
        .contacts()
        .create_contact(t.rep.req(pb::CreateContactRequest {
            force: false,
            contact: Some(pb::Contact {
                last_name: "Lumbergh".into(),
                custom_fields: values(&[("birthday", text("1970-02-30"))]),
                ..Default::default()
            }),
        }))
        .await
        .expect_err("no such day");
    assert_invalid(&status, &["contact.custom_fields.birthday"]);

    for (name, licenses) in [("Small deal", 5.0), ("Big deal", 250.0)] {
        t.rep
            .opportunities()
            .create_opportunity(t.rep.req(pb::CreateOpportunityRequest {
                opportunity: Some(pb::Opportunity {
                    name: name.into(),
                    custom_fields: values(&[("licenses", number(licenses))]),
                    ..Default::default()
                }),
            }))
            .await
            .expect("opportunity created");
    }
    let big: Vec<String> = t
        .rep
        .opportunities()
        .list_opportunities(t.rep.req(pb::ListOpportunitiesRequest {
            filter: "custom.licenses > 100".into(),
            ..Default::default()
        }))
        .await
        .expect("listed")
        .into_inner()
        .opportunities
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(big, ["Big deal"]);
    let enterprise = t
        .rep
        .accounts()
        .list_accounts(t.rep.req(pb::ListAccountsRequest {
            filter: "custom.segment = enterprise".into(),
            ..Default::default()
        }))
        .await
        .expect("listed")
        .into_inner()
        .accounts;
    assert_eq!(enterprise.len(), 1);
}

#[tokio::test]
async fn lists_filter_on_typed_custom_values() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    define_lead_fields(&t.admin).await;
    for (name, seats, tier, renewal, vip) in [
        ("Small", 9.0, "silver", "2026-12-31", false),
        ("Medium", 80.0, "gold", "2027-03-01", false),
        ("Large", 400.0, "gold", "2028-01-15", true),
    ] {
        create_lead(
            &t.admin,
            name,
            values(&[
                ("seats", number(seats)),
                ("tier", text(tier)),
                ("renewal", text(renewal)),
                ("vip", boolean(vip)),
            ]),
        )
        .await
        .expect("lead created");
    }

    // Numeric, not textual: "80" > "400" as text, 80 < 400 as numbers.
    assert_eq!(
        filtered(&t.admin, "custom.seats >= 80").await.expect("ok"),
        ["Large", "Medium"]
    );
    assert_eq!(
        filtered(&t.admin, "custom.tier = gold AND custom.seats < 100")
            .await
            .expect("ok"),
        ["Medium"]
    );
    assert_eq!(
        filtered(&t.admin, "custom.renewal < 2027-06-01")
            .await
            .expect("ok"),
        ["Medium", "Small"]
    );
    assert_eq!(
        filtered(&t.admin, "custom.vip = true").await.expect("ok"),
        ["Large"]
    );
    assert_eq!(
        filtered(&t.admin, "custom.region != EMEA")
            .await
            .expect("ok"),
        ["Large", "Medium", "Small"],
        "records without the value differ from it"
    );

    for (filter, position) in [
        ("custom.colour = red", 0),
        ("custom.seats = many", 15),
        ("custom.tier = bronze", 14),
        ("custom.vip : true", 11),
    ] {
        let status = filtered(&t.admin, filter).await.expect_err(filter);
        assert_invalid(&status, &["filter"]);
        let description = violation_description(&status);
        assert!(
            description.starts_with(&format!("at position {position}:")),
            "{filter}: {description}"
        );
    }

    // Custom fields are per record type: accounts have no `seats`.
    let status = t
        .admin
        .accounts()
        .list_accounts(t.admin.req(pb::ListAccountsRequest {
            filter: "custom.seats > 1".into(),
            ..Default::default()
        }))
        .await
        .expect_err("unknown field");
    assert_invalid(&status, &["filter"]);

    // Deleting a definition takes its values with it.
    let definitions = client(&t.admin)
        .list_custom_field_definitions(
            t.admin
                .req(pb::ListCustomFieldDefinitionsRequest::default()),
        )
        .await
        .expect("listed")
        .into_inner()
        .definitions;
    let tier = definitions.iter().find(|d| d.key == "tier").expect("tier");
    client(&t.admin)
        .delete_custom_field_definition(t.admin.req(pb::DeleteCustomFieldDefinitionRequest {
            id: tier.id.clone(),
        }))
        .await
        .expect("deleted");
    assert_eq!(
        db.count(
            "SELECT count(*) FROM leads WHERE tenant_id = $1 AND custom_fields ? 'tier'",
            t.tenant_id
        )
        .await,
        0
    );
    let status = filtered(&t.admin, "custom.tier = gold")
        .await
        .expect_err("no longer defined");
    assert_invalid(&status, &["filter"]);
}

/// The service keeps definitions in memory (store/tenant_config.rs): a definition added, or
/// removed behind its back (as another replica would), governs the very next write.
#[tokio::test]
async fn the_next_write_checks_against_the_current_definitions() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let seats = || values(&[("seats", number(3.0))]);

    let status = create_lead(&t.rep, "Before", seats())
        .await
        .expect_err("no such field yet");
    assert_invalid(&status, &["custom_fields.seats"]);
    define(&t.admin, lead_field("seats", pb::CustomFieldType::Number))
        .await
        .expect("defined");
    create_lead(&t.rep, "During", seats())
        .await
        .expect("the new field is known at once");

    // Another replica's change: this service did not make it, and learns of it only from the
    // tenant's config version.
    sqlx::query("DELETE FROM custom_field_definitions WHERE tenant_id = $1 AND key = 'seats'")
        .bind(t.tenant_id)
        .execute(&db.pool)
        .await
        .expect("deleted elsewhere");
    let status = create_lead(&t.rep, "After", seats())
        .await
        .expect_err("the field is gone");
    assert_invalid(&status, &["custom_fields.seats"]);
}
