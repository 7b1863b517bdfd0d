//! Parsing and the length walk on hand-built files.

use super::attr::*;
use super::length::*;
use super::parse::*;
use super::*;
use crate::error::FileError;
use dicom_core::VR;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

/// `DICM`, a meta group naming the transfer syntax, then `body`.
fn file(ts: &str, body: &[u8]) -> Vec<u8> {
    let mut ts = ts.as_bytes().to_vec();
    if ts.len() % 2 == 1 {
        ts.push(0);
    }
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    out.extend_from_slice(&[0x02, 0x00, 0x10, 0x00, b'U', b'I']);
    out.extend_from_slice(&(ts.len() as u16).to_le_bytes());
    out.extend_from_slice(&ts);
    out.extend_from_slice(body);
    out
}

/// The length check of a whole file.
fn whole(data: &[u8]) -> Result<(), String> {
    check_lengths(data, data.len()).map(|_| ()).map_err(|e| format!("{e:?}"))
}

/// The pixel data are split off only where they end the data set, and where the
/// header-only parser stops at them (an element out of order before them would be lost).
#[test]
fn pixel_data_are_split_off_only_when_last() {
    let mut meta = explicit(0x0002, 0x0002, b"UI", b"1.2.840.10008.5.1.4.1.1.7\0");
    meta.extend(explicit(0x0002, 0x0003, b"UI", b"1.2.3.4\0"));
    meta.extend(explicit(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1\0"));
    let with = |body: &[Vec<u8>]| {
        let mut bytes = vec![0u8; 128];
        bytes.extend_from_slice(b"DICM");
        bytes.extend(explicit(0x0002, 0x0000, b"UL", &(meta.len() as u32).to_le_bytes()));
        bytes.extend(&meta);
        body.iter().for_each(|b| bytes.extend(b));
        bytes
    };
    let ob = |group: u16, element: u16, value: &[u8]| {
        let mut out = [group.to_le_bytes(), element.to_le_bytes()].concat();
        out.extend_from_slice(b"OB\0\0");
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
        out
    };
    let name = explicit(0x0010, 0x0010, b"PN", b"DOE^JOHN");
    let pixels = ob(0x7FE0, 0x0010, &[7; 16]);
    let after = ob(0xFFFA, 0xFFFA, &[1, 2]);

    let last = with(&[name.clone(), pixels.clone()]);
    let split = parse_split(&last, false).unwrap();
    assert_eq!(split.pixel_data, &pixels[..]);
    assert_eq!(split.native_pixels(), Some(&[7u8; 16][..]));
    assert!(split.object.element(tags::PIXEL_DATA).is_err());
    assert_eq!(text(&split.object, tags::PATIENT_NAME).as_deref(), Some("DOE^JOHN"));

    // Encapsulated: split off for the DICOM export, kept in the object for the NIfTI one.
    let mut fragments = vec![0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF];
    fragments.extend([0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]); // empty offset table
    fragments.extend([0xFE, 0xFF, 0x00, 0xE0, 4, 0, 0, 0, 1, 2, 3, 4]);
    fragments.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
    let encapsulated = with(&[name.clone(), fragments.clone()]);
    assert_eq!(parse_split(&encapsulated, false).unwrap().pixel_data, &fragments[..]);
    let native_only = parse_split(&encapsulated, true).unwrap();
    assert!(native_only.pixel_data.is_empty());
    assert!(native_only.object.element(tags::PIXEL_DATA).is_ok());
    assert_eq!(parse_split(&last, true).unwrap().native_pixels(), Some(&[7u8; 16][..]));

    for bytes in [with(&[name.clone(), pixels.clone(), after.clone()]), with(&[after, pixels]), with(&[name])] {
        let split = parse_split(&bytes, false).unwrap();
        assert!(split.pixel_data.is_empty());
        assert_eq!(parse(&bytes, false).unwrap().into_inner().into_iter().count(), split.object.into_inner().into_iter().count());
    }
}

/// A data set in implicit VR under a meta group (with its group length) that says
/// explicit VR little endian reads as implicit VR, keeps the announced transfer syntax,
/// and reads the same from a prefix as whole.
#[test]
fn implicit_data_set_under_explicit_label_is_read_as_implicit() {
    let implicit = |group: u16, element: u16, value: &[u8]| {
        let mut out = [group.to_le_bytes(), element.to_le_bytes()].concat();
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
        out
    };
    let mut meta = explicit(0x0002, 0x0002, b"UI", b"1.2.840.10008.5.1.4.1.1.7\0");
    meta.extend(explicit(0x0002, 0x0003, b"UI", b"1.2.3.4\0"));
    meta.extend(explicit(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1\0"));
    let mut bytes = vec![0u8; 128];
    bytes.extend_from_slice(b"DICM");
    bytes.extend(explicit(0x0002, 0x0000, b"UL", &(meta.len() as u32).to_le_bytes()));
    bytes.extend(meta);
    bytes.extend(implicit(0x0008, 0x0008, b"DERIVED\\SECONDARY "));
    bytes.extend(implicit(0x0010, 0x0010, b"DOE^JOHN"));
    bytes.extend(implicit(0x0028, 0x0010, &2u16.to_le_bytes()));
    let pixels: Vec<u8> = (0..64).collect();
    bytes.extend(implicit(0x7FE0, 0x0010, &pixels));
    let object = parse(&bytes, false).expect("read as implicit VR");
    assert_eq!(object.meta().transfer_syntax(), "1.2.840.10008.1.2.1");
    assert_eq!(text(&object, tags::PATIENT_NAME).as_deref(), Some("DOE^JOHN"));
    assert_eq!(object.element(tags::ROWS).unwrap().to_int::<u16>().unwrap(), 2);
    assert_eq!(object.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap().as_ref(), &pixels[..]);
    match parse_header(&bytes[..bytes.len() - 60], bytes.len() as u64) {
        Ok(Header::Parsed(o, _)) => assert_eq!(text(&o, tags::PATIENT_NAME).as_deref(), Some("DOE^JOHN")),
        Ok(Header::NeedMore(n)) => panic!("asked for {n} bytes"),
        Err(e) => panic!("{e}"),
    }
}

/// One element in implicit VR little endian.
fn implicit(group: u16, element: u16, value: &[u8]) -> Vec<u8> {
    let mut out = [group.to_le_bytes(), element.to_le_bytes()].concat();
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
    out
}

/// A raw data set (no preamble, marker nor meta group) of an image with 256 bytes of pixels.
fn raw_image() -> Vec<u8> {
    let mut bytes = implicit(0x0008, 0x0005, b"ISO_IR 100");
    bytes.extend(implicit(0x0008, 0x0016, b"1.2.840.10008.5.1.4.1.1.2\0"));
    bytes.extend(implicit(0x0008, 0x0018, b"1.2.3.4.5"));
    bytes.extend(implicit(0x0010, 0x0010, b"DOE^JOHN"));
    bytes.extend(implicit(0x0028, 0x0010, &2u16.to_le_bytes()));
    bytes.extend(implicit(0x7FE0, 0x0010, &(0..=255).collect::<Vec<u8>>()));
    bytes
}

/// A raw implicit VR little endian data set is read as one, its meta group made from its
/// SOP Class and Instance UIDs; the pixel data are split off, and a prefix gives the same.
#[test]
fn raw_implicit_data_set_is_read_as_implicit_vr() {
    let bytes = raw_image();
    assert!(is_dicom(&bytes));
    let object = parse(&bytes, false).expect("a raw data set parses");
    assert_eq!(object.meta().transfer_syntax(), IMPLICIT_VR_LE);
    assert_eq!(object.meta().media_storage_sop_class_uid(), "1.2.840.10008.5.1.4.1.1.2");
    assert_eq!(object.meta().media_storage_sop_instance_uid(), "1.2.3.4.5");
    assert_eq!(text(&object, tags::PATIENT_NAME).as_deref(), Some("DOE^JOHN"));
    assert_eq!(object.element(tags::ROWS).unwrap().to_int::<u16>().unwrap(), 2);
    let split = parse_split(&bytes, false).unwrap();
    assert_eq!(split.native_pixels(), Some(&(0..=255).collect::<Vec<u8>>()[..]));
    assert!(split.object.element(tags::PIXEL_DATA).is_err());
    match parse_header(&bytes[..bytes.len() - 200], bytes.len() as u64) {
        Ok(Header::Parsed(o, native)) => {
            assert_eq!(Summary::of(&o), Summary::of(&object));
            assert_eq!(native, Some(256));
        }
        Ok(Header::NeedMore(n)) => panic!("asked for {n} bytes"),
        Err(e) => panic!("{e}"),
    }
    // A cut inside the pixel data is refused by the length walk, as with a meta group.
    assert!(matches!(parse(&bytes[..bytes.len() - 1], false), Err(FileError::Corrupt(_))));
}

/// The verdict on a raw data set needs its first two headers: a prefix that ends before
/// them asks for them (never more than the file), one that has them decides.
#[test]
fn raw_data_set_asks_for_its_first_two_headers() {
    let mut bytes = implicit(0x0008, 0x0008, format!("ORIGINAL\\PRIMARY\\{}", "AXIAL".repeat(100)).as_bytes());
    let first = bytes.len();
    bytes.extend(raw_image()[18..].to_vec());
    let size = bytes.len() as u64;
    assert!(matches!(parse_header(&bytes[..100], size), Ok(Header::NeedMore(132))));
    assert!(matches!(parse_header(&bytes[..200], size), Ok(Header::NeedMore(n)) if n == first as u64 + 8));
    assert!(matches!(parse_header(&bytes, size), Ok(Header::Parsed(..))));
    // A file that ends before the second header is no data set.
    assert_eq!(start_of(&bytes[..first + 4], first + 4), Found::NotDicom);
}

/// Tables, zips, other raw encodings and random bytes are never taken for a raw data set.
#[test]
fn raw_recognition_is_strict() {
    let raw = raw_image();
    let mut not_dicom: Vec<Vec<u8>> = vec![
        b"PatientID;Name;Date\n123;DOE^JOHN;2024-01-01\n".to_vec(),
        b"\xEF\xBB\xBFid,visit\n1,2\n".to_vec(),
        b"\xFF\xFEi\x00d\x00,\x00x\x00\n\x00".to_vec(),
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00rest of a zip".to_vec(),
        // Explicit VR little endian without a meta group: the VR read as a length is huge.
        [&[0x08, 0x00, 0x05, 0x00], &b"CS"[..], &[0x0A, 0x00], b"ISO_IR 100", &[0x08, 0x00, 0x16, 0x00]].concat(),
        // Group 0010 first: no SOP Class UID before it.
        raw[raw.len() - 100..].to_vec(),
        // Tags out of order, a value that is not text, a length past the end.
        [implicit(0x0008, 0x0016, b"1.2"), implicit(0x0008, 0x0005, b"ISO_IR 100")].concat(),
        [implicit(0x0008, 0x0005, b"ISO\x01IR"), implicit(0x0008, 0x0016, b"1.2")].concat(),
        [implicit(0x0008, 0x0005, b"ISO_IR 100"), vec![0x08, 0x00, 0x16, 0x00, 0xF0, 0, 0, 0]].concat(),
    ];
    // Random bytes, a million files' worth of first bytes (xorshift: no dependency).
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..1_000_000 {
        let mut sample = Vec::with_capacity(64);
        while sample.len() < 64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            sample.extend_from_slice(&state.to_le_bytes());
        }
        if start_of(&sample, 4096) != Found::NotDicom {
            not_dicom.push(sample);
        }
    }
    for bytes in &not_dicom {
        assert_eq!(start_of(bytes, bytes.len()), Found::NotDicom, "{bytes:02x?}");
        assert!(matches!(parse(bytes, true), Err(FileError::NotDicom)), "{bytes:02x?}");
    }
}

/// A PatientID (or any text) written as UN reads as the text it holds: the same research
/// ID as when written as LO (pydicom's rtdose_rle.dcm and badVR.dcm are one patient).
#[test]
fn text_written_as_un_reads_as_its_text() {
    use dicom_core::{value::PrimitiveValue, DataElement};
    let with = |vr, value: PrimitiveValue| InMemDicomObject::from_element_iter([DataElement::new(tags::PATIENT_ID, vr, value)]);
    let un = with(VR::UN, PrimitiveValue::from(&b"id11111 "[..]));
    assert_eq!(text(&un, tags::PATIENT_ID).as_deref(), Some("id11111"));
    assert_eq!(text(&un, tags::PATIENT_ID), text(&with(VR::LO, PrimitiveValue::from("id11111")), tags::PATIENT_ID));
    let latin1 = with(VR::UN, PrimitiveValue::from(&b"M\xFCller"[..]));
    assert_eq!(text(&latin1, tags::PATIENT_ID).as_deref(), Some("Müller"));
}

fn explicit(group: u16, element: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let mut out = [group.to_le_bytes(), element.to_le_bytes()].concat();
    out.extend_from_slice(vr);
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    out
}

#[test]
fn deep_nesting_is_refused_without_recursion() {
    // 10,000 levels of undefined-length sequences, each in an undefined-length item.
    let mut body = Vec::new();
    for _ in 0..10_000 {
        body.extend_from_slice(&[0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        body.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
    }
    let bytes = file("1.2.840.10008.1.2.1", &body);
    let err = parse(&bytes, false).unwrap_err();
    assert!(err.to_string().contains("nested deeper"), "{err}");
}

#[test]
fn impossible_lengths_are_refused_before_allocating() {
    let mut body = explicit(0x0010, 0x0010, b"PN", b"DOE^JOHN");
    body.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0, 0xF0, 0xFF, 0xFF, 0xFF]);
    body.extend_from_slice(&[0u8; 64]);
    let err = whole(&file("1.2.840.10008.1.2.1", &body)[132..]).unwrap_err();
    assert!(err.contains("claims 4294967280 bytes"), "{err}");
    // Implicit VR: the same for a 4-byte length.
    let mut body = vec![0x10, 0x00, 0x10, 0x00, 0xF0, 0xFF, 0xFF, 0x7F];
    body.extend_from_slice(b"DOE^JOHN");
    assert!(whole(&file("1.2.840.10008.1.2", &body)[132..]).is_err());
}

#[test]
fn well_formed_nesting_passes() {
    // Two defined-length levels and one undefined-length level.
    let leaf = explicit(0x0008, 0x0100, b"SH", b"CODE01");
    let mut item = [0xFE, 0xFF, 0x00, 0xE0].to_vec();
    item.extend_from_slice(&(leaf.len() as u32).to_le_bytes());
    item.extend_from_slice(&leaf);
    let mut seq = [0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0].to_vec();
    seq.extend_from_slice(&(item.len() as u32).to_le_bytes());
    seq.extend_from_slice(&item);
    let mut body = [0x08, 0x00, 0x40, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF].to_vec();
    body.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
    body.extend_from_slice(&seq);
    body.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
    body.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
    body.extend_from_slice(&explicit(0x0010, 0x0010, b"PN", b"DOE^JOHN"));
    whole(&file("1.2.840.10008.1.2.1", &body)[132..]).unwrap();
}

