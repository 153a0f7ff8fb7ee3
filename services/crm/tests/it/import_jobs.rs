//! CSV import jobs (chunks cut anywhere, retried and misplaced chunks, the paged report, dedupe
//! across chunks, cancel, privacy), the paged CSV export and read masks.

use crm::domain::csv::RowReader;
use proto::crm as pb;
use tonic::Code;

use crate::helpers::{As, Db, assert_invalid, team};

type Jobs = pb::import_job_service_client::ImportJobServiceClient<tonic::transport::Channel>;

fn jobs(user: &As) -> Jobs {
    pb::import_job_service_client::ImportJobServiceClient::new(user.channel())
}

async fn create(
    user: &As,
    record_type: pb::RecordType,
    mapping: &[(&str, &str)],
    skip_duplicates: bool,
) -> Result<pb::ImportJob, tonic::Status> {
    Ok(jobs(user)
        .create_import_job(
            user.req(pb::CreateImportJobRequest {
                import_job: Some(pb::ImportJob {
                    record_type: record_type.into(),
                    column_mapping: mapping
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                    skip_duplicates,
                    ..Default::default()
                }),
            }),
        )
        .await?
        .into_inner())
}

async fn append(
    user: &As,
    id: &str,
    offset: usize,
    data: &[u8],
) -> Result<pb::ImportJob, tonic::Status> {
    Ok(jobs(user)
        .append_import_job_chunk(user.req(pb::AppendImportJobChunkRequest {
            id: id.to_owned(),
            offset: offset as i64,
            data: data.to_vec(),
        }))
        .await?
        .into_inner())
}

async fn complete(user: &As, id: &str) -> Result<pb::ImportJob, tonic::Status> {
    Ok(jobs(user)
        .complete_import_job(user.req(pb::CompleteImportJobRequest { id: id.to_owned() }))
        .await?
        .into_inner())
}

/// Uploads `csv` in chunks of `chunk` bytes and completes the job.
async fn upload(user: &As, id: &str, csv: &[u8], chunk: usize) -> pb::ImportJob {
    let mut offset = 0;
    for piece in csv.chunks(chunk) {
        append(user, id, offset, piece).await.expect("appended");
        offset += piece.len();
    }
    complete(user, id).await.expect("completed")
}

async fn report(user: &As, id: &str, page_size: i32) -> Vec<(i64, String)> {
    let mut token = String::new();
    let mut lines = Vec::new();
    loop {
        let page = jobs(user)
            .list_import_job_errors(user.req(pb::ListImportJobErrorsRequest {
                id: id.to_owned(),
                page_size,
                page_token: token,
            }))
            .await
            .expect("report")
            .into_inner();
        lines.extend(page.errors.into_iter().map(|e| (e.row, e.field)));
        if page.next_page_token.is_empty() {
            return lines;
        }
        token = page.next_page_token;
    }
}

#[tokio::test]
async fn a_job_imports_chunks_cut_anywhere_and_reports_bad_rows_in_pages() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    // Quoted fields with separators and line breaks, CRLF, and no line break at the end.
    let mut csv = String::from("Given name,Surname,E-mail,Employees,Notes\r\n");
    let mut expected = Vec::new();
    for i in 0..300 {
        let row = i + 2;
        match i {
            i if i % 50 == 3 => {
                expected.push((row, "email".to_owned()));
                csv.push_str(&format!("\"Bad, {i}\",Bad,nope,1,\r\n"));
            }
            150 => {
                expected.push((row, "employee_count".to_owned()));
                csv.push_str("Many,Many,many@jobs.test,lots,\r\n");
            }
            _ => csv.push_str(&format!(
                "\"Ada, {i}\",Surname {i},lead{i}@jobs.test,{i},\"two\r\nlines\"\r\n"
            )),
        }
    }
    csv.push_str("Last,Row,last@jobs.test,1,\"no line break\"");
    let mapping = [
        ("Given name", "first_name"),
        ("Surname", "last_name"),
        ("E-mail", "email"),
        ("Employees", "employee_count"),
    ];
    let job = create(&t.rep, pb::RecordType::Lead, &mapping, false)
        .await
        .expect("created");
    assert_eq!(job.state(), pb::ImportJobState::Uploading);
    // 37-byte chunks cut rows, quoted fields and CRLF pairs.
    let done = upload(&t.rep, &job.id, csv.as_bytes(), 37).await;
    let bad = expected.len() as i64;
    assert_eq!(done.state(), pb::ImportJobState::Succeeded);
    assert_eq!(done.received_bytes, csv.len() as i64);
    assert_eq!(done.rows_read, 301);
    assert_eq!((done.created, done.rejected), (301 - bad, bad));
    assert_eq!(report(&t.rep, &job.id, 2).await, expected);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM leads WHERE tenant_id = $1 AND first_name = 'Ada, 12'
             AND last_name = 'Surname 12' AND employee_count = 12",
            t.tenant_id
        )
        .await,
        1,
        "rows cut by chunk boundaries are read whole"
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM outbox WHERE tenant_id = $1 AND event_type = 'crm.lead.created'",
            t.tenant_id
        )
        .await,
        301 - bad
    );
    let job_events = db.outbox_types(t.tenant_id).await;
    let job_events: Vec<&str> = job_events
        .iter()
        .map(String::as_str)
        .filter(|e| e.starts_with("crm.import_job."))
        .collect();
    assert_eq!(
        job_events,
        ["crm.import_job.created", "crm.import_job.completed"]
    );
}

