//! CSV rows for imports and exports: the shared reader and writer (`libs/csv-rows`).

pub use csv_rows::{CsvError, MAX_RECORD_BYTES, Record, RowReader, write_row};
