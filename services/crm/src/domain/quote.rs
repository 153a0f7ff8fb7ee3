//! Quotes (proposals) for an opportunity: their status machine and priced contents.

use chrono::{DateTime, Utc};
use iso_currency::Currency;
use uuid::Uuid;

use super::Money;
use super::pricing::{Discount, LineAmounts, MinorAmount, QuoteAmounts, Rate};

pub const MAX_NAME_LEN: usize = 200;
pub const MAX_LINES: usize = 200;
/// Larger quantities are typing mistakes.
pub const MAX_QUANTITY: i64 = 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuoteStatus {
    Draft,
    Sent,
    Accepted,
    Rejected,
}

/// What a caller asks of a quote's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteAction {
    Send,
    Accept,
    Reject,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("a {from} quote cannot be {action}")]
    Invalid {
        from: &'static str,
        action: &'static str,
    },
    #[error("only draft quotes can be changed; this one is {0}")]
    NotEditable(&'static str),
}

impl QuoteStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            QuoteStatus::Draft => "draft",
            QuoteStatus::Sent => "sent",
            QuoteStatus::Accepted => "accepted",
            QuoteStatus::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            QuoteStatus::Draft,
            QuoteStatus::Sent,
            QuoteStatus::Accepted,
            QuoteStatus::Rejected,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }

    /// draft → sent → accepted | rejected; nothing else.
    pub fn apply(self, action: QuoteAction) -> Result<Self, TransitionError> {
        match (self, action) {
            (QuoteStatus::Draft, QuoteAction::Send) => Ok(QuoteStatus::Sent),
            (QuoteStatus::Sent, QuoteAction::Accept) => Ok(QuoteStatus::Accepted),
            (QuoteStatus::Sent, QuoteAction::Reject) => Ok(QuoteStatus::Rejected),
            (from, action) => Err(TransitionError::Invalid {
                from: from.as_str(),
                action: action.past_tense(),
            }),
        }
    }

    /// Only drafts change (content or deletion).
    pub fn ensure_editable(self) -> Result<(), TransitionError> {
        if self == QuoteStatus::Draft {
            Ok(())
        } else {
            Err(TransitionError::NotEditable(self.as_str()))
        }
    }
}

impl QuoteAction {
    pub fn past_tense(self) -> &'static str {
        match self {
            QuoteAction::Send => "sent",
            QuoteAction::Accept => "accepted",
            QuoteAction::Reject => "rejected",
        }
    }
}

/// A discount as requested: a fixed amount still carries the currency it was given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiscountRequest {
    #[default]
    None,
    Rate(Rate),
    Amount(MinorAmount),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be in the quote currency {0}")]
pub struct CurrencyMismatch(pub &'static str);

impl DiscountRequest {
    pub fn in_currency(self, currency: Currency) -> Result<Discount, CurrencyMismatch> {
        match self {
            DiscountRequest::None => Ok(Discount::None),
            DiscountRequest::Rate(rate) => Ok(Discount::Rate(rate)),
            DiscountRequest::Amount(amount) if amount.currency == currency => {
                Ok(Discount::Amount(amount.minor))
            }
            DiscountRequest::Amount(_) => Err(CurrencyMismatch(currency.code())),
        }
    }
}

/// A line as requested: the unit price is `None` to take the price book's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRequest {
    pub product_id: Uuid,
    pub quantity: i64,
    pub unit_price: Option<MinorAmount>,
    pub discount: DiscountRequest,
}

/// A priced line, with the product as it was when priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteLine {
    pub product_id: Uuid,
    pub product_sku: String,
    pub product_name: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub discount: Discount,
    pub amounts: LineAmounts,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub id: Uuid,
    pub opportunity_id: Uuid,
    /// The opportunity's owner: whoever sees the opportunity sees the quote.
    pub owner_id: Uuid,
    pub name: String,
    pub status: QuoteStatus,
    pub price_book_id: Uuid,
    pub currency: Currency,
    pub lines: Vec<QuoteLine>,
    pub discount: Discount,
    pub tax_rate: Rate,
    pub amounts: QuoteAmounts,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A line of a closed deal's accepted quote, as the won and lost events carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedProduct {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    pub quantity: i64,
    /// The line total (after the line discount, before the quote discount and tax).
    pub net: Money,
}

