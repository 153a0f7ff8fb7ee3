//! Custom fields that last: definitions updated without losing stored values (and refused, with
//! the number of records, when stored values would not fit), the newer types (multi-select,
//! currency, URL, email, phone, lookup) and default values.

use std::collections::HashMap;

use prost_types::value::Kind;
use proto::crm as pb;
use tonic::Code;

use crate::custom_fields::{
    client, create_lead, define, filtered, lead_field, number, text, values,
};
use crate::helpers::{As, Db, assert_invalid, team, violation_description};

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

async fn update(
    user: &As,
    definition: pb::CustomFieldDefinition,
    paths: &[&str],
    renames: &[(&str, &str)],
) -> Result<pb::CustomFieldDefinition, tonic::Status> {
    Ok(client(user)
        .update_custom_field_definition(
            user.req(pb::UpdateCustomFieldDefinitionRequest {
                definition: Some(definition),
                update_mask: mask(paths),
                option_renames: renames
                    .iter()
                    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                    .collect(),
            }),
        )
        .await?
        .into_inner())
}

async fn definition(user: &As, key: &str) -> pb::CustomFieldDefinition {
    client(user)
        .list_custom_field_definitions(user.req(pb::ListCustomFieldDefinitionsRequest::default()))
        .await
        .expect("listed")
        .into_inner()
        .definitions
        .into_iter()
        .find(|d| d.key == key)
        .expect("defined")
}

fn list(items: &[&str]) -> prost_types::Value {
    prost_types::Value {
        kind: Some(Kind::ListValue(prost_types::ListValue {
            values: items.iter().map(|s| text(s)).collect(),
        })),
    }
}

fn object(fields: &[(&str, prost_types::Value)]) -> prost_types::Value {
    prost_types::Value {
        kind: Some(Kind::StructValue(prost_types::Struct {
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        })),
    }
}

fn money(code: &str, units: f64, nanos: f64) -> prost_types::Value {
    object(&[
        ("currency_code", text(code)),
        ("units", number(units)),
        ("nanos", number(nanos)),
    ])
}

async fn tier_of(user: &As, id: &str) -> Option<prost_types::Value> {
    user.leads()
        .get_lead(user.req(pb::GetLeadRequest {
            id: id.to_owned(),
            read_mask: None,
        }))
        .await
        .expect("read")
        .into_inner()
        .custom_fields
        .remove("tier")
}

