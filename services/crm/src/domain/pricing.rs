//! Exact quote arithmetic in integer minor units (cents for USD, yen for JPY), with one rounding
//! rule: round half up ("commercial rounding"; every amount here is zero or more, so half up is
//! also half away from zero). Each line discount, the quote discount and the tax are rounded
//! once, from the exact product, so a quote's total never depends on the order of its lines.

use iso_currency::Currency;

use super::money::{MAX_UNITS, Money, MoneyError, NANOS_PER_UNIT};

/// Parts per million: 1,000,000 = 100 %.
pub const PPM: i64 = 1_000_000;

/// A rate of 0 to 100 %, in parts per million (125000 = 12.5 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rate(i32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("must be between 0 and 1000000 parts per million (0 to 100 %)")]
    Range,
}

impl Rate {
    pub fn parse(ppm: i32) -> Result<Self, RateError> {
        if (0..=PPM as i32).contains(&ppm) {
            Ok(Self(ppm))
        } else {
            Err(RateError::Range)
        }
    }

    pub fn ppm(self) -> i32 {
        self.0
    }
}

/// `numerator / denominator` rounded half up, for a numerator ≥ 0 and a denominator > 0.
pub fn div_round_half_up(numerator: i128, denominator: i128) -> i128 {
    (2 * numerator + denominator) / (2 * denominator)
}

/// `amount × rate`, rounded half up to the minor unit.
pub fn apply_rate(amount: i128, rate: Rate) -> i128 {
    div_round_half_up(amount * i128::from(rate.0), i128::from(PPM))
}

/// Digits of the currency's minor unit; currencies without one (gold, SDRs) count in nanos.
pub fn minor_digits(currency: Currency) -> u32 {
    currency.exponent().map(u32::from).unwrap_or(9)
}

/// An amount in minor units of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinorAmount {
    pub currency: Currency,
    pub minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MinorError {
    #[error("{0} has no minor unit; use a currency with cents or whole units")]
    NoMinorUnit(&'static str),
    #[error("must be at most {MAX_UNITS} units")]
    TooLarge,
}

impl MinorAmount {
    /// A price book or quote amount: the currency must have a minor unit.
    pub fn from_money(money: Money) -> Result<Self, MinorError> {
        let currency = Currency::from_code(money.currency_code())
            .ok_or(MinorError::NoMinorUnit(money.currency_code()))?;
        let digits = u32::from(
            currency
                .exponent()
                .ok_or(MinorError::NoMinorUnit(currency.code()))?,
        );
        // Money::parse already refused precision beyond the minor unit, so this is exact.
        let scale = 10_i64.pow(digits);
        let per_minor = i64::from(NANOS_PER_UNIT) / scale;
        Ok(Self {
            currency,
            minor: money.units() * scale + i64::from(money.nanos()) / per_minor,
        })
    }

    pub fn from_minor(currency: Currency, minor: i128) -> Result<Self, MinorError> {
        let digits = minor_digits(currency);
        let max = i128::from(MAX_UNITS) * 10_i128.pow(digits);
        if minor.abs() > max {
            return Err(MinorError::TooLarge);
        }
        let minor = i64::try_from(minor).map_err(|_| MinorError::TooLarge)?;
        Ok(Self { currency, minor })
    }

    /// As google.type.Money-shaped money; fails only beyond [`MAX_UNITS`].
    pub fn to_money(self) -> Result<Money, MoneyError> {
        let scale = 10_i64.pow(minor_digits(self.currency));
        let per_minor = i64::from(NANOS_PER_UNIT) / scale;
        let nanos =
            i32::try_from((self.minor % scale) * per_minor).map_err(|_| MoneyError::NanosRange)?;
        Money::parse(self.currency.code(), self.minor / scale, nanos)
    }
}

/// A discount: none, a rate of the amount it applies to, or a fixed amount in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Discount {
    #[default]
    None,
    Rate(Rate),
    Amount(i64),
}

impl Discount {
    /// The discount on `base`; `None` when a fixed amount exceeds it.
    fn on(self, base: i128) -> Option<i128> {
        match self {
            Discount::None => Some(0),
            Discount::Rate(rate) => Some(apply_rate(base, rate)),
            Discount::Amount(amount) => (i128::from(amount) <= base).then_some(amount.into()),
        }
    }

    pub fn rate_ppm(self) -> i32 {
        match self {
            Discount::Rate(rate) => rate.ppm(),
            _ => 0,
        }
    }

    pub fn amount_minor(self) -> i64 {
        match self {
            Discount::Amount(amount) => amount,
            _ => 0,
        }
    }
}

/// What a line is priced from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInput {
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub discount: Discount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineAmounts {
    pub subtotal: i64,
    pub discount: i64,
    pub total: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuoteAmounts {
    pub subtotal: i64,
    pub discount_total: i64,
    pub tax: i64,
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("the discount exceeds the line subtotal")]
    LineDiscountTooLarge { line: usize },
    #[error("the discount exceeds the sum of the line totals")]
    QuoteDiscountTooLarge,
    #[error("the amounts are too large")]
    TooLarge { line: Option<usize> },
}

