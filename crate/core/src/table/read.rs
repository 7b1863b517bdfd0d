//! Reading a table as hospitals export it: the encoding (BOM, UTF-8, UTF-16, else
//! Windows-1252), the delimiter (`,` `;` tab `|`) and the records (quoted fields may hold
//! delimiters and line breaks), with the physical line where each record starts.

use std::borrow::Cow;
use std::collections::HashSet;

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252};

/// File extensions under which a table is looked for.
pub const EXTENSIONS: [&str; 3] = ["csv", "tsv", "txt"];

/// Delimiters tried, in order of preference when two fit equally well.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// The lower-case extension of a file name when it is one of [`EXTENSIONS`].
pub fn table_extension(name: &str) -> Option<&'static str> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let (_, ext) = base.rsplit_once('.')?;
    EXTENSIONS.into_iter().find(|e| ext.eq_ignore_ascii_case(e))
}

/// Text of a table and the encoding it was read with.
pub struct Decoded<'a> {
    /// Borrowed from the bytes when they are UTF-8 already: a 100 MB table is not copied.
    pub text: Cow<'a, str>,
    /// `UTF-8`, `UTF-8 with BOM`, `UTF-16LE with BOM`, `windows-1252`...
    pub encoding: String,
}

/// Decodes the bytes of a table. A byte order mark wins; else text with a NUL in every
/// other byte is UTF-16 without a BOM, valid UTF-8 is UTF-8, and anything else is read as
/// Windows-1252 (the superset of Latin-1 that Windows exports use). Binary content is refused.
pub fn decode(bytes: &[u8]) -> Result<Decoded<'_>, String> {
    let (encoding, body, bom) = if let Some((encoding, length)) = Encoding::for_bom(bytes) {
        (encoding, &bytes[length..], true)
    } else if let Some(encoding) = utf16_without_bom(bytes) {
        (encoding, bytes, false)
    } else if std::str::from_utf8(bytes).is_ok() {
        (UTF_8, bytes, false)
    } else {
        (WINDOWS_1252, bytes, false)
    };
    let (text, had_errors) = encoding.decode_without_bom_handling(body);
    if had_errors {
        return Err(format!("not valid {} text", encoding.name()));
    }
    let controls = text.chars().filter(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')).count();
    if text.contains('\0') || controls * 100 > text.len().max(1) {
        return Err("binary content, not text".into());
    }
    let encoding = format!("{}{}", encoding.name(), if bom { " with BOM" } else { "" });
    Ok(Decoded { text, encoding })
}

/// Beyond these a file is not an EHR export (Excel stops at 16,384 columns; a line of
/// 16 MiB is 1,000 columns of 16 KiB), and reading it into records would cost memory
/// and time out of proportion: it is refused before the records are read.
pub const MAX_COLUMNS: usize = 16_384;
pub const MAX_LINE: usize = 16 << 20;

/// Refuses text with a physical line longer than [`MAX_LINE`] (one pass, no copy).
pub fn check_line_lengths(text: &str) -> Result<(), String> {
    let (mut start, mut number) = (0usize, 1u64);
    for end in text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i).chain([text.len()]) {
        if end - start > MAX_LINE {
            return Err(format!("line {number} is {} bytes long, more than the {} MiB a table line may hold", end - start, MAX_LINE >> 20));
        }
        (start, number) = (end + 1, number + 1);
    }
    Ok(())
}

fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(512) & !1];
    if head.len() < 4 {
        return None;
    }
    let zeros = |parity: usize| head.iter().skip(parity).step_by(2).filter(|&&b| b == 0).count();
    let half = head.len() / 2;
    if zeros(1) * 10 >= half * 9 && zeros(0) == 0 {
        Some(UTF_16LE)
    } else if zeros(0) * 10 >= half * 9 && zeros(1) == 0 {
        Some(UTF_16BE)
    } else {
        None
    }
}

fn reader(text: &str, delimiter: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(text.as_bytes())
}

/// The delimiter whose records (of the first 50) most often have the header's field count,
/// then the one giving the most fields. `None` when no delimiter splits the header: a table
/// of one column (only accepted under a `.csv`/`.tsv` name).
pub fn detect_delimiter(text: &str, prefer_tab: bool) -> Option<u8> {
    let mut end = text.len().min(64 * 1024);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let sample = &text[..end];
    let cut = end < text.len();
    let mut order = DELIMITERS.to_vec();
    if prefer_tab {
        order.sort_by_key(|&d| d != b'\t');
    }
    let mut best: Option<((u32, usize), u8)> = None;
    for d in order {
        let lengths: Vec<usize> = reader(sample, d).records().take(51).filter_map(Result::ok).map(|r| r.len()).collect();
        let Some((&header, rows)) = lengths.split_first() else { continue };
        if header < 2 {
            continue;
        }
        // The last record of a cut sample may be cut too.
        let rows = if cut && rows.len() > 1 { &rows[..rows.len() - 1] } else { rows };
        let same = rows.iter().filter(|&&n| n == header).count();
        let score = ((same as u32 + 1) * 1000 / (rows.len() as u32 + 1), header);
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, d));
        }
    }
    best.map(|(_, d)| d)
}