#[tokio::test]
async fn definitions_change_without_losing_stored_values() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let mut tier = lead_field("tier", pb::CustomFieldType::Picklist);
    tier.options = vec!["gold".into(), "silver".into(), "bronze".into()];
    let tier = define(&t.admin, tier).await.expect("defined");
    let mut leads = HashMap::new();
    for (name, value) in [
        ("Au", "gold"),
        ("Ag", "silver"),
        ("Cu1", "bronze"),
        ("Cu2", "bronze"),
    ] {
        let lead = create_lead(&t.rep, name, values(&[("tier", text(value))]))
            .await
            .expect("lead created");
        leads.insert(name, lead);
    }
    let none = create_lead(&t.rep, "None", values(&[]))
        .await
        .expect("lead without a tier");

    // Label and help text: the values stay as they are.
    let relabelled = update(
        &t.admin,
        pb::CustomFieldDefinition {
            id: tier.id.clone(),
            label: "Customer tier".into(),
            help_text: "From the yearly review".into(),
            ..Default::default()
        },
        &["label", "help_text"],
        &[],
    )
    .await
    .expect("relabelled");
    assert_eq!(relabelled.label, "Customer tier");
    assert_eq!(relabelled.help_text, "From the yearly review");
    assert_eq!(relabelled.options, tier.options);
    assert_eq!(tier_of(&t.rep, &leads["Ag"].id).await, Some(text("silver")));

    // Retiring an option two records hold is refused with their number; nothing changes.
    let retire = pb::CustomFieldDefinition {
        id: tier.id.clone(),
        options: vec!["gold".into(), "silver".into()],
        ..Default::default()
    };
    let status = update(&t.admin, retire.clone(), &["options"], &[])
        .await
        .expect_err("bronze is in use");
    assert_invalid(&status, &["definition.options"]);
    let description = violation_description(&status);
    assert!(
        description.contains("the values of 2 records"),
        "{description}"
    );
    assert_eq!(definition(&t.admin, "tier").await.options.len(), 3);
    assert_eq!(
        tier_of(&t.rep, &leads["Cu1"].id).await,
        Some(text("bronze"))
    );

    // Renaming rewrites the stored values in the same step; filters follow.
    let renamed = update(
        &t.admin,
        pb::CustomFieldDefinition {
            id: tier.id.clone(),
            ..Default::default()
        },
        &[],
        &[("silver", "platinum")],
    )
    .await
    .expect("renamed in place");
    assert_eq!(renamed.options, ["gold", "platinum", "bronze"]);
    let added = update(
        &t.admin,
        pb::CustomFieldDefinition {
            id: tier.id.clone(),
            options: vec![
                "gold".into(),
                "platinum".into(),
                "bronze".into(),
                "tin".into(),
            ],
            ..Default::default()
        },
        &["options"],
        &[],
    )
    .await
    .expect("option added");
    assert_eq!(added.options, ["gold", "platinum", "bronze", "tin"]);
    assert_eq!(
        tier_of(&t.rep, &leads["Ag"].id).await,
        Some(text("platinum"))
    );
    assert_eq!(
        filtered(&t.rep, "custom.tier = platinum")
            .await
            .expect("filtered"),
        ["Ag"]
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM leads WHERE tenant_id = $1 AND custom_fields->>'tier' = 'silver'",
            t.tenant_id
        )
        .await,
        0
    );

    // Once no record holds it, the option retires.
    for name in ["Cu1", "Cu2"] {
        let mut lead = leads[name].clone();
        lead.custom_fields = values(&[("tier", text("tin"))]);
        t.rep
            .leads()
            .update_lead(t.rep.req(pb::UpdateLeadRequest {
                lead: Some(lead),
                update_mask: mask(&["custom_fields"]),
            }))
            .await
            .expect("moved to tin");
    }
    let retired = update(
        &t.admin,
        pb::CustomFieldDefinition {
            id: tier.id.clone(),
            options: vec!["gold".into(), "platinum".into(), "tin".into()],
            ..Default::default()
        },
        &["options"],
        &[],
    )
    .await
    .expect("bronze retired");
    assert_eq!(retired.options, ["gold", "platinum", "tin"]);
    let status = create_lead(&t.rep, "Late", values(&[("tier", text("bronze"))]))
        .await
        .expect_err("a retired option is not accepted");
    assert_invalid(&status, &["custom_fields.tier"]);

    // Required while a record has no value: refused with the count; with one, accepted.
    let required = pb::CustomFieldDefinition {
        id: tier.id.clone(),
        required: true,
        ..Default::default()
    };
    let status = update(&t.admin, required.clone(), &["required"], &[])
        .await
        .expect_err("one lead has no tier");
    assert_invalid(&status, &["definition.required"]);
    assert!(violation_description(&status).starts_with("1 record has no value"));
    let mut filled = none.clone();
    filled.custom_fields = values(&[("tier", text("gold"))]);
    t.rep
        .leads()
        .update_lead(t.rep.req(pb::UpdateLeadRequest {
            lead: Some(filled),
            update_mask: mask(&["custom_fields"]),
        }))
        .await
        .expect("tier given");
    let now_required = update(&t.admin, required, &["required"], &[])
        .await
        .expect("every lead has a tier");
    assert!(now_required.required);

    // Bad patches: unknown renames, immutable settings, unknown ids, reps.
    let status = update(
        &t.admin,
        pb::CustomFieldDefinition {
            id: tier.id.clone(),
            ..Default::default()
        },
        &["label"],
        &[("silver", "gold")],
    )
    .await
    .expect_err("silver is gone");
    assert_invalid(&status, &["option_renames[silver]", "definition.label"]);
    let status = update(&t.admin, tier.clone(), &["key", "type"], &[])
        .await
        .expect_err("key and type are fixed");
    assert_invalid(&status, &["update_mask", "update_mask"]);
    let status = update(
        &t.admin,
        pb::CustomFieldDefinition {
            id: uuid::Uuid::now_v7().to_string(),
            label: "X".into(),
            ..Default::default()
        },
        &["label"],
        &[],
    )
    .await
    .expect_err("no such definition");
    assert_eq!(status.code(), Code::NotFound);
    let status = update(&t.rep, relabelled, &["label"], &[])
        .await
        .expect_err("reps do not change definitions");
    assert_eq!(status.code(), Code::PermissionDenied);

    assert!(
        db.outbox_types(t.tenant_id)
            .await
            .contains(&"crm.custom_field.updated".to_owned())
    );
}

