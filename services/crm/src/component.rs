//! The CRM service as an entry of the `salescompass` launcher's list of services.

runtime::service_component!(
    /// The CRM service, migrated and built from a launcher's environment.
    Crm = "crm",
    crate::Application,
    crate::Settings,
    crate::DEFAULTS,
    crate::migrate
);
