//! The tenant's audit log: logins, failed logins, user and role changes and the tenant's
//! suspension, written with each change and read by admins only.

use proto::tenants as pb;
use tonic::Code;

use crate::helpers::*;

async fn audit_events(
    c: &mut Clients,
    token: &str,
    r: pb::ListAuditEventsRequest,
) -> Result<pb::ListAuditEventsResponse, tonic::Status> {
    c.tenants
        .list_audit_events(authed(token, r))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn admins_read_logins_user_changes_and_suspensions_with_who_and_from_where() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "audit").await;
    let admin_email = format!("admin@{}.test", f.slug);

    // A failed login from a browser behind the gateway.
    let mut failed = tonic::Request::new(pb::LoginRequest {
        tenant_slug: f.slug.clone(),
        email: admin_email.clone(),
        password: "wrong horse 42".into(),
    });
    failed
        .metadata_mut()
        .insert("x-forwarded-for", "203.0.113.7".parse().expect("ascii"));
    failed.metadata_mut().insert(
        "x-forwarded-user-agent",
        "Firefox/133".parse().expect("ascii"),
    );
    c.auth.login(failed).await.expect_err("wrong password");

    let rep = create_user(
        &mut c,
        &f.admin_token,
        &format!("rep@{}.test", f.slug),
        pb::Role::SalesRep,
        "",
    )
    .await;
    c.users
        .update_user(authed(
            &f.admin_token,
            pb::UpdateUserRequest {
                user: Some(pb::User {
                    id: rep.id.clone(),
                    role: pb::Role::Manager as i32,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["role".into()],
                }),
            },
        ))
        .await
        .expect("promoted");
    let tenant_id = f.tenant.id.clone();
    c.tenants
        .suspend_tenant(authed(
            &svc.operator_token,
            pb::SuspendTenantRequest {
                id: tenant_id.clone(),
                reason: "invoice overdue".into(),
            },
        ))
        .await
        .expect("suspended");
    c.tenants
        .reactivate_tenant(authed(
            &svc.operator_token,
            pb::ReactivateTenantRequest {
                id: tenant_id.clone(),
            },
        ))
        .await
        .expect("reactivated");

    let all = audit_events(
        &mut c,
        &f.admin_token,
        pb::ListAuditEventsRequest::default(),
    )
    .await
    .expect("the admin reads the log")
    .events;
    let kinds: Vec<&str> = all.iter().map(|e| e.kind.as_str()).collect();
    for kind in [
        "tenant.provisioned",
        "user.created",
        "login.succeeded",
        "login.failed",
        "user.role_changed",
        "tenant.suspended",
        "tenant.reactivated",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert_eq!(kinds.first(), Some(&"tenant.reactivated"), "newest first");
    let failure = all
        .iter()
        .find(|e| e.kind == "login.failed")
        .expect("failure");
    assert_eq!(failure.user_id, f.admin.id);
    assert_eq!(failure.actor, f.admin.id, "the user logging in");
    assert_eq!(
        (failure.ip.as_str(), failure.user_agent.as_str()),
        ("203.0.113.7", "Firefox/133")
    );
    let promotion = all
        .iter()
        .find(|e| e.kind == "user.role_changed")
        .expect("role change");
    assert_eq!(promotion.user_id, rep.id);
    assert_eq!(promotion.actor, f.admin.id);
    // jsonb's text form.
    assert!(
        promotion
            .details
            .contains(r#""old_role": "ROLE_SALES_REP""#)
            && promotion.details.contains(r#""new_role": "ROLE_MANAGER""#),
        "{}",
        promotion.details
    );
    let suspension = all
        .iter()
        .find(|e| e.kind == "tenant.suspended")
        .expect("suspension");
    assert_eq!(suspension.actor, "operator");
    assert!(
        suspension.details.contains("invoice overdue"),
        "{}",
        suspension.details
    );

    // Filtered by kind and user, and paged.
    let failures = audit_events(
        &mut c,
        &f.admin_token,
        pb::ListAuditEventsRequest {
            kind: "login.failed".into(),
            user_id: f.admin.id.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("filtered")
    .events;
    assert_eq!(failures.len(), 1);
    let first = audit_events(
        &mut c,
        &f.admin_token,
        pb::ListAuditEventsRequest {
            page_size: 1,
            ..Default::default()
        },
    )
    .await
    .expect("page");
    assert_eq!(first.events.len(), 1);
    let second = audit_events(
        &mut c,
        &f.admin_token,
        pb::ListAuditEventsRequest {
            page_size: 1,
            page_token: first.next_page_token.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("next page");
    assert_eq!(second.events[0].id, all[1].id);

    let bad = audit_events(
        &mut c,
        &f.admin_token,
        pb::ListAuditEventsRequest {
            kind: "login.maybe".into(),
            user_id: "nope".into(),
            ..Default::default()
        },
    )
    .await
    .expect_err("bad filter");
    assert_invalid(&bad, &["kind", "user_id"]);

    // Not for everyone: the promoted manager (and any rep) is refused.
    let manager = login(&mut c, &f.slug, &format!("rep@{}.test", f.slug), PASSWORD)
        .await
        .expect("login")
        .access_token;
    let refused = audit_events(&mut c, &manager, pb::ListAuditEventsRequest::default())
        .await
        .expect_err("not an admin");
    assert_eq!(refused.code(), Code::PermissionDenied);
}
