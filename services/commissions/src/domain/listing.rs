//! Paged listings (AIP-158): what a listing is narrowed to, and keyset cursors. Statements and
//! quotas list newest period first, then by holder and period kind; lines in recording order.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::period::PeriodKind;

/// Narrows statements (by participant) or quotas (by user); empty fields match everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeriodFilter {
    pub holder: Option<Uuid>,
    pub kind: Option<PeriodKind>,
    /// Only with `kind`.
    pub start: Option<NaiveDate>,
}

impl PeriodFilter {
    /// Identifies the listing in page tokens, so a token is refused for another filter.
    pub fn fingerprint(&self, listing: &str) -> String {
        let part = |v: Option<String>| v.unwrap_or_default();
        format!(
            "{listing}|{}|{}|{}",
            part(self.holder.map(|h| h.to_string())),
            part(self.kind.map(|k| k.as_str().to_owned())),
            part(self.start.map(|s| s.to_string()))
        )
    }
}

/// The last row served: newest period first, then holder, then kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodCursor {
    pub start: NaiveDate,
    pub holder: Uuid,
    pub kind: PeriodKind,
}

/// Which page: at most `size` rows after `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest<C> {
    pub size: u32,
    pub after: Option<C>,
}

/// One page and the cursor of its last row when more follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    pub next: Option<C>,
}

impl<T, C> Page<T, C> {
    /// A page from up to `size + 1` rows fetched: the extra row only says that more follow.
    pub fn from_rows(mut rows: Vec<T>, size: u32, cursor: impl Fn(&T) -> C) -> Self {
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        let more = rows.len() > size;
        rows.truncate(size);
        let next = if more { rows.last().map(cursor) } else { None };
        Self { items: rows, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_has_a_next_cursor_only_when_more_rows_follow() {
        let full = Page::from_rows(vec![1, 2, 3], 2, |n| *n);
        assert_eq!((full.items, full.next), (vec![1, 2], Some(2)));
        let last = Page::from_rows(vec![1, 2], 2, |n| *n);
        assert_eq!((last.items, last.next), (vec![1, 2], None));
    }

    #[test]
    fn each_filter_has_its_own_fingerprint() {
        let all = PeriodFilter::default();
        let quarters = PeriodFilter {
            kind: Some(PeriodKind::Quarter),
            ..all
        };
        assert_ne!(all.fingerprint("quotas"), quarters.fingerprint("quotas"));
        assert_ne!(all.fingerprint("quotas"), all.fingerprint("statements"));
    }
}