#[tokio::test]
async fn number_bounds_tighten_only_around_stored_values() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let seats = define(&t.admin, lead_field("seats", pb::CustomFieldType::Number))
        .await
        .expect("defined");
    for (name, n) in [("Few", 3.0), ("Many", 300.0)] {
        create_lead(&t.rep, name, values(&[("seats", number(n))]))
            .await
            .expect("created");
    }
    // A deleted record holding a value outside the bound is not counted.
    let gone = create_lead(&t.rep, "Gone", values(&[("seats", number(900.0))]))
        .await
        .expect("created");
    t.rep
        .leads()
        .delete_lead(t.rep.req(pb::DeleteLeadRequest { id: gone.id }))
        .await
        .expect("deleted");

    let status = update(
        &t.admin,
        pb::CustomFieldDefinition {
            id: seats.id.clone(),
            max: Some(100.0),
            ..Default::default()
        },
        &["max"],
        &[],
    )
    .await
    .expect_err("Many has 300");
    assert_invalid(&status, &["definition.max"]);
    assert!(violation_description(&status).contains("the values of 1 record "));

    let bounded = update(
        &t.admin,
        pb::CustomFieldDefinition {
            id: seats.id.clone(),
            min: Some(1.0),
            max: Some(500.0),
            ..Default::default()
        },
        &["min", "max"],
        &[],
    )
    .await
    .expect("both fit");
    assert_eq!((bounded.min, bounded.max), (Some(1.0), Some(500.0)));
    let status = create_lead(&t.rep, "Zero", values(&[("seats", number(0.0))]))
        .await
        .expect_err("below the new minimum");
    assert_invalid(&status, &["custom_fields.seats"]);
}

