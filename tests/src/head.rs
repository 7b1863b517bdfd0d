//! Generated 3D head scans for the face removal (Clean Recognizable Visual Features Option):
//! the embedded template's head resampled onto a scanner's grid (voxel size, field of view, a
//! nod of the head, a shift), as MR (a 3D T1-like series) or CT (Hounsfield units, with the
//! table under the head), one classic DICOM file per axial slice.

use std::path::{Path, PathBuf};

use capture::deface::{self, Volume};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;

use crate::series::UID_ROOT;

/// One generated head scan.
#[derive(Debug, Clone)]
pub struct Head {
    pub name: &'static str,
    /// "MR" (MRAcquisitionType 3D, unsigned) or "CT" (signed HU, BodyPartExamined HEAD, a table).
    pub modality: &'static str,
    /// Voxel edge (mm), in plane and between slices.
    pub voxel: f64,
    /// Columns, rows, slices.
    pub dims: [usize; 3],
    /// The head nodded forward by this angle (degrees, about the left–right axis).
    pub nod: f64,
    /// The head moved by this much (RAS mm) in the field of view.
    pub shift: [f64; 3],
    pub series_number: i64,
}

impl Head {
    /// A 1 mm 3D T1 of 176 × 256 × 256 (the speed case), the head nodded 10°.
    pub fn t1_1mm() -> Head {
        Head { name: "t1-1mm", modality: "MR", voxel: 1.0, dims: [176, 256, 256], nod: 10.0, shift: [3.0, -6.0, 4.0], series_number: 5 }
    }

    /// A 2 mm 3D T1 whose field of view stops above the chin line less 20 mm of neck.
    pub fn t1_2mm() -> Head {
        Head { name: "t1-2mm", modality: "MR", voxel: 2.0, dims: [96, 120, 100], nod: -8.0, shift: [-4.0, 5.0, -12.0], series_number: 6 }
    }

    /// A 1.25 mm head CT, the table under it.
    pub fn ct() -> Head {
        Head { name: "ct-head", modality: "CT", voxel: 1.25, dims: [180, 200, 160], nod: 6.0, shift: [0.0, 8.0, 0.0], series_number: 7 }
    }

    /// Writes the series as `dir/<slice>.dcm`; `index` keeps its UIDs apart from others'.
    pub fn write(&self, dir: &Path, index: usize) -> Vec<PathBuf> {
        std::fs::create_dir_all(dir).expect("head folder");
        let head = deface::template_head();
        let centre = centre(&head);
        let origin = self.origin(centre);
        let (cols, rows, slices) = (self.dims[0], self.dims[1], self.dims[2]);
        (0..slices)
            .map(|k| {
                let pixels: Vec<i32> = (0..rows * cols)
                    .map(|p| {
                        let lps = [origin[0] + (p % cols) as f64 * self.voxel, origin[1] + (p / cols) as f64 * self.voxel, origin[2] + k as f64 * self.voxel];
                        self.value(&head, centre, lps)
                    })
                    .collect();
                let path = dir.join(format!("{:04}.dcm", k + 1));
                std::fs::write(&path, self.file(index, k, origin, &pixels)).expect("head slice");
                path
            })
            .collect()
    }

    /// LPS of the first voxel: the field of view centred on the template's head, then shifted.
    fn origin(&self, centre: [f64; 3]) -> [f64; 3] {
        let half = |n: usize| (n as f64 - 1.0) * self.voxel / 2.0;
        let ras = [centre[0] + self.shift[0], centre[1] + self.shift[1], centre[2] + self.shift[2]];
        [-ras[0] - half(self.dims[0]), -ras[1] - half(self.dims[1]), ras[2] - half(self.dims[2])]
    }

    /// The stored value at LPS `p`: the template head's intensity where the nodded, shifted
    /// head is, as MR units or Hounsfield units (with the table for CT).
    fn value(&self, head: &Volume, centre: [f64; 3], p: [f64; 3]) -> i32 {
        let ras = [-p[0] - self.shift[0], -p[1] - self.shift[1], p[2] - self.shift[2]];
        let (s, c) = (self.nod.to_radians().sin(), self.nod.to_radians().cos());
        let (y, z) = (ras[1] - centre[1], ras[2] - centre[2]);
        let back = [ras[0], centre[1] + c * y + s * z, centre[2] - s * y + c * z];
        let t1 = sample(head, back);
        match self.modality {
            "CT" if t1 > 12.0 => 20 + (t1 * 0.3) as i32,
            // The table: a 12 mm slab 25 mm behind the head's centre plane's back.
            "CT" if (ras[1] - (centre[1] - 110.0)).abs() < 6.0 => 250,
            "CT" => -1000,
            _ => (t1 * 6.0) as i32 + ((p[0] * 7.0 + p[1] * 13.0 + p[2] * 3.0).abs() as i32 % 9),
        }
    }

