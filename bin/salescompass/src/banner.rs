//! What `salescompass dev` prints once every part serves: where each one listens and how to
//! provision a first tenant.

use std::net::SocketAddr;

/// A started service's line in the banner.
pub struct Listed {
    pub name: &'static str,
    pub grpc_addr: SocketAddr,
    pub admin_addr: SocketAddr,
}

/// The platform operator token, and whether the launcher generated it.
pub struct OperatorToken {
    pub value: String,
    pub generated: bool,
}

pub struct Banner {
    pub gateway: SocketAddr,
    pub gateway_admin: SocketAddr,
    pub in_process: bool,
    /// The token issuer first, in start order.
    pub services: Vec<Listed>,
    pub operator_token: OperatorToken,
}

impl Banner {
    pub fn print(&self) {
        let gateway = self.gateway;
        println!();
        println!("SalesCompass is running");
        println!(
            "  gateway (REST)   http://{gateway}   docs: http://{gateway}/docs   OpenAPI: http://{gateway}/openapi.json"
        );
        println!("  gateway admin    http://{}/metrics", self.gateway_admin);
        if self.in_process {
            println!("  gateway → services: in-process (--in-process)");
        }
        for service in &self.services {
            println!(
                "  {:<16} gRPC {}   admin: http://{}/readyz",
                service.name, service.grpc_addr, service.admin_addr
            );
        }
        println!();
        if self.operator_token.generated {
            println!("  operator token (generated; set SALESCOMPASS__OPERATOR__TOKEN to fix it):");
        } else {
            println!("  operator token: from SALESCOMPASS__OPERATOR__TOKEN");
        }
        println!(
            "    export SC_OPERATOR_TOKEN='{}'",
            self.operator_token.value
        );
        println!();
        println!("  provision a tenant:");
        println!(
            r#"    curl -s http://{gateway}/v1/tenants:provision -H "authorization: Bearer $SC_OPERATOR_TOKEN" -H 'content-type: application/json' \
      -d '{{"tenant":{{"slug":"acme","displayName":"Acme"}},"admin":{{"email":"ann@acme.test","password":"correct horse 42","displayName":"Ann"}}}}'"#
        );
        if let Some(issuer) = self.services.first() {
            println!("  over gRPC: grpcurl -plaintext {} list", issuer.grpc_addr);
        }
        println!();
    }
}
