//! The Clean Pixel Data Option's export of one image: de-identified as the DICOM export does
//! (the audit included), its frames decoded one at a time, the boxes blacked out on every
//! frame and sample, and written natively (Explicit VR Little Endian) into the zip entry frame
//! by frame: memory is the input file and one decoded frame.

use crate::dicom::{Object, Split};
use crate::error::{FileError, JobError, RedactError};
use crate::profile::Opt;
use crate::redact::{self, detect, write, Boxes, Image, Rect};
use crate::report::{Outcome, Redaction};

use super::export::archive;
use super::Job;

/// An image opened for cleaning: what its first pass found, and the pixel data's length.
struct Opened<'b> {
    image: Image<'b>,
    /// The boxes to fill (given and detected, clipped and merged).
    boxes: Vec<Rect>,
    /// Boxes the detector found over all frames, before merging.
    detected: usize,
    /// The Pixel Data value's length (even).
    length: u32,
}

impl Job {
    /// One image exported with its pixels cleaned of `boxes` (and, with `boxes.detect`, of
    /// what the detector finds on any frame, filled on every frame): the zip's bytes, one
    /// buffer per frame. A file that cannot be cleaned is skipped (`pixels-not-cleanable`),
    /// as one the audit holds back is.
    #[cfg(test)]
    pub(super) fn export_redacted(&mut self, input: usize, path: String, bytes: &[u8], boxes: &Boxes) -> Result<Vec<Vec<u8>>, JobError> {
        let mut parts = Vec::new();
        self.export_redacted_into(input, path, bytes, boxes, &mut |p| parts.extend(p))?;
        Ok(parts)
    }

    /// [`Job::export_redacted`], its zip bytes handed to `out` after the header and after each
    /// frame, so that a caller that writes them at once holds one frame, not the image.
    pub(super) fn export_redacted_into<'b>(
        &mut self,
        input: usize,
        path: String,
        bytes: &'b [u8],
        boxes: &Boxes,
        out: &mut dyn FnMut(Vec<Vec<u8>>),
    ) -> Result<(), JobError> {
        let prepare = |split: &Split<'b>| open(split, bytes, boxes).map_err(FileError::PixelsNotCleanable);
        let Some((attributes, opened)) = self.deidentify_rewritten(input, bytes, Opt::CleanPixelData, prepare)? else {
            return Ok(());
        };
        let fill = &mut |_: usize, frame: &mut [u8]| opened.image.fill(frame, &opened.boxes);
        write_entry(archive(&mut self.stage)?, &path, attributes, (&opened.image, opened.length), fill, out)?;
        self.inputs[input].redaction = Some(Redaction {
            boxes: opened.boxes,
            frames: opened.image.format.frames,
            rules: boxes.rules.clone(),
            detected: opened.detected,
            accepted: boxes.accepted,
        });
        self.inputs[input].outcome = Outcome::Exported { path };
        Ok(())
    }
}

/// An image whose pixels a pixel option rewrites natively, once opened.
pub(super) trait Rewritten<'b> {
    fn image(&self) -> &Image<'b>;
}

impl<'b> Rewritten<'b> for Opened<'b> {
    fn image(&self) -> &Image<'b> {
        &self.image
    }
}