#[tokio::test]
async fn newer_types_are_typed_and_defaults_fill_new_records() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let other = team(&crm, &db).await;

    let mut tags = lead_field("tags", pb::CustomFieldType::MultiPicklist);
    tags.options = vec!["hot".into(), "partner".into(), "renewal".into()];
    tags.default_value = Some(list(&["hot"]));
    let mut budget = lead_field("budget", pb::CustomFieldType::Currency);
    budget.currency_code = "EUR".into();
    let mut partner = lead_field("partner", pb::CustomFieldType::Lookup);
    partner.lookup_record_type = pb::RecordType::Account.into();
    for d in [
        tags,
        budget,
        partner,
        lead_field("site", pb::CustomFieldType::Url),
        lead_field("billing", pb::CustomFieldType::Email),
        lead_field("hotline", pb::CustomFieldType::Phone),
    ] {
        define(&t.admin, d).await.expect("defined");
    }

    // Definitions of the newer types are checked too.
    let mut lookup = lead_field("owner_account", pb::CustomFieldType::Lookup);
    lookup.default_value = Some(text("x"));
    let mut bad_default = lead_field("stage", pb::CustomFieldType::Picklist);
    bad_default.options = vec!["new".into()];
    bad_default.default_value = Some(text("old"));
    for (d, field) in [
        (lookup, "definition.lookup_record_type"),
        (bad_default, "definition.default_value"),
    ] {
        let status = define(&t.admin, d).await.expect_err(field);
        assert_invalid(&status, &[field]);
    }

    let acme = t.admin.create_account("Acme").await;
    let lead = create_lead(
        &t.rep,
        "Typed",
        values(&[
            ("tags", list(&["renewal", "partner", "renewal"])),
            ("budget", money("EUR", 1200.0, 500_000_000.0)),
            ("partner", text(&acme.id)),
            ("site", text(" https://acme.example/about ")),
            ("billing", text("billing@acme.example")),
            ("hotline", text("+49 (30) 123-456")),
        ]),
    )
    .await
    .expect("valid values");
    assert_eq!(lead.custom_fields["tags"], list(&["partner", "renewal"]));
    assert_eq!(
        lead.custom_fields["budget"],
        money("EUR", 1200.0, 500_000_000.0)
    );
    assert_eq!(
        lead.custom_fields["site"],
        text("https://acme.example/about")
    );
    assert_eq!(lead.custom_fields["hotline"], text("+4930123456"));
    assert_eq!(lead.custom_fields["partner"], text(&acme.id));

    let defaulted = create_lead(&t.rep, "Defaulted", values(&[]))
        .await
        .expect("defaults apply");
    assert_eq!(defaulted.custom_fields["tags"], list(&["hot"]));
    assert_eq!(defaulted.custom_fields.len(), 1);

    assert_eq!(
        filtered(&t.rep, "custom.tags = partner").await.expect("ok"),
        ["Typed"]
    );
    assert_eq!(
        filtered(&t.rep, "custom.budget > 1000").await.expect("ok"),
        ["Typed"]
    );
    assert_eq!(
        filtered(&t.rep, &format!("custom.partner = {}", acme.id))
            .await
            .expect("ok"),
        ["Typed"]
    );

    // A lookup to another tenant's account, or to no account at all, names the field; nothing
    // is written.
    let theirs = other.admin.create_account("Theirs").await;
    for target in [theirs.id.clone(), uuid::Uuid::now_v7().to_string()] {
        let status = create_lead(&t.rep, "Dangling", values(&[("partner", text(&target))]))
            .await
            .expect_err("not an account of this tenant");
        assert_invalid(&status, &["custom_fields.partner"]);
        assert_eq!(
            violation_description(&status),
            format!("no account with id {target}")
        );
    }
    let status = create_lead(
        &t.rep,
        "Wrong",
        values(&[
            ("tags", list(&["cold"])),
            ("budget", money("USD", 10.0, 0.0)),
            ("site", text("acme.example")),
            ("billing", text("nobody")),
            ("hotline", text("030 123")),
            ("partner", text("acme")),
        ]),
    )
    .await
    .expect_err("every value is wrong");
    assert_invalid(
        &status,
        &[
            "custom_fields.billing",
            "custom_fields.budget",
            "custom_fields.hotline",
            "custom_fields.partner",
            "custom_fields.site",
            "custom_fields.tags",
        ],
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM leads WHERE tenant_id = $1",
            t.tenant_id
        )
        .await,
        2,
        "nothing half-written"
    );

    // A default changes for new records only.
    let tags = definition(&t.admin, "tags").await;
    update(
        &t.admin,
        pb::CustomFieldDefinition {
            id: tags.id,
            default_value: None,
            ..Default::default()
        },
        &["default_value"],
        &[],
    )
    .await
    .expect("default removed");
    let plain = create_lead(&t.rep, "Plain", values(&[]))
        .await
        .expect("no default");
    assert!(plain.custom_fields.is_empty());
    assert_eq!(
        filtered(&t.rep, "custom.tags = hot").await.expect("ok"),
        ["Defaulted"]
    );
}

