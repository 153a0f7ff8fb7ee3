//! When a tenant's support team works, and SLA arithmetic on that clock: a target of eight
//! business hours set on Friday at 16:00 falls due on Monday at 16:00, not on Saturday.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
};
use chrono_tz::Tz;

/// Longest SLA target, in business minutes (a month of round-the-clock hours); bounds the walk.
pub const MAX_TARGET_MINUTES: i64 = 31 * 24 * 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusinessHoursError {
    #[error("must be an IANA time zone such as \"Europe/Berlin\"")]
    TimeZone,
    #[error("must name between one and seven distinct ISO weekdays (1 = Monday ... 7 = Sunday)")]
    Weekdays,
    #[error("must be a time of day in the form HH:MM")]
    Time,
    #[error("the opening time must be before the closing time")]
    Window,
}

/// The weekly window in which the SLA clock runs, in the tenant's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHours {
    time_zone: Tz,
    /// Index 0 is Monday.
    workdays: [bool; 7],
    opens_at: NaiveTime,
    closes_at: NaiveTime,
}

impl Default for BusinessHours {
    /// Monday to Friday, 09:00-17:00 UTC.
    fn default() -> Self {
        Self {
            time_zone: Tz::UTC,
            workdays: [true, true, true, true, true, false, false],
            opens_at: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or(NaiveTime::MIN),
            closes_at: NaiveTime::from_hms_opt(17, 0, 0).unwrap_or(NaiveTime::MIN),
        }
    }
}

/// Parses `HH:MM` (24-hour clock).
pub fn parse_time(raw: &str) -> Result<NaiveTime, BusinessHoursError> {
    if raw.len() != 5 {
        return Err(BusinessHoursError::Time);
    }
    NaiveTime::parse_from_str(raw, "%H:%M").map_err(|_| BusinessHoursError::Time)
}

pub fn format_time(time: NaiveTime) -> String {
    time.format("%H:%M").to_string()
}

pub fn parse_time_zone(raw: &str) -> Result<Tz, BusinessHoursError> {
    raw.parse::<Tz>().map_err(|_| BusinessHoursError::TimeZone)
}

/// ISO weekdays (1 = Monday); each at most once.
pub fn parse_weekdays(days: &[i32]) -> Result<[bool; 7], BusinessHoursError> {
    let mut set = [false; 7];
    for day in days {
        // checked: `day - 1` overflows for i32::MIN (found by the API fuzzer).
        let index = day
            .checked_sub(1)
            .and_then(|index| usize::try_from(index).ok())
            .ok_or(BusinessHoursError::Weekdays)?;
        match set.get_mut(index) {
            Some(slot) if !*slot => *slot = true,
            _ => return Err(BusinessHoursError::Weekdays),
        }
    }
    if set.iter().any(|d| *d) {
        Ok(set)
    } else {
        Err(BusinessHoursError::Weekdays)
    }
}

impl BusinessHours {
    pub fn new(
        time_zone: Tz,
        workdays: [bool; 7],
        opens_at: NaiveTime,
        closes_at: NaiveTime,
    ) -> Result<Self, BusinessHoursError> {
        if !workdays.iter().any(|d| *d) {
            return Err(BusinessHoursError::Weekdays);
        }
        if opens_at >= closes_at {
            return Err(BusinessHoursError::Window);
        }
        Ok(Self {
            time_zone,
            workdays,
            opens_at,
            closes_at,
        })
    }

    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    pub fn opens_at(&self) -> NaiveTime {
        self.opens_at
    }

    pub fn closes_at(&self) -> NaiveTime {
        self.closes_at
    }

    /// ISO weekday numbers (1 = Monday) the clock runs on.
    pub fn weekdays(&self) -> Vec<i32> {
        (1..=7)
            .zip(self.workdays)
            .filter_map(|(n, on)| on.then_some(n))
            .collect()
    }

    /// The instant `minutes` business minutes after `start`: the clock only runs inside the
    /// working window of working days, in the tenant's time zone (DST shifts included).
    pub fn add_business_minutes(&self, start: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
        let mut remaining = Duration::minutes(minutes.clamp(0, MAX_TARGET_MINUTES));
        let mut day = start.with_timezone(&self.time_zone).date_naive();
        // One working day a week at least, so a year of days always covers the longest target.
        for _ in 0..(MAX_TARGET_MINUTES / 60 * 7 + 14) {
            if let Some((open, close)) = self.window(day) {
                let from = open.max(start);
                if from < close {
                    let available = close - from;
                    if remaining <= available {
                        return from + remaining;
                    }
                    remaining -= available;
                }
            }
            day = day.succ_opt().unwrap_or(day);
        }
        start + remaining
    }

    /// The working window of local `day` in UTC, or `None` on a day off.
    fn window(&self, day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let index = day.weekday().num_days_from_monday() as usize;
        if !self.workdays.get(index).copied().unwrap_or(false) {
            return None;
        }
        let open = self.instant(day.and_time(self.opens_at));
        let close = self.instant(day.and_time(self.closes_at));
        (open < close).then_some((open, close))
    }

    /// A local wall-clock time as an instant; in a DST gap the wall time that does not exist is
    /// read as the first instant after the gap, in an overlap as the earlier instant.
    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.time_zone.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
            LocalResult::None => {
                let mut probe = local;
                for _ in 0..(24 * 4) {
                    probe += Duration::minutes(15);
                    if let Some(t) = self.time_zone.from_local_datetime(&probe).earliest() {
                        return t.with_timezone(&Utc);
                    }
                }
                Utc.from_utc_datetime(&local)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid instant")
            .with_timezone(&Utc)
    }

