//! Statement documents and attainment, end to end: a won deal on the broker, the tenant's name
//! from the tenants events, the PDF parsed back and the CSV read.

use proto::commissions as pb;
use proto::tenants as tpb;
use uuid::Uuid;

use crate::helpers::{
    DEADLINE, Db, create_plan, day, declare_consumer_queue, flat_plan, lines_until, publish, team,
    won,
};

fn pdf_text(bytes: &[u8]) -> String {
    let doc = lopdf::Document::load_mem(bytes).expect("a valid pdf");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    doc.extract_text(&pages).expect("text extracts")
}

#[tokio::test]
async fn a_statement_exports_as_pdf_and_csv_and_attainment_is_measured() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    declare_consumer_queue(&service, &db).await;
    let team = team(&service, &db).await;
    let rep = team.rep.user_id;
    create_plan(&team.admin, "Core", flat_plan(&[rep], 50_000)).await;
    team.admin
        .commissions()
        .set_quota(team.admin.req(pb::SetQuotaRequest {
            quota: Some(pb::Quota {
                user_id: rep.to_string(),
                period: pb::PeriodKind::Quarter as i32,
                period_start: "2026-04-01".into(),
                currency_code: "USD".into(),
                amount_minor: 10_000_000,
                fiscal_year_start_month: 0,
            }),
        }))
        .await
        .expect("quota set");

    let provisioned = events::NewEvent::new(
        "tenants.tenant.provisioned",
        team.tenant_id,
        "tenant",
        team.tenant_id,
        &tpb::TenantProvisioned {
            tenant: Some(tpb::Tenant {
                id: team.tenant_id.to_string(),
                display_name: "Acme Widgets".into(),
                ..Default::default()
            }),
            admin: Some(tpb::User {
                id: team.admin.user_id.to_string(),
                tenant_id: team.tenant_id.to_string(),
                role: tpb::Role::Admin as i32,
                active: true,
                ..Default::default()
            }),
        },
    )
    .expect("event")
    .to_envelope();
    let deal = Uuid::now_v7();
    publish(
        &service,
        &[
            &provisioned,
            &won(
                team.tenant_id,
                deal,
                60_000,
                &[(rep, 100)],
                day("2026-05-20"),
            ),
        ],
    )
    .await;
    lines_until(&team.rep, rep, "2026-04-01", |l| l.len() == 1).await;

    let attainment = team
        .rep
        .commissions()
        .get_attainment(team.rep.req(pb::GetAttainmentRequest {
            participant_id: String::new(),
            period: pb::PeriodKind::Quarter as i32,
            period_start: "2026-04-01".into(),
            as_of: "2026-05-15".into(),
            year_to_date: false,
        }))
        .await
        .expect("attainment")
        .into_inner();
    assert_eq!(attainment.attained_minor, 6_000_000);
    assert_eq!(attainment.quota_minor, 10_000_000);
    assert_eq!(attainment.attainment_basis_points, 6_000);
    // 45 of 91 days elapsed.
    assert_eq!(attainment.elapsed_basis_points, 4_945);
    assert_eq!(attainment.pace_basis_points, 12_133);

    let export = |format: pb::ExportFormat| {
        let rep = &team.rep;
        async move {
            rep.commissions()
                .export_statement(rep.req(pb::ExportStatementRequest {
                    participant_id: String::new(),
                    period: pb::PeriodKind::Quarter as i32,
                    period_start: "2026-04-01".into(),
                    format: format as i32,
                }))
                .await
                .expect("exported")
                .into_inner()
        }
    };
    // The tenant's name arrives through the tenants events.
    let text = testkit::poll_until(DEADLINE, || async {
        let text = pdf_text(&export(pb::ExportFormat::Pdf).await.content);
        text.contains("Acme Widgets").then_some(text)
    })
    .await
    .expect("the statement names the tenant");
    for expected in [
        "Commission statement",
        "quarter 2026-04-01 to 2026-06-30",
        "draft",
        "60000.00",
        "3000.00",
        "flat rate 5%",
        &rep.to_string(),
    ] {
        assert!(text.contains(expected), "{expected:?} missing from {text}");
    }
    let csv = export(pb::ExportFormat::Csv).await;
    assert_eq!(csv.content_type, "text/csv");
    let csv = String::from_utf8(csv.content).expect("utf-8");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 2);
    assert!(rows[1].contains(&format!("{deal},commission,false,2026-04-01,60000.00,5%")));

    let hidden = team
        .other_rep
        .commissions()
        .export_statement(team.other_rep.req(pb::ExportStatementRequest {
            participant_id: rep.to_string(),
            period: pb::PeriodKind::Quarter as i32,
            period_start: "2026-04-01".into(),
            format: pb::ExportFormat::Pdf as i32,
        }))
        .await
        .expect_err("not theirs");
    assert_eq!(hidden.code(), tonic::Code::NotFound);
}