/// Whether the detected layout is convincing enough for a `.txt` file, which may as well be
/// prose: at least two columns and nine records in ten with the header's field count.
pub fn looks_tabular(text: &str, delimiter: u8) -> bool {
    let lengths: Vec<usize> = reader(text, delimiter).records().take(200).filter_map(Result::ok).map(|r| r.len()).collect();
    match lengths.split_first() {
        Some((&header, rows)) if header >= 2 && !rows.is_empty() => {
            rows.iter().filter(|&&n| n == header).count() * 10 >= rows.len() * 9
        }
        _ => false,
    }
}

/// The header's column names: trimmed, blank ones named `column_N`, repeated ones numbered
/// (`name_2`), so that every column has a distinct name a profile can refer to.
pub fn header_names(record: &csv::StringRecord) -> Vec<String> {
    let mut taken = HashSet::with_capacity(record.len());
    let mut names: Vec<String> = Vec::with_capacity(record.len());
    for (i, field) in record.iter().enumerate() {
        let base = field.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        let base = if base.is_empty() { format!("column_{}", i + 1) } else { base.to_string() };
        names.push(unique(&mut taken, base));
    }
    names
}

/// `base`, or `base_2`, `base_3`... when `taken` already holds it; the result is added to
/// `taken` (a set: a header of thousands of columns must not cost their square).
pub fn unique(taken: &mut HashSet<String>, base: String) -> String {
    let name = if taken.contains(&base) {
        (2..).map(|n| format!("{base}_{n}")).find(|c| !taken.contains(c)).expect("some suffix is free")
    } else {
        base
    };
    taken.insert(name.clone());
    name
}

/// The records of a table, each with the line where it starts (1-based). Lines are counted
/// here: the csv crate counts a CRLF line end late, after the next record has started.
pub fn records(text: &str, delimiter: u8) -> impl Iterator<Item = Result<(u64, csv::StringRecord), String>> + '_ {
    let bytes = text.as_bytes();
    let (mut counted, mut line) = (0usize, 1u64);
    reader(text, delimiter).into_records().map(move |r| {
        let record = r.map_err(|e| e.to_string())?;
        let mut start = record.position().map_or(counted, |p| p.byte() as usize).clamp(counted, bytes.len());
        while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        line += bytes[counted..start].iter().filter(|&&b| b == b'\n').count() as u64;
        counted = start;
        Ok((line, record))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_encodings() {
        assert_eq!(decode(b"a;b\n\xe9;1\n").unwrap().encoding, "windows-1252");
        assert_eq!(decode(b"a;b\n\xe9;1\n").unwrap().text, "a;b\né;1\n");
        assert_eq!(decode("\u{feff}a,b".as_bytes()).unwrap().encoding, "UTF-8 with BOM");
        assert_eq!(decode("\u{feff}a,b".as_bytes()).unwrap().text, "a,b");
        let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain("é\tb".encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(decode(&utf16).unwrap().text, "é\tb");
        let bare: Vec<u8> = "id,x\n1,2\n".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decode(&bare).unwrap().encoding, "UTF-16BE");
        assert!(decode(b"\x00\x01\x02\x03binary").is_err());
        assert!(matches!(decode(b"a,b\n1,2\n").unwrap().text, Cow::Borrowed(_)));
    }

    #[test]
    fn refuses_overlong_lines_and_numbers_repeated_names() {
        let mut long = "a,b\n1,".to_string();
        long.push_str(&"x".repeat(MAX_LINE + 1));
        assert!(check_line_lengths(&long).unwrap_err().starts_with("line 2 is"));
        assert!(check_line_lengths(&"x".repeat(MAX_LINE)).is_ok());
        let header = csv::StringRecord::from(vec!["id", "id", " ", "id_2", "id"]);
        assert_eq!(header_names(&header), ["id", "id_2", "column_3", "id_2_2", "id_3"]);
    }

    #[test]
    fn detects_delimiters() {
        assert_eq!(detect_delimiter("a;b;c\n1;2,5;3\n", false), Some(b';'));
        assert_eq!(detect_delimiter("a,b\n\"x;y\",2\n", false), Some(b','));
        assert_eq!(detect_delimiter("a\tb|c\n1\t2|3\n", true), Some(b'\t'));
        assert_eq!(detect_delimiter("a|b\n1|2\n", false), Some(b'|'));
        assert_eq!(detect_delimiter("just words\nmore words\n", false), None);
        assert!(!looks_tabular("Test files, used by tests\nFirst, which\nthird line here\n", b','));
        assert_eq!(table_extension("a/b/Visits.TSV"), Some("tsv"));
        assert_eq!(table_extension("x.dcm"), None);
        let lines = |t: &str, d: u8| records(t, d).map(|r| r.unwrap().0).collect::<Vec<u64>>();
        assert_eq!(lines("a\tb\r\n1\t2\r\n3\r\n\r\n4\t5\t6\r\n", b'\t'), [1, 2, 3, 5]);
        assert_eq!(lines("a,b\n\"1\n2\",2\n3\n", b','), [1, 2, 4]);
    }
}
