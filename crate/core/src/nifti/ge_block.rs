//! GE's Protocol Data Block (0025,101B): a 4-byte length, then gzip text of `KEY "value"`
//! lines (slice order, multiband, delays). Inflated (at most 1 MiB) for the conversion only:
//! nothing of it is written.

use std::io::Read as _;

use dicom_core::Tag;
use dicom_object::InMemDicomObject;

const PROTOCOL_BLOCK: Tag = Tag(0x0025, 0x101B);

/// The inflated lines of one image's protocol data block.
pub(super) struct ProtocolBlock(String);

impl ProtocolBlock {
    /// The block of `ds` (its own element only: callers look into nested items themselves).
    pub(super) fn of(ds: &InMemDicomObject) -> Option<ProtocolBlock> {
        let bytes = ds.element_opt(PROTOCOL_BLOCK).ok()??.to_bytes().ok()?;
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes.get(4..)?).take(1 << 20).read_to_string(&mut text).ok()?;
        Some(ProtocolBlock(text))
    }

    /// The value of `key` (quotes removed), from its first line.
    pub(super) fn value(&self, key: &str) -> Option<&str> {
        self.0.lines().find_map(|line| {
            let (k, v) = line.trim().split_once(' ')?;
            (k == key).then(|| v.trim().trim_matches('"'))
        })
    }

    /// The tag, for callers that find the item holding it.
    pub(super) const TAG: Tag = PROTOCOL_BLOCK;
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use std::io::Write as _;

    /// A block's lines are read by key; a bomb stops at 1 MiB, garbage gives nothing.
    #[test]
    fn values_are_read_from_the_inflated_lines() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"SLICEORDER \"1\"\nMBACCEL \"3\"\n").unwrap();
        let mut bytes = vec![0u8; 4];
        bytes.extend(gz.finish().unwrap());
        let ds = InMemDicomObject::from_element_iter([DataElement::new(PROTOCOL_BLOCK, VR::OB, PrimitiveValue::from(bytes))]);
        let block = ProtocolBlock::of(&ds).expect("a block");
        assert_eq!((block.value("SLICEORDER"), block.value("MBACCEL"), block.value("IOPT")), (Some("1"), Some("3"), None));
        let junk = InMemDicomObject::from_element_iter([DataElement::new(PROTOCOL_BLOCK, VR::OB, PrimitiveValue::from(vec![1u8; 40]))]);
        assert!(ProtocolBlock::of(&junk).is_none());
    }
}
