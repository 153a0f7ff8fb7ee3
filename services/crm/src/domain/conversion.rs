//! Lead conversion: what a lead becomes (pure mapping; the store writes it in one transaction).

use chrono::NaiveDate;
use uuid::Uuid;

use super::account::{Account, AccountData, Address};
use super::contact::{Consent, Contact, ContactData};
use super::lead::{Lead, LeadStatus};
use super::money::Money;
use super::opportunity::{DEFAULT_CLOSE_DAYS, Opportunity};

/// What a conversion produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    pub lead: Lead,
    pub account: Account,
    pub contact: Contact,
    pub opportunity: Option<Opportunity>,
}

/// What the caller asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConvertOptions {
    /// Attach the contact to this account instead of creating one.
    pub existing_account_id: Option<Uuid>,
    pub opportunity: Option<OpportunityOptions>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpportunityOptions {
    /// Defaults to "<company> deal".
    pub name: Option<String>,
    pub amount: Option<Money>,
    /// Defaults to the default pipeline (its first open stage either way).
    pub pipeline_id: Option<Uuid>,
    /// Defaults to [`DEFAULT_CLOSE_DAYS`] from today.
    pub close_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountTarget {
    New(Box<AccountData>),
    Existing(Uuid),
}

/// The opportunity to create; account, contact and stage are filled in by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpportunityDraft {
    pub name: String,
    pub amount: Option<Money>,
    pub close_date: NaiveDate,
    pub pipeline_id: Option<Uuid>,
    pub owner_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionPlan {
    pub account: AccountTarget,
    /// `account_id` is set once the account is known.
    pub contact: ContactData,
    pub opportunity: Option<OpportunityDraft>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("the lead is already converted")]
    AlreadyConverted,
}

/// Maps a lead to the records it becomes. Everything is owned by the lead's owner.
pub fn plan(
    lead: &Lead,
    options: ConvertOptions,
    today: NaiveDate,
) -> Result<ConversionPlan, ConvertError> {
    if lead.converted.is_some() || lead.data.status == LeadStatus::Converted {
        return Err(ConvertError::AlreadyConverted);
    }
    let data = &lead.data;
    let full_name = format!("{} {}", data.first_name, data.last_name)
        .trim()
        .to_owned();
    let company = if data.company.is_empty() {
        full_name
    } else {
        data.company.clone()
    };
    let account = match options.existing_account_id {
        Some(id) => AccountTarget::Existing(id),
        None => AccountTarget::New(Box::new(AccountData {
            name: company.clone(),
            domain: String::new(),
            industry: String::new(),
            employee_count: data.employee_count,
            annual_revenue: None,
            billing_address: Address {
                country_code: data.country_code.clone(),
                ..Address::default()
            },
            shipping_address: Address::default(),
            parent_account_id: None,
            owner_id: data.owner_id,
            // Custom fields are defined per record type: the store fills these from the
            // tenant's conversion targets of the lead's fields.
            custom_fields: Default::default(),
        })),
    };
    let contact = ContactData {
        first_name: data.first_name.clone(),
        last_name: data.last_name.clone(),
        emails: non_empty(&data.email),
        phones: non_empty(&data.phone),
        title: data.title.clone(),
        account_id: None,
        owner_id: data.owner_id,
        email_consent: Consent::default(),
        phone_consent: Consent::default(),
        custom_fields: Default::default(),
    };
    let opportunity = options.opportunity.map(|o| OpportunityDraft {
        name: o.name.unwrap_or_else(|| format!("{company} deal")),
        amount: o.amount,
        close_date: o
            .close_date
            .unwrap_or(today + chrono::Duration::days(DEFAULT_CLOSE_DAYS)),
        pipeline_id: o.pipeline_id,
        owner_id: data.owner_id,
    });
    Ok(ConversionPlan {
        account,
        contact,
        opportunity,
    })
}

fn non_empty(value: &str) -> Vec<String> {
    if value.is_empty() {
        Vec::new()
    } else {
        vec![value.to_owned()]
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::lead::{ConvertedTo, LeadData, LeadRating};

    fn lead(company: &str) -> Lead {
        Lead {
            id: Uuid::now_v7(),
            data: LeadData {
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                email: "ada@engines.test".into(),
                phone: "+442071234567".into(),
                company: company.into(),
                title: "CTO".into(),
                source: "web".into(),
                country_code: "GB".into(),
                employee_count: 40,
                status: LeadStatus::Qualified,
                rating: LeadRating::Hot,
                score: 80,
                owner_id: Uuid::now_v7(),
                custom_fields: Default::default(),
            },
            converted: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 10).expect("date")
    }

    #[test]
    fn a_lead_maps_to_a_new_account_a_contact_and_a_deal() {
        let lead = lead("Analytical Engines");
        let plan = plan(
            &lead,
            ConvertOptions {
                existing_account_id: None,
                opportunity: Some(OpportunityOptions::default()),
            },
            today(),
        )
        .expect("convertible");
        let AccountTarget::New(account) = &plan.account else {
            panic!("expected a new account");
        };
        assert_eq!(account.name, "Analytical Engines");
        assert_eq!(account.employee_count, 40);
        assert_eq!(account.billing_address.country_code, "GB");
        assert_eq!(account.owner_id, lead.data.owner_id);
        assert_eq!(plan.contact.last_name, "Lovelace");
        assert_eq!(plan.contact.emails, ["ada@engines.test"]);
        assert_eq!(plan.contact.phones, ["+442071234567"]);
        assert_eq!(plan.contact.title, "CTO");
        assert_eq!(plan.contact.owner_id, lead.data.owner_id);
        let deal = plan.opportunity.expect("deal");
        assert_eq!(deal.name, "Analytical Engines deal");
        assert_eq!(
            deal.close_date,
            NaiveDate::from_ymd_opt(2026, 2, 9).expect("date")
        );
        assert_eq!(deal.owner_id, lead.data.owner_id);
    }

    #[test]
    fn an_existing_account_and_no_deal_are_respected() {
        let existing = Uuid::now_v7();
        let plan = plan(
            &lead(""),
            ConvertOptions {
                existing_account_id: Some(existing),
                opportunity: None,
            },
            today(),
        )
        .expect("convertible");
        assert_eq!(plan.account, AccountTarget::Existing(existing));
        assert!(plan.opportunity.is_none());
    }

    #[test]
    fn without_a_company_the_person_names_account_and_deal() {
        let plan = plan(
            &lead(""),
            ConvertOptions {
                existing_account_id: None,
                opportunity: Some(OpportunityOptions {
                    name: None,
                    ..OpportunityOptions::default()
                }),
            },
            today(),
        )
        .expect("convertible");
        assert!(matches!(&plan.account, AccountTarget::New(a) if a.name == "Ada Lovelace"));
        assert_eq!(
            plan.opportunity.map(|o| o.name),
            Some("Ada Lovelace deal".to_owned())
        );
    }

    #[test]
    fn a_converted_lead_cannot_be_converted_again() {
        let mut converted = lead("X");
        converted.converted = Some(ConvertedTo {
            account_id: Uuid::now_v7(),
            contact_id: Uuid::now_v7(),
            opportunity_id: None,
            converted_at: Utc::now(),
        });
        assert_eq!(
            plan(&converted, ConvertOptions::default(), today()),
            Err(ConvertError::AlreadyConverted)
        );
    }
}
