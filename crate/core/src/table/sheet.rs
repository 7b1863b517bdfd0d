//! Spreadsheets (`.xlsx`, `.xls`, `.ods`) read into rows of text, typed as the table
//! pipeline reads a CSV: date cells as ISO `yyyy-mm-dd` (with ` hh:mm:ss` when they hold a
//! time), numbers in their shortest form at Excel's 15 significant digits (`1`, `1.5`,
//! `0.3`), text as is, formulas as their cached value. The first used row is the header;
//! an empty header cell inside a merged region takes the region's value (the table reader
//! then numbers the repeats: `Dose`, `Dose_2`).

use std::io::Cursor;

use calamine::{open_workbook_auto_from_rs, Data, Reader, SheetVisible, Sheets};

/// File extensions of spreadsheets.
pub const EXTENSIONS: [&str; 4] = ["xlsx", "xlsm", "xls", "ods"];

/// The start of an OLE2 compound file (`.xls`).
const OLE2: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Why a spreadsheet could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SheetError {
    /// The workbook's parts could not be read (damaged, encrypted, not a spreadsheet).
    Unreadable(String),
    /// One sheet could not be read.
    Sheet { sheet: String, why: String },
}

impl std::fmt::Display for SheetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SheetError::Unreadable(why) => write!(f, "unreadable spreadsheet: {why}"),
            SheetError::Sheet { sheet, why } => write!(f, "unreadable sheet {sheet:?}: {why}"),
        }
    }
}

/// One sheet: its name, whether the workbook hides it, its rows from the first used one.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    pub name: String,
    pub hidden: bool,
    pub rows: Vec<Vec<String>>,
}

/// Whether a file is a spreadsheet, by its content (a zip holding the OOXML workbook or the
/// ODF spreadsheet mimetype, or an OLE2 file) or, for a zip or OLE2 file, its extension.
/// Checked before a zip is taken for a zip of inputs.
pub fn is_spreadsheet(name: &str, head: &[u8]) -> bool {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let named = ext.as_deref().is_some_and(|e| EXTENSIONS.contains(&e));
    if head.starts_with(&OLE2) {
        return named; // OLE2 is also .doc, .msg: by name only
    }
    if !head.starts_with(b"PK\x03\x04") {
        return false;
    }
    named || zip_entries(head).any(|(name, data)| {
        name == b"xl/workbook.xml" || (name == b"mimetype" && data.starts_with(b"application/vnd.oasis.opendocument.spreadsheet"))
    })
}

/// The (name, stored data) of the zip's local entries found in `head`, in order, until an
/// entry whose size its header does not give. By name, not by a search of the bytes: a zip
/// of inputs holding a stored `.xlsx` is no spreadsheet.
fn zip_entries(head: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let header = head.get(at..at + 30).filter(|h| h.starts_with(b"PK\x03\x04"))?;
        let u16_at = |i: usize| u16::from_le_bytes([header[i], header[i + 1]]) as usize;
        let (flags, size) = (u16_at(6), u32::from_le_bytes([header[18], header[19], header[20], header[21]]) as usize);
        let (name_len, extra_len) = (u16_at(26), u16_at(28));
        let name = head.get(at + 30..at + 30 + name_len)?;
        let start = at + 30 + name_len + extra_len;
        let data = head.get(start..(start + size).min(head.len())).unwrap_or_default();
        // Sizes after the data (flag bit 3): the next header is not found by arithmetic.
        at = if flags & 8 != 0 && size == 0 { usize::MAX - 30 } else { start + size };
        Some((name, data))
    })
}

