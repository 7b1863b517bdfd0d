//! EHR tables (CSV/TSV exports of the hospital's records), pseudonymised with the same
//! keyed functions as the DICOM side so that both link: a patient-id column becomes
//! exactly [`Keyring::patient`] of the value, a visit column the scan_research_id
//! [`Keyring::visit`] of (patient, visit date), dates follow the export's [`DatePolicy`]
//! with the patient's [`Keyring::date_shift`].
//!
//! Every column has a rule (keep, drop, patient-id, visit, date, birth-date), from a saved
//! [`Profile`] or suggested from its header and values ([`suggest`]). Fail closed: a column
//! without a rule is dropped and reported. Every row is exported, in the input's order;
//! a malformed row (wrong field count) is padded with empty fields or cut to the header's
//! width, and reported with its line number (or the table is skipped, when the settings
//! say so). Output: UTF-8 without BOM, comma-separated, LF line ends, every non-numeric
//! field quoted, dates ISO 8601.

pub mod read;
pub mod sheet;
pub mod suggest;
pub mod values;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dates::DatePolicy;
use crate::error::FileError;
use crate::instance::Summary;
use crate::layout;
use crate::patient_id::{self, NearMiss, PatientIdRule};
use crate::pseudonym::Keyring;
use suggest::Stats;

/// What happens to a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    Keep,
    Drop,
    /// Replaced by the research patient ID ([`Keyring::patient`], as DICOM PatientID).
    PatientId,
    /// Replaced by the scan_research_id of the patient's visit on that date (or of that visit ID).
    Visit,
    /// Rewritten by the date policy (ISO 8601), shifted by the patient's offset under `shift`.
    Date,
    /// Reduced to the year.
    BirthDate,
}

/// The rule of one column, by header name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnRule {
    pub name: String,
    pub rule: Rule,
    /// Marked for the k-anonymity hint (e.g. sex, birth year, postcode).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quasi_identifier: bool,
}

/// The rules of one table schema, saved as JSON and reused by later exports. A profile
/// applies to the table of that name (file name without extension) when `table` is given,
/// else to the table sharing the most column names with it (at least half of them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    pub columns: Vec<ColumnRule>,
}

/// Profiles from a JSON file: one profile object, or an array of them.
pub fn profiles_from_json(text: &str) -> Result<Vec<Profile>, String> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(Profile),
        Many(Vec<Profile>),
    }
    match serde_json::from_str(text) {
        Ok(OneOrMany::One(p)) => Ok(vec![p]),
        Ok(OneOrMany::Many(ps)) => Ok(ps),
        Err(_) => serde_json::from_str::<Profile>(text).map(|p| vec![p]).map_err(|e| format!("not an EHR profile: {e}")),
    }
}

/// The EHR part of the settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TableSettings {
    pub profiles: Vec<Profile>,
    /// Output header names reduced to letters, digits and `_`.
    pub sanitize_headers: bool,
    /// Skip a table with malformed rows instead of exporting it padded.
    pub skip_malformed: bool,
}

/// A row whose field count differs from the header's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Malformed {
    pub line: u64,
    pub fields: usize,
    pub expected: usize,
}

/// What the DICOM inputs tell the tables: PatientIDs and visits, and how IDs are normalised.
#[derive(Debug, Clone, Default)]
pub struct Dicom {
    /// The PatientIDs as keyed (normalised by `rule`).
    pub patients: BTreeSet<String>,
    /// The PatientIDs as read, for the near misses ([`patient_id::near_misses`]).
    pub originals: BTreeSet<String>,
    /// (PatientID as keyed, visit key: StudyDate `YYYYMMDD`) -> scan_research_id.
    pub visits: BTreeMap<(String, String), String>,
    /// The site's patient ID normalisation, applied to the tables' IDs as to these.
    pub rule: PatientIdRule,
    /// (PatientID as keyed, StudyDate) -> the scan_research_id of that day's visit; `None`
    /// when the patient has several visits that day (`--visit-by study`).
    pub dates: BTreeMap<(String, String), Option<String>>,
}

