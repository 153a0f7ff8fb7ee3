use pb::auth_service_client::AuthServiceClient;
use pb::exchange_rate_service_client::ExchangeRateServiceClient;
use pb::role_service_client::RoleServiceClient;
use pb::tenant_service_client::TenantServiceClient;
use pb::user_service_client::UserServiceClient;
use proto::tenants as pb;
use tenants::testing::TestTenants;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

pub const PASSWORD: &str = "correct horse 42";

pub struct Clients {
    pub tenants: TenantServiceClient<Channel>,
    pub auth: AuthServiceClient<Channel>,
    pub users: UserServiceClient<Channel>,
    pub roles: RoleServiceClient<Channel>,
    pub rates: ExchangeRateServiceClient<Channel>,
}

pub async fn clients(svc: &TestTenants) -> Clients {
    let channel = svc.channel().await;
    Clients {
        tenants: TenantServiceClient::new(channel.clone()),
        auth: AuthServiceClient::new(channel.clone()),
        users: UserServiceClient::new(channel.clone()),
        roles: RoleServiceClient::new(channel.clone()),
        rates: ExchangeRateServiceClient::new(channel),
    }
}

/// A request carrying `authorization: Bearer <token>`.
pub fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    request
}

pub fn unique_slug(prefix: &str) -> String {
    format!("{prefix}-{}", testkit::unique_suffix())
}

pub fn provision_request(slug: &str, admin_email: &str) -> pb::ProvisionTenantRequest {
    pb::ProvisionTenantRequest {
        tenant: Some(pb::Tenant {
            slug: slug.to_owned(),
            display_name: format!("Tenant {slug}"),
            plan: "growth".to_owned(),
            settings: Some(pb::TenantSettings {
                timezone: "Europe/Berlin".to_owned(),
                currency_code: "EUR".to_owned(),
                fiscal_year_start_month: 4,
                locale: "de-DE".to_owned(),
            }),
            ..Default::default()
        }),
        admin: Some(pb::AdminSpec {
            email: admin_email.to_owned(),
            password: PASSWORD.to_owned(),
            display_name: "Ann Admin".to_owned(),
        }),
    }
}

/// A provisioned tenant with a logged-in admin.
pub struct TenantFixture {
    pub tenant: pb::Tenant,
    pub admin: pb::User,
    pub slug: String,
    pub admin_token: String,
}

pub async fn provision(svc: &TestTenants, c: &mut Clients, prefix: &str) -> TenantFixture {
    let slug = unique_slug(prefix);
    let email = format!("admin@{slug}.test");
    let response = c
        .tenants
        .provision_tenant(authed(
            &svc.operator_token,
            provision_request(&slug, &email),
        ))
        .await
        .expect("provisioning succeeds")
        .into_inner();
    let admin_token = login(c, &slug, &email, PASSWORD)
        .await
        .expect("admin logs in")
        .access_token;
    TenantFixture {
        tenant: response.tenant.expect("tenant"),
        admin: response.admin.expect("admin"),
        slug,
        admin_token,
    }
}

pub async fn login(
    c: &mut Clients,
    slug: &str,
    email: &str,
    password: &str,
) -> Result<pb::LoginResponse, Status> {
    c.auth
        .login(pb::LoginRequest {
            tenant_slug: slug.to_owned(),
            email: email.to_owned(),
            password: password.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

pub async fn create_user(
    c: &mut Clients,
    token: &str,
    email: &str,
    role: pb::Role,
    manager_id: &str,
) -> pb::User {
    c.users
        .create_user(authed(
            token,
            pb::CreateUserRequest {
                email: email.to_owned(),
                password: PASSWORD.to_owned(),
                display_name: format!("User {email}"),
                role: role as i32,
                manager_id: manager_id.to_owned(),
                custom_role_ids: vec![],
            },
        ))
        .await
        .expect("user created")
        .into_inner()
}

/// Asserts the status code and that the field violations name exactly `fields`.
pub fn assert_invalid(status: &Status, fields: &[&str]) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    let named: Vec<&str> = details
        .bad_request()
        .map(|b| {
            b.field_violations
                .iter()
                .map(|v| v.field.as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(named, fields, "{status:?}");
}
