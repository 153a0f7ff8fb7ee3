//! Statement documents: a PDF (A4, built-in Helvetica, so no font files ship with the service)
//! with the tenant's name, the participant, the period, a table of lines and the totals; and a
//! CSV of the same lines. Pure: bytes in memory, no I/O.

use std::io::BufWriter;

use printpdf::{BuiltinFont, IndirectFontRef, Mm, PdfDocument, PdfLayerReference};

use crate::domain::money::{format_minor, format_percent};
use crate::domain::period::Period;
use crate::domain::statement::{Statement, StoredLine};

/// What a statement document shows besides the statement itself.
pub struct Heading<'a> {
    pub tenant_name: &'a str,
    /// Decimal places of the statement's currency.
    pub decimals: u32,
}

const PAGE_WIDTH: f32 = 210.0;
const PAGE_HEIGHT: f32 = 297.0;
const MARGIN: f32 = 18.0;
const ROW: f32 = 5.0;
/// Column x positions (mm): deal, kind, base, rate, amount.
const COLUMNS: [f32; 5] = [MARGIN, 62.0, 100.0, 130.0, 160.0];

#[derive(Debug, thiserror::Error)]
#[error("pdf: {0}")]
pub struct ExportError(String);

fn period_label(period: Period) -> String {
    let last = period.end().pred_opt().unwrap_or(period.start);
    format!("{} {} to {}", period.kind.as_str(), period.start, last)
}

fn kind_label(line: &StoredLine) -> String {
    let kind = line.line.kind.as_str().replace('_', " ");
    if line.line.reversal {
        format!("clawback ({kind})")
    } else {
        kind
    }
}

/// Built-in PDF fonts speak WinAnsi; keep explanations to plain ASCII.
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '×' => 'x',
            c if c.is_ascii() => c,
            _ => '?',
        })
        .collect()
}

struct Pages {
    doc: printpdf::PdfDocumentReference,
    layer: PdfLayerReference,
    regular: IndirectFontRef,
    bold: IndirectFontRef,
    y: f32,
}

impl Pages {
    fn text(&self, text: &str, size: f32, x: f32, bold: bool) {
        let font = if bold { &self.bold } else { &self.regular };
        self.layer
            .use_text(plain(text), size, Mm(x), Mm(self.y), font);
    }

    /// Moves down `by`, starting a new page when the bottom margin is reached.
    fn advance(&mut self, by: f32) {
        self.y -= by;
        if self.y < MARGIN {
            let (page, layer) = self
                .doc
                .add_page(Mm(PAGE_WIDTH), Mm(PAGE_HEIGHT), "statement");
            self.layer = self.doc.get_page(page).get_layer(layer);
            self.y = PAGE_HEIGHT - MARGIN;
        }
    }
}

pub fn pdf(statement: &Statement, heading: &Heading<'_>) -> Result<Vec<u8>, ExportError> {
    let title = format!("{} - commission statement", heading.tenant_name);
    let (doc, page, layer) = PdfDocument::new(&title, Mm(PAGE_WIDTH), Mm(PAGE_HEIGHT), "statement");
    let font = |font| {
        doc.add_builtin_font(font)
            .map_err(|e| ExportError(e.to_string()))
    };
    let regular = font(BuiltinFont::Helvetica)?;
    let bold = font(BuiltinFont::HelveticaBold)?;
    let layer = doc.get_page(page).get_layer(layer);
    let mut pages = Pages {
        doc,
        layer,
        regular,
        bold,
        y: PAGE_HEIGHT - MARGIN,
    };
    let money = |amount| format_minor(amount, heading.decimals);

    pages.text(heading.tenant_name, 16.0, MARGIN, true);
    pages.advance(8.0);
    pages.text("Commission statement", 13.0, MARGIN, false);
    pages.advance(7.0);
    for (label, value) in [
        ("Participant", statement.participant_id.to_string()),
        ("Period", period_label(statement.period)),
        ("Status", statement.status.as_str().to_owned()),
        ("Currency", statement.currency.clone()),
    ] {
        pages.text(label, 10.0, MARGIN, true);
        pages.text(&value, 10.0, 50.0, false);
        pages.advance(ROW);
    }
    pages.advance(4.0);
    for (x, header) in COLUMNS
        .iter()
        .zip(["Deal", "Kind", "Base", "Rate", "Amount"])
    {
        pages.text(header, 9.0, *x, true);
    }
    pages.advance(ROW);
    for stored in &statement.lines {
        let line = &stored.line;
        let deal = line.deal_id.to_string();
        let cells = [
            deal[..8].to_owned(),
            kind_label(stored),
            money(line.base),
            format_percent(line.rate),
            money(line.amount),
        ];
        for (x, cell) in COLUMNS.iter().zip(cells) {
            pages.text(&cell, 9.0, *x, false);
        }
        pages.advance(4.0);
        pages.text(&line.explanation, 7.0, COLUMNS[0] + 4.0, false);
        pages.advance(ROW);
    }
    if statement.lines.is_empty() {
        pages.text("No lines in this period.", 9.0, MARGIN, false);
        pages.advance(ROW);
    }
    for adjustment in &statement.adjustments {
        pages.text("adjustment", 9.0, COLUMNS[1], false);
        pages.text(adjustment.status.as_str(), 9.0, COLUMNS[3], false);
        pages.text(&money(adjustment.amount), 9.0, COLUMNS[4], false);
        pages.advance(4.0);
        pages.text(&adjustment.reason, 7.0, COLUMNS[0] + 4.0, false);
        pages.advance(ROW);
    }
    pages.advance(3.0);
    for (label, amount) in [
        ("Opening balance", statement.opening),
        ("Earned", statement.totals.earned),
        ("Clawbacks", statement.totals.clawbacks),
        ("Adjustments", statement.adjusted),
        ("Total", statement.total()),
        ("Closing balance", statement.closing()),
    ] {
        pages.text(label, 10.0, COLUMNS[3], true);
        pages.text(&money(amount), 10.0, COLUMNS[4], label == "Total");
        pages.advance(ROW);
    }
    let mut bytes = Vec::new();
    pages
        .doc
        .save(&mut BufWriter::new(&mut bytes))
        .map_err(|e| ExportError(e.to_string()))?;
    Ok(bytes)
}

