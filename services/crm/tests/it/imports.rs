//! CSV import (row report, dedupe, events) and export (filtered, visibility-scoped, round trip).

use std::collections::HashMap;

use crm::domain::csv::RowReader;
use proto::crm as pb;
use tonic::Code;

use crate::helpers::{As, Db, team};

type Client =
    pb::import_export_service_client::ImportExportServiceClient<tonic::transport::Channel>;

fn client(user: &As) -> Client {
    pb::import_export_service_client::ImportExportServiceClient::new(user.channel())
}

/// Sends `csv` in chunks of `chunk` bytes (splitting rows anywhere).
pub(crate) async fn import(
    user: &As,
    record_type: pb::RecordType,
    mapping: &[(&str, &str)],
    skip_duplicates: bool,
    csv: &str,
    chunk: usize,
) -> Result<pb::ImportRecordsResponse, tonic::Status> {
    let mut messages = vec![pb::ImportRecordsRequest {
        part: Some(pb::import_records_request::Part::Options(
            pb::ImportOptions {
                record_type: record_type.into(),
                column_mapping: mapping
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                skip_duplicates,
            },
        )),
    }];
    messages.extend(
        csv.as_bytes()
            .chunks(chunk)
            .map(|c| pb::ImportRecordsRequest {
                part: Some(pb::import_records_request::Part::Chunk(c.to_vec())),
            }),
    );
    Ok(client(user)
        .import_records(user.req(futures::stream::iter(messages)))
        .await?
        .into_inner())
}

pub(crate) async fn export(
    user: &As,
    record_type: pb::RecordType,
    filter: &str,
    order_by: &str,
) -> Result<Vec<Vec<String>>, tonic::Status> {
    let mut stream = client(user)
        .export_records(user.req(pb::ExportRecordsRequest {
            record_type: record_type.into(),
            filter: filter.to_owned(),
            order_by: order_by.to_owned(),
        }))
        .await?
        .into_inner();
    let mut reader = RowReader::default();
    let mut rows = Vec::new();
    while let Some(chunk) = stream.message().await? {
        rows.extend(reader.feed(&chunk.data).expect("valid csv"));
    }
    rows.extend(reader.feed(b"").expect("valid csv"));
    Ok(rows.into_iter().map(|(_, r)| r).collect())
}

const ROWS: usize = 10_000;

#[tokio::test]
async fn a_large_import_creates_good_rows_and_reports_bad_ones() {
    // An import is one long request: on 2 busy cores 10,000 rows can outlast the default request
    // timeout, which deployments raise for the same reason (server.request_timeout_secs).
    let (mut settings, schema) = crm::testing::test_settings();
    settings.server.request_timeout_secs = 600;
    let crm = crm::testing::spawn_with(settings, schema).await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;

    // Data row i is file row i + 2 (the header is row 1).
    let mut csv = String::from("Given name,Surname,E-mail,Employees,Notes\n");
    let mut expected_errors = Vec::new();
    for i in 0..ROWS {
        let row = i as i64 + 2;
        let (surname, email, employees) = match i {
            i if i % 1_000 == 7 => {
                expected_errors.push((row, "email".to_owned()));
                ("Bad".to_owned(), "not-an-email".to_owned(), "10".to_owned())
            }
            4_242 => {
                expected_errors.push((row, "last_name".to_owned()));
                (
                    String::new(),
                    format!("lead{i}@import.test"),
                    "10".to_owned(),
                )
            }
            9_999 => {
                expected_errors.push((row, "employee_count".to_owned()));
                (
                    "Many".to_owned(),
                    format!("lead{i}@import.test"),
                    "lots".to_owned(),
                )
            }
            _ => (
                format!("Surname {i}"),
                format!("lead{i}@import.test"),
                (i % 300).to_string(),
            ),
        };
        csv.push_str(&format!(
            "\"Ada, {i}\",{surname},{email},{employees},\"said \"\"hi\"\"\"\n"
        ));
    }
    let mapping = [
        ("Given name", "first_name"),
        ("Surname", "last_name"),
        ("E-mail", "email"),
        ("Employees", "employee_count"),
    ];
    let report = import(&t.rep, pb::RecordType::Lead, &mapping, false, &csv, 65_536)
        .await
        .expect("import answered");
    let bad = expected_errors.len() as i64;
    assert_eq!(report.rows_read, ROWS as i64);
    assert_eq!(report.created, ROWS as i64 - bad);
    assert_eq!(report.rejected, bad);
    let errors: Vec<(i64, String)> = report
        .errors
        .iter()
        .map(|e| (e.row, e.field.clone()))
        .collect();
    assert_eq!(errors, expected_errors);
    assert!(report.errors.iter().all(|e| !e.message.is_empty()));

    assert_eq!(
        db.count(
            "SELECT count(*) FROM leads WHERE tenant_id = $1 AND owner_id IS NOT NULL",
            t.tenant_id
        )
        .await,
        ROWS as i64 - bad
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM outbox WHERE tenant_id = $1 AND event_type = 'crm.lead.created'",
            t.tenant_id
        )
        .await,
        ROWS as i64 - bad,
        "every imported lead publishes crm.lead.created"
    );
    let one = db
        .count(
            "SELECT count(*) FROM leads WHERE tenant_id = $1 AND first_name = 'Ada, 12'
             AND last_name = 'Surname 12' AND email = 'lead12@import.test' AND employee_count = 12",
            t.tenant_id,
        )
        .await;
    assert_eq!(one, 1, "quoted fields and the mapping are honoured");
}

