//! The tenants service as an entry of the `salescompass` launcher's list of services.

runtime::service_component!(
    /// The tenants service, migrated and built from a launcher's environment.
    Tenants = "tenants",
    crate::Application,
    crate::Settings,
    crate::DEFAULTS,
    crate::migrate
);
