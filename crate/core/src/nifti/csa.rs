//! Siemens CSA headers (0029,1010 image, 0029,1020 series): private binary headers read for
//! the conversion only (mosaic geometry, BIDS fields derived from them). Nothing of them is
//! ever written to an export.

use dicom_core::Tag;
use dicom_object::InMemDicomObject;

/// The CSA image header (0029,1010) of a Siemens image.
pub(super) fn image_header(ds: &InMemDicomObject) -> Option<Vec<u8>> {
    Some(ds.element_opt(Tag(0x0029, 0x1010)).ok()??.to_bytes().ok()?.into_owned())
}

/// The CSA series header (0029,1020) of a Siemens image: holds the protocol (ASCCONV).
pub(super) fn series_header(ds: &InMemDicomObject) -> Option<Vec<u8>> {
    Some(ds.element_opt(Tag(0x0029, 0x1020)).ok()??.to_bytes().ok()?.into_owned())
}

/// The text items of element `name` of a Siemens CSA header (SV10: "SV10", 4 bytes, the
/// number of elements, 4 bytes; each element a 64-byte name, VM, VR, type, item count and
/// 4 bytes; each item four 32-bit words, its length second, then the text padded to 4).
pub(super) fn values(csa: &[u8], name: &str) -> Option<Vec<String>> {
    let word = |at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(csa.get(at..at.checked_add(4)?)?.try_into().ok()?) as usize)
    };
    if !csa.starts_with(b"SV10") {
        return None;
    }
    let mut at = 16;
    for _ in 0..word(8)?.min(1024) {
        let field = csa.get(at..at + 64)?;
        let this = &field[..field.iter().position(|&b| b == 0).unwrap_or(64)];
        let count = word(at + 76)?;
        at += 84;
        let mut values = Vec::new();
        for _ in 0..count.min(1024) {
            let len = word(at + 4)?;
            at += 16;
            // Lengths come from the file: checked, so that none wraps on wasm32.
            let text = String::from_utf8_lossy(csa.get(at..at.checked_add(len)?)?);
            let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
            if !text.is_empty() {
                values.push(text.to_string());
            }
            at = at.checked_add(len.div_ceil(4).checked_mul(4)?)?;
        }
        if this == name.as_bytes() {
            return Some(values);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One CSA element with one item of `len` declared bytes holding `text`.
    fn csa(name: &str, len: u32, text: &[u8]) -> Vec<u8> {
        let mut out = b"SV10\x04\x03\x02\x01".to_vec();
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&77u32.to_le_bytes());
        let mut field = [0u8; 64];
        field[..name.len()].copy_from_slice(name.as_bytes());
        out.extend_from_slice(&field);
        for word in [1u32, u32::from_le_bytes(*b"US\0\0"), 3, 1, 77] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        for word in [len, len, 77, len] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(text);
        out
    }

    /// The CSA reader takes an item's text, and a length beyond the header (or one that
    /// would wrap) gives nothing rather than a panic.
    #[test]
    fn csa_items_are_read_within_bounds() {
        let good = csa("NumberOfImagesInMosaic", 9, b"48      \0");
        assert_eq!(values(&good, "NumberOfImagesInMosaic"), Some(vec!["48".to_string()]));
        assert_eq!(values(&good, "SliceNormalVector"), None);
        assert_eq!(values(&csa("NumberOfImagesInMosaic", u32::MAX, b"48"), "NumberOfImagesInMosaic"), None);
        assert_eq!(values(b"SV10", "NumberOfImagesInMosaic"), None);
    }
}
