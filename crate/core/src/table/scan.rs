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
    /// The spreadsheet's hidden sheets: left out unless chosen.
    pub(super) hidden_sheets: Vec<String>,
    /// A hidden sheet's table: planned only when chosen ([`Tables::plan`]).
    pub(super) hidden: bool,
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
    hidden: bool,
    /// The table's name (the file's name, with the sheet's for a workbook of several sheets).
    table: String,
}

/// Why an input that is not DICOM is no table either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// Neither a table's name nor its content.
    NotTable(String),
    /// A spreadsheet that cannot be read ([`sheet::SheetError`]) or holds no table.
    Spreadsheet(String),
}

impl ScanError {
    /// The report's reason code.
    pub fn code(&self) -> crate::error::Reason {
        use crate::error::Reason;
        match self {
            ScanError::NotTable(_) => Reason::NotDicom,
            ScanError::Spreadsheet(_) => Reason::SpreadsheetUnreadable,
        }
    }
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::NotTable(why) | ScanError::Spreadsheet(why) => f.write_str(why),
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
        self.of_input(input).next().is_some()
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
        let source = Source { name, bytes, encoding: decoded.encoding.clone(), delimiter, sheet: None, hidden_sheets: Vec::new(), hidden: false, table: table_name(name) };
        self.scan_text((input, 0), source, text).map_err(not_table)
    }

    /// Every sheet of a spreadsheet is a table: named after the file alone when it has one
    /// visible sheet, else `<file>_<sheet>` (hidden sheets always so, planned only when
    /// chosen). A sheet that holds no table (empty) is left out; `Err` when none does.
    fn scan_spreadsheet(&mut self, input: usize, name: &str, bytes: &[u8]) -> Result<(), ScanError> {
        let sheets = sheet::read(bytes).map_err(|e| ScanError::Spreadsheet(e.to_string()))?;
        let hidden_sheets: Vec<String> = sheets.iter().filter(|s| s.hidden).map(|s| s.name.clone()).collect();
        let several = sheets.iter().filter(|s| !s.hidden).count() > 1;
        let mut first_error = None;
        for (i, one) in sheets.iter().enumerate() {
            let table = if several || one.hidden { format!("{}_{}", table_name(name), sanitize(&one.name, &['-'])) } else { table_name(name) };
            let hidden_sheets = if one.hidden { Vec::new() } else { hidden_sheets.clone() };
            let encoding = format!("spreadsheet, sheet {:?}", one.name);
            let source = Source { name, bytes, encoding, delimiter: b',', sheet: Some(one.name.clone()), hidden_sheets, hidden: one.hidden, table };
            let scanned = sheet::to_csv(&one.rows).and_then(|text| self.scan_text((input, i), source, &text));
            if let Err(why) = scanned {
                first_error.get_or_insert(format!("sheet {:?}: {why}", one.name));
            }
        }
        if self.is_table(input) && self.visible_tables(input) == 0 {
            self.scanned.retain(|k, _| k.0 != input);
            first_error = Some(format!("only hidden sheets hold tables ({}): unhide one to export it", hidden_sheets.join(", ")));
        }
        match (self.is_table(input), first_error) {
            (true, _) => Ok(()),
            (false, why) => Err(ScanError::Spreadsheet(why.unwrap_or_else(|| "a spreadsheet without sheets".into()))),
        }
    }

    /// The header and rows of a table's text, with the statistics its rules are suggested from.
    fn scan_text(&mut self, key: super::Key, source: Source<'_>, text: &str) -> Result<(), String> {
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
            table: source.table,
            fingerprint: Sha256::digest(source.bytes).into(),
            encoding: source.encoding,
            delimiter: source.delimiter,
            sheet: source.sheet,
            hidden_sheets: source.hidden_sheets,
            hidden: source.hidden,
            header,
            rows,
            malformed,
            stats,
        };
        self.scanned.insert(key, scanned);
        Ok(())
    }
}