#[tokio::test]
async fn retried_chunks_are_not_imported_twice_and_gaps_are_refused() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let job = create(&t.admin, pb::RecordType::Account, &[], false)
        .await
        .expect("created");
    let first = b"name,domain\nAcme,acme.test\nBe";
    let after_first = append(&t.admin, &job.id, 0, first).await.expect("appended");
    assert_eq!(
        (after_first.received_bytes, after_first.created),
        (first.len() as i64, 1)
    );
    let again = append(&t.admin, &job.id, 0, first)
        .await
        .expect("a retry is answered");
    assert_eq!(
        (again.received_bytes, again.created),
        (first.len() as i64, 1)
    );
    let gap = append(&t.admin, &job.id, first.len() + 5, b"x")
        .await
        .expect_err("a gap");
    assert_eq!(gap.code(), Code::FailedPrecondition);
    append(&t.admin, &job.id, first.len(), b"ta,beta.test\n")
        .await
        .expect("appended");
    let done = complete(&t.admin, &job.id).await.expect("completed");
    assert_eq!(done.created, 2);
    assert_eq!(complete(&t.admin, &job.id).await.expect("again").created, 2);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM accounts WHERE tenant_id = $1 AND name IN ('Acme', 'Beta')",
            t.tenant_id
        )
        .await,
        2
    );
    let late = append(&t.admin, &job.id, 100, b"Gamma,g.test\n")
        .await
        .expect_err("the job is over");
    assert_eq!(late.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn duplicates_across_chunks_are_skipped_and_cancelling_keeps_imported_rows() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let job = create(&t.admin, pb::RecordType::Contact, &[], true)
        .await
        .expect("created");
    let csv = b"first_name,last_name,email\nAda,Lovelace,ada@engines.test\n";
    let mut offset = 0;
    for piece in [
        &csv[..],
        b"Ada,Again,ADA@engines.test\n",
        b"Grace,Hopper,grace@navy.test\n",
    ] {
        append(&t.admin, &job.id, offset, piece)
            .await
            .expect("appended");
        offset += piece.len();
    }
    let cancelled = jobs(&t.admin)
        .cancel_import_job(
            t.admin
                .req(pb::CancelImportJobRequest { id: job.id.clone() }),
        )
        .await
        .expect("cancelled")
        .into_inner();
    assert_eq!(cancelled.state(), pb::ImportJobState::Cancelled);
    assert_eq!((cancelled.created, cancelled.skipped_duplicates), (2, 1));
    let after = complete(&t.admin, &job.id).await.expect_err("cancelled");
    assert_eq!(after.code(), Code::FailedPrecondition);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM contacts WHERE tenant_id = $1",
            t.tenant_id
        )
        .await,
        2
    );
}

