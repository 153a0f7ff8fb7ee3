//! Generated SalesCompass contracts. One module per proto package; the encoded descriptor set of
//! every file (ours and their imports) backs gRPC reflection and the REST gateway.

/// Encoded `google.protobuf.FileDescriptorSet` of all SalesCompass protos and their imports.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/descriptor_set.bin"));

pub mod google {
    pub mod api {
        include!(concat!(env!("OUT_DIR"), "/google.api.rs"));
    }
    pub mod r#type {
        include!(concat!(env!("OUT_DIR"), "/google.r#type.rs"));
    }
}

pub mod salescompass {
    pub mod commissions {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/salescompass.commissions.v1.rs"));
        }
    }
    pub mod crm {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/salescompass.crm.v1.rs"));
        }
    }
    pub mod engagement {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/salescompass.engagement.v1.rs"));
        }
    }
    pub mod events {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/salescompass.events.v1.rs"));
        }
    }
    pub mod tenants {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/salescompass.tenants.v1.rs"));
        }
    }
}

pub use salescompass::commissions::v1 as commissions;
pub use salescompass::crm::v1 as crm;
pub use salescompass::engagement::v1 as engagement;
pub use salescompass::events::v1 as events;
pub use salescompass::tenants::v1 as tenants;