    fn hours(tz: &str, days: &[i32], opens: &str, closes: &str) -> BusinessHours {
        BusinessHours::new(
            parse_time_zone(tz).expect("zone"),
            parse_weekdays(days).expect("days"),
            parse_time(opens).expect("opens"),
            parse_time(closes).expect("closes"),
        )
        .expect("valid hours")
    }

    #[test]
    fn weekdays_outside_one_to_seven_are_refused_without_overflow() {
        for days in [
            &[i32::MIN][..],
            &[0],
            &[8],
            &[i32::MAX],
            &[-1, 2],
            &[1, 1],
            &[],
        ] {
            assert!(
                matches!(parse_weekdays(days), Err(BusinessHoursError::Weekdays)),
                "{days:?}"
            );
        }
        assert_eq!(
            parse_weekdays(&[7, 1]).expect("valid"),
            [true, false, false, false, false, false, true]
        );
    }

    #[test]
    fn sla_targets_count_only_business_time() {
        let weekdays = BusinessHours::default();
        let berlin = hours("Europe/Berlin", &[1, 2, 3, 4, 5], "09:00", "17:00");
        let new_york = hours("America/New_York", &[1, 2, 3, 4, 5], "08:00", "16:00");
        let everyday = hours("UTC", &[1, 2, 3, 4, 5, 6, 7], "00:00", "23:59");
        // (hours, start, business minutes, due). 2026-12-04 is a Friday.
        let cases: &[(&BusinessHours, &str, i64, &str)] = &[
            // Inside one day.
            (
                &weekdays,
                "2026-12-01T10:00:00Z",
                60,
                "2026-12-01T11:00:00Z",
            ),
            // Exactly at closing time.
            (
                &weekdays,
                "2026-12-01T16:00:00Z",
                60,
                "2026-12-01T17:00:00Z",
            ),
            // Crosses the night into the next morning.
            (
                &weekdays,
                "2026-12-01T16:00:00Z",
                120,
                "2026-12-02T10:00:00Z",
            ),
            // Before opening: the clock starts at 09:00.
            (
                &weekdays,
                "2026-12-01T06:30:00Z",
                30,
                "2026-12-01T09:30:00Z",
            ),
            // After closing: the clock starts the next morning.
            (
                &weekdays,
                "2026-12-01T20:00:00Z",
                60,
                "2026-12-02T10:00:00Z",
            ),
            // Friday afternoon over the weekend to Monday.
            (
                &weekdays,
                "2026-12-04T16:00:00Z",
                480,
                "2026-12-07T16:00:00Z",
            ),
            // Opened on a Saturday: Monday's hours count.
            (
                &weekdays,
                "2026-12-05T12:00:00Z",
                60,
                "2026-12-07T10:00:00Z",
            ),
            // Several whole days: three business days from Monday 09:00.
            (
                &weekdays,
                "2026-12-07T09:00:00Z",
                3 * 480,
                "2026-12-09T17:00:00Z",
            ),
            // Zero minutes inside hours is now; outside, the next opening.
            (&weekdays, "2026-12-01T10:00:00Z", 0, "2026-12-01T10:00:00Z"),
            (&weekdays, "2026-12-05T10:00:00Z", 0, "2026-12-07T09:00:00Z"),
            // Berlin is UTC+1 in December: 09:00 local is 08:00 UTC.
            (&berlin, "2026-12-01T07:00:00Z", 60, "2026-12-01T09:00:00Z"),
            (&berlin, "2026-12-01T15:30:00Z", 60, "2026-12-02T08:30:00Z"),
            // New York (UTC-5): Friday 15:00 local plus two hours lands Monday 09:00 local.
            (
                &new_york,
                "2026-12-04T20:00:00Z",
                120,
                "2026-12-07T14:00:00Z",
            ),
            // Across the spring DST change in Berlin (29 March 2026, clocks go 02:00 -> 03:00):
            // Friday 16:00 CET + 2 h = Monday 10:00 CEST = 08:00 UTC.
            (&berlin, "2026-03-27T15:00:00Z", 120, "2026-03-30T08:00:00Z"),
            // A round-the-clock team works weekends.
            (
                &everyday,
                "2026-12-05T10:00:00Z",
                60,
                "2026-12-05T11:00:00Z",
            ),
        ];
        for (hours, start, minutes, due) in cases {
            assert_eq!(
                hours.add_business_minutes(at(start), *minutes),
                at(due),
                "{start} + {minutes} min in {:?}",
                hours.time_zone()
            );
        }
    }

    #[test]
    fn business_hours_input_is_validated() {
        assert_eq!(
            parse_time_zone("Mars/Olympus"),
            Err(BusinessHoursError::TimeZone)
        );
        assert_eq!(parse_weekdays(&[]), Err(BusinessHoursError::Weekdays));
        assert_eq!(parse_weekdays(&[1, 1]), Err(BusinessHoursError::Weekdays));
        assert_eq!(parse_weekdays(&[0]), Err(BusinessHoursError::Weekdays));
        assert_eq!(parse_weekdays(&[8]), Err(BusinessHoursError::Weekdays));
        assert_eq!(parse_time("9:00"), Err(BusinessHoursError::Time));
        assert_eq!(parse_time("24:00"), Err(BusinessHoursError::Time));
        assert_eq!(format_time(parse_time("08:30").expect("time")), "08:30");
        let nine = parse_time("09:00").expect("time");
        assert_eq!(
            BusinessHours::new(Tz::UTC, [true; 7], nine, nine),
            Err(BusinessHoursError::Window)
        );
        assert_eq!(BusinessHours::default().weekdays(), [1, 2, 3, 4, 5]);
    }
}
