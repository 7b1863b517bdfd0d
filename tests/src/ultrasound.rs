//! Generated ultrasound with burned-in text: a multi-frame cine (US Multi-frame Image Storage,
//! native RGB or grey, 8 bits) whose header band carries the patient's name, ID and dates
//! drawn in a 5×7 bitmap font, over a speckle fan. For the Clean Pixel Data tests, the e2e
//! test and `make bench`'s redaction row. The same text is in the header attributes.

use std::path::Path;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Cine {
    pub rows: u32,
    pub columns: u32,
    pub frames: u32,
    pub rgb: bool,
    /// Lines of text: (x, y, text), drawn at `scale` pixels per font dot.
    pub text: Vec<(u32, u32, String)>,
    pub scale: u32,
    pub patient_name: String,
    pub patient_id: String,
    pub series: u32,
    pub instance: u32,
}

impl Cine {
    /// A 640×480 cine of `frames` frames with a typical header band (name, ID, dates) at the top.
    pub fn typical(frames: u32, rgb: bool) -> Cine {
        Cine {
            rows: 480,
            columns: 640,
            frames,
            rgb,
            text: vec![
                (8, 6, "DOE JOHN  ID 4712-0042".into()),
                (8, 26, "DOB 1961-07-04  2024-03-15 10:14".into()),
                (420, 6, "GENERAL HOSPITAL".into()),
            ],
            scale: 2,
            patient_name: "DOE^JOHN".into(),
            patient_id: "4712-0042".into(),
            series: 1,
            instance: 1,
        }
    }

    /// The box each text line covers, in pixels (x, y, width, height).
    pub fn text_boxes(&self) -> Vec<(u32, u32, u32, u32)> {
        self.text.iter().map(|(x, y, t)| (*x, *y, t.chars().count() as u32 * 6 * self.scale, 7 * self.scale)).collect()
    }

    /// Writes the file; gives its size.
    pub fn write(&self, path: &Path) -> u64 {
        let uid = |kind: u32| format!("1.2.826.0.1.3680043.10.5437.77.{kind}.{}.{}", self.series, self.instance);
        let mut obj = InMemDicomObject::new_empty();
        let mut put = |tag, vr, value: &str| obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
        let sop_class = "1.2.840.10008.5.1.4.1.1.3.1";
        put(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 100");
        put(tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY");
        put(tags::SOP_CLASS_UID, VR::UI, sop_class);
        put(tags::SOP_INSTANCE_UID, VR::UI, &uid(3));
        put(tags::STUDY_DATE, VR::DA, "20240315");
        put(tags::STUDY_TIME, VR::TM, "101400");
        put(tags::MODALITY, VR::CS, "US");
        put(tags::MANUFACTURER, VR::LO, "ACME Ultrasound");
        put(tags::MANUFACTURER_MODEL_NAME, VR::LO, "Sono 1");
        put(tags::INSTITUTION_NAME, VR::LO, "General Hospital");
        put(tags::PATIENT_NAME, VR::PN, &self.patient_name);
        put(tags::PATIENT_ID, VR::LO, &self.patient_id);
        put(tags::PATIENT_BIRTH_DATE, VR::DA, "19610704");
        put(tags::STUDY_INSTANCE_UID, VR::UI, &uid(1));
        put(tags::SERIES_INSTANCE_UID, VR::UI, &format!("1.2.826.0.1.3680043.10.5437.77.2.{}", self.series));
        put(tags::SERIES_NUMBER, VR::IS, &self.series.to_string());
        put(tags::INSTANCE_NUMBER, VR::IS, &self.instance.to_string());
        put(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, if self.rgb { "RGB" } else { "MONOCHROME2" });
        put(tags::NUMBER_OF_FRAMES, VR::IS, &self.frames.to_string());
        put(tags::BURNED_IN_ANNOTATION, VR::CS, "YES");
        let mut us = |tag, value: u32| obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value as u16)));
        us(tags::SAMPLES_PER_PIXEL, if self.rgb { 3 } else { 1 });
        if self.rgb {
            us(tags::PLANAR_CONFIGURATION, 0);
        }
        us(tags::ROWS, self.rows);
        us(tags::COLUMNS, self.columns);
        us(tags::BITS_ALLOCATED, 8);
        us(tags::BITS_STORED, 8);
        us(tags::HIGH_BIT, 7);
        us(tags::PIXEL_REPRESENTATION, 0);
        obj.put(DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::from(self.pixels())));
        let meta = FileMetaTableBuilder::new()
            .media_storage_sop_class_uid(sop_class)
            .media_storage_sop_instance_uid(uid(3))
            .transfer_syntax("1.2.840.10008.1.2.1")
            .implementation_class_uid("1.2.826.0.1.3680043.10.5437.99")
            .build()
            .expect("file meta");
        obj.with_exact_meta(meta).write_to_file(path).expect("write the cine");
        std::fs::metadata(path).expect("written").len()
    }

    /// Every frame: a speckle fan that moves with the frame, then the text in white.
    fn pixels(&self) -> Vec<u8> {
        let (w, h, spp) = (self.columns as usize, self.rows as usize, if self.rgb { 3 } else { 1 });
        let mut out = Vec::with_capacity(w * h * spp * self.frames as usize);
        let mut seed = 0x2545_f491u32;
        for f in 0..self.frames as usize {
            let mut frame = vec![0u8; w * h];
            for y in 60..h {
                for x in 0..w {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    let dx = x as i64 - w as i64 / 2;
                    let in_fan = (dx.abs() as usize) < (y - 50) * 2 / 3;
                    let wave = ((y + f * 3) % 40) as u32 * 2;
                    frame[y * w + x] = if in_fan { (seed % 90 + wave) as u8 } else { 0 };
                }
            }
            for (x, y, line) in &self.text {
                draw(&mut frame, w, *x as usize, *y as usize, line, self.scale as usize);
            }
            for v in frame {
                out.extend(std::iter::repeat_n(v, spp));
            }
        }
        out
    }
}

/// Draws `text` into a grey frame of width `w` at (x, y), `scale` pixels per dot, in white.
fn draw(frame: &mut [u8], w: usize, x: usize, y: usize, text: &str, scale: usize) {
    for (k, c) in text.chars().enumerate() {
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..5 {
                if bits >> (4 - col) & 1 == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (px, py) = (x + (k * 6 + col) * scale + dx, y + row * scale + dy);
                        if px < w && py * w + px < frame.len() {
                            frame[py * w + px] = 255;
                        }
                    }
                }
            }
        }
    }
}

/// A 5×7 glyph, a row of 5 dots per byte (high bit left); unknown characters are blank.
fn glyph(c: char) -> [u8; 7] {
    const LETTERS: [[u8; 7]; 26] = [
        [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11], [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E], [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F], [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F], [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E], [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11], [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D], [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E], [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A], [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04], [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
    ];
    const DIGITS: [[u8; 7]; 10] = [
        [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
    ];
    match c.to_ascii_uppercase() {
        c @ 'A'..='Z' => LETTERS[c as usize - 'A' as usize],
        c @ '0'..='9' => DIGITS[c as usize - '0' as usize],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        _ => [0; 7],
    }
}
