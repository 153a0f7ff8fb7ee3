//! A user the tenants service deactivates is refused at once, not when their access token
//! expires: the users projection (from `tenants.user.deactivated`) is checked as each request's
//! transaction opens.

use proto::tenants as tpb;
use tonic::Code;

use crate::helpers::{DEADLINE, Db, declare_consumer_queue, publish, team};

#[tokio::test]
async fn a_deactivated_users_token_is_refused_at_once() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    declare_consumer_queue(&service, &db).await;
    let team = team(&service, &db).await;
    let rep = team.rep.user_id;
    team.rep
        .lines(rep, "2026-04-01")
        .await
        .expect("an active rep reads their lines");

    let deactivated = events::NewEvent::new(
        "tenants.user.deactivated",
        team.tenant_id,
        "user",
        rep,
        &tpb::UserDeactivated {
            user: Some(tpb::User {
                id: rep.to_string(),
                tenant_id: team.tenant_id.to_string(),
                manager_id: team.manager.user_id.to_string(),
                role: tpb::Role::SalesRep as i32,
                active: false,
                ..Default::default()
            }),
        },
    )
    .expect("event")
    .to_envelope();
    publish(&service, &[&deactivated]).await;

    // The rep's token is valid for minutes more; the refusal must not wait for it.
    let refused = testkit::poll_until(DEADLINE, || async {
        team.rep
            .lines(rep, "2026-04-01")
            .await
            .err()
            .map(|status| status.code())
    })
    .await
    .expect("refused once the deactivation is applied");
    assert_eq!(refused, Code::Unauthenticated);
    team.manager
        .lines(rep, "2026-04-01")
        .await
        .expect("the rest of the tenant keeps working, the rep's lines included");
}
