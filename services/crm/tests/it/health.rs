//! Health knows every CRM service of the contract: a service routed but reported unknown (or
//! missing from the routes altogether) would fail here.

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn health_reports_every_crm_service_of_the_contract_serving() {
    let crm = crm::testing::spawn().await;
    let pool = prost_reflect::DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET)
        .expect("contract descriptors");
    let names: Vec<String> = pool
        .services()
        .map(|service| service.full_name().to_owned())
        .filter(|name| name.starts_with("salescompass.crm."))
        .collect();
    assert!(names.len() >= 20, "the contract's CRM services: {names:?}");

    let mut health = HealthClient::new(crm.channel().await);
    for name in names {
        let reply = health
            .check(HealthCheckRequest {
                service: name.clone(),
            })
            .await
            .unwrap_or_else(|status| panic!("{name} unknown to health: {status}"))
            .into_inner();
        assert_eq!(reply.status(), ServingStatus::Serving, "{name}");
    }
}
