//! The first pass over an input that is not DICOM: whether it is a table, its header, rows
//! and the statistics its rules are suggested from.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::suggest::{self, Stats};
use super::{read, sheet, Tables};

/// A row whose field count differs from the header's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Malformed {
    pub line: u64,
    pub fields: usize,
    pub expected: usize,
}

/// One table after the scan.
pub(super) struct Scanned {
    pub(super) name: String,
    pub(super) table: String,
    pub(super) fingerprint: [u8; 32],
    pub(super) encoding: String,
    pub(super) delimiter: u8,
    /// The sheet read, for a spreadsheet.
    pub(super) sheet: Option<String>,
    /// The spreadsheet's hidden sheets: left out.
    pub(super) hidden_sheets: Vec<String>,
    pub(super) header: Vec<String>,
    pub(super) rows: usize,
    pub(super) malformed: Vec<Malformed>,
    pub(super) stats: Vec<Stats>,
}

/// Where a table's text comes from, for [`Tables::scan_text`].
struct Source<'a> {
    name: &'a str,
    bytes: &'a [u8],
    encoding: String,
    delimiter: u8,
    sheet: Option<String>,
    hidden_sheets: Vec<String>,
}

/// Why an input that is not DICOM is no table either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// Neither a table's name nor its content.
    NotTable(String),
    /// A spreadsheet that cannot be read ([`sheet::SheetError`]) or holds no table.
    Spreadsheet(String),
    /// A spreadsheet of several visible sheets (their names): one table per sheet is not
    /// supported yet.
    SeveralSheets(Vec<String>),
}

impl ScanError {
    /// The report's reason code.
    pub fn code(&self) -> crate::error::Reason {
        use crate::error::Reason;
        match self {
            ScanError::NotTable(_) => Reason::NotDicom,
            ScanError::Spreadsheet(_) => Reason::SpreadsheetUnreadable,
            ScanError::SeveralSheets(_) => Reason::SpreadsheetSeveralSheets,
        }
    }
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::NotTable(why) | ScanError::Spreadsheet(why) => f.write_str(why),
            ScanError::SeveralSheets(names) => write!(f, "a spreadsheet of {} visible sheets ({}): only a spreadsheet of one visible sheet is read", names.len(), names.join(", ")),
        }
    }
}

/// The table name of an input: its file name without extension, reduced to `[A-Za-z0-9_-]`.
fn table_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = base.rsplit_once('.').map_or(base, |(s, _)| s);
    let clean = sanitize(stem, &['-']);
    if clean.is_empty() { "table".into() } else { clean }
}

/// Accents folded, then every character other than letters, digits, `_` and `keep` as `_`.
pub(super) fn sanitize(text: &str, keep: &[char]) -> String {
    let folded: String = text.chars().map(suggest::fold).collect();
    let mut out = String::new();
    for c in folded.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' || keep.contains(&c) { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out.trim_matches('_').to_string()
}

impl Tables {
    pub fn is_table(&self, input: usize) -> bool {
        self.scanned.contains_key(&input)
    }

    /// First pass over an input that is not DICOM: `Ok` when it is a table (a spreadsheet
    /// by its content, else by its name's extension and its content), else why not.
    pub fn scan(&mut self, input: usize, name: &str, bytes: &[u8]) -> Result<(), ScanError> {
        if sheet::is_spreadsheet(name, bytes) {
            return self.scan_spreadsheet(input, name, bytes);
        }
        let not_table = ScanError::NotTable;
        let ext = read::table_extension(name).ok_or(not_table("not a table either (.csv, .tsv, .txt, .xlsx, .xls or .ods)".into()))?;
        let decoded = read::decode(bytes).map_err(|e| not_table(format!("not a table either: {e}")))?;
        let text = &decoded.text;
        read::check_line_lengths(text).map_err(|e| not_table(format!("not a table: {e}")))?;
        let delimiter = match read::detect_delimiter(text, ext == "tsv") {
            Some(d) if ext != "txt" || read::looks_tabular(text, d) => d,
            None if ext != "txt" => if ext == "tsv" { b'\t' } else { b',' },
            _ => return Err(not_table("not a table either: no column delimiter (, ; tab |) splits its lines alike".into())),
        };
        let source = Source { name, bytes, encoding: decoded.encoding.clone(), delimiter, sheet: None, hidden_sheets: Vec::new() };
        self.scan_text(input, source, text).map_err(not_table)
    }

    /// A spreadsheet of one visible sheet is the table of that sheet (its hidden sheets are
    /// left out and listed); one of several visible sheets is skipped (not yet supported).
    fn scan_spreadsheet(&mut self, input: usize, name: &str, bytes: &[u8]) -> Result<(), ScanError> {
        let sheets = sheet::read(bytes).map_err(|e| ScanError::Spreadsheet(e.to_string()))?;
        let (hidden, visible): (Vec<_>, Vec<_>) = sheets.into_iter().partition(|s| s.hidden);
        let [one] = &visible[..] else {
            return Err(ScanError::SeveralSheets(visible.into_iter().map(|s| s.name).collect()));
        };
        let text = sheet::to_csv(&one.rows).map_err(ScanError::Spreadsheet)?;
        let encoding = format!("spreadsheet, sheet {:?}", one.name);
        let hidden_sheets = hidden.into_iter().map(|s| s.name).collect();
        let source = Source { name, bytes, encoding, delimiter: b',', sheet: Some(one.name.clone()), hidden_sheets };
        self.scan_text(input, source, &text).map_err(ScanError::Spreadsheet)
    }

    /// The header and rows of a table's text, with the statistics its rules are suggested from.
    fn scan_text(&mut self, input: usize, source: Source<'_>, text: &str) -> Result<(), String> {
        let mut records = read::records(text, source.delimiter);
        let header = match records.next() {
            Some(Ok((_, record))) if record.len() > read::MAX_COLUMNS => {
                return Err(format!("not a table: {} columns, more than the {} a table may have", record.len(), read::MAX_COLUMNS))
            }
            Some(Ok((_, record))) => read::header_names(&record),
            Some(Err(e)) => return Err(format!("unreadable table: {e}")),
            None => return Err("not a table either: empty".into()),
        };
        let mut stats = vec![Stats::default(); header.len()];
        let (mut rows, mut malformed) = (0, Vec::new());
        for record in records {
            let (line, record) = record.map_err(|e| format!("unreadable table: {e}"))?;
            rows += 1;
            if record.len() != header.len() {
                malformed.push(Malformed { line, fields: record.len(), expected: header.len() });
            }
            for (s, value) in stats.iter_mut().zip(record.iter()) {
                s.add(value);
            }
        }
        let scanned = Scanned {
            name: source.name.to_string(),
            table: table_name(source.name),
            fingerprint: Sha256::digest(source.bytes).into(),
            encoding: source.encoding,
            delimiter: source.delimiter,
            sheet: source.sheet,
            hidden_sheets: source.hidden_sheets,
            header,
            rows,
            malformed,
            stats,
        };
        self.scanned.insert(input, scanned);
        Ok(())
    }
}