/// RFC 4180 field quoting.
fn field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

pub fn csv(statement: &Statement, heading: &Heading<'_>) -> Vec<u8> {
    let money = |amount| format_minor(amount, heading.decimals);
    let mut out = String::from(
        "line_id,deal_id,kind,reversal,credit_period_start,base,rate,multiplier,amount,currency,explanation\r\n",
    );
    for stored in &statement.lines {
        let line = &stored.line;
        let row = [
            stored.id.to_string(),
            line.deal_id.to_string(),
            line.kind.as_str().to_owned(),
            line.reversal.to_string(),
            stored.period.start.to_string(),
            money(line.base),
            format_percent(line.rate),
            crate::domain::money::format_multiplier(line.multiplier),
            money(line.amount),
            stored.currency.clone(),
            line.explanation.clone(),
        ];
        out.push_str(&row.iter().map(|v| field(v)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, Utc};
    use uuid::Uuid;

    use super::*;
    use crate::domain::engine::{Line, LineKind, Rule};
    use crate::domain::money::MILLION;
    use crate::domain::period::PeriodKind;
    use crate::domain::statement::{Status, Totals};

    fn statement(lines: usize) -> Statement {
        let period = Period {
            kind: PeriodKind::Quarter,
            start: NaiveDate::from_ymd_opt(2026, 4, 1).expect("date"),
        };
        let stored: Vec<StoredLine> = (0..lines)
            .map(|i| StoredLine {
                id: Uuid::now_v7(),
                participant_id: Uuid::nil(),
                plan_version_id: Uuid::nil(),
                period,
                statement_period_start: period.start,
                currency: "USD".into(),
                created_at: Utc::now(),
                line: Line {
                    deal_id: Uuid::now_v7(),
                    kind: LineKind::Commission,
                    rule: Rule::Schedule,
                    base: 2_880_000,
                    rate: 50_000,
                    multiplier: MILLION,
                    tier: None,
                    band: None,
                    amount: 144_000,
                    reversal: i % 2 == 1,
                    explanation: "28800.00 of bookings at flat rate 5%, accelerator ×1.5".into(),
                },
            })
            .collect();
        Statement {
            participant_id: Uuid::nil(),
            period,
            currency: "USD".into(),
            status: Status::Approved,
            totals: Totals::of(stored.iter().map(|l| &l.line)),
            lines: stored,
            adjusted: 0,
            opening: -5_000,
            adjustments: vec![],
        }
    }

    fn text_of(pdf: &[u8]) -> String {
        let doc = lopdf::Document::load_mem(pdf).expect("a valid pdf");
        let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
        doc.extract_text(&pages).expect("text extracts")
    }

    #[test]
    fn the_pdf_reads_back_with_header_lines_and_totals() {
        let heading = Heading {
            tenant_name: "Acme Corp",
            decimals: 2,
        };
        let text = text_of(&pdf(&statement(1), &heading).expect("pdf"));
        for expected in [
            "Acme Corp",
            "Commission statement",
            "quarter 2026-04-01 to 2026-06-30",
            "approved",
            "28800.00",
            "1440.00",
            "flat rate 5%, accelerator x1.5",
            "Total",
            "Opening balance",
            "-50.00",
            "Closing balance",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from {text}");
        }
    }

    #[test]
    fn long_statements_continue_on_more_pages() {
        let heading = Heading {
            tenant_name: "Acme",
            decimals: 2,
        };
        let bytes = pdf(&statement(120), &heading).expect("pdf");
        let doc = lopdf::Document::load_mem(&bytes).expect("valid");
        assert!(doc.get_pages().len() > 1);
        let text = text_of(&bytes);
        assert!(text.contains("clawback (commission)"));
    }

    #[test]
    fn csv_quotes_fields_with_commas() {
        let heading = Heading {
            tenant_name: "Acme",
            decimals: 2,
        };
        let csv = String::from_utf8(csv(&statement(2), &heading)).expect("utf-8");
        let rows: Vec<&str> = csv.split("\r\n").filter(|r| !r.is_empty()).collect();
        assert_eq!(rows.len(), 3);
        assert!(rows[1].contains(",commission,false,2026-04-01,28800.00,5%,×1,1440.00,USD,"));
        assert!(rows[1].ends_with("\"28800.00 of bookings at flat rate 5%, accelerator ×1.5\""));
        assert!(rows[2].contains(",true,"));
    }
}