    fn file(&self, index: usize, k: usize, origin: [f64; 3], pixels: &[i32]) -> Vec<u8> {
        let ct = self.modality == "CT";
        let sop_class = if ct { "1.2.840.10008.5.1.4.1.1.2" } else { "1.2.840.10008.5.1.4.1.1.4" };
        let sop = format!("{UID_ROOT}.9.{index}.{}", k + 1);
        let mut obj = InMemDicomObject::new_empty();
        let position = format!("{}\\{}\\{}", origin[0], origin[1], origin[2] + k as f64 * self.voxel);
        let spacing = format!("{}\\{}", self.voxel, self.voxel);
        for (tag, vr, value) in [
            (tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192".to_string()),
            (tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY\\M\\ND".into()),
            (tags::SOP_CLASS_UID, VR::UI, sop_class.into()),
            (tags::SOP_INSTANCE_UID, VR::UI, sop.clone()),
            (tags::STUDY_DATE, VR::DA, "20240611".into()),
            (tags::MODALITY, VR::CS, self.modality.into()),
            (tags::PATIENT_NAME, VR::PN, "Fàçè^Hélène".into()),
            (tags::PATIENT_ID, VR::LO, format!("HEAD{index:03}")),
            (tags::BODY_PART_EXAMINED, VR::CS, "HEAD".into()),
            (tags::SERIES_DESCRIPTION, VR::LO, format!("{} head", self.name)),
            (tags::MR_ACQUISITION_TYPE, VR::CS, "3D".into()),
            (tags::SLICE_THICKNESS, VR::DS, format!("{}", self.voxel)),
            (tags::STUDY_INSTANCE_UID, VR::UI, format!("{UID_ROOT}.7.{index}")),
            (tags::SERIES_INSTANCE_UID, VR::UI, format!("{UID_ROOT}.8.{index}")),
            (tags::FRAME_OF_REFERENCE_UID, VR::UI, format!("{UID_ROOT}.6.{index}")),
            (tags::SERIES_NUMBER, VR::IS, self.series_number.to_string()),
            (tags::INSTANCE_NUMBER, VR::IS, (k + 1).to_string()),
            (tags::IMAGE_POSITION_PATIENT, VR::DS, position),
            (tags::IMAGE_ORIENTATION_PATIENT, VR::DS, "1\\0\\0\\0\\1\\0".into()),
            (tags::PIXEL_SPACING, VR::DS, spacing),
            (tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2".into()),
        ] {
            if !(ct && tag == tags::MR_ACQUISITION_TYPE) {
                obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
            }
        }
        if ct {
            obj.put(DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, PrimitiveValue::from("-1024")));
            obj.put(DataElement::new(tags::RESCALE_SLOPE, VR::DS, PrimitiveValue::from("1")));
        }
        for (tag, v) in [(tags::SAMPLES_PER_PIXEL, 1), (tags::ROWS, self.dims[1] as u16), (tags::COLUMNS, self.dims[0] as u16), (tags::BITS_ALLOCATED, 16), (tags::BITS_STORED, 12), (tags::HIGH_BIT, 11), (tags::PIXEL_REPRESENTATION, 0)] {
            obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
        }
        // CT stored as HU + 1024 (intercept −1024), MR as is; both 12-bit unsigned.
        let stored: Vec<u16> = pixels.iter().map(|&v| (if ct { v + 1024 } else { v }).clamp(0, 4095) as u16).collect();
        obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(stored.into())));
        let meta = FileMetaTableBuilder::new()
            .media_storage_sop_class_uid(sop_class)
            .media_storage_sop_instance_uid(sop)
            .transfer_syntax("1.2.840.10008.1.2.1")
            .build()
            .expect("meta");
        let mut out = Vec::new();
        obj.with_exact_meta(meta).write_all(&mut out).expect("encode");
        out
    }
}

/// The RAS centre of the template's grid.
fn centre(head: &Volume) -> [f64; 3] {
    let mid = head.grid.dims.map(|n| (n as f64 - 1.0) / 2.0);
    std::array::from_fn(|r| (0..3).map(|c| head.grid.affine[r][c] * mid[c]).sum::<f64>() + head.grid.affine[r][3])
}

/// The template's intensity at RAS `q` (trilinear; 0 outside).
fn sample(head: &Volume, q: [f64; 3]) -> f64 {
    let a = &head.grid.affine;
    // The template's affine is diagonal (axis-aligned voxels): invert it per axis.
    let v: [f64; 3] = std::array::from_fn(|i| (q[i] - a[i][3]) / a[i][i]);
    let [nx, ny, nz] = head.grid.dims;
    if v.iter().zip([nx, ny, nz]).any(|(&x, n)| x < 0.0 || x > (n - 1) as f64) {
        return 0.0;
    }
    let f = v.map(|x| x.floor() as usize);
    let w = [v[0] - f[0] as f64, v[1] - f[1] as f64, v[2] - f[2] as f64];
    let at = |i: usize, j: usize, k: usize| head.data[i.min(nx - 1) + nx * (j.min(ny - 1) + ny * k.min(nz - 1))] as f64;
    let mut sum = 0.0;
    for (di, wi) in [(0, 1.0 - w[0]), (1, w[0])] {
        for (dj, wj) in [(0, 1.0 - w[1]), (1, w[1])] {
            for (dk, wk) in [(0, 1.0 - w[2]), (1, w[2])] {
                sum += wi * wj * wk * at(f[0] + di, f[1] + dj, f[2] + dk);
            }
        }
    }
    sum
}