/// Prices a quote (see the module doc for the rounding rule). `max_minor` is the largest amount
/// the currency allows.
pub fn price_quote(
    lines: &[LineInput],
    discount: Discount,
    tax_rate: Rate,
    max_minor: i64,
) -> Result<(Vec<LineAmounts>, QuoteAmounts), PricingError> {
    let max = i128::from(max_minor);
    let fits = |value: i128, line: Option<usize>| {
        if value > max {
            Err(PricingError::TooLarge { line })
        } else {
            i64::try_from(value).map_err(|_| PricingError::TooLarge { line })
        }
    };
    let mut priced = Vec::with_capacity(lines.len());
    let (mut subtotal, mut line_discounts) = (0_i128, 0_i128);
    for (i, line) in lines.iter().enumerate() {
        let gross = i128::from(line.quantity) * i128::from(line.unit_price_minor);
        let off = line
            .discount
            .on(gross)
            .ok_or(PricingError::LineDiscountTooLarge { line: i })?;
        priced.push(LineAmounts {
            subtotal: fits(gross, Some(i))?,
            discount: fits(off, Some(i))?,
            total: fits(gross - off, Some(i))?,
        });
        subtotal += gross;
        line_discounts += off;
    }
    let net_of_lines = subtotal - line_discounts;
    let quote_discount = discount
        .on(net_of_lines)
        .ok_or(PricingError::QuoteDiscountTooLarge)?;
    let discount_total = line_discounts + quote_discount;
    let taxable = subtotal - discount_total;
    let tax = apply_rate(taxable, tax_rate);
    let totals = QuoteAmounts {
        subtotal: fits(subtotal, None)?,
        discount_total: fits(discount_total, None)?,
        tax: fits(tax, None)?,
        total: fits(taxable + tax, None)?,
    };
    Ok((priced, totals))
}