/// A required custom field no longer fails every imported row: columns map to custom fields
/// (typed from the cell text), defaults fill the rest, and the export writes them back in the
/// same forms.
#[tokio::test]
async fn csv_imports_fill_and_exports_write_custom_fields() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let mut seats = lead_field("seats", pb::CustomFieldType::Number);
    seats.required = true;
    define(&t.admin, seats).await.expect("defined");
    let mut tier = lead_field("tier", pb::CustomFieldType::Picklist);
    tier.options = vec!["gold".into(), "silver".into()];
    tier.required = true;
    tier.default_value = Some(text("silver"));
    define(&t.admin, tier).await.expect("defined");
    let mut tags = lead_field("tags", pb::CustomFieldType::MultiPicklist);
    tags.options = vec!["hot".into(), "partner".into()];
    define(&t.admin, tags).await.expect("defined");
    let mut budget = lead_field("budget", pb::CustomFieldType::Currency);
    budget.currency_code = "EUR".into();
    define(&t.admin, budget).await.expect("defined");

    let csv = "Surname,Seats,Tier,custom.tags,Budget\n\
               Ada,12,gold,partner;hot,1200.50 EUR\n\
               Bob,3,,,\n\
               Cy,many,gold,,\n\
               Di,4,bronze,cold,10 USD\n";
    let report = crate::imports::import(
        &t.rep,
        pb::RecordType::Lead,
        &[
            ("Surname", "last_name"),
            ("Seats", "custom.seats"),
            ("Tier", "custom.tier"),
            ("Budget", "custom.budget"),
        ],
        false,
        csv,
        17,
    )
    .await
    .expect("imported");
    assert_eq!((report.created, report.rejected), (2, 2), "{report:?}");
    let errors: Vec<(i64, &str)> = report
        .errors
        .iter()
        .map(|e| (e.row, e.field.as_str()))
        .collect();
    assert_eq!(
        errors,
        [
            (4, "custom_fields.seats"),
            (5, "custom_fields.budget"),
            (5, "custom_fields.tags"),
            (5, "custom_fields.tier"),
        ]
    );

    let rows = crate::imports::export(&t.rep, pb::RecordType::Lead, "", "last_name")
        .await
        .expect("exported");
    let header = &rows[0];
    let column = |name: &str| {
        header
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("{name} in {header:?}"))
    };
    let cells = |row: &Vec<String>| {
        [
            "last_name",
            "custom.seats",
            "custom.tier",
            "custom.tags",
            "custom.budget",
        ]
        .map(|c| row[column(c)].clone())
    };
    assert_eq!(
        cells(&rows[1]),
        ["Ada", "12", "gold", "hot;partner", "1200.5 EUR"]
    );
    assert_eq!(cells(&rows[2]), ["Bob", "3", "silver", "", ""]);

    // A mapping to something that is neither a field nor custom.<key> is refused up front.
    let status = crate::imports::import(
        &t.rep,
        pb::RecordType::Lead,
        &[("Surname", "last_name"), ("Seats", "custom.")],
        false,
        csv,
        64,
    )
    .await
    .expect_err("custom. without a key");
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn cases_carry_custom_fields() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let mut cause = lead_field("cause", pb::CustomFieldType::Picklist);
    cause.record_type = pb::RecordType::Case.into();
    cause.options = vec!["hardware".into(), "software".into()];
    cause.required = true;
    let cause = define(&t.admin, cause).await.expect("case field");
    let cases = || pb::case_service_client::CaseServiceClient::new(t.support.channel());
    let new_case = |subject: &str, custom_fields| pb::CreateCaseRequest {
        case: Some(pb::Case {
            subject: subject.to_owned(),
            custom_fields,
            ..Default::default()
        }),
    };

    let status = cases()
        .create_case(t.support.req(new_case("No cause", values(&[]))))
        .await
        .expect_err("cause is required");
    assert_invalid(&status, &["case.custom_fields.cause"]);
    let case = cases()
        .create_case(t.support.req(new_case(
            "Printer on fire",
            values(&[("cause", text("hardware"))]),
        )))
        .await
        .expect("created")
        .into_inner();
    assert_eq!(case.custom_fields["cause"], text("hardware"));

    let mut changed = case.clone();
    changed.custom_fields = values(&[("cause", text("software"))]);
    let updated = cases()
        .update_case(t.support.req(pb::UpdateCaseRequest {
            case: Some(changed),
            update_mask: mask(&["custom_fields"]),
        }))
        .await
        .expect("updated")
        .into_inner();
    assert_eq!(updated.custom_fields["cause"], text("software"));
    let listed = cases()
        .list_cases(t.support.req(pb::ListCasesRequest {
            filter: "custom.cause = software".into(),
            ..Default::default()
        }))
        .await
        .expect("listed")
        .into_inner()
        .cases;
    assert_eq!(listed.len(), 1);

    // Retiring the option the case holds is refused, as for any record type.
    let status = update(
        &t.admin,
        pb::CustomFieldDefinition {
            id: cause.id,
            options: vec!["hardware".into()],
            ..Default::default()
        },
        &["options"],
        &[],
    )
    .await
    .expect_err("software is in use");
    assert_invalid(&status, &["definition.options"]);
}

