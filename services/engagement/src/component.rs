//! The engagement service as an entry of the `salescompass` launcher's list of services.

runtime::service_component!(
    /// The engagement service, migrated and built from a launcher's environment.
    Engagement = "engagement",
    crate::Application,
    crate::Settings,
    crate::DEFAULTS,
    crate::migrate
);
