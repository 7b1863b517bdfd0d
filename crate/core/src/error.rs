//! Typed errors. Each message names what went wrong in words a hospital user can act on;
//! per-file errors never abort an export, they become a line of the report.

use std::fmt;

use serde::Serialize;

/// Why an input is skipped or quarantined: the report's `code`, serialised kebab-case. The
/// page's texts (`www/i18n/*.js`, `reasons`) are keyed by it; a test checks both lists agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    NotDicom,
    Dicomdir,
    Corrupt,
    TransferSyntax,
    WriteFailed,
    Changed,
    TableUnreadable,
    TableMalformed,
    SpreadsheetUnreadable,
    Unreadable,
    ZipEntryIgnored,
    Duplicate,
    NiftiNotConverted,
    NotReached,
    BurnedIn,
    RiskySopClass,
    NotPrimary,
    IdentifierFound,
    PixelsNotCleanable,
    FaceNotRemoved,
}

impl Reason {
    /// Every reason, for the tests that check the page has a text for each.
    pub const ALL: [Reason; 20] = [
        Reason::NotDicom,
        Reason::Dicomdir,
        Reason::Corrupt,
        Reason::TransferSyntax,
        Reason::WriteFailed,
        Reason::Changed,
        Reason::TableUnreadable,
        Reason::TableMalformed,
        Reason::SpreadsheetUnreadable,
        Reason::Unreadable,
        Reason::ZipEntryIgnored,
        Reason::Duplicate,
        Reason::NiftiNotConverted,
        Reason::NotReached,
        Reason::BurnedIn,
        Reason::RiskySopClass,
        Reason::NotPrimary,
        Reason::IdentifierFound,
        Reason::PixelsNotCleanable,
        Reason::FaceNotRemoved,
    ];
}

/// Why a file was skipped or quarantined: the reason and its variable part (a parser's
/// message, a file name, a UID), untranslated. The page shows its own text for the reason, in
/// the user's language; the English `reason` of the report stays for the CLI and the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Why {
    pub code: Reason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Why {
    pub fn new(code: Reason, detail: impl Into<Option<String>>) -> Why {
        Why { code, detail: detail.into() }
    }
}

/// Why one input file is not part of the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    /// Neither a DICOM file (no `DICM` marker, nor a raw data set's first elements) nor a table
    /// the export knows how to read.
    NotDicom,
    /// A DICOMDIR is an index of other files, not an image: nothing to export.
    Dicomdir,
    /// The file claims to be DICOM but cannot be parsed to the end (the parser's message).
    Corrupt(String),
    /// Sequences nested deeper than `levels`: hostile input, refused before any recursion.
    TooDeep { levels: usize },
    /// Neither the data set nor the meta group names the SOP class.
    NoSopClass,
    /// The file's transfer syntax is not one this tool can read.
    UnsupportedTransferSyntax(String),
    /// The file was parsed, but writing its de-identified form failed.
    Write(String),
    /// The file changed between the two reads of the export.
    Changed,
    /// A table (CSV/TSV) that could not be read or written.
    Table(String),
    /// The output audit found an identifier of the input in the de-identified file, which
    /// is therefore not written: what it is (e.g. "a person's name"), the input attribute it
    /// came from and the output attribute it was found in, as paths of tags.
    Identifiable { kind: &'static str, source: String, found_at: String },
    /// The Clean Pixel Data Option could not clean the image's pixels: it is not written.
    PixelsNotCleanable(RedactError),
    /// The Clean Recognizable Visual Features Option could not remove the face of its series
    /// (why: the registration's words): it is not written.
    FaceNotRemoved(String),
}

/// Why an image's pixels cannot be cleaned (decoded, blacked out and written natively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedactError {
    /// Its transfer syntax is not decoded here (the decoder's words).
    TransferSyntax(String),
    /// A photometric interpretation not cleaned here, or not in this transfer syntax.
    Photometric { photometric: String, transfer_syntax: String },
    /// Samples per pixel or bits allocated that the photometric interpretation does not take here.
    Layout { photometric: String, samples: usize, bits_allocated: usize },
    /// No Rows or Columns (or an odd width for YBR_FULL_422).
    Size { columns: usize, rows: usize },
    /// A palette colour image whose tables cannot be read.
    Palette(String),
    /// No Pixel Data.
    NoPixelData,
    /// Native pixel data shorter than its frames.
    Short { bytes: usize, expected: usize },
    /// A frame that could not be decoded.
    Decode { frame: usize, why: String },
    /// Cleaned, the pixel data would not fit a defined length (4 GiB).
    TooLarge { bytes: u64 },
}

