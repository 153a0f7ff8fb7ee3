//! CSV (RFC 4180) read incrementally from chunks of any size, and written with proper quoting.

use csv_core::{ReadRecordResult, Reader};

/// Longest record accepted, in bytes: a runaway quote must not buffer a whole file.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("row {0} is longer than {MAX_RECORD_BYTES} bytes")]
    RecordTooLong(u64),
    #[error("row {0} is not valid UTF-8")]
    NotUtf8(u64),
}

/// A parsed record: its 1-based number in the file and its fields.
pub type Record = (u64, Vec<String>);

/// Feeds chunks, yields whole records; keeps only the current partial record.
pub struct RowReader {
    reader: Reader,
    output: Vec<u8>,
    out_len: usize,
    ends: Vec<usize>,
    ends_len: usize,
    /// Records completed so far (the next one is `records + 1`).
    records: u64,
}

impl Default for RowReader {
    fn default() -> Self {
        Self {
            reader: Reader::new(),
            output: vec![0; 4096],
            out_len: 0,
            ends: vec![0; 64],
            ends_len: 0,
            records: 0,
        }
    }
}

impl RowReader {
    /// A reader continuing a file whose first `records` records were read elsewhere; it must be
    /// fed from the start of the next record (see [`RowReader::feed_to_record_end`]).
    pub fn resume(records: u64) -> Self {
        Self {
            records,
            ..Self::default()
        }
    }