#[tokio::test]
async fn jobs_are_private_and_bad_options_are_refused() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let status = create(
        &t.rep,
        pb::RecordType::Lead,
        &[("Notes", "password")],
        false,
    )
    .await
    .expect_err("unknown target");
    assert_invalid(&status, &["import_job.column_mapping[Notes]"]);
    let status = create(&t.rep, pb::RecordType::Opportunity, &[], false)
        .await
        .expect_err("not importable");
    assert_invalid(&status, &["import_job.record_type"]);
    let status = create(&t.support, pb::RecordType::Lead, &[], false)
        .await
        .expect_err("support may not write");
    assert_eq!(status.code(), Code::PermissionDenied);

    let job = create(&t.rep, pb::RecordType::Lead, &[], false)
        .await
        .expect("created");
    let status = append(&t.other_rep, &job.id, 0, b"last_name\nx\n")
        .await
        .expect_err("another rep's job");
    assert_eq!(status.code(), Code::NotFound);
    let seen = jobs(&t.admin)
        .get_import_job(t.admin.req(pb::GetImportJobRequest { id: job.id.clone() }))
        .await
        .expect("admins see every job")
        .into_inner();
    assert_eq!(seen.creator_id, t.rep.user_id.to_string());
    let status = append(&t.rep, &job.id, 0, b"last_name\n\"never closed")
        .await
        .expect("a cut record waits for the next chunk");
    assert_eq!(status.rows_read, 0);
}

async fn export_pages(user: &As, filter: &str, page_size: i32) -> (Vec<Vec<String>>, usize) {
    let mut token = String::new();
    let mut csv = String::new();
    let mut pages = 0;
    loop {
        let page = pb::import_export_service_client::ImportExportServiceClient::new(user.channel())
            .export_records_page(user.req(pb::ExportRecordsPageRequest {
                record_type: pb::RecordType::Lead.into(),
                filter: filter.to_owned(),
                order_by: "last_name".to_owned(),
                page_size,
                page_token: token,
            }))
            .await
            .expect("exported")
            .into_inner();
        csv.push_str(&page.csv);
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut reader = RowReader::default();
    let mut rows = reader.feed(csv.as_bytes()).expect("csv");
    rows.extend(reader.feed(b"").expect("csv"));
    (rows.into_iter().map(|(_, r)| r).collect(), pages)
}

#[tokio::test]
async fn a_paged_export_is_filtered_visible_and_whole() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    for i in 0..7 {
        t.rep.create_lead(&format!("Rep{i}"), "Acme, Inc.").await;
    }
    t.other_rep.create_lead("Other", "Elsewhere").await;
    let (rows, pages) = export_pages(&t.rep, "company = \"Acme, Inc.\"", 3).await;
    assert_eq!(pages, 3);
    assert_eq!(rows[0][0], "id");
    let names: Vec<&str> = rows[1..].iter().map(|r| r[2].as_str()).collect();
    assert_eq!(names, (0..7).map(|i| format!("Rep{i}")).collect::<Vec<_>>());
    assert!(rows[1..].iter().all(|r| r[5] == "Acme, Inc."));
    let (everything, _) = export_pages(&t.rep, "", 50).await;
    assert_eq!(everything.len(), 8, "the other rep's lead is not visible");
}

#[tokio::test]
async fn read_masks_trim_gets_and_lists_and_name_unknown_paths() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let lead = t.rep.create_lead("Lovelace", "Engines").await;
    let mask = |paths: &[&str]| {
        Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        })
    };
    let got = t
        .rep
        .leads()
        .get_lead(t.rep.req(pb::GetLeadRequest {
            id: lead.id.clone(),
            read_mask: mask(&["id", "last_name"]),
        }))
        .await
        .expect("got")
        .into_inner();
    assert_eq!(
        (got.id.as_str(), got.last_name.as_str()),
        (lead.id.as_str(), "Lovelace")
    );
    assert_eq!((got.company.as_str(), got.create_time), ("", None));
    let listed = t
        .rep
        .leads()
        .list_leads(t.rep.req(pb::ListLeadsRequest {
            read_mask: mask(&["company"]),
            ..Default::default()
        }))
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(listed.leads.len(), 1);
    assert_eq!(
        (
            listed.leads[0].id.as_str(),
            listed.leads[0].company.as_str()
        ),
        ("", "Engines")
    );
    let status = t
        .rep
        .accounts()
        .list_accounts(t.rep.req(pb::ListAccountsRequest {
            read_mask: mask(&["name", "shoe_size"]),
            ..Default::default()
        }))
        .await
        .expect_err("unknown path");
    assert_invalid(&status, &["read_mask"]);
    assert!(
        status.message().contains("shoe_size") || {
            let d = crate::helpers::violation_description(&status);
            d.contains("shoe_size")
        }
    );
}
