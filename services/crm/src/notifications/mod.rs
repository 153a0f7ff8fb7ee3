//! The in-app notification feed's moving parts outside the store: the hub that tells open
//! streams about new notifications, and the consumer that turns other services' events into
//! notifications. The feed's rows are written by the store, in the transaction of the change
//! that causes them (reminders, mentions; assignments and SLA breaches by triggers, see the
//! `20261208002100` migration).

pub mod commissions;
pub mod hub;