    /// Records completed so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Parses `chunk` (empty at end of input, to flush the last record) and returns the
    /// records it completed, each with its 1-based record number.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Record>, CsvError> {
        self.feed_to_record_end(chunk).map(|(rows, _)| rows)
    }

    /// Like [`RowReader::feed`], also saying how many bytes of `chunk` the completed records
    /// span: the rest is the start of a record a later chunk completes, which a
    /// [`RowReader::resume`]d reader can take up again from those bytes.
    pub fn feed_to_record_end(
        &mut self,
        mut chunk: &[u8],
    ) -> Result<(Vec<Record>, usize), CsvError> {
        let at_end = chunk.is_empty();
        let mut rows = Vec::new();
        let mut consumed = 0;
        let mut record_end = 0;
        loop {
            let (result, read, written, ended) = self.reader.read_record(
                chunk,
                &mut self.output[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            chunk = &chunk[read..];
            consumed += read;
            // csv-core keeps its position within the record across calls, so field ends are
            // already offsets from the record's start.
            self.out_len += written;
            self.ends_len += ended;
            match result {
                ReadRecordResult::InputEmpty => return Ok((rows, record_end)),
                ReadRecordResult::OutputFull => {
                    if self.output.len() >= MAX_RECORD_BYTES {
                        return Err(CsvError::RecordTooLong(self.records + 1));
                    }
                    let grown = self.output.len() * 2;
                    self.output.resize(grown, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let grown = self.ends.len() * 2;
                    self.ends.resize(grown, 0);
                }
                ReadRecordResult::Record => {
                    self.records += 1;
                    rows.push((self.records, self.take_record()?));
                    record_end = consumed;
                }
                ReadRecordResult::End => return Ok((rows, consumed)),
            }
            if at_end && chunk.is_empty() && result == ReadRecordResult::InputEmpty {
                return Ok((rows, record_end));
            }
        }
    }

    fn take_record(&mut self) -> Result<Vec<String>, CsvError> {
        let mut fields = Vec::with_capacity(self.ends_len);
        let mut start = 0;
        for &end in &self.ends[..self.ends_len] {
            let field = std::str::from_utf8(&self.output[start..end])
                .map_err(|_| CsvError::NotUtf8(self.records))?;
            fields.push(field.to_owned());
            start = end;
        }
        self.out_len = 0;
        self.ends_len = 0;
        Ok(fields)
    }
}

/// Appends one CSV row, quoting fields that need it (separators, quotes, line breaks, or
/// leading/trailing spaces), ending with CRLF as RFC 4180 says.
pub fn write_row<S: AsRef<str>>(out: &mut Vec<u8>, fields: &[S]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let field = field.as_ref();
        let quote = field.is_empty() && fields.len() == 1
            || field.starts_with(' ')
            || field.ends_with(' ')
            || field.contains([',', '"', '\r', '\n']);
        if quote {
            out.push(b'"');
            for b in field.bytes() {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
            out.push(b'"');
        } else {
            out.extend_from_slice(field.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(chunks: &[&[u8]]) -> Vec<(u64, Vec<String>)> {
        let mut reader = RowReader::default();
        let mut rows = Vec::new();
        for chunk in chunks {
            rows.extend(reader.feed(chunk).expect("valid"));
        }
        rows.extend(reader.feed(b"").expect("valid"));
        rows
    }

    #[test]
    fn records_may_span_chunks_and_quotes_are_undone() {
        let text =
            b"name,note\r\nAcme,\"says \"\"hi\"\", twice\"\nBeta,\"multi\nline\"\nGamma,last";
        let whole = read_all(&[text]);
        for split in 1..text.len() {
            let (a, b) = text.split_at(split);
            assert_eq!(read_all(&[a, b]), whole, "split at {split}");
        }
        assert_eq!(
            whole,
            vec![
                (1, vec!["name".to_owned(), "note".to_owned()]),
                (2, vec!["Acme".to_owned(), "says \"hi\", twice".to_owned()]),
                (3, vec!["Beta".to_owned(), "multi\nline".to_owned()]),
                (4, vec!["Gamma".to_owned(), "last".to_owned()]),
            ]
        );
    }

    /// Reads `text` as requests of a job do: each with a fresh reader resumed from the record
    /// count, fed the carried bytes of the cut record followed by the next piece.
    fn read_resuming(pieces: &[&[u8]]) -> Vec<(u64, Vec<String>)> {
        let mut rows = Vec::new();
        let mut carry = Vec::new();
        let mut records = 0;
        for piece in pieces {
            let mut reader = RowReader::resume(records);
            carry.extend_from_slice(piece);
            let (done, end) = reader.feed_to_record_end(&carry).expect("valid");
            rows.extend(done);
            carry.drain(..end);
            records = reader.records();
        }
        let mut reader = RowReader::resume(records);
        rows.extend(reader.feed(&carry).expect("valid"));
        rows.extend(reader.feed(b"").expect("valid"));
        rows
    }

    #[test]
    fn a_resumed_reader_continues_a_record_cut_anywhere() {
        let text =
            b"name,note\r\nAcme,\"says \"\"hi\"\", twice\"\r\nBeta,\"multi\r\nline\"\n\nGamma,last";
        let whole = read_all(&[text]);
        assert_eq!(whole.len(), 4);
        for first in 1..text.len() {
            for second in first..text.len() {
                let pieces = [&text[..first], &text[first..second], &text[second..]];
                assert_eq!(read_resuming(&pieces), whole, "cut at {first} and {second}");
            }
        }
    }

    #[test]
    fn long_fields_grow_the_buffer() {
        let long = "x".repeat(10_000);
        let text = format!("a,{long}\nb,c\n");
        let rows = read_all(&[text.as_bytes()]);
        assert_eq!(rows[0].1[1], long);
        assert_eq!(rows[1].1, ["b", "c"]);
    }

    #[test]
    fn written_rows_read_back_the_same() {
        let fields = [
            "plain",
            "with,comma",
            "with \"quote\"",
            "two\nlines",
            " padded ",
            "",
        ];
        let mut out = Vec::new();
        write_row(&mut out, &fields);
        write_row(&mut out, &["next"]);
        assert_eq!(
            String::from_utf8(out.clone()).expect("utf8"),
            "plain,\"with,comma\",\"with \"\"quote\"\"\",\"two\nlines\",\" padded \",\r\nnext\r\n"
        );
        let rows = read_all(&[&out]);
        assert_eq!(rows[0].1, fields);
        assert_eq!(rows[1].1, ["next"]);
    }
}
