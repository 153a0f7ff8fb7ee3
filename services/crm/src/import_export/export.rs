//! CSV export: one page of a filtered List at a time, written from the domain records in the
//! columns of the record's field table, then one `custom.<key>` column per custom field.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::RecordStores;
use crate::convert;
use crate::domain::account::Account;
use crate::domain::contact::Contact;
use crate::domain::csv::write_row;
use crate::domain::custom_fields::{CustomValues, to_csv};
use crate::domain::day;
use crate::domain::lead::Lead;
use crate::domain::opportunity::Opportunity;
use crate::domain::record_fields;
use crate::domain::visibility::{RecordKind, Viewer};
use crate::error::{Error, Result};
use crate::listing::{Cursor, ListQuery};

/// An export's columns, from the record's field table.
pub fn header(kind: RecordKind) -> Vec<&'static str> {
    record_fields::table(kind).export_columns()
}

/// The custom field keys of `kind` an export writes after the field table's columns, in the
/// definitions' order. Read once per export (or per page of a paged export).
pub async fn custom_keys(
    stores: &RecordStores,
    viewer: Viewer,
    kind: RecordKind,
) -> Result<Vec<String>> {
    Ok(stores
        .custom_fields
        .definitions(viewer, Some(kind.into()))
        .await?
        .into_iter()
        .map(|d| d.spec.key)
        .collect())
}