/// The tenant maps lead fields to the fields of the records a conversion creates; a mapped value
/// the target refuses stops the whole conversion.
#[tokio::test]
async fn lead_conversion_copies_mapped_custom_fields() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let target = |record_type: pb::RecordType, key: &str, t: pb::CustomFieldType| {
        pb::CustomFieldDefinition {
            record_type: record_type.into(),
            ..lead_field(key, t)
        }
    };
    let mut segment = target(
        pb::RecordType::Account,
        "segment",
        pb::CustomFieldType::Picklist,
    );
    segment.options = vec!["smb".into(), "enterprise".into()];
    define(&t.admin, segment).await.expect("account field");
    define(
        &t.admin,
        target(
            pb::RecordType::Opportunity,
            "seats",
            pb::CustomFieldType::Number,
        ),
    )
    .await
    .expect("opportunity field");

    // Targets must exist and be of the same type.
    let mut wrong = lead_field("size", pb::CustomFieldType::Text);
    wrong.conversion_targets = Some(pb::LeadConversionTargets {
        account_key: "nothing".into(),
        opportunity_key: "seats".into(),
        ..Default::default()
    });
    let status = define(&t.admin, wrong).await.expect_err("bad targets");
    assert_invalid(
        &status,
        &[
            "definition.conversion_targets.account_key",
            "definition.conversion_targets.opportunity_key",
        ],
    );

    let mut lead_segment = lead_field("segment", pb::CustomFieldType::Picklist);
    lead_segment.options = vec!["smb".into(), "enterprise".into(), "public".into()];
    lead_segment.conversion_targets = Some(pb::LeadConversionTargets {
        account_key: "segment".into(),
        ..Default::default()
    });
    define(&t.admin, lead_segment)
        .await
        .expect("mapped to the account");
    let mut licences = lead_field("licences", pb::CustomFieldType::Number);
    licences.conversion_targets = Some(pb::LeadConversionTargets {
        opportunity_key: "seats".into(),
        ..Default::default()
    });
    let licences = define(&t.admin, licences)
        .await
        .expect("mapped to the deal");
    assert_eq!(
        licences
            .conversion_targets
            .as_ref()
            .map(|c| c.opportunity_key.as_str()),
        Some("seats")
    );

    let convert = |id: &str| pb::ConvertLeadRequest {
        id: id.to_owned(),
        create_opportunity: true,
        ..Default::default()
    };
    let lead = create_lead(
        &t.rep,
        "Mapped",
        values(&[("segment", text("enterprise")), ("licences", number(40.0))]),
    )
    .await
    .expect("lead");
    let converted = t
        .rep
        .leads()
        .convert_lead(t.rep.req(convert(&lead.id)))
        .await
        .expect("converted")
        .into_inner();
    let account = converted.account.expect("account");
    assert_eq!(account.custom_fields["segment"], text("enterprise"));
    let deal = converted.opportunity.expect("deal");
    assert_eq!(deal.custom_fields["seats"], number(40.0));
    assert!(converted.contact.expect("contact").custom_fields.is_empty());

    // "public" is no account segment: nothing is converted, the field is named.
    let lead = create_lead(&t.rep, "Public", values(&[("segment", text("public"))]))
        .await
        .expect("lead");
    let status = t
        .rep
        .leads()
        .convert_lead(t.rep.req(convert(&lead.id)))
        .await
        .expect_err("the account refuses public");
    assert_invalid(&status, &["account.custom_fields.segment"]);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM accounts WHERE tenant_id = $1",
            t.tenant_id
        )
        .await,
        1,
        "nothing half-written"
    );

    // Deleting a target clears the mapping: the lead value stays on the lead only.
    let seats = definition(&t.admin, "seats").await;
    client(&t.admin)
        .delete_custom_field_definition(
            t.admin
                .req(pb::DeleteCustomFieldDefinitionRequest { id: seats.id }),
        )
        .await
        .expect("deleted");
    let licences = definition(&t.admin, "licences").await;
    assert_eq!(licences.conversion_targets, None);
}
