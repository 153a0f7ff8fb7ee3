//! Integer money arithmetic of commissions. Amounts are `i64` minor units of the plan's currency
//! (cents for USD); rates and multipliers are `i64` millionths (`50_000` = 5 %, `1_500_000` =
//! ×1.5). Products are computed exactly in `i128` and rounded once per line, half to even
//! ("banker's rounding"): 0.5 cent goes to the even cent, so rounding errors do not drift upward
//! over thousands of lines.

/// Minor units of a currency (e.g. cents).
pub type Minor = i64;

/// One in millionths: rates and multipliers are scaled by this.
pub const MILLION: i64 = 1_000_000;

/// `num / den` rounded half to even; `den` must be positive.
pub fn round_half_even(num: i128, den: i128) -> i128 {
    debug_assert!(den > 0, "denominator must be positive");
    let quotient = num.div_euclid(den);
    let remainder = num.rem_euclid(den);
    let twice = 2 * remainder;
    if twice > den || (twice == den && quotient % 2 != 0) {
        quotient + 1
    } else {
        quotient
    }
}

/// Saturates an exact result into minor units (amounts are bounded far below `i64::MAX` by
/// validation; saturation only guards arithmetic on corrupt data).
pub fn to_minor(value: i128) -> Minor {
    Minor::try_from(value).unwrap_or(if value < 0 { Minor::MIN } else { Minor::MAX })
}

/// `base × rate × multiplier`, rates in millionths, rounded half to even.
pub fn commission(base: Minor, rate: i64, multiplier: i64) -> Minor {
    let exact = i128::from(base) * i128::from(rate) * i128::from(multiplier);
    to_minor(round_half_even(
        exact,
        i128::from(MILLION) * i128::from(MILLION),
    ))
}

/// Splits `amount` by `percents` (adding up to 100) so the shares add up to `amount` exactly:
/// every share is rounded down, then the cents left over go one each to the largest fractional
/// remainders (ties to the earlier split). A 60/40 split of 1001 gives 601 and 400.
pub fn split(amount: Minor, percents: &[u32]) -> Vec<Minor> {
    let total: i128 = percents.iter().map(|p| i128::from(*p)).sum();
    if total == 0 {
        return vec![0; percents.len()];
    }
    let amount = i128::from(amount);
    let mut shares: Vec<(i128, i128)> = percents
        .iter()
        .map(|p| {
            let exact = amount * i128::from(*p);
            (exact.div_euclid(total), exact.rem_euclid(total))
        })
        .collect();
    let mut left = amount - shares.iter().map(|(q, _)| q).sum::<i128>();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|a, b| shares[*b].1.cmp(&shares[*a].1).then(a.cmp(b)));
    for index in order {
        if left <= 0 {
            break;
        }
        shares[index].0 += 1;
        left -= 1;
    }
    shares.into_iter().map(|(q, _)| to_minor(q)).collect()
}

/// `1234567` with 2 decimals → `12345.67`; for explanations and exports.
pub fn format_minor(amount: Minor, decimals: u32) -> String {
    if decimals == 0 {
        return amount.to_string();
    }
    let scale = 10_i128.pow(decimals);
    let value = i128::from(amount);
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = decimals as usize
    )
}

/// A rate or multiplier in millionths as a percentage: `52_500` → `5.25%`.
pub fn format_percent(millionths: i64) -> String {
    // millionths / 10_000 = percent.
    let text = format_minor(millionths, 4);
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    format!("{trimmed}%")
}

/// A multiplier in millionths: `1_500_000` → `×1.5`.
pub fn format_multiplier(millionths: i64) -> String {
    let text = format_minor(millionths, 6);
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    format!("×{trimmed}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_round_to_even() {
        for (num, den, expected) in [
            (5, 2, 2),
            (7, 2, 4),
            (-5, 2, -2),
            (-7, 2, -4),
            (11, 4, 3),
            (9, 4, 2),
            (10, 4, 2),
            (0, 3, 0),
        ] {
            assert_eq!(round_half_even(num, den), expected, "{num}/{den}");
        }
    }

    #[test]
    fn commissions_round_at_the_line() {
        // 5 % of 0.50 = 0.025 → 0.02 (even); 5 % of 0.70 = 0.035 → 0.04 (even).
        assert_eq!(commission(50, 50_000, MILLION), 2);
        assert_eq!(commission(70, 50_000, MILLION), 4);
        // ×1.5 on 8 % of 100.00 = 12.00.
        assert_eq!(commission(10_000, 80_000, 1_500_000), 1_200);
        assert_eq!(commission(-70, 50_000, MILLION), -4);
    }

    #[test]
    fn splits_add_up_to_the_amount() {
        assert_eq!(split(1001, &[60, 40]), [601, 400]);
        assert_eq!(split(1001, &[50, 50]), [501, 500]);
        assert_eq!(split(100, &[34, 33, 33]), [34, 33, 33]);
        assert_eq!(split(10, &[100]), [10]);
        assert_eq!(split(2, &[33, 33, 34]), [1, 0, 1]);
    }

    #[test]
    fn amounts_and_rates_format_for_people() {
        assert_eq!(format_minor(1_234_567, 2), "12345.67");
        assert_eq!(format_minor(-5, 2), "-0.05");
        assert_eq!(format_minor(7, 0), "7");
        assert_eq!(format_percent(52_500), "5.25%");
        assert_eq!(format_percent(80_000), "8%");
        assert_eq!(format_multiplier(1_500_000), "×1.5");
        assert_eq!(format_multiplier(MILLION), "×1");
    }
}