/// The header row: the field table's columns, then `custom.<key>` per custom field (the names
/// an import maps back).
pub fn header_with_custom(kind: RecordKind, custom_keys: &[String]) -> Vec<String> {
    header(kind)
        .into_iter()
        .map(str::to_owned)
        .chain(custom_keys.iter().map(|k| format!("custom.{k}")))
        .collect()
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn id(id: Option<Uuid>) -> String {
    id.map(|i| i.to_string()).unwrap_or_default()
}

/// `units.nanos` as a decimal, e.g. `12000.5`; money never goes through floats.
fn decimal(units: i64, nanos: i32) -> String {
    if nanos == 0 {
        return units.to_string();
    }
    let sign = if units < 0 || nanos < 0 { "-" } else { "" };
    let fraction = format!("{:09}", nanos.unsigned_abs());
    format!(
        "{sign}{}.{}",
        units.unsigned_abs(),
        fraction.trim_end_matches('0')
    )
}

/// The value of an account's export `column`.
fn account_value(a: &Account, column: &str) -> Option<String> {
    let d = &a.data;
    Some(match column {
        "id" => a.id.to_string(),
        "name" => d.name.clone(),
        "domain" => d.domain.clone(),
        "industry" => d.industry.clone(),
        "employee_count" => d.employee_count.to_string(),
        "owner_id" => d.owner_id.to_string(),
        "create_time" => time(a.created_at),
        _ => return None,
    })
}

/// The value of a contact's export `column`; lists are `;`-separated.
fn contact_value(c: &Contact, column: &str) -> Option<String> {
    let d = &c.data;
    Some(match column {
        "id" => c.id.to_string(),
        "first_name" => d.first_name.clone(),
        "last_name" => d.last_name.clone(),
        "emails" => d.emails.join(";"),
        "phones" => d.phones.join(";"),
        "title" => d.title.clone(),
        "account_id" => id(d.account_id),
        "owner_id" => d.owner_id.to_string(),
        "create_time" => time(c.created_at),
        _ => return None,
    })
}

/// The value of a lead's export `column`; status and rating as the API names them.
fn lead_value(l: &Lead, column: &str) -> Option<String> {
    let d = &l.data;
    Some(match column {
        "id" => l.id.to_string(),
        "first_name" => d.first_name.clone(),
        "last_name" => d.last_name.clone(),
        "email" => d.email.clone(),
        "phone" => d.phone.clone(),
        "company" => d.company.clone(),
        "title" => d.title.clone(),
        "source" => d.source.clone(),
        "country_code" => d.country_code.clone(),
        "employee_count" => d.employee_count.to_string(),
        "status" => convert::lead_status_to_pb(d.status)
            .as_str_name()
            .to_owned(),
        "rating" => convert::lead_rating_to_pb(d.rating)
            .as_str_name()
            .to_owned(),
        "score" => d.score.to_string(),
        "owner_id" => d.owner_id.to_string(),
        "create_time" => time(l.created_at),
        _ => return None,
    })
}

/// The value of an opportunity's export `column`; the amount as an exact decimal.
fn opportunity_value(o: &Opportunity, column: &str) -> Option<String> {
    let d = &o.data;
    Some(match column {
        "id" => o.id.to_string(),
        "name" => d.name.clone(),
        "amount_currency" => d
            .amount
            .map(|m| m.currency_code().to_owned())
            .unwrap_or_default(),
        "amount" => d
            .amount
            .map(|m| decimal(m.units(), m.nanos()))
            .unwrap_or_default(),
        "close_date" => day::format(d.close_date),
        "pipeline_id" => o.pipeline_id.to_string(),
        "stage_id" => o.stage.id.to_string(),
        "owner_id" => d.owner_id.to_string(),
        "account_id" => id(d.account_id),
        "create_time" => time(o.created_at),
        _ => return None,
    })
}

/// Appends one CSV row: `value` of each of `kind`'s export columns.
fn write_record<R>(
    out: &mut Vec<u8>,
    kind: RecordKind,
    record: &R,
    value: fn(&R, &str) -> Option<String>,
    custom: (&[String], &CustomValues),
) -> Result<()> {
    let (keys, values) = custom;
    let mut row = header(kind)
        .into_iter()
        .map(|column| {
            value(record, column).ok_or_else(|| {
                Error::Internal(format!("no export value for {} {column}", kind.name()))
            })
        })
        .collect::<Result<Vec<String>>>()?;
    row.extend(
        keys.iter()
            .map(|k| values.get(k).map(to_csv).unwrap_or_default()),
    );
    write_row(out, &row);
    Ok(())
}

/// One page of an export: the listed records as CSV rows, and where the next page starts.
pub async fn page(
    stores: &RecordStores,
    viewer: Viewer,
    kind: RecordKind,
    custom_keys: &[String],
    query: ListQuery,
) -> Result<(Vec<u8>, Option<Cursor>)> {
    let mut out = Vec::new();
    let next = match kind {
        RecordKind::Account => {
            let page = stores.accounts.list_accounts(viewer, query).await?;
            for a in &page.items {
                write_record(
                    &mut out,
                    kind,
                    a,
                    account_value,
                    (custom_keys, &a.data.custom_fields),
                )?;
            }
            page.next
        }
        RecordKind::Contact => {
            let page = stores.contacts.list_contacts(viewer, query).await?;
            for c in &page.items {
                write_record(
                    &mut out,
                    kind,
                    c,
                    contact_value,
                    (custom_keys, &c.data.custom_fields),
                )?;
            }
            page.next
        }
        RecordKind::Lead => {
            let page = stores.leads.list_leads(viewer, query).await?;
            for l in &page.items {
                write_record(
                    &mut out,
                    kind,
                    l,
                    lead_value,
                    (custom_keys, &l.data.custom_fields),
                )?;
            }
            page.next
        }
        RecordKind::Opportunity => {
            let page = stores
                .opportunities
                .list_opportunities(viewer, query)
                .await?;
            for o in &page.items {
                write_record(
                    &mut out,
                    kind,
                    o,
                    opportunity_value,
                    (custom_keys, &o.data.custom_fields),
                )?;
            }
            page.next
        }
    };
    Ok((out, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(decimal(12_000, 0), "12000");
        assert_eq!(decimal(12, 500_000_000), "12.5");
        assert_eq!(decimal(0, 10_000_000), "0.01");
        assert_eq!(decimal(-3, -250_000_000), "-3.25");
    }
}