impl Dicom {
    /// From the summaries of the DICOM inputs that are exported; `key` is the job's visit key
    /// (its patient normalised by `rule`).
    pub fn collect<'a>(
        summaries: impl Iterator<Item = &'a Summary>,
        key: impl Fn(&Summary) -> (String, String),
        keyring: &Keyring,
        rule: &PatientIdRule,
    ) -> Dicom {
        let mut dicom = Dicom { rule: rule.clone(), ..Dicom::default() };
        for s in summaries {
            dicom.originals.insert(s.patient_id.clone());
            let (patient, visit) = key(s);
            let id = dicom.visits.entry((patient.clone(), visit)).or_insert_with_key(|(p, v)| keyring.visit(p, v)).clone();
            if let Some(date) = &s.study_date {
                dicom.add_date(&patient, date, id);
            }
            dicom.patients.insert(patient);
        }
        dicom
    }

    /// Notes the visit of one study date; two visits on one day (`--visit-by study`) make it
    /// ambiguous: then a table's date links to neither.
    fn add_date(&mut self, patient: &str, date: &str, id: String) {
        let entry = self.dates.entry((patient.to_string(), date.to_string())).or_insert_with(|| Some(id.clone()));
        if entry.as_ref() != Some(&id) {
            *entry = None;
        }
    }

    /// The scan_research_id of the images' visit a table's visit value names: by study date
    /// (whatever makes a visit), else by visit key.
    fn visit(&self, patient: &str, key: &str) -> Option<&String> {
        let k = (patient.to_string(), key.to_string());
        match self.dates.get(&k) {
            Some(id) => id.as_ref(),
            None => self.visits.get(&k),
        }
    }

    /// Whether a table's ID, normalised, is a PatientID of the images.
    pub fn has_patient(&self, id: &str) -> bool {
        self.patients.contains(&self.rule.key(id))
    }
}

/// One table after the scan.
struct Scanned {
    name: String,
    table: String,
    fingerprint: [u8; 32],
    encoding: String,
    delimiter: u8,
    /// The sheet read, for a spreadsheet.
    sheet: Option<String>,
    /// The spreadsheet's hidden sheets: left out.
    hidden_sheets: Vec<String>,
    header: Vec<String>,
    rows: usize,
    malformed: Vec<Malformed>,
    stats: Vec<Stats>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Profile,
    Suggested,
    /// No rule for the column: dropped.
    FailClosed,
}

/// One column's rule as applied, for the report and the page's review.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnReport {
    pub name: String,
    /// The header in the output; absent when the column is dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    pub rule: Rule,
    pub origin: Origin,
    pub reason: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub quasi_identifier: bool,
    /// Values the rule could not read (dates that are no date, a shift without a patient):
    /// written empty.
    #[serde(skip_serializing_if = "is_zero")]
    pub unreadable_values: usize,
    /// A few original values, for the screen only ([`Tables::review`]); never in the report.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The smallest group of rows sharing the values of the quasi-identifier columns.
#[derive(Debug, Clone, Serialize)]
pub struct KAnonymity {
    pub columns: Vec<String>,
    pub k: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Below this group size the report warns.
pub const K_WARNING: usize = 5;

/// One table in the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableReport {
    /// Index of the input (scan order).
    pub input: usize,
    pub name: String,
    pub table: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub encoding: String,
    pub delimiter: String,
    /// A spreadsheet's hidden sheets, left out of the export (names only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hidden_sheets: Vec<String>,
    pub rows: usize,
    pub columns: Vec<ColumnReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub malformed_rows: Vec<Malformed>,
    /// The rules as a profile (the format `--ehr-profile` reads): save it to reuse them.
    pub profile: Profile,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k_anonymity: Option<KAnonymity>,
    /// Patient IDs of the table that link to no image but would under a normalisation not
    /// chosen (counts only). In the review, counted on the column's first distinct values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub near_misses: Vec<NearMiss>,
}

/// Patients of one side of the linkage, by research ID only.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Patients {
    pub count: usize,
    pub patient_research_ids: Vec<String>,
}

/// How the tables link to the images: no original identifier, research IDs only.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Linkage {
    pub both: Patients,
    pub tables_only: Patients,
    pub images_only: Patients,
    /// Non-empty cells of visit columns, and how many named a visit of the images.
    pub visit_values: usize,
    pub visit_values_matched: usize,
    pub scan_research_ids_matched: Vec<String>,
    /// Table patient IDs, of all tables, that a normalisation not chosen would link.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub near_misses: Vec<NearMiss>,
    /// Per table with a patient-id column, the rows that link to no image.
    pub tables: Vec<TableLinkage>,
}