impl Job {
    /// One image of a pixel option (`opt`) de-identified as the DICOM export does, opened by
    /// `prepare`, its attributes describing the native samples written after them and recording
    /// `opt` (Burned In Annotation NO after Clean Pixel Data); `None` once skipped with its reason.
    pub(super) fn deidentify_rewritten<'b, T: Rewritten<'b>>(
        &mut self,
        input: usize,
        bytes: &'b [u8],
        opt: Opt,
        prepare: impl FnOnce(&Split<'b>) -> Result<T, FileError>,
    ) -> Result<Option<(Vec<u8>, T)>, JobError> {
        let adjust = |clean: &mut Object, opened: &T| {
            write::clean_attributes(clean, &opened.image().format, opt == Opt::CleanPixelData)?;
            write::record_method(clean, opt.name(), opt.code());
            Ok(())
        };
        match self.deidentify_counted(input, bytes, prepare, adjust)? {
            Ok((attributes, _, opened)) => Ok(Some((attributes, opened))),
            Err(e) => {
                self.inputs[input].skip(e.why(), e.to_string());
                Ok(None)
            }
        }
    }
}

/// The image of a parsed file, with its first pass over the frames: each decoded once when
/// the detector looks at them or when decoding can fail (compressed), so that no entry is
/// started that a frame could leave short.
fn open<'b>(split: &Split<'b>, bytes: &'b [u8], boxes: &Boxes) -> Result<Opened<'b>, RedactError> {
    let image = Image::open(split, bytes)?;
    let format = &image.format;
    let length = write::pixel_length(format.frames, format.output_len())
        .ok_or(RedactError::TooLarge { bytes: format.frames as u64 * format.output_len() as u64 })?;
    let (mut found, mut detected) = (Vec::new(), 0);
    if boxes.detect || image.compressed() {
        for f in 0..format.frames {
            let frame = image.frame(f)?;
            if boxes.detect {
                let more = detect::detect(&image.luma(&frame));
                detected += more.len();
                found.extend(more);
                // Kept small on a long cine whose text stays in place.
                if found.len() > 256 {
                    found = redact::merge(found);
                }
            }
        }
    }
    found.extend(boxes.fixed.iter().copied());
    let boxes = redact::merge_within(found, format.columns as u32, format.rows as u32);
    Ok(Opened { image, boxes, detected, length })
}

/// The cleaned file's zip entry: its size known up front (attributes, the Pixel Data header,
/// the frames of `image`, `length` bytes), then written frame by frame, each cleaned by `fill`
/// (frame number, samples) and handed to `out` as soon as it is written.
pub(super) fn write_entry(
    archive: &mut crate::archive::Archive,
    path: &str,
    attributes: Vec<u8>,
    (image, length): (&Image, u32),
    fill: &mut dyn FnMut(usize, &mut [u8]),
    out: &mut dyn FnMut(Vec<Vec<u8>>),
) -> Result<(), JobError> {
    let format = &image.format;
    archive.start_entry(path, attributes.len() + write::PIXEL_HEADER + length as usize)?;
    let mut head = attributes;
    head.extend(write::pixel_header(format.output().bits, length));
    archive.write_owned(head)?;
    out(archive.take_parts());
    for f in 0..format.frames {
        // The first pass decoded every compressed frame: this one decoded then.
        let mut frame = image
            .frame(f)
            .map_err(|e| JobError::Archive(format!("{path} cannot be completed: {e}, decoded before")))?;
        fill(f, &mut frame);
        if f + 1 == format.frames && (format.frames * frame.len()) % 2 == 1 {
            frame.push(0); // the value's pad byte
        }
        archive.write_owned(frame)?;
        out(archive.take_parts());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use dicom_core::value::{PrimitiveValue, Value};
    use dicom_core::{Tag, VR};
    use dicom_dictionary_std::tags;

    use crate::dicom::{self, text};
    use crate::error::Reason;
    use crate::job::{Job, Settings};
    use crate::redact::tests::{described, file, EXPLICIT};
    use crate::redact::{Boxes, Rect};
    use crate::report::{Outcome, Redaction};

    const PATH: &str = "DICOM/20261124/V/0001.dcm";

    /// An MR image of patient P1 with burned-in text: `photometric`, `samples`, `bits`, `columns` × `rows`, `frames`.
    fn image(photometric: &str, samples: &str, bits: &str, size: (&str, &str), frames: &str, pixels: Vec<u8>) -> Vec<u8> {
        let mut attributes = described(photometric, samples, bits, "0", size, frames);
        attributes.extend([
            (tags::STUDY_DATE, VR::DA, "20240315"),
            (tags::PATIENT_ID, VR::LO, "P1"),
            (tags::PATIENT_NAME, VR::PN, "Doe^Jane"),
            (tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3.1"),
            (tags::SERIES_INSTANCE_UID, VR::UI, "1.2.3.2"),
            (tags::INSTANCE_NUMBER, VR::IS, "1"),
            (tags::BURNED_IN_ANNOTATION, VR::CS, "YES"),
        ]);
        file(EXPLICIT, &attributes, Value::Primitive(PrimitiveValue::U8(pixels.into())))
    }

    /// A job scanned and planned with `bytes` as its one input.
    fn planned(bytes: &[u8]) -> Job {
        // Burned-in text is held back without the option: planned here as the option will.
        let settings = Settings { include_quarantined: true, ..Settings::default() };
        let mut job = Job::new(settings, b"secret", "20261124").unwrap();
        job.scan("a.dcm", bytes);
        job.plan().unwrap();
        job
    }

    /// The one entry of the finished zip.
    fn entry(parts: Vec<Vec<u8>>, job: &mut Job) -> Vec<u8> {
        let mut zip = parts.concat();
        zip.extend(job.finish().unwrap());
        let mut read = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut read.by_name(PATH).unwrap(), &mut out).unwrap();
        out
    }

    fn codes(object: &dicom::Object) -> Vec<String> {
        let Ok(Value::Sequence(s)) = object.element(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE).map(|e| e.value()) else { panic!("no codes") };
        s.items().iter().filter_map(|i| text(i, tags::CODE_VALUE)).collect()
    }

    /// Native grey, 3 frames: written in Explicit VR Little Endian with the box black on every
    /// frame, the rest as it was; the header says what was done.
    #[test]
    fn a_cleaned_image_is_written_natively_with_its_method() {
        let pixels: Vec<u8> = (0..8 * 6 * 3u16).flat_map(|i| (100 + i).to_le_bytes()).collect();
        let bytes = image("MONOCHROME2", "1", "16", ("8", "6"), "3", pixels.clone());
        let mut job = planned(&bytes);
        let given = Rect { x: 6, y: 4, width: 5, height: 5 };
        let boxes = Boxes { fixed: vec![given], rules: vec!["a rule".into()], detect: true, accepted: false };
        let parts = job.export_redacted(0, PATH.into(), &bytes, &boxes).unwrap();
        let out = dicom::parse(&entry(parts, &mut job), false).unwrap();
        assert_eq!(out.meta().transfer_syntax().trim_end_matches('\0'), "1.2.840.10008.1.2.1");
        assert_eq!(text(&out, tags::BURNED_IN_ANNOTATION).as_deref(), Some("NO"));
        let codes = codes(&out);
        assert_eq!((codes.first().map(String::as_str), codes.last().map(String::as_str)), (Some("113100"), Some("113101")));
        assert_eq!(codes.iter().filter(|c| *c == "113101").count(), 1);
        let method = out.element(tags::DEIDENTIFICATION_METHOD).unwrap().value().to_multi_str().unwrap().to_vec();
        assert_eq!(method.last().map(String::as_str), Some("clean-pixel-data"));
        assert!(out.element(tags::PLANAR_CONFIGURATION).is_err());
        let written = out.element(tags::PIXEL_DATA).unwrap().value().to_bytes().unwrap().into_owned();
        assert_eq!(written.len(), pixels.len());
        let clipped = Rect { x: 6, y: 4, width: 2, height: 2 };
        for (i, (got, was)) in written.chunks(2).zip(pixels.chunks(2)).enumerate() {
            let (column, row) = ((i % 8) as u32, (i / 8 % 6) as u32);
            assert_eq!(got, if clipped.contains(column, row) { &[0, 0][..] } else { was }, "sample {i}");
        }
        let redaction = Redaction { boxes: vec![clipped], frames: 3, rules: vec!["a rule".into()], detected: 0, accepted: false };
        assert_eq!(job.inputs[0].redaction, Some(redaction));
        assert_eq!(job.inputs[0].outcome, Outcome::Exported { path: PATH.into() });
        assert!(!dicom::encode(&out).unwrap().windows(8).any(|w| w == b"Doe^Jane"));
    }

    /// Palette colour: RGB with PlanarConfiguration 0, the tables gone.
    #[test]
    fn a_palette_image_is_written_as_rgb_without_its_tables() {
        let bytes = image("PALETTE COLOR", "1", "8", ("2", "2"), "1", vec![0, 1, 1, 0]);
        let mut object = dicom::parse(&bytes, false).unwrap();
        for (c, tag) in [(0x1101u16, 0x1201u16), (0x1102, 0x1202), (0x1103, 0x1203)] {
            object.put(dicom_core::DataElement::new(Tag(0x0028, c), VR::US, PrimitiveValue::U16(vec![2, 0, 8].into())));
            object.put(dicom_core::DataElement::new(Tag(0x0028, tag), VR::OW, PrimitiveValue::U16(vec![10, 200].into())));
        }
        let mut bytes = Vec::new();
        object.write_all(&mut bytes).unwrap();
        let mut job = planned(&bytes);
        let parts = job.export_redacted(0, PATH.into(), &bytes, &Boxes::default()).unwrap();
        let out = dicom::parse(&entry(parts, &mut job), false).unwrap();
        assert_eq!(text(&out, tags::PHOTOMETRIC_INTERPRETATION).as_deref(), Some("RGB"));
        assert_eq!(text(&out, tags::PLANAR_CONFIGURATION).as_deref(), Some("0"));
        assert!(out.element(Tag(0x0028, 0x1201)).is_err() && out.element(Tag(0x0028, 0x1101)).is_err());
        let written = out.element(tags::PIXEL_DATA).unwrap().value().to_bytes().unwrap().into_owned();
        assert_eq!(written, [10u8, 10, 10, 200, 200, 200, 200, 200, 200, 10, 10, 10]);
    }

    /// A photometric interpretation the engine does not write: skipped, with its reason.
    #[test]
    fn an_image_that_cannot_be_cleaned_is_skipped() {
        let bytes = image("YBR_PARTIAL_420", "3", "8", ("2", "2"), "1", vec![0; 12]);
        let mut job = planned(&bytes);
        assert!(job.export_redacted(0, PATH.into(), &bytes, &Boxes::default()).unwrap().iter().all(Vec::is_empty));
        assert_eq!(job.inputs[0].why.as_ref().map(|w| w.code), Some(Reason::PixelsNotCleanable));
        assert!(job.inputs[0].redaction.is_none());
    }

    /// A 200-frame 640 × 480 RGB cine goes into the zip one frame at a time: after the header,
    /// each hand-over is exactly one frame (nothing larger is built).
    #[test]
    fn a_cine_is_written_frame_by_frame() {
        let frame = 640 * 480 * 3;
        let pixels: Vec<u8> = (0..200 * frame).map(|i| (i % 251) as u8).collect();
        let bytes = image("RGB", "3", "8", ("640", "480"), "200", pixels);
        let mut job = planned(&bytes);
        let mut handed = Vec::new();
        let boxes = Boxes { fixed: vec![Rect { x: 0, y: 0, width: 640, height: 40 }], ..Boxes::default() };
        job.export_redacted_into(0, PATH.into(), &bytes, &boxes, &mut |parts| handed.push(parts.iter().map(Vec::len).collect::<Vec<_>>())).unwrap();
        assert_eq!(handed.len(), 201);
        assert!(handed[0].iter().sum::<usize>() < 4096, "the header: {:?}", handed[0]);
        assert!(handed[1..].iter().all(|sizes| sizes.iter().filter(|&&n| n > 0).eq([frame].iter())), "{:?}", &handed[1..3]);
    }

    /// The figure for the report: frames per second of a 100-frame 640 × 480 RGB cine,
    /// detector on (`cargo test --release -p capture --lib cine_throughput -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn cine_throughput() {
        let frame = 640 * 480 * 3;
        let pixels: Vec<u8> = (0..100 * frame).map(|i| (i % 251) as u8).collect();
        let bytes = image("RGB", "3", "8", ("640", "480"), "100", pixels);
        let mut job = planned(&bytes);
        let boxes = Boxes { fixed: vec![Rect { x: 0, y: 0, width: 640, height: 40 }], detect: true, ..Boxes::default() };
        let started = std::time::Instant::now();
        job.export_redacted_into(0, PATH.into(), &bytes, &boxes, &mut |_| {}).unwrap();
        let seconds = started.elapsed().as_secs_f64();
        println!("100 frames in {seconds:.3} s: {:.0} frames/s", 100.0 / seconds);
    }
}
