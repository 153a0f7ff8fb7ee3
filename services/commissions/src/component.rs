//! The commissions service as an entry of the `salescompass` launcher's list of services.

runtime::service_component!(
    /// The commissions service, migrated and built from a launcher's environment.
    Commissions = "commissions",
    crate::Application,
    crate::Settings,
    crate::DEFAULTS,
    crate::migrate
);