/// Row numbers (1: the first row after the header; the exported CSV has the same rows in
/// the same order), as ranges of consecutive rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rows {
    pub count: usize,
    /// `[first, last]`, ascending.
    pub ranges: Vec<[u64; 2]>,
}

impl Rows {
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds a row after every row added so far.
    fn add(&mut self, row: u64) {
        self.count += 1;
        match self.ranges.last_mut() {
            Some(last) if last[1] + 1 == row => last[1] = row,
            _ => self.ranges.push([row, row]),
        }
    }

    /// `2, 5-9`, at most `max` ranges then `…`: for the CLI's line.
    pub fn text(&self, max: usize) -> String {
        let range = |r: &[u64; 2]| if r[0] == r[1] { r[0].to_string() } else { format!("{}-{}", r[0], r[1]) };
        let mut text = self.ranges.iter().take(max).map(range).collect::<Vec<_>>().join(", ");
        if self.ranges.len() > max {
            text.push_str(", …");
        }
        text
    }
}

/// How the rows of one table link to the images: row numbers only, never an ID.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableLinkage {
    /// The input's name, as in the report's `tables`.
    pub name: String,
    pub path: String,
    /// Rows whose patient ID is no PatientID of the images.
    pub unlinked_rows: Rows,
    /// Rows with an empty patient ID.
    #[serde(skip_serializing_if = "Rows::is_empty")]
    pub rows_without_patient_id: Rows,
}


/// One table as planned: its path and the rule of each input column.
struct Plan {
    path: String,
    columns: Vec<ColumnReport>,
    patient: Option<usize>,
}

/// What the export of one table found.
#[derive(Default)]
struct Written {
    patients: BTreeSet<String>,
    visit_values: usize,
    visits_matched: BTreeSet<String>,
    visit_values_matched: usize,
    k: Option<usize>,
    unlinked: Rows,
    without_patient: Rows,
}

impl Written {
    /// Notes one row's patient ID (`None`: the table has no patient-id column); returns it
    /// keyed as the images' PatientIDs are, normalised by the site's rule.
    fn patient(&mut self, row: u64, original: Option<&str>, dicom: &Dicom) -> Option<String> {
        let original = original?;
        if original.is_empty() {
            self.without_patient.add(row);
            return None;
        }
        let patient = dicom.rule.key(original);
        if !dicom.patients.contains(&patient) {
            self.unlinked.add(row);
        }
        self.patients.insert(original.to_string());
        Some(patient)
    }
}

/// The tables of one job, from scan to report.
#[derive(Default)]
pub struct Tables {
    scanned: BTreeMap<usize, Scanned>,
    overrides: BTreeMap<usize, Profile>,
    plans: BTreeMap<usize, Plan>,
    written: BTreeMap<usize, Written>,
    dicom: Dicom,
}

/// The table name of an input: its file name without extension, reduced to `[A-Za-z0-9_-]`.
fn table_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = base.rsplit_once('.').map_or(base, |(s, _)| s);
    let clean = sanitize(stem, &['-']);
    if clean.is_empty() { "table".into() } else { clean }
}