/// Every sheet of a workbook, in the workbook's order.
pub fn read(bytes: &[u8]) -> Result<Vec<Sheet>, SheetError> {
    let mut book = open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|e| SheetError::Unreadable(e.to_string()))?;
    let metadata = book.sheets_metadata().to_vec();
    let mut sheets = Vec::with_capacity(metadata.len());
    for meta in metadata {
        let error = |why: String| SheetError::Sheet { sheet: meta.name.clone(), why };
        let range = book.worksheet_range(&meta.name).map_err(|e| error(e.to_string()))?;
        let mut rows: Vec<Vec<String>> = range.rows().map(|row| row.iter().map(cell_text).collect()).collect();
        let merged = merged_regions(&mut book, &meta.name).map_err(error)?;
        if let (Some(header), Some((top, left))) = (rows.first_mut(), range.start()) {
            fill_merged_header(header, top, left, &merged);
        }
        let hidden = meta.visible != SheetVisible::Visible;
        sheets.push(Sheet { name: meta.name, hidden, rows });
    }
    Ok(sheets)
}

/// The merged regions of a sheet as (first row, first column, last column); `.xlsx` only
/// (the reader gives none for `.xls` and `.ods`: their merged headers stay blank, `column_N`).
fn merged_regions(book: &mut Sheets<Cursor<&[u8]>>, sheet: &str) -> Result<Vec<(u32, u32, u32)>, String> {
    let Sheets::Xlsx(xlsx) = book else { return Ok(Vec::new()) };
    let regions = xlsx.merge_cells_by_sheet_name(sheet).map_err(|e| e.to_string())?;
    Ok(regions.iter().map(|d| (d.start.0, d.start.1, d.end.1)).collect())
}

/// An empty header cell inside a region merged across the header row takes the value of
/// the region's first cell: a title over two columns names both.
fn fill_merged_header(header: &mut [String], top: u32, left: u32, merged: &[(u32, u32, u32)]) {
    for &(_, first, last) in merged.iter().filter(|m| m.0 == top) {
        let Some(start) = first.checked_sub(left).map(|c| c as usize) else { continue };
        let Some(value) = header.get(start).cloned() else { continue };
        for c in start + 1..=((last - left) as usize).min(header.len().saturating_sub(1)) {
            if header[c].is_empty() {
                header[c] = value.clone();
            }
        }
    }
}

/// A cell as the text a CSV export would hold.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => number(*f),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
        Data::DateTime(d) if d.is_datetime() => {
            let (y, m, day, h, min, s, _) = d.to_ymd_hms_milli();
            let date = format!("{y:04}-{m:02}-{day:02}");
            if (h, min, s) == (0, 0, 0) { date } else { format!("{date} {h:02}:{min:02}:{s:02}") }
        }
        Data::DateTime(d) => number(d.as_f64()),
        Data::Error(e) => e.to_string(),
    }
}

/// A number at Excel's precision (15 significant digits), in its shortest round-trip form:
/// `1.0` is `1`, `0.1 + 0.2` is `0.3`.
pub fn number(f: f64) -> String {
    if !f.is_finite() {
        return f.to_string();
    }
    let rounded: f64 = format!("{f:.14e}").parse().unwrap_or(f);
    let text = rounded.to_string();
    if text == "-0" { "0".into() } else { text }
}

/// The rows of a sheet as CSV text (comma-separated, LF), for the table reader.
pub fn to_csv(rows: &[Vec<String>]) -> Result<String, String> {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).flexible(true).from_writer(Vec::new());
    for row in rows {
        let padded = row.iter().map(String::as_str).chain(std::iter::repeat_n("", width - row.len()));
        writer.write_record(padded).map_err(|e| e.to_string())?;
    }
    let bytes = writer.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// Hand-built spreadsheets for the tests (here and in the tests crate): small, so always built.
#[doc(hidden)]
pub mod samples {
    use std::io::{Cursor, Write};