#[tokio::test]
async fn duplicates_are_skipped_on_request() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let contacts = "first_name,last_name,email\nAda,Lovelace,ada@engines.test\nCharles,Babbage,charles@engines.test\n";
    let first = import(&t.admin, pb::RecordType::Contact, &[], true, contacts, 7)
        .await
        .expect("imported");
    assert_eq!((first.created, first.skipped_duplicates), (2, 0));
    let again = format!("{contacts}Grace,Hopper,grace@navy.test\nAda,Again,ADA@engines.test\n");
    let second = import(&t.admin, pb::RecordType::Contact, &[], true, &again, 1_000)
        .await
        .expect("imported");
    assert_eq!((second.created, second.skipped_duplicates), (1, 3));
    let without = import(
        &t.admin,
        pb::RecordType::Contact,
        &[],
        false,
        contacts,
        1_000,
    )
    .await
    .expect("imported");
    assert_eq!(
        without.created, 2,
        "without the option duplicates are created"
    );

    let accounts = "name,domain\nAcme,acme.test\nAcme again,ACME.test\n";
    let report = import(
        &t.admin,
        pb::RecordType::Account,
        &[],
        true,
        accounts,
        1_000,
    )
    .await
    .expect("imported");
    assert_eq!((report.created, report.skipped_duplicates), (1, 1));
}

#[tokio::test]
async fn bad_options_are_refused_before_any_row() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let status = import(
        &t.admin,
        pb::RecordType::Lead,
        &[("Notes", "password")],
        false,
        "Notes,last_name\nx,y\n",
        100,
    )
    .await
    .expect_err("unknown target field");
    crate::helpers::assert_invalid(&status, &["options.column_mapping[Notes]"]);
    let status = import(
        &t.admin,
        pb::RecordType::Opportunity,
        &[],
        false,
        "name\nx\n",
        100,
    )
    .await
    .expect_err("opportunities are not imported");
    crate::helpers::assert_invalid(&status, &["options.record_type"]);
    let status = import(
        &t.support,
        pb::RecordType::Lead,
        &[],
        false,
        "last_name\nx\n",
        100,
    )
    .await
    .expect_err("support may not write");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM leads WHERE tenant_id = $1",
            t.tenant_id
        )
        .await,
        0
    );
}

#[tokio::test]
async fn an_exported_filtered_list_round_trips_through_import() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    for i in 0..1_200 {
        let company = if i % 2 == 0 {
            "Globex, Inc."
        } else {
            "Initech"
        };
        t.rep.create_lead(&format!("Name{i}"), company).await;
    }
    t.other_rep.create_lead("Hidden", "Globex, Inc.").await;

    let rows = export(
        &t.rep,
        pb::RecordType::Lead,
        r#"company = "Globex, Inc.""#,
        "last_name desc",
    )
    .await
    .expect("exported");
    let header = &rows[0];
    assert_eq!(header[..3], ["id", "first_name", "last_name"]);
    let data = &rows[1..];
    assert_eq!(
        data.len(),
        600,
        "the filter applies and the other rep's lead is not visible"
    );
    let column = |name: &str| header.iter().position(|h| h == name).expect("column");
    let last_names: Vec<&str> = data
        .iter()
        .map(|r| r[column("last_name")].as_str())
        .collect();
    let mut sorted = last_names.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(last_names, sorted, "in the requested order");
    assert!(data.iter().all(|r| r[column("company")] == "Globex, Inc."));

    // Import the export into another tenant: the importable columns come back as they were.
    let other = team(&crm, &db).await;
    // Owners are users of the first tenant: that column stays behind.
    let owner = column("owner_id");
    let mut csv = Vec::new();
    for row in &rows {
        let without_owner: Vec<&String> = row
            .iter()
            .enumerate()
            .filter_map(|(i, v)| (i != owner).then_some(v))
            .collect();
        crm::domain::csv::write_row(&mut csv, &without_owner);
    }
    let csv = String::from_utf8(csv).expect("utf8");
    let report = import(&other.admin, pb::RecordType::Lead, &[], false, &csv, 4_096)
        .await
        .expect("imported");
    assert_eq!(report.created, 600, "{:?}", report.errors.first());
    let again = export(&other.admin, pb::RecordType::Lead, "", "last_name desc")
        .await
        .expect("exported");
    let pick = |rows: &[Vec<String>], header: &[String]| -> Vec<HashMap<String, String>> {
        rows.iter()
            .map(|r| {
                ["first_name", "last_name", "email", "company"]
                    .iter()
                    .map(|f| {
                        let i = header.iter().position(|h| h == f).expect("column");
                        ((*f).to_owned(), r[i].clone())
                    })
                    .collect()
            })
            .collect()
    };
    assert_eq!(pick(&again[1..], &again[0]), pick(data, header));

    let status = export(&t.support, pb::RecordType::Lead, "", "")
        .await
        .expect_err("support reads no leads");
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = export(&t.rep, pb::RecordType::Lead, "colour = red", "")
        .await
        .expect_err("bad filter");
    crate::helpers::assert_invalid(&status, &["filter"]);
}
