use auth::token::{AUDIENCE, Claims, ISSUER, Signer};
use proto::tenants as pb;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn wrong_credentials_are_one_generic_unauthenticated() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "generic").await;
    let email = format!("admin@{}.test", f.slug);
    let wrong_password = login(&mut c, &f.slug, &email, "wrong horse 42")
        .await
        .expect_err("refused");
    let unknown_user = login(&mut c, &f.slug, "ghost@generic.test", PASSWORD)
        .await
        .expect_err("refused");
    let unknown_tenant = login(&mut c, "no-such-tenant", &email, PASSWORD)
        .await
        .expect_err("refused");
    for status in [&wrong_password, &unknown_user, &unknown_tenant] {
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), wrong_password.message());
    }
}

#[tokio::test]
async fn repeated_failures_lock_the_account() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "lock").await;
    let email = format!("admin@{}.test", f.slug);
    for _ in 0..tenants::domain::lockout::FREE_ATTEMPTS {
        login(&mut c, &f.slug, &email, "wrong horse 42")
            .await
            .expect_err("wrong password");
    }
    let locked = login(&mut c, &f.slug, &email, PASSWORD)
        .await
        .expect_err("locked out");
    assert_eq!(locked.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_session() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "rotate").await;
    let first = login(&mut c, &f.slug, &format!("admin@{}.test", f.slug), PASSWORD)
        .await
        .expect("login");
    let second = c
        .auth
        .refresh(pb::RefreshRequest {
            refresh_token: first.refresh_token.clone(),
        })
        .await
        .expect("rotation")
        .into_inner();
    assert_ne!(second.refresh_token, first.refresh_token);
    c.users
        .get_current_user(authed(&second.access_token, pb::GetCurrentUserRequest {}))
        .await
        .expect("new access token works");

    // The rotated token comes back: theft is assumed and the whole family dies.
    let reuse = c
        .auth
        .refresh(pb::RefreshRequest {
            refresh_token: first.refresh_token,
        })
        .await
        .expect_err("reuse");
    assert_eq!(reuse.code(), Code::Unauthenticated);
    let after = c
        .auth
        .refresh(pb::RefreshRequest {
            refresh_token: second.refresh_token,
        })
        .await
        .expect_err("family revoked");
    assert_eq!(after.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "logout").await;
    let session = login(&mut c, &f.slug, &format!("admin@{}.test", f.slug), PASSWORD)
        .await
        .expect("login");
    c.auth
        .logout(pb::LogoutRequest {
            refresh_token: session.refresh_token.clone(),
        })
        .await
        .expect("logout");
    let status = c
        .auth
        .refresh(pb::RefreshRequest {
            refresh_token: session.refresh_token,
        })
        .await
        .expect_err("revoked");
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn jwks_verifies_issued_tokens() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "jwks").await;
    let keys = c
        .auth
        .get_jwks(pb::GetJwksRequest {})
        .await
        .expect("jwks")
        .into_inner()
        .keys;
    let jwks: Vec<auth::token::Jwk> = keys
        .into_iter()
        .map(|k| auth::token::Jwk {
            kid: k.kid,
            kty: k.kty,
            crv: k.crv,
            x: k.x,
            alg: k.alg,
            use_: k.r#use,
        })
        .collect();
    let verifier = auth::token::Verifier::from_jwks(&jwks).expect("valid key set");
    let claims = verifier
        .verify(&f.admin_token)
        .expect("token verifies with published keys");
    assert_eq!(claims.sub.to_string(), f.admin.id);
    assert_eq!(claims.tid.to_string(), f.tenant.id);
}

fn claims_for(f: &TenantFixture, exp_offset: i64) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: f.admin.id.parse().expect("uuid"),
        tid: f.tenant.id.parse().expect("uuid"),
        role: "ROLE_ADMIN".into(),
        perms: vec![],
        iat: now,
        exp: now + exp_offset,
        jti: Uuid::now_v7(),
    }
}

#[tokio::test]
async fn expired_forged_and_wrong_tenant_tokens_are_unauthenticated() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "forge").await;
    let real = Signer::from_pem(&svc.settings.auth.signing_key_pem).expect("service key");
    let forger = Signer::from_pem(&Signer::generate_pem().expect("pem")).expect("key");

    let expired = real.sign(&claims_for(&f, -3600)).expect("sign");
    let forged = forger.sign(&claims_for(&f, 600)).expect("sign");
    let mut ghost = claims_for(&f, 600);
    ghost.tid = Uuid::now_v7();
    let wrong_tenant = real.sign(&ghost).expect("sign");
    let mut tampered = f.admin_token.clone();
    tampered.insert(tampered.len() / 2, 'x');

    for token in [
        expired,
        forged,
        wrong_tenant,
        tampered,
        "garbage".to_owned(),
    ] {
        let status = c
            .users
            .list_users(authed(&token, pb::ListUsersRequest::default()))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::Unauthenticated, "{token}");
    }
}

#[tokio::test]
async fn users_change_their_own_password() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "pw").await;
    let email = format!("admin@{}.test", f.slug);
    let wrong_old = c
        .users
        .change_password(authed(
            &f.admin_token,
            pb::ChangePasswordRequest {
                old_password: "wrong horse 42".into(),
                new_password: "brand new horse 7".into(),
            },
        ))
        .await
        .expect_err("old password required");
    assert_invalid(&wrong_old, &["old_password"]);
    c.users
        .change_password(authed(
            &f.admin_token,
            pb::ChangePasswordRequest {
                old_password: PASSWORD.into(),
                new_password: "brand new horse 7".into(),
            },
        ))
        .await
        .expect("changed");
    login(&mut c, &f.slug, &email, PASSWORD)
        .await
        .expect_err("old password no longer works");
    login(&mut c, &f.slug, &email, "brand new horse 7")
        .await
        .expect("new password works");
}

#[tokio::test]
async fn health_and_reflection_are_served() {
    let svc = tenants::testing::spawn().await;
    let channel = svc.channel().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "salescompass.tenants.v1.UserService".into(),
        })
        .await
        .expect("health check")
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let ready = reqwest_like_get(svc.admin_addr, "/readyz").await;
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    let metrics = reqwest_like_get(svc.admin_addr, "/metrics").await;
    assert!(metrics.contains("grpc_server_handled_total"), "{metrics}");
}

/// Minimal HTTP/1.1 GET so the test needs no HTTP client dependency.
async fn reqwest_like_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
    let mut body = String::new();
    stream.read_to_string(&mut body).await.expect("read");
    body
}
