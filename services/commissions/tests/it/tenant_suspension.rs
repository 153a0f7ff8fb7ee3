//! A suspended tenant is refused at once (UNAUTHENTICATED, as the CRM does) on every path, reads
//! and writes alike, while other tenants carry on; reactivation lets it back in.

use proto::commissions as pb;
use proto::events::Envelope;
use proto::tenants as tpb;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::helpers::{
    As, DEADLINE, Db, create_plan, declare_consumer_queue, flat_plan, publish, team,
};

fn tenant_event(event_type: &str, tenant_id: Uuid) -> Envelope {
    let tenant = tpb::Tenant {
        id: tenant_id.to_string(),
        ..Default::default()
    };
    let event = if event_type == "tenants.tenant.suspended" {
        events::NewEvent::new(
            event_type,
            tenant_id,
            "tenant",
            tenant_id,
            &tpb::TenantSuspended {
                tenant: Some(tenant),
                reason: "unpaid".into(),
            },
        )
    } else {
        events::NewEvent::new(
            event_type,
            tenant_id,
            "tenant",
            tenant_id,
            &tpb::TenantReactivated {
                tenant: Some(tenant),
            },
        )
    };
    event.expect("event").to_envelope()
}

async fn own_lines(who: &As) -> Result<Vec<pb::Line>, Status> {
    who.lines(who.user_id, "2026-04-01").await
}

#[tokio::test]
async fn a_suspended_tenant_is_refused_until_reactivated() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    declare_consumer_queue(&service, &db).await;
    let team = team(&service, &db).await;
    let bystanders = crate::helpers::team(&service, &db).await;
    own_lines(&team.rep)
        .await
        .expect("served before suspension");

    publish(
        &service,
        &[&tenant_event("tenants.tenant.suspended", team.tenant_id)],
    )
    .await;
    let refused = testkit::poll_until(DEADLINE, || async {
        own_lines(&team.rep).await.err().map(|status| status.code())
    })
    .await
    .expect("the suspension was not applied in time");
    assert_eq!(refused, Code::Unauthenticated);
    // Writes too, and the admin as well as the rep.
    let write = team
        .admin
        .plans()
        .create_plan(team.admin.req(pb::CreatePlanRequest {
            name: "During suspension".into(),
            version: Some(flat_plan(&[team.rep.user_id], 50_000)),
        }))
        .await
        .expect_err("refused while suspended");
    assert_eq!(write.code(), Code::Unauthenticated);
    own_lines(&bystanders.rep)
        .await
        .expect("other tenants unaffected");

    publish(
        &service,
        &[&tenant_event("tenants.tenant.reactivated", team.tenant_id)],
    )
    .await;
    testkit::poll_until(DEADLINE, || async { own_lines(&team.rep).await.ok() })
        .await
        .expect("the reactivation was not applied in time");
    create_plan(
        &team.admin,
        "After reactivation",
        flat_plan(&[team.rep.user_id], 50_000),
    )
    .await;
}

#[tokio::test]
async fn a_late_suspension_older_than_the_reactivation_is_ignored() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    declare_consumer_queue(&service, &db).await;
    let team = team(&service, &db).await;

    let suspended = tenant_event("tenants.tenant.suspended", team.tenant_id);
    let reactivated = tenant_event("tenants.tenant.reactivated", team.tenant_id);
    // Delivered out of order: the reactivation first, then the older suspension.
    publish(&service, &[&reactivated, &suspended]).await;
    testkit::poll_until(DEADLINE, || async {
        let applied: i64 =
            sqlx::query_scalar("SELECT count(*) FROM processed_events WHERE event_id = ANY($1)")
                .bind([
                    Uuid::parse_str(&suspended.id).ok()?,
                    Uuid::parse_str(&reactivated.id).ok()?,
                ])
                .fetch_one(&db.pool)
                .await
                .ok()?;
        (applied == 2).then_some(())
    })
    .await
    .expect("both events were not applied in time");
    own_lines(&team.rep)
        .await
        .expect("still served: the newer reactivation wins");
}