    /// A hand-built `.xlsx`: `Visits` (a merged header, a date cell (2024-01-05), a date as text, a numeric ID, 1.5, 3,
    /// a formula with its cached value 4.5) and the hidden `Notes`.
    pub fn xlsx() -> Vec<u8> {
        let visits = r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
<row r="1"><c r="A1" t="inlineStr"><is><t>PatientID</t></is></c><c r="B1" t="inlineStr"><is><t>VisitDate</t></is></c><c r="C1" t="inlineStr"><is><t>Dose</t></is></c><c r="E1" t="inlineStr"><is><t>Total</t></is></c><c r="F1" t="inlineStr"><is><t>Note</t></is></c></row>
<row r="2"><c r="A2" t="inlineStr"><is><t>4711</t></is></c><c r="B2" s="1"><v>45296</v></c><c r="C2"><v>1.5</v></c><c r="D2"><v>3</v></c><c r="E2"><f>C2+D2</f><v>4.5</v></c><c r="F2"><v>0.30000000000000004</v></c></row>
<row r="3"><c r="A3"><v>98765</v></c><c r="B3" t="inlineStr"><is><t>2024-03-02</t></is></c><c r="C3"><v>3</v></c><c r="D3"><v>1</v></c><c r="E3"><f>C3+D3</f><v>4</v></c><c r="F3" t="inlineStr"><is><t>ok</t></is></c></row>
</sheetData><mergeCells count="1"><mergeCell ref="C1:D1"/></mergeCells></worksheet>"#;
        let notes = r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>secret</t></is></c></row></sheetData></worksheet>"#;
        xlsx_of(&[("Visits", false, visits), ("Notes", true, notes)])
    }