/// The products a closed deal carries: the accepted quote's lines in quote order, when the
/// quote is in the deal amount's currency. Commissions rates them in the deal's currency and
/// never converts, so lines in another currency (or a deal without an amount) carry none.
pub fn closed_products(
    deal_amount: Option<Money>,
    currency: Currency,
    lines: &[QuoteLine],
) -> Vec<ClosedProduct> {
    if deal_amount.is_none_or(|amount| amount.currency_code() != currency.code()) {
        return Vec::new();
    }
    lines
        .iter()
        .filter_map(|line| {
            // Stored totals are bounded by pricing, so conversion only fails on corrupt rows.
            let net = MinorAmount::from_minor(currency, line.amounts.total.into())
                .ok()?
                .to_money()
                .ok()?;
            Some(ClosedProduct {
                product_id: line.product_id,
                sku: line.product_sku.clone(),
                name: line.product_name.clone(),
                quantity: line.quantity,
                net,
            })
        })
        .collect()
}

/// A new quote before pricing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQuote {
    pub opportunity_id: Uuid,
    pub name: String,
    /// `None`: the standard price book.
    pub price_book_id: Option<Uuid>,
    /// `None`: the opportunity amount's currency.
    pub currency: Option<Currency>,
    pub lines: Vec<LineRequest>,
    pub discount: DiscountRequest,
    pub tax_rate: Rate,
}

/// Changes to a draft; `None` keeps the field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotePatch {
    pub name: Option<String>,
    pub lines: Option<Vec<LineRequest>>,
    pub discount: Option<DiscountRequest>,
    pub tax_rate: Option<Rate>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use QuoteAction::{Accept, Reject, Send};
    use QuoteStatus::{Accepted, Draft, Rejected, Sent};

    #[test]
    fn the_status_machine() {
        let table = [
            (Draft, Send, Some(Sent)),
            (Draft, Accept, None),
            (Draft, Reject, None),
            (Sent, Send, None),
            (Sent, Accept, Some(Accepted)),
            (Sent, Reject, Some(Rejected)),
            (Accepted, Send, None),
            (Accepted, Accept, None),
            (Accepted, Reject, None),
            (Rejected, Send, None),
            (Rejected, Accept, None),
            (Rejected, Reject, None),
        ];
        for (from, action, to) in table {
            assert_eq!(from.apply(action).ok(), to, "{from:?} {action:?}");
        }
        assert_eq!(
            Sent.apply(Send).expect_err("refused").to_string(),
            "a sent quote cannot be sent"
        );
    }

    fn line(total: i64) -> QuoteLine {
        QuoteLine {
            product_id: Uuid::now_v7(),
            product_sku: "SKU-1".into(),
            product_name: "Widget".into(),
            quantity: 3,
            unit_price_minor: 40_000,
            discount: Discount::None,
            amounts: LineAmounts {
                subtotal: 120_000,
                discount: 120_000 - total,
                total,
            },
        }
    }

    #[test]
    fn closed_products_carry_the_line_totals_in_the_deal_currency() {
        let usd = Currency::from_code("USD").expect("usd");
        let amount = Money::parse("USD", 1_500, 0).ok();
        let lines = [line(108_005), line(0)];
        let products = closed_products(amount, usd, &lines);
        assert_eq!(products.len(), 2);
        assert_eq!(products[0].product_id, lines[0].product_id);
        assert_eq!(products[0].sku, "SKU-1");
        assert_eq!(products[0].quantity, 3);
        assert_eq!(
            products[0].net,
            Money::parse("USD", 1_080, 50_000_000).expect("money")
        );
        assert_eq!(products[1].net, Money::parse("USD", 0, 0).expect("money"));
    }

    #[test]
    fn closed_products_are_empty_in_another_currency_or_without_an_amount() {
        let eur = Currency::from_code("EUR").expect("eur");
        let usd = Currency::from_code("USD").expect("usd");
        let lines = [line(100)];
        assert!(closed_products(Money::parse("USD", 1, 0).ok(), eur, &lines).is_empty());
        assert!(closed_products(None, usd, &lines).is_empty());
    }

    #[test]
    fn only_drafts_are_editable() {
        assert!(Draft.ensure_editable().is_ok());
        for status in [Sent, Accepted, Rejected] {
            assert!(status.ensure_editable().is_err());
            assert_eq!(QuoteStatus::parse(status.as_str()), Some(status));
        }
    }
}
