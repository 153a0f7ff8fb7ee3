//! Service tokens: a configured service proves itself with its own secret and gets a short-lived
//! token for one active tenant, carrying only its configured permissions; such a token is never
//! taken for a user's, and a deactivated user's own token stops working at once.

use auth::token::{Jwk, Verified, Verifier};
use proto::tenants as pb;
use tenants::testing::TestTenants;
use tenants::{PermissionList, ServiceAccountSettings};
use tonic::Code;

use crate::helpers::{Clients, PASSWORD, authed, clients, create_user, login, provision};

const SECRET: &str = "engagement-secret-0123456789abcdef";

async fn spawn_with_engagement() -> TestTenants {
    let (mut settings, schema) = tenants::testing::test_settings();
    settings.service_accounts.insert(
        "engagement".to_owned(),
        ServiceAccountSettings {
            secret: SECRET.to_owned(),
            // As the environment gives it: one comma-separated string.
            permissions: PermissionList::Text("crm.cases.write, crm.deals.read".to_owned()),
        },
    );
    tenants::testing::spawn_with(settings, schema).await
}

async fn issue(
    c: &mut Clients,
    service: &str,
    secret: &str,
    tenant_id: &str,
) -> Result<pb::IssueServiceTokenResponse, tonic::Status> {
    c.auth
        .issue_service_token(pb::IssueServiceTokenRequest {
            service: service.to_owned(),
            service_secret: secret.to_owned(),
            tenant_id: tenant_id.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn verifier(c: &mut Clients) -> Verifier {
    let keys: Vec<Jwk> = c
        .auth
        .get_jwks(pb::GetJwksRequest {})
        .await
        .expect("jwks")
        .into_inner()
        .keys
        .into_iter()
        .map(|k| Jwk {
            kid: k.kid,
            kty: k.kty,
            crv: k.crv,
            x: k.x,
            alg: k.alg,
            use_: k.r#use,
        })
        .collect();
    Verifier::from_jwks(&keys).expect("published keys load")
}

#[tokio::test]
async fn a_configured_service_gets_a_token_for_its_tenant_with_only_its_permissions() {
    let svc = spawn_with_engagement().await;
    let mut c = clients(&svc).await;
    let t = provision(&svc, &mut c, "svc-issue").await;

    let issued = issue(&mut c, "engagement", SECRET, &t.tenant.id)
        .await
        .expect("issued");
    assert_eq!(issued.token_type, "Bearer");
    assert_eq!(issued.expires_in, 300);
    assert_eq!(issued.permissions, ["crm.cases.write", "crm.deals.read"]);
    let verifier = verifier(&mut c).await;
    let Ok(Verified::Service(claims)) = verifier.verify_any(&issued.access_token) else {
        panic!("a service token verifies as a service's");
    };
    assert_eq!(claims.sub, "service:engagement");
    assert_eq!(claims.tid.to_string(), t.tenant.id);
    assert_eq!(claims.perms, issued.permissions);
    assert!(
        verifier.verify(&issued.access_token).is_err(),
        "never as a user's (the gateway's check)"
    );
}

#[tokio::test]
async fn unknown_services_wrong_secrets_and_unusable_tenants_are_refused() {
    let svc = spawn_with_engagement().await;
    let mut c = clients(&svc).await;
    let t = provision(&svc, &mut c, "svc-refuse").await;

    let unknown = issue(&mut c, "telephony", SECRET, &t.tenant.id)
        .await
        .expect_err("unknown service");
    let wrong = issue(
        &mut c,
        "engagement",
        "engagement-secret-but-not-the-right-one",
        &t.tenant.id,
    )
    .await
    .expect_err("wrong secret");
    assert_eq!(unknown.code(), Code::Unauthenticated);
    assert_eq!(
        (unknown.code(), unknown.message()),
        (wrong.code(), wrong.message()),
        "an unknown service and a wrong secret look the same"
    );
    // The operator token is no service's secret.
    let operator = issue(&mut c, "engagement", &svc.operator_token, &t.tenant.id)
        .await
        .expect_err("operator token");
    assert_eq!(operator.code(), Code::Unauthenticated);

    let missing = issue(
        &mut c,
        "engagement",
        SECRET,
        &uuid::Uuid::now_v7().to_string(),
    )
    .await
    .expect_err("no such tenant");
    assert_eq!(missing.code(), Code::NotFound);

    c.tenants
        .suspend_tenant(authed(
            &svc.operator_token,
            pb::SuspendTenantRequest {
                id: t.tenant.id.clone(),
                reason: "unpaid".into(),
            },
        ))
        .await
        .expect("suspended");
    let suspended = issue(&mut c, "engagement", SECRET, &t.tenant.id)
        .await
        .expect_err("suspended tenant");
    assert_eq!(suspended.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn a_service_token_is_no_users_token() {
    let svc = spawn_with_engagement().await;
    let mut c = clients(&svc).await;
    let t = provision(&svc, &mut c, "svc-user").await;
    let token = issue(&mut c, "engagement", SECRET, &t.tenant.id)
        .await
        .expect("issued")
        .access_token;

    let me = c
        .users
        .get_current_user(authed(&token, pb::GetCurrentUserRequest {}))
        .await
        .expect_err("a service is no user");
    assert_eq!(me.code(), Code::PermissionDenied);
    let tenant = c
        .tenants
        .get_tenant(authed(
            &token,
            pb::GetTenantRequest {
                id: t.tenant.id.clone(),
            },
        ))
        .await
        .expect_err("tenants' RPCs serve users and the operator");
    assert_eq!(tenant.code(), Code::PermissionDenied);
    // And a user's token does not mint service tokens: the secret is what counts.
    let user = issue(&mut c, "engagement", &t.admin_token, &t.tenant.id)
        .await
        .expect_err("a user token is no service secret");
    assert_eq!(user.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_deactivated_users_token_is_refused_at_once() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let t = provision(&svc, &mut c, "deactivated").await;
    let email = format!("rep@{}.test", t.slug);
    let rep = create_user(&mut c, &t.admin_token, &email, pb::Role::SalesRep, "").await;
    let rep_token = login(&mut c, &t.slug, &email, PASSWORD)
        .await
        .expect("rep logs in")
        .access_token;
    c.users
        .get_current_user(authed(&rep_token, pb::GetCurrentUserRequest {}))
        .await
        .expect("an active user reads themself");

    c.users
        .deactivate_user(authed(
            &t.admin_token,
            pb::DeactivateUserRequest { id: rep.id.clone() },
        ))
        .await
        .expect("deactivated");

    // The access token has most of its 15 minutes left; it must not matter.
    let status = c
        .users
        .get_current_user(authed(&rep_token, pb::GetCurrentUserRequest {}))
        .await
        .expect_err("refused at once");
    assert_eq!(status.code(), Code::Unauthenticated);
    c.users
        .get_current_user(authed(&t.admin_token, pb::GetCurrentUserRequest {}))
        .await
        .expect("the rest of the tenant keeps working");
}
