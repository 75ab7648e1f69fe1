//! What the CSV readers share: opening plain or gzip files, and reading fields exactly.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use protocol::{Decimal, Symbol};

use super::row::{Place, Row, Rows};
use protocol::recording::RecordingError;

/// Opens a file, decompressing `.gz` on the fly.
pub fn reader(path: &Path) -> Result<Box<dyn Read>, RecordingError> {
    let file = File::open(path)
        .map_err(|e| RecordingError::new(path, None, format!("cannot open: {e}")))?;
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    Ok(if gz {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            256 * 1024,
            file,
        )))
    } else {
        Box::new(file)
    })
}

/// The first line of a (possibly gzipped) file, at most 4 KiB of it.
pub fn first_line(path: &Path) -> Result<String, RecordingError> {
    let mut line = Vec::new();
    BufReader::new(reader(path)?.take(4096))
        .read_until(b'\n', &mut line)
        .map_err(|e| RecordingError::new(path, Some(1), format!("cannot read: {e}")))?;
    Ok(String::from_utf8_lossy(&line).trim().to_owned())
}

/// A CSV reader over any byte stream.
pub type CsvReader = csv::Reader<Box<dyn Read>>;

/// A CSV reader over a (possibly gzipped) file, and its header row, lower-cased.
pub fn csv(path: &Path) -> Result<(CsvReader, Vec<String>), RecordingError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .buffer_capacity(256 * 1024)
        .from_reader(reader(path)?);
    let headers = reader
        .headers()
        .map_err(|e| {
            RecordingError::new(path, Some(1), format!("cannot read the header row: {e}"))
        })?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    Ok((reader, headers))
}

/// Where each named column is; an error names the missing ones.
pub fn columns<const N: usize>(
    headers: &[String],
    names: [&str; N],
    what: &str,
) -> Result<[usize; N], String> {
    let mut found = [0; N];
    let mut missing = Vec::new();
    for (slot, name) in found.iter_mut().zip(names) {
        match headers.iter().position(|h| h == name) {
            Some(i) => *slot = i,
            None => missing.push(name),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(format!(
            "not a {what} file: the header row lacks {} (it has {})",
            missing.join(", "),
            headers.join(",")
        ))
    }
}

/// A field as text.
pub fn text<'a>(record: &'a csv::StringRecord, i: usize, name: &str) -> Result<&'a str, String> {
    record
        .get(i)
        .map(str::trim)
        .ok_or_else(|| format!("the row has no `{name}` column"))
}

/// A field as an exact decimal.
pub fn decimal(record: &csv::StringRecord, i: usize, name: &str) -> Result<Decimal, String> {
    let t = text(record, i, name)?;
    if t.is_empty() {
        return Err(format!("`{name}` is empty"));
    }
    protocol::decimal::parse(t).map_err(|e| format!("`{name}`: {e}"))
}

/// A field as a symbol, checked against the symbol rule.
pub fn symbol(record: &csv::StringRecord, i: usize) -> Result<Symbol, String> {
    let t = text(record, i, "symbol")?;
    protocol::check_symbol(t)?;
    Ok(Symbol::from(t))
}

/// A whole number, scaled to nanoseconds by `ns_per_unit`.
pub fn integer_time(t: &str, ns_per_unit: u64, name: &str) -> Result<u64, String> {
    let n: u64 = t
        .parse()
        .map_err(|_| format!("`{name}` `{t}` is not a whole number"))?;
    n.checked_mul(ns_per_unit)
        .ok_or_else(|| format!("`{name}` `{t}` is out of range"))
}

/// The line a CSV record started on.
fn line_of(record: &csv::StringRecord) -> u64 {
    record.position().map_or(0, csv::Position::line)
}

/// The rows of a CSV file, each parsed by `parse` (`Ok(None)` skips a row); a CSV-level error
/// or a parse error stops with the row's file and line.
pub fn rows(
    path: &Path,
    reader: CsvReader,
    parse: impl Fn(&csv::StringRecord, Place) -> Result<Option<Row>, String> + 'static,
) -> Rows {
    let path = path.to_owned();
    Box::new(reader.into_records().map(move |record| {
        let record = record.map_err(|e| csv_error(&path, &e))?;
        let place = Place::Line(line_of(&record));
        parse(&record, place).map_err(|e| place.error(&path, e))
    }))
}

/// A CSV-level error (bad quoting, a row with the wrong number of fields, bad UTF-8) with its line.
pub fn csv_error(path: &Path, e: &csv::Error) -> RecordingError {
    let line = e.position().map(csv::Position::line);
    let what = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("the row has {len} fields, the header {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".to_owned(),
        csv::ErrorKind::Io(io) => format!("cannot read: {io}"),
        _ => e.to_string(),
    };
    RecordingError::new(path, line, what)
}