impl fmt::Display for RedactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedactError::TransferSyntax(why) => f.write_str(why),
            RedactError::Photometric { photometric, transfer_syntax } => {
                write!(f, "photometric interpretation {photometric:?} in transfer syntax {transfer_syntax} is not cleaned here")
            }
            RedactError::Layout { photometric, samples, bits_allocated } => {
                write!(f, "{photometric} with {samples} samples per pixel of {bits_allocated} bits is not cleaned here")
            }
            RedactError::Size { columns, rows } => write!(f, "an image of {columns} × {rows} pixels"),
            RedactError::Palette(why) => write!(f, "unreadable palette: {why}"),
            RedactError::NoPixelData => f.write_str("no pixel data"),
            RedactError::Short { bytes, expected } => write!(f, "pixel data of {bytes} bytes, {expected} expected"),
            RedactError::Decode { frame, why } => write!(f, "frame {} could not be decoded: {why}", frame + 1),
            RedactError::TooLarge { bytes } => write!(f, "{bytes} bytes of pixel data once decoded, more than one file can hold"),
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::NotDicom => f.write_str("not a DICOM file (no DICM marker, nor a data set without one)"),
            FileError::Dicomdir => f.write_str("DICOMDIR index file, not an image (skipped)"),
            FileError::Corrupt(why) => write!(f, "corrupt DICOM file: {why}"),
            FileError::TooDeep { .. } | FileError::NoSopClass => write!(f, "corrupt DICOM file: {}", self.detail()),
            FileError::UnsupportedTransferSyntax(uid) => {
                write!(f, "unsupported transfer syntax {uid}")
            }
            FileError::Write(why) => write!(f, "could not write the de-identified file: {why}"),
            FileError::Changed => f.write_str("the file changed while the export was running"),
            FileError::Table(why) => write!(f, "unreadable table: {why}"),
            FileError::Identifiable { kind, source, found_at } => write!(
                f,
                "not exported: the output audit found {kind} from {source} of the input in {found_at} of the de-identified file"
            ),
            FileError::PixelsNotCleanable(why) => write!(f, "not exported: its pixels could not be cleaned of burned-in text ({why})"),
            FileError::FaceNotRemoved(why) => write!(f, "not exported: the face could not be removed from its series ({why})"),
        }
    }
}

impl std::error::Error for FileError {}

impl FileError {
    /// The words of a variant that is one kind of corrupt file.
    fn detail(&self) -> String {
        match self {
            FileError::TooDeep { levels } => format!("sequences nested deeper than {levels} levels"),
            FileError::NoSopClass => "no SOP Class UID in the data set or the meta group".into(),
            other => other.to_string(),
        }
    }

    /// The report's code for this error, and its variable part.
    pub fn why(&self) -> Why {
        match self {
            FileError::NotDicom => Why::new(Reason::NotDicom, None),
            FileError::Dicomdir => Why::new(Reason::Dicomdir, None),
            FileError::Corrupt(why) => Why::new(Reason::Corrupt, why.clone()),
            FileError::TooDeep { .. } | FileError::NoSopClass => Why::new(Reason::Corrupt, self.detail()),
            FileError::UnsupportedTransferSyntax(uid) => Why::new(Reason::TransferSyntax, uid.clone()),
            FileError::Write(why) => Why::new(Reason::WriteFailed, why.clone()),
            FileError::Changed => Why::new(Reason::Changed, None),
            FileError::Table(why) => Why::new(Reason::TableUnreadable, why.clone()),
            FileError::Identifiable { kind, source, found_at } => {
                Why::new(Reason::IdentifierFound, format!("{kind} from {source} in {found_at}"))
            }
            FileError::PixelsNotCleanable(why) => Why::new(Reason::PixelsNotCleanable, why.to_string()),
            FileError::FaceNotRemoved(why) => Why::new(Reason::FaceNotRemoved, why.clone()),
        }
    }
}

/// Errors that stop a whole export (as opposed to [`FileError`], which skip one file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// The export date is not a valid `YYYYMMDD` calendar date.
    ExportDate(String),
    /// The settings could not be understood.
    Settings(String),
    /// The requested output format is not implemented yet.
    FormatNotSupported(String),
    /// The calls came in an order the job does not allow (e.g. `export` before `plan`).
    Sequence(&'static str),
    /// `export` was called with an input that the plan does not contain.
    UnknownInput(usize),
    /// Writing the zip archive failed.
    Archive(String),
    /// A NIfTI volume written as its files arrived lost one after its first bytes were
    /// written: the zip cannot be completed correctly.
    VolumeIncomplete { path: String, why: String },
    /// Boxes were accepted for a series the Clean Pixel Data review did not offer.
    UnknownPixelSeries(String),
    /// The review's preview of an image could not be made (the image stays held back).
    PixelPreview(String),
    /// The face of a series the Clean Recognizable Visual Features review did not offer.
    UnknownFaceSeries(String),
    /// A head scan's face could not be placed (the scan is held back while its face is to go).
    FaceNotFitted(String),
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::ExportDate(d) => write!(f, "export date {d:?} is not a valid YYYYMMDD date"),
            JobError::Settings(why) => write!(f, "invalid settings: {why}"),
            JobError::FormatNotSupported(fmt_) => {
                write!(f, "output format {fmt_:?} is not yet supported")
            }
            JobError::Sequence(why) => write!(f, "export steps out of order: {why}"),
            JobError::UnknownInput(i) => write!(f, "input #{i} is not part of the export plan"),
            JobError::Archive(why) => write!(f, "could not write the zip archive: {why}"),
            JobError::VolumeIncomplete { path, why } => write!(
                f,
                "{path} cannot be completed ({why}); it is written as its files are read, so the export \
                 stops here. Was a file changed, moved or deleted during the export? Export again."
            ),
            JobError::UnknownPixelSeries(key) => write!(f, "no series {key:?} awaits pixel cleaning"),
            JobError::PixelPreview(why) => write!(f, "no preview of the image: {why}"),
            JobError::UnknownFaceSeries(key) => write!(f, "no head scan {key:?} awaits face removal"),
            JobError::FaceNotFitted(why) => write!(f, "the face of the head scan could not be placed: {why}"),
        }
    }
}

impl std::error::Error for JobError {}

impl From<crate::dates::BadExportDate> for JobError {
    fn from(bad: crate::dates::BadExportDate) -> Self {
        JobError::ExportDate(bad.0)
    }
}

/// An error's message followed by its sources: dicom-rs puts the useful part
/// (which tag, which offset) in the innermost source.
pub(crate) fn with_sources(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