    /// An `.xlsx` of (sheet name, hidden, worksheet XML); style 1 is a date (format 14).
    pub fn xlsx_of(sheets: &[(&str, bool, &str)]) -> Vec<u8> {
        let ns = r#"xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships""#;
        let rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
        let mut types = String::from(r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>"#);
        let (mut book, mut rels) = (format!("<workbook {ns}><sheets>"), format!(r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rS" Type="{rel}/styles" Target="styles.xml"/>"#));
        for (i, (name, hidden, _)) in sheets.iter().enumerate() {
            let n = i + 1;
            types.push_str(&format!(r#"<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#));
            let state = if *hidden { r#" state="hidden""# } else { "" };
            book.push_str(&format!(r#"<sheet name="{name}" sheetId="{n}"{state} r:id="r{n}"/>"#));
            rels.push_str(&format!(r#"<Relationship Id="r{n}" Type="{rel}/worksheet" Target="worksheets/sheet{n}.xml"/>"#));
        }
        types.push_str("</Types>");
        book.push_str("</sheets></workbook>");
        rels.push_str("</Relationships>");
        let styles = r#"<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>"#;
        let root = format!(r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="r1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#);
        let mut parts = vec![("[Content_Types].xml".to_string(), types), ("_rels/.rels".into(), root), ("xl/workbook.xml".into(), book), ("xl/_rels/workbook.xml.rels".into(), rels), ("xl/styles.xml".into(), styles.into())];
        parts.extend(sheets.iter().enumerate().map(|(i, s)| (format!("xl/worksheets/sheet{}.xml", i + 1), s.2.to_string())));
        zip_of(&parts)
    }

    /// A hand-built `.ods` with one sheet: a date cell, 1.5 and a formula cached as 3.
    pub fn ods() -> Vec<u8> {
        let content = r#"<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Labs">
<table:table-row><table:table-cell office:value-type="string"><text:p>PatientID</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>Date</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>Value</text:p></table:table-cell></table:table-row>
<table:table-row><table:table-cell office:value-type="string"><text:p>P1</text:p></table:table-cell><table:table-cell office:value-type="date" office:date-value="2024-03-01"><text:p>01/03/2024</text:p></table:table-cell><table:table-cell table:formula="of:=1+2" office:value-type="float" office:value="3"><text:p>3</text:p></table:table-cell></table:table-row>
<table:table-row><table:table-cell office:value-type="string"><text:p>P2</text:p></table:table-cell><table:table-cell office:value-type="date" office:date-value="2024-03-02"><text:p>02/03/2024</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="1.5"><text:p>1,5</text:p></table:table-cell></table:table-row>
</table:table></office:spreadsheet></office:body></office:document-content>"#;
        let manifest = r#"<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;
        zip_of(&[("mimetype".into(), "application/vnd.oasis.opendocument.spreadsheet".into()), ("content.xml".into(), content.into()), ("META-INF/manifest.xml".into(), manifest.into())])
    }

    /// An `.ods` of (sheet name, hidden, rows of cells' XML): a hidden sheet has a table
    /// style whose `table:display` is false.
    pub fn ods_of(sheets: &[(&str, bool, &[&[&str]])]) -> Vec<u8> {
        let ns = r#"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0""#;
        let style = r#"<office:automatic-styles><style:style style:name="ta2" style:family="table"><style:table-properties table:display="false"></style:table-properties></style:style></office:automatic-styles>"#;
        let mut content = format!(r#"<office:document-content {ns} office:version="1.2">{style}<office:body><office:spreadsheet>"#);
        for (name, hidden, rows) in sheets {
            let style = if *hidden { r#" table:style-name="ta2""# } else { "" };
            content.push_str(&format!(r#"<table:table table:name="{name}"{style}>"#));
            for row in *rows {
                content.push_str(&format!("<table:table-row>{}</table:table-row>", row.concat()));
            }
            content.push_str("</table:table>");
        }
        content.push_str("</office:spreadsheet></office:body></office:document-content>");
        let manifest = r#"<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;
        zip_of(&[("mimetype".into(), "application/vnd.oasis.opendocument.spreadsheet".into()), ("content.xml".into(), content), ("META-INF/manifest.xml".into(), manifest.into())])
    }

    pub fn zip_of(parts: &[(String, String)]) -> Vec<u8> {
        zip_bytes(&parts.iter().map(|(n, t)| (n.as_str(), t.as_bytes())).collect::<Vec<_>>())
    }

    /// A zip of stored (uncompressed) entries.
    pub fn zip_bytes(parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in parts {
            zip.start_file(*name, stored).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::samples::{self, ods, xlsx};
    use super::*;

    #[test]
    fn reads_typed_cells_merged_headers_and_hidden_sheets() {
        let sheets = read(&xlsx()).unwrap();
        assert_eq!(sheets.iter().map(|s| (s.name.as_str(), s.hidden)).collect::<Vec<_>>(), [("Visits", false), ("Notes", true)]);
        assert_eq!(sheets[0].rows[0], ["PatientID", "VisitDate", "Dose", "Dose", "Total", "Note"]);
        assert_eq!(sheets[0].rows[1], ["4711", "2024-01-05", "1.5", "3", "4.5", "0.3"]);
        assert_eq!(sheets[0].rows[2], ["98765", "2024-03-02", "3", "1", "4", "ok"]);
        assert_eq!(to_csv(&sheets[0].rows[..2]).unwrap(), "PatientID,VisitDate,Dose,Dose,Total,Note\n4711,2024-01-05,1.5,3,4.5,0.3\n");
    }

    #[test]
    fn reads_ods_and_recognises_spreadsheets() {
        let sheets = read(&ods()).unwrap();
        assert_eq!(sheets[0].name, "Labs");
        assert_eq!(sheets[0].rows[1..], [vec!["P1", "2024-03-01", "3"], vec!["P2", "2024-03-02", "1.5"]]);
        assert!(is_spreadsheet("labs.bin", &ods()) && is_spreadsheet("x", &xlsx()) && is_spreadsheet("a.XLS", &OLE2));
        assert!(!is_spreadsheet("a.doc", &OLE2) && !is_spreadsheet("a.csv", b"a,b\n"));
        let inputs = samples::zip_bytes(&[("scan.dcm", b"DICM"), ("clinic.xlsx", &xlsx())]);
        assert!(!is_spreadsheet("pacs.zip", &inputs), "a zip of inputs holding a stored workbook");
        assert!(matches!(read(b"PK\x03\x04 broken"), Err(SheetError::Unreadable(_))));
        assert_eq!((number(1.0), number(0.1 + 0.2), number(-0.0), number(1e20), number(2.5e-7)), ("1".into(), "0.3".into(), "0".into(), "100000000000000000000".into(), "0.00000025".into()));
    }
}