/// Accents folded, then every character other than letters, digits, `_` and `keep` as `_`.
fn sanitize(text: &str, keep: &[char]) -> String {
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

/// The CSV text of one sheet of a spreadsheet.
fn sheet_text(bytes: &[u8], name: &str) -> Result<String, String> {
    let sheets = sheet::read(bytes).map_err(|e| e.to_string())?;
    let one = sheets.into_iter().find(|s| s.name == name).ok_or(format!("no sheet {name:?}"))?;
    sheet::to_csv(&one.rows)
}

fn delimiter_name(d: u8) -> String {
    if d == b'\t' { "tab".into() } else { (d as char).to_string() }
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

    /// Rules given by the user for one table (the page's review), before `plan`.
    pub fn set_profile(&mut self, input: usize, profile: Profile) {
        self.overrides.insert(input, profile);
    }

    /// After `plan`, before the table's export: decides its columns again (the user's rules
    /// set after the review). Its path does not depend on the rules.
    pub fn replan(&mut self, input: usize, settings: &TableSettings, policy: DatePolicy) {
        if !self.plans.contains_key(&input) || self.written.contains_key(&input) {
            return;
        }
        let (columns, patient) = self.columns(input, settings, policy, &self.dicom);
        if let Some(plan) = self.plans.get_mut(&input) {
            plan.columns = columns;
            plan.patient = patient;
        }
    }

    /// The profile that applies to a table: the user's for this input, else the settings'
    /// for this table name, else the one sharing the most column names (at least half).
    fn profile<'a>(&'a self, input: usize, settings: &'a TableSettings) -> Option<&'a Profile> {
        let s = &self.scanned[&input];
        if let Some(p) = self.overrides.get(&input) {
            return Some(p);
        }
        if let Some(p) = settings.profiles.iter().find(|p| p.table.as_deref() == Some(s.table.as_str())) {
            return Some(p);
        }
        let header: HashSet<&String> = s.header.iter().collect();
        let overlap = |p: &Profile| p.columns.iter().filter(|c| header.contains(&c.name)).count();
        settings
            .profiles
            .iter()
            .filter(|p| p.table.is_none())
            .map(|p| (overlap(p), p))
            .filter(|(n, _)| *n > 0 && n * 2 >= s.header.len())
            .fold(None::<(usize, &Profile)>, |best, (n, p)| if best.is_some_and(|(b, _)| b >= n) { best } else { Some((n, p)) })
            .map(|(_, p)| p)
    }

    /// The rule of every column of one table.
    fn columns(&self, input: usize, settings: &TableSettings, policy: DatePolicy, dicom: &Dicom) -> (Vec<ColumnReport>, Option<usize>) {
        let s = &self.scanned[&input];
        let profile = self.profile(input, settings);
        // By name, first rule wins (as a search in order would): thousands of columns stay linear.
        let rules: HashMap<&String, &ColumnRule> =
            profile.map(|p| p.columns.iter().rev().map(|c| (&c.name, c)).collect()).unwrap_or_default();
        let mut columns: Vec<ColumnReport> = s
            .header
            .iter()
            .zip(&s.stats)
            .map(|(name, stats)| {
                let (rule, origin, reason, quasi_identifier) = match profile {
                    Some(_) => match rules.get(name) {
                        Some(c) => (c.rule, Origin::Profile, "from the profile".to_string(), c.quasi_identifier),
                        None => (Rule::Drop, Origin::FailClosed, "no rule in the profile: dropped".to_string(), false),
                    },
                    None => {
                        let g = suggest::suggest(name, stats, dicom);
                        (g.rule, Origin::Suggested, g.reason, g.quasi_identifier)
                    }
                };
                ColumnReport {
                    name: name.clone(),
                    output: None,
                    rule,
                    origin,
                    reason,
                    quasi_identifier,
                    unreadable_values: 0,
                    samples: stats.samples.clone(),
                }
            })
            .collect();
        let patient = columns.iter().position(|c| c.rule == Rule::PatientId);
        let mut taken = HashSet::new();
        for c in &mut columns {
            let needs_patient = c.rule == Rule::Visit || (c.rule == Rule::Date && policy == DatePolicy::Shift);
            if needs_patient && patient.is_none() {
                c.reason = format!("{} needs a patient-id column in the same table: dropped", if c.rule == Rule::Visit { "a visit" } else { "a shifted date" });
                c.rule = Rule::Drop;
            }
            if c.rule == Rule::Date && policy == DatePolicy::Remove {
                c.reason = format!("{}; dates removed by the date policy", c.reason);
            }
            if c.rule != Rule::Drop {
                let base = if settings.sanitize_headers { sanitize(&c.name, &[]) } else { c.name.clone() };
                let base = if base.is_empty() { "column".to_string() } else { base };
                c.output = Some(read::unique(&mut taken, base));
            }
        }
        (columns, patient)
    }

    fn report_of(&self, input: usize, columns: Vec<ColumnReport>, path: Option<String>) -> TableReport {
        let s = &self.scanned[&input];
        let profile = Profile {
            table: Some(s.table.clone()),
            columns: columns
                .iter()
                .map(|c| ColumnRule { name: c.name.clone(), rule: c.rule, quasi_identifier: c.quasi_identifier })
                .collect(),
        };
        TableReport {
            input,
            name: s.name.clone(),
            table: s.table.clone(),
            path,
            encoding: s.encoding.clone(),
            delimiter: delimiter_name(s.delimiter),
            hidden_sheets: s.hidden_sheets.clone(),
            rows: s.rows,
            columns,
            malformed_rows: s.malformed.clone(),
            profile,
            k_anonymity: None,
            near_misses: Vec::new(),
        }
    }

    /// The rules each table would get now, with a few original values per column: for the
    /// page to show before `plan` (on screen only). `dicom` as in [`Tables::plan`].
    pub fn review(&self, settings: &TableSettings, policy: DatePolicy, dicom: &Dicom) -> Vec<TableReport> {
        let review = |i: usize| {
            let (columns, patient) = self.columns(i, settings, policy, dicom);
            let mut report = self.report_of(i, columns, None);
            if let Some(p) = patient {
                report.near_misses = patient_id::near_misses(&dicom.rule, &self.scanned[&i].stats[p].distinct, &dicom.originals);
            }
            report
        };
        self.scanned.keys().map(|&i| review(i)).collect()
    }

    /// Fixes the rules and output path of every table: `EHR/<date>/<table>.csv`, names made
    /// unique in the order of (table name, input name). Returns, per table input, its path or
    /// why it is skipped.
    pub fn plan(&mut self, settings: &TableSettings, policy: DatePolicy, dicom: Dicom, export_date: &str) -> Vec<(usize, Result<String, String>)> {
        let mut order: Vec<usize> = self.scanned.keys().copied().collect();
        order.sort_by(|a, b| {
            let (sa, sb) = (&self.scanned[a], &self.scanned[b]);
            (&sa.table, &sa.name, sa.fingerprint).cmp(&(&sb.table, &sb.name, sb.fingerprint))
        });
        let mut names = HashSet::new();
        let mut out = Vec::new();
        for input in order {
            let s = &self.scanned[&input];
            if settings.skip_malformed && !s.malformed.is_empty() {
                let lines: Vec<String> = s.malformed.iter().take(10).map(|m| m.line.to_string()).collect();
                out.push((input, Err(format!("table with {} malformed rows (lines {}...): skipped as the settings ask", s.malformed.len(), lines.join(", ")))));
                continue;
            }
            let name = read::unique(&mut names, s.table.clone());
            let path = layout::table(export_date, &name);
            let (columns, patient) = self.columns(input, settings, policy, &dicom);
            self.plans.insert(input, Plan { path: path.clone(), columns, patient });
            out.push((input, Ok(path)));
        }
        self.dicom = dicom;
        out
    }

    /// Second pass over one planned table: the pseudonymised CSV.
    pub fn export(&mut self, input: usize, bytes: &[u8], keyring: &Keyring, policy: DatePolicy) -> Result<Vec<u8>, FileError> {
        let s = &self.scanned[&input];
        if <[u8; 32]>::from(Sha256::digest(bytes)) != s.fingerprint {
            return Err(FileError::Changed);
        }
        let plan = self.plans.get_mut(&input).expect("export() of planned tables only");
        let text = match &s.sheet {
            Some(name) => std::borrow::Cow::Owned(sheet_text(bytes, name).map_err(FileError::Table)?),
            None => read::decode(bytes).map_err(FileError::Table)?.text,
        };
        let mut writer = csv::WriterBuilder::new()
            .quote_style(csv::QuoteStyle::NonNumeric)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        let table_error = |e: csv::Error| FileError::Table(e.to_string());
        let kept: Vec<usize> = (0..plan.columns.len()).filter(|&i| plan.columns[i].output.is_some()).collect();
        writer.write_record(kept.iter().map(|&i| plan.columns[i].output.as_deref().unwrap_or_default())).map_err(table_error)?;
        let quasi: Vec<usize> = kept.iter().copied().filter(|&i| plan.columns[i].quasi_identifier).collect();
        let mut groups: HashMap<Vec<String>, usize> = HashMap::new();
        let mut written = Written::default();
        let mut unreadable = vec![0usize; plan.columns.len()];
        let mut cells = vec![String::new(); plan.columns.len()];
        for (row, record) in (1..).zip(read::records(&text, s.delimiter).skip(1)) {
            let (_, record) = record.map_err(FileError::Table)?;
            let original = plan.patient.map(|p| record.get(p).unwrap_or("").trim());
            let patient = written.patient(row, original, &self.dicom);
            for &i in &kept {
                let value = record.get(i).unwrap_or("");
                let (cell, readable) = transform(plan.columns[i].rule, value, patient.as_deref(), keyring, policy, &self.dicom, &mut written);
                unreadable[i] += !readable as usize;
                cells[i] = cell;
            }
            if !quasi.is_empty() {
                *groups.entry(quasi.iter().map(|&i| cells[i].clone()).collect()).or_default() += 1;
            }
            writer.write_record(kept.iter().map(|&i| &cells[i])).map_err(table_error)?;
        }
        written.k = groups.values().min().copied();
        for (c, n) in plan.columns.iter_mut().zip(unreadable) {
            c.unreadable_values = n;
        }
        self.written.insert(input, written);
        writer.into_inner().map_err(|e| FileError::Table(e.to_string()))
    }

    /// The original patient IDs of the tables written so far (their patient-id column, trimmed).
    pub fn written_patients(&self) -> impl Iterator<Item = &String> {
        self.written.values().flat_map(|w| &w.patients)
    }

    /// The tables' part of the report and the linkage (present when there are tables).
    pub fn report(&self, keyring: &Keyring) -> (Vec<TableReport>, Option<Linkage>) {
        let mut reports = Vec::new();
        for (&input, s) in &self.scanned {
            let Some(plan) = self.plans.get(&input) else { continue };
            let written = self.written.get(&input);
            let mut columns = plan.columns.clone();
            columns.iter_mut().for_each(|c| c.samples.clear());
            let mut report = self.report_of(input, columns, written.map(|_| plan.path.clone()));
            report.k_anonymity = written.and_then(|w| w.k).map(|k| KAnonymity {
                columns: plan.columns.iter().filter(|c| c.quasi_identifier && c.output.is_some()).map(|c| c.name.clone()).collect(),
                k,
                warning: (k < K_WARNING).then(|| {
                    format!("k = {k} < {K_WARNING}: some combination of these values occurs in only {k} row(s); re-identification risk")
                }),
            });
            if let Some(w) = written {
                report.near_misses = patient_id::near_misses(&self.dicom.rule, &w.patients, &self.dicom.originals);
            }
            debug_assert_eq!(report.rows, s.rows);
            reports.push(report);
        }
        let linkage = (!self.scanned.is_empty()).then(|| self.linkage(keyring));
        (reports, linkage)
    }

    /// Which patients are in the tables, the images or both (by research ID), how the visit
    /// values matched, the near misses, and each table's rows that link to no image.
    fn linkage(&self, keyring: &Keyring) -> Linkage {
        let rule = &self.dicom.rule;
        let originals: BTreeSet<&String> = self.written.values().flat_map(|w| &w.patients).collect();
        let tables: BTreeSet<String> = originals.iter().map(|p| rule.key(p)).collect();
        let images = &self.dicom.patients;
        let group = |ids: Vec<&String>| {
            let mut ids: Vec<String> = ids.into_iter().map(|p| keyring.patient(p)).collect();
            ids.sort();
            Patients { count: ids.len(), patient_research_ids: ids }
        };
        let mut linkage = Linkage {
            both: group(tables.intersection(images).collect()),
            tables_only: group(tables.difference(images).collect()),
            images_only: group(images.difference(&tables).collect()),
            near_misses: patient_id::near_misses(rule, originals, &self.dicom.originals),
            ..Linkage::default()
        };
        let mut matched = BTreeSet::new();
        for (input, w) in &self.written {
            linkage.visit_values += w.visit_values;
            linkage.visit_values_matched += w.visit_values_matched;
            matched.extend(w.visits_matched.iter().cloned());
            if self.plans[input].patient.is_some() {
                linkage.tables.push(TableLinkage {
                    name: self.scanned[input].name.clone(),
                    path: self.plans[input].path.clone(),
                    unlinked_rows: w.unlinked.clone(),
                    rows_without_patient_id: w.without_patient.clone(),
                });
            }
        }
        linkage.scan_research_ids_matched = matched.into_iter().collect();
        linkage
    }
}

/// One cell under its rule: the output value, and whether the rule could read the input.
fn transform(
    rule: Rule,
    value: &str,
    patient: Option<&str>,
    keyring: &Keyring,
    policy: DatePolicy,
    dicom: &Dicom,
    written: &mut Written,
) -> (String, bool) {
    let v = value.trim();
    if v.is_empty() || rule == Rule::Keep {
        return (if rule == Rule::Keep { value.to_string() } else { String::new() }, true);
    }
    match rule {
        Rule::Keep | Rule::Drop => (String::new(), true),
        Rule::PatientId => (keyring.patient(&dicom.rule.key(v)), true),
        Rule::Visit => {
            let Some(p) = patient else { return (String::new(), false) };
            written.visit_values += 1;
            let key = values::parse_date(v).map_or_else(|| v.to_string(), |d| d.to_da());
            // The images' visit of that date (by day: the very keyed ID), else the keyed ID.
            let Some(id) = dicom.visit(p, &key) else { return (keyring.visit(p, &key), true) };
            written.visit_values_matched += 1;
            written.visits_matched.insert(id.clone());
            (id.clone(), true)
        }
        Rule::Date => match values::parse_date(v) {
            Some(date) => {
                let shift = match (policy, patient) {
                    (DatePolicy::Shift, Some(p)) => keyring.date_shift(p),
                    (DatePolicy::Shift, None) => return (String::new(), false),
                    _ => 0,
                };
                (policy.apply(date, shift).map(values::iso).unwrap_or_default(), true)
            }
            None => (String::new(), false),
        },
        Rule::BirthDate => {
            let year = values::parse_date(v).map(|d| d.year).or_else(|| values::parse_year(v));
            match (year, policy) {
                (None, _) => (String::new(), false),
                (Some(_), DatePolicy::Remove) => (String::new(), true),
                (Some(y), _) => (format!("{y:04}"), true),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(table: &str, bytes: &[u8], settings: &TableSettings, policy: DatePolicy, dicom: Dicom) -> (String, TableReport) {
        let keyring = Keyring::from_secret(b"unit");
        let mut tables = Tables::default();
        tables.scan(0, table, bytes).unwrap();
        let plan = tables.plan(settings, policy, dicom, "20261124");
        assert_eq!(plan[0].1.as_deref(), Ok("EHR/20261124/t.csv"));
        let csv = String::from_utf8(tables.export(0, bytes, &keyring, policy).unwrap()).unwrap();
        (csv, tables.report(&keyring).0.remove(0))
    }

    fn images(ids: &[&str], rule: PatientIdRule) -> Dicom {
        let patients = ids.iter().map(|i| rule.key(i)).collect();
        Dicom { patients, originals: ids.iter().map(|i| i.to_string()).collect(), rule, ..Dicom::default() }
    }

    /// A table's IDs are keyed as the images' are: trimmed always, normalised as chosen; rows
    /// that link to no image are reported by number, near misses by option and count.
    #[test]
    fn table_ids_are_normalised_and_unlinked_rows_numbered() {
        let k = Keyring::from_secret(b"unit");
        let settings = TableSettings {
            profiles: profiles_from_json(r#"{"columns": [{"name": "ipp", "rule": "patient-id"}, {"name": "n", "rule": "keep"}]}"#).unwrap(),
            ..TableSettings::default()
        };
        let input = b"ipp,n\n00123,1\n 123 ,2\n,3\n999,4\n456,5\n";
        let zeros = PatientIdRule::from(vec![patient_id::Normalise::LeadingZeros]);
        let (csv, report) = export("t.csv", input, &settings, DatePolicy::Month, images(&["123", "456"], zeros));
        let (p123, p999, p456) = (k.patient("123"), k.patient("999"), k.patient("456"));
        assert_eq!(csv, format!("\"ipp\",\"n\"\n\"{p123}\",1\n\"{p123}\",2\n\"\",3\n\"{p999}\",4\n\"{p456}\",5\n"));
        assert!(report.near_misses.is_empty());

        let (csv, report) = export("t.csv", input, &settings, DatePolicy::Month, images(&["123", "456"], PatientIdRule::default()));
        assert!(csv.contains(&k.patient("00123")) && csv.contains(&p123), "without the option 00123 is another patient");
        assert_eq!(report.near_misses, [NearMiss { options: vec![patient_id::Normalise::LeadingZeros], patient_ids: 1 }]);
    }

    #[test]
    fn linkage_names_unlinked_rows_by_number() {
        let k = Keyring::from_secret(b"unit");
        let settings = TableSettings {
            profiles: profiles_from_json(r#"{"columns": [{"name": "ipp", "rule": "patient-id"}]}"#).unwrap(),
            ..TableSettings::default()
        };
        let input = b"ipp,n\n00123,1\n 123 ,2\n,3\n999,4\n998,5\n456,6\n";
        let mut tables = Tables::default();
        tables.scan(0, "t.csv", input).unwrap();
        tables.plan(&settings, DatePolicy::Month, images(&["123", "456"], PatientIdRule::default()), "20261124");
        tables.export(0, input, &k, DatePolicy::Month).unwrap();
        let linkage = tables.report(&k).1.unwrap();
        let t = &linkage.tables[0];
        assert_eq!((t.name.as_str(), t.unlinked_rows.count, t.unlinked_rows.ranges.as_slice()), ("t.csv", 3, &[[1, 1], [4, 5]][..]));
        assert_eq!((t.unlinked_rows.text(9).as_str(), t.unlinked_rows.text(1).as_str()), ("1, 4-5", "1, …"));
        assert_eq!(t.rows_without_patient_id.ranges, [[3, 3]]);
        assert_eq!((linkage.both.count, linkage.tables_only.count, linkage.near_misses[0].patient_ids), (2, 3, 1));
        let json = serde_json::to_string(&linkage).unwrap();
        assert!(!json.contains("00123") && !json.contains("999"), "no original ID in the linkage: {json}");
    }

    /// A visit date names the images' visit of that day, whatever makes a visit; two visits
    /// that day (by study) name neither.
    #[test]
    fn visit_dates_name_the_visit_of_that_day() {
        let mut dicom = Dicom::default();
        dicom.visits.insert(("1".into(), "study:9".into()), "VSTUDY9".into());
        dicom.add_date("1", "20240105", "VSTUDY9".into());
        dicom.add_date("2", "20240105", "VA".into());
        dicom.add_date("2", "20240105", "VB".into());
        assert_eq!(dicom.visit("1", "20240105").map(String::as_str), Some("VSTUDY9"));
        assert_eq!(dicom.visit("1", "study:9").map(String::as_str), Some("VSTUDY9"), "by visit key as before");
        assert_eq!(dicom.visit("2", "20240105"), None, "ambiguous: no link");
        assert_eq!(dicom.visit("1", "20240106"), None);
    }

    #[test]
    fn rules_set_after_the_plan_apply_to_the_export() {
        let keyring = Keyring::from_secret(b"unit");
        let settings = TableSettings::default();
        let bytes = b"name,score\nAda,2\n";
        let mut tables = Tables::default();
        tables.scan(0, "t.csv", bytes).unwrap();
        tables.plan(&settings, DatePolicy::Month, Dicom::default(), "20261124");
        let profile = profiles_from_json(r#"{"columns": [{"name": "score", "rule": "keep"}]}"#).unwrap().remove(0);
        tables.set_profile(0, profile);
        tables.replan(0, &settings, DatePolicy::Month);
        let csv = String::from_utf8(tables.export(0, bytes, &keyring, DatePolicy::Month).unwrap()).unwrap();
        assert_eq!(csv, "\"score\"\n2\n");
    }

    #[test]
    fn rules_rewrite_cells_and_fail_closed() {
        let k = Keyring::from_secret(b"unit");
        let settings = TableSettings {
            profiles: vec![profiles_from_json(
                r#"{"columns": [{"name": "ipp", "rule": "patient-id"}, {"name": "visit", "rule": "visit"},
                   {"name": "dob", "rule": "birth-date", "quasiIdentifier": true}, {"name": "score", "rule": "keep"},
                   {"name": "lab", "rule": "date"}]}"#,
            )
            .unwrap()
            .remove(0)],
            ..TableSettings::default()
        };
        let mut dicom = Dicom::default();
        dicom.visits.insert(("42".into(), "20240105".into()), k.visit("42", "20240105"));
        let input = "ipp;visit;dob;score;lab;secret\n42;05.01.2024;1980-02-03;3,5;bad;x\n";
        let (csv, report) = export("a/t.csv", input.as_bytes(), &settings, DatePolicy::Month, dicom);
        let expected = format!(
            "\"ipp\",\"visit\",\"dob\",\"score\",\"lab\"\n\"{}\",\"{}\",1980,\"3,5\",\"\"\n",
            k.patient("42"),
            k.visit("42", "20240105")
        );
        assert_eq!(csv, expected);
        let secret = report.columns.iter().find(|c| c.name == "secret").unwrap();
        assert_eq!((secret.rule, secret.origin), (Rule::Drop, Origin::FailClosed));
        assert_eq!(report.columns[4].unreadable_values, 1);
        assert_eq!(report.k_anonymity.as_ref().map(|k| k.k), Some(1));
    }
}