/// The largest amount in minor units of `currency` (MAX_UNITS whole units).
pub fn max_minor(currency: Currency) -> i64 {
    MAX_UNITS.saturating_mul(10_i64.pow(minor_digits(currency)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(ppm: i32) -> Rate {
        Rate::parse(ppm).expect("valid rate")
    }

    #[test]
    fn rounding_is_half_up_at_the_minor_unit() {
        // (numerator, denominator, expected): exact, below half, half, above half.
        let table = [
            (0, 100, 0),
            (100, 100, 1),
            (149, 100, 1),
            (150, 100, 2),
            (151, 100, 2),
            (250, 100, 3),
            (49, 100, 0),
            (50, 100, 1),
            (999_999, 1_000_000, 1),
            (499_999, 1_000_000, 0),
            (500_000, 1_000_000, 1),
        ];
        for (numerator, denominator, expected) in table {
            assert_eq!(
                div_round_half_up(numerator, denominator),
                expected,
                "{numerator}/{denominator}"
            );
        }
    }

    #[test]
    fn line_and_quote_amounts_follow_the_documented_rule() {
        // (quantity, unit price, line discount, quote discount, tax ppm,
        //  expected line (subtotal, discount, total), expected quote amounts)
        struct Case {
            name: &'static str,
            quantity: i64,
            unit: i64,
            line_discount: Discount,
            quote_discount: Discount,
            tax: i32,
            line: (i64, i64, i64),
            quote: (i64, i64, i64, i64),
        }
        let cases = [
            Case {
                name: "no discount, no tax",
                quantity: 3,
                unit: 1_999,
                line_discount: Discount::None,
                quote_discount: Discount::None,
                tax: 0,
                line: (5_997, 0, 5_997),
                quote: (5_997, 0, 0, 5_997),
            },
            Case {
                name: "line discount of exactly half a cent rounds up",
                // 0.5 % of 100 cents = 0.5 cents -> 1 cent
                quantity: 1,
                unit: 100,
                line_discount: Discount::Rate(rate(5_000)),
                quote_discount: Discount::None,
                tax: 0,
                line: (100, 1, 99),
                quote: (100, 1, 0, 99),
            },
            Case {
                name: "line discount just below half a cent rounds down",
                // 0.4999 % of 100 cents = 0.4999 cents -> 0
                quantity: 1,
                unit: 100,
                line_discount: Discount::Rate(rate(4_999)),
                quote_discount: Discount::None,
                tax: 0,
                line: (100, 0, 100),
                quote: (100, 0, 0, 100),
            },
            Case {
                name: "tax of exactly half a cent rounds up",
                // 19 % of 50 cents = 9.5 cents -> 10
                quantity: 1,
                unit: 50,
                line_discount: Discount::None,
                quote_discount: Discount::None,
                tax: 190_000,
                line: (50, 0, 50),
                quote: (50, 0, 10, 60),
            },
            Case {
                name: "tax is on the amount after both discounts",
                // 10 x 12.34 = 123.40; 15 % line = 18.51; net 104.89; quote 2.00 off -> 102.89;
                // 8.875 % tax = 9.1314875 -> 9.13
                quantity: 10,
                unit: 1_234,
                line_discount: Discount::Rate(rate(150_000)),
                quote_discount: Discount::Amount(200),
                tax: 88_750,
                line: (12_340, 1_851, 10_489),
                quote: (12_340, 2_051, 913, 11_202),
            },
            Case {
                name: "quote rate discount rounds once on the sum of lines",
                // 3 x 0.33 = 0.99; 50 % = 0.495 -> 0.50
                quantity: 3,
                unit: 33,
                line_discount: Discount::None,
                quote_discount: Discount::Rate(rate(500_000)),
                tax: 0,
                line: (99, 0, 99),
                quote: (99, 50, 0, 49),
            },
            Case {
                name: "100 % discount leaves nothing to tax",
                quantity: 2,
                unit: 5_000,
                line_discount: Discount::Rate(rate(1_000_000)),
                quote_discount: Discount::None,
                tax: 200_000,
                line: (10_000, 10_000, 0),
                quote: (10_000, 10_000, 0, 0),
            },
            Case {
                name: "a fixed line discount equal to the subtotal is allowed",
                quantity: 1,
                unit: 700,
                line_discount: Discount::Amount(700),
                quote_discount: Discount::None,
                tax: 0,
                line: (700, 700, 0),
                quote: (700, 700, 0, 0),
            },
        ];
        for case in cases {
            let (lines, quote) = price_quote(
                &[LineInput {
                    quantity: case.quantity,
                    unit_price_minor: case.unit,
                    discount: case.line_discount,
                }],
                case.quote_discount,
                rate(case.tax),
                i64::MAX,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            let line = lines[0];
            assert_eq!(
                (line.subtotal, line.discount, line.total),
                case.line,
                "{}",
                case.name
            );
            assert_eq!(
                (quote.subtotal, quote.discount_total, quote.tax, quote.total),
                case.quote,
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn lines_round_separately_and_the_order_of_lines_does_not_matter() {
        // Each line: 1 x 0.05 with 10 % off = 0.005 -> 0.01 each; three lines -> 0.03.
        let line = LineInput {
            quantity: 1,
            unit_price_minor: 5,
            discount: Discount::Rate(rate(100_000)),
        };
        let other = LineInput {
            quantity: 7,
            unit_price_minor: 1_001,
            discount: Discount::None,
        };
        let (_, a) = price_quote(
            &[line, line, other, line],
            Discount::None,
            rate(0),
            i64::MAX,
        )
        .expect("ok");
        let (_, b) = price_quote(
            &[other, line, line, line],
            Discount::None,
            rate(0),
            i64::MAX,
        )
        .expect("ok");
        assert_eq!(a, b);
        assert_eq!(a.discount_total, 3);
    }

    #[test]
    fn discounts_larger_than_their_base_and_overflow_are_refused() {
        let line = LineInput {
            quantity: 1,
            unit_price_minor: 100,
            discount: Discount::Amount(101),
        };
        assert_eq!(
            price_quote(&[line], Discount::None, rate(0), i64::MAX),
            Err(PricingError::LineDiscountTooLarge { line: 0 })
        );
        let line = LineInput {
            discount: Discount::None,
            ..line
        };
        assert_eq!(
            price_quote(&[line], Discount::Amount(101), rate(0), i64::MAX),
            Err(PricingError::QuoteDiscountTooLarge)
        );
        let huge = LineInput {
            quantity: i64::MAX,
            unit_price_minor: i64::MAX,
            discount: Discount::None,
        };
        assert_eq!(
            price_quote(&[huge], Discount::None, rate(0), i64::MAX),
            Err(PricingError::TooLarge { line: Some(0) })
        );
        assert!(Rate::parse(1_000_001).is_err() && Rate::parse(-1).is_err());
    }

    #[test]
    fn minor_amounts_convert_exactly_to_and_from_money() {
        let usd = Money::parse("USD", 12, 340_000_000).expect("money");
        let minor = MinorAmount::from_money(usd).expect("usd has cents");
        assert_eq!(minor.minor, 1_234);
        assert_eq!(minor.to_money(), Ok(usd));
        let jpy = Money::parse("JPY", 500, 0).expect("money");
        assert_eq!(MinorAmount::from_money(jpy).expect("yen").minor, 500);
        let bhd = MinorAmount::from_minor(Currency::BHD, 1_005)
            .expect("fits")
            .to_money()
            .expect("valid money");
        assert_eq!((bhd.units(), bhd.nanos()), (1, 5_000_000));
        let gold = Money::parse("XAU", 1, 0).expect("money");
        assert!(matches!(
            MinorAmount::from_money(gold),
            Err(MinorError::NoMinorUnit("XAU"))
        ));
    }
}
