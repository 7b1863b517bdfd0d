//! DICOM → NIfTI-1, as dcm2niix converts (voxel order, affine, data type), with a
//! BIDS-style JSON sidecar filtered through the de-identification policy.
//!
//! Works in the two passes of the [`Job`](crate::job::Job): the scan reads each file's
//! header into a [`Slice`]; [`plan`] groups the slices into volumes and fixes each
//! volume's header (geometry, data type) and the place of every slice in it; the export
//! then hands over one parsed file at a time ([`Converter::add`]), which copies its pixels
//! straight into the place of the volume's output buffer, and returns the finished
//! `.json` + `.nii` when the volume's last slice has arrived. Memory is one series.
//!
//! dcm2niix's conventions, measured against its 1.0.20260724 build: slices ascending
//! along the normal of ImageOrientationPatient (cross product of row and column
//! directions); rows stored bottom-up (dcm2niix flips Y), so the affine's second column
//! points against the DICOM column direction; LPS → RAS; qform = sform = scanner
//! (code 1); repeated positions become volumes in acquisition order.

mod header;
mod sidecar;

use std::collections::BTreeMap;

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

pub use header::{DataType, Header, VOX_OFFSET};

use crate::instance::{text, Object};
use crate::profile::Policy;

/// The folder of the NIfTI tree in the zip.
pub const ROOT: &str = "NIFTI/";

/// Transfer syntaxes whose pixel data is read as is.
const NATIVE_TS: &[&str] = &[
    "1.2.840.10008.1.2",      // implicit VR little endian
    "1.2.840.10008.1.2.1",    // explicit VR little endian
    "1.2.840.10008.1.2.2",    // explicit VR big endian (dicom-rs decodes the words)
    "1.2.840.10008.1.2.1.99", // deflated explicit VR little endian
];

/// JPEG Extended (process 2 & 4): jpeg-decoder reads its 8-bit form only.
const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";

/// Why pixel data in transfer syntax `ts` cannot be read, if it cannot. Besides the native
/// syntaxes, those that dicom-pixeldata's pure-Rust decoders handle (they build for
/// wasm32): RLE Lossless, JPEG baseline / extended (8-bit) / lossless (jpeg-decoder).
/// Not JPEG 2000 (dicom-pixeldata's openjp2 calls the C allocator, absent on wasm32),
/// JPEG-LS (CharLS is C++), 12-bit lossy JPEG or JPEG XL.
fn undecodable(ts: &str, bits_stored: u16) -> Option<String> {
    use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
    if NATIVE_TS.contains(&ts) {
        return None;
    }
    let entry = dicom_transfer_syntax_registry::TransferSyntaxRegistry.get(ts);
    let name = entry.map(|t| t.name().trim().to_string());
    let named = match &name {
        Some(n) => format!("{ts} ({n})"),
        None => ts.to_string(),
    };
    if ts == JPEG_EXTENDED && bits_stored > 8 {
        return Some(format!(
            "unsupported transfer syntax {named}: no decoder here for {bits_stored}-bit lossy JPEG"
        ));
    }
    match entry {
        Some(t) if t.can_decode_all() => None,
        _ => Some(format!(
            "unsupported transfer syntax {named}: no decoder here for its pixel data"
        )),
    }
}

fn numbers(ds: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    ds.element_opt(tag).ok()??.to_multi_float64().ok()
}

fn number(ds: &InMemDicomObject, tag: Tag) -> Option<f64> {
    numbers(ds, tag)?.first().copied().filter(|v| v.is_finite())
}

/// What the plan needs to know of one image, read from its header.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    /// Attributes that must agree within one volume (dcm2niix splits on them).
    split: String,
    series_number: Option<i64>,
    /// Protocol name, else series description: a file name when the policy keeps it.
    name: Option<(Tag, String)>,
    orientation: Option<[f64; 6]>,
    position: Option<[f64; 3]>,
    /// PixelSpacing: between rows, between columns (mm).
    spacing: Option<[f64; 2]>,
    thickness: Option<f64>,
    rows: usize,
    columns: usize,
    bits_allocated: u16,
    bits_stored: u16,
    signed: bool,
    samples: u16,
    frames: u32,
    rescale: (f64, f64),
    repetition_time: Option<f64>,
    echo_time: Option<f64>,
    modality: String,
    transfer_syntax: String,
    /// Acquisition order: InstanceNumber, then the SOP Instance UID for ties.
    order: (i64, String),
    phase_rows: Option<bool>,
}

impl Slice {
    pub fn of(object: &Object) -> Slice {
        let ds: &InMemDicomObject = object;
        let t = |tag| text(ds, tag).unwrap_or_default();
        let int = |tag| text(ds, tag).and_then(|v| v.parse::<i64>().ok());
        let orientation =
            numbers(ds, tags::IMAGE_ORIENTATION_PATIENT).and_then(|v| <[f64; 6]>::try_from(v).ok());
        let split = [
            t(tags::SERIES_INSTANCE_UID),
            t(tags::IMAGE_TYPE).to_ascii_uppercase(),
            t(tags::ECHO_NUMBERS),
            t(tags::ECHO_TIME),
            t(tags::ACQUISITION_MATRIX),
            orientation
                .map(|o| {
                    o.iter()
                        .map(|v| format!("{:.4}", v))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default(),
            t(tags::PIXEL_SPACING),
        ]
        .join("|");
        let name = [tags::PROTOCOL_NAME, tags::SERIES_DESCRIPTION]
            .into_iter()
            .find_map(|tag| text(ds, tag).map(|v| (tag, v)));
        Slice {
            split,
            series_number: int(tags::SERIES_NUMBER),
            name,
            orientation,
            position: numbers(ds, tags::IMAGE_POSITION_PATIENT)
                .and_then(|v| <[f64; 3]>::try_from(v).ok()),
            spacing: numbers(ds, tags::PIXEL_SPACING).and_then(|v| <[f64; 2]>::try_from(v).ok()),
            thickness: number(ds, tags::SLICE_THICKNESS),
            rows: int(tags::ROWS).unwrap_or(0) as usize,
            columns: int(tags::COLUMNS).unwrap_or(0) as usize,
            bits_allocated: int(tags::BITS_ALLOCATED).unwrap_or(0) as u16,
            bits_stored: int(tags::BITS_STORED).unwrap_or(0) as u16,
            signed: int(tags::PIXEL_REPRESENTATION) == Some(1),
            samples: int(tags::SAMPLES_PER_PIXEL).unwrap_or(1) as u16,
            frames: int(tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1) as u32,
            rescale: (
                number(ds, tags::RESCALE_SLOPE).unwrap_or(1.0),
                number(ds, tags::RESCALE_INTERCEPT).unwrap_or(0.0),
            ),
            repetition_time: number(ds, tags::REPETITION_TIME),
            echo_time: number(ds, tags::ECHO_TIME),
            modality: t(tags::MODALITY),
            transfer_syntax: object
                .meta()
                .transfer_syntax()
                .trim_end_matches(['\0', ' '])
                .to_string(),
            order: (
                int(tags::INSTANCE_NUMBER).unwrap_or(i64::MAX),
                t(tags::SOP_INSTANCE_UID),
            ),
            phase_rows: text(ds, tags::IN_PLANE_PHASE_ENCODING_DIRECTION)
                .map(|v| v.eq_ignore_ascii_case("ROW")),
        }
    }

    fn normal(&self) -> Option<[f64; 3]> {
        let o = self.orientation?;
        let (r, c) = ([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
        Some(cross(r, c))
    }

    /// Why this image cannot go into a NIfTI volume, if it cannot.
    fn unsupported(&self) -> Option<String> {
        if let Some(why) = undecodable(&self.transfer_syntax, self.bits_stored) {
            return Some(why);
        }
        if self.rows == 0 || self.columns == 0 {
            return Some("no image (Rows/Columns missing)".into());
        }
        if self.samples != 1 {
            return Some(format!(
                "{} samples per pixel (colour images are not converted)",
                self.samples
            ));
        }
        if self.frames > 1 {
            return Some(format!(
                "multi-frame image ({} frames) not converted yet",
                self.frames
            ));
        }
        if self.orientation.is_none() || self.position.is_none() {
            return Some(
                "no image geometry (ImageOrientationPatient/ImagePositionPatient missing)".into(),
            );
        }
        if !matches!(self.bits_allocated, 8 | 16 | 32) {
            return Some(format!("{} bits allocated", self.bits_allocated));
        }
        None
    }
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalise(v: [f64; 3]) -> [f64; 3] {
    let len = dot(v, v).sqrt();
    if len > 0.0 {
        v.map(|x| x / len)
    } else {
        v
    }
}

/// One NIfTI volume of the plan.
#[derive(Debug, Clone)]
pub struct Volume {
    /// Inputs in voxel order: volume by volume, slices ascending along the normal.
    pub members: Vec<usize>,
    pub series_number: Option<i64>,
    /// What the file is named after (ProtocolName or SeriesDescription), when the
    /// policy keeps that attribute.
    pub name: Option<String>,
    pub slices: usize,
    pub volumes: usize,
    /// Why it is not converted (the members are reported with this reason).
    pub problem: Option<String>,
    /// Converted, but something the user should know (uneven spacing, gantry tilt).
    pub warnings: Vec<String>,
    pub header: Option<Header>,
    /// The `.nii` path in the zip, set by the job's plan.
    pub path: Option<String>,
    /// Once its last slice has arrived: written, or why not.
    pub outcome: Option<Result<(), String>>,
    rescale_varies: bool,
}

impl Volume {
    /// `<SeriesNumber>_<sanitised name>`, without the extension.
    pub fn stem(&self) -> String {
        let number = self
            .series_number
            .map(|n| n.to_string())
            .unwrap_or_else(|| "0".into());
        match self.name.as_deref().map(sanitise).filter(|n| !n.is_empty()) {
            Some(name) => format!("{number}_{name}"),
            None => number,
        }
    }
}

/// A file-name-safe form of a protocol name: ASCII letters, digits, `-`; the rest `_`.
pub fn sanitise(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '-' {
            c
        } else {
            '_'
        };
        if !(c == '_' && (out.is_empty() || out.ends_with('_'))) {
            out.push(c);
        }
    }
    let trimmed = out.trim_end_matches('_');
    trimmed.chars().take(64).collect()
}

/// Groups the slices into volumes (as dcm2niix splits a series) and fixes each
/// volume's geometry. `slices` are (input index, header). The result does not depend
/// on the order of `slices`.
pub fn plan(slices: &[(usize, &Slice)], policy: &Policy) -> Vec<Volume> {
    let mut groups: BTreeMap<(i64, String), Vec<(usize, &Slice)>> = BTreeMap::new();
    for &(i, s) in slices {
        groups
            .entry((s.series_number.unwrap_or(i64::MAX), s.split.clone()))
            .or_default()
            .push((i, s));
    }
    let keeps = |tag: Tag| {
        matches!(
            policy.action(tag),
            crate::profile::Action::Code(crate::profile::Code::K)
        )
    };
    groups
        .into_values()
        .map(|mut members| {
            members.sort_by(|a, b| a.1.order.cmp(&b.1.order));
            let first = members[0].1;
            let mut volume = Volume {
                members: members.iter().map(|m| m.0).collect(),
                series_number: first.series_number,
                name: first
                    .name
                    .as_ref()
                    .filter(|(tag, _)| keeps(*tag))
                    .map(|(_, n)| n.clone()),
                slices: members.len(),
                volumes: 1,
                problem: None,
                warnings: Vec::new(),
                header: None,
                path: None,
                outcome: None,
                rescale_varies: false,
            };
            if let Some(why) = members.iter().find_map(|m| m.1.unsupported()) {
                volume.problem = Some(why);
                return volume;
            }
            if let Err(why) = arrange(&mut volume, &members) {
                volume.problem = Some(why);
            }
            volume
        })
        .collect()
}

/// Orders the members of one volume, detects 4D, checks the spacing, sets the header.
fn arrange(volume: &mut Volume, members: &[(usize, &Slice)]) -> Result<(), String> {
    let first = members[0].1;
    if members.iter().any(|m| {
        (m.1.rows, m.1.columns, m.1.bits_allocated, m.1.signed)
            != (
                first.rows,
                first.columns,
                first.bits_allocated,
                first.signed,
            )
    }) {
        return Err("images of different sizes or pixel formats in one series".into());
    }
    let normal = normalise(first.normal().expect("checked"));
    // Distinct positions along the normal; members are in acquisition order.
    let along = |s: &Slice| dot(s.position.expect("checked"), normal);
    let mut positions: Vec<f64> = Vec::new();
    let mut at: Vec<Vec<usize>> = Vec::new(); // member indices per position
    for (k, m) in members.iter().enumerate() {
        let p = along(m.1);
        match positions.iter().position(|&q| (q - p).abs() < 1e-3) {
            Some(j) => at[j].push(k),
            None => {
                positions.push(p);
                at.push(vec![k]);
            }
        }
    }
    let mut by_position: Vec<usize> = (0..positions.len()).collect();
    by_position.sort_by(|&a, &b| positions[a].total_cmp(&positions[b]));
    let nz = positions.len();
    let nt = members.len() / nz;
    if at.iter().any(|v| v.len() != nt) {
        return Err(format!(
            "{} images at {} positions: the positions do not repeat evenly (incomplete 4D series)",
            members.len(),
            nz
        ));
    }
    let mut order = Vec::with_capacity(members.len());
    for t in 0..nt {
        for &j in &by_position {
            order.push(members[at[j][t]].0);
        }
    }
    volume.members = order;
    volume.slices = nz;
    volume.volumes = nt;
    let lowest = members[at[by_position[0]][0]].1;
    let highest = members[at[by_position[nz - 1]][0]].1;
    // Slice spacing: measured, else the slice thickness.
    let dz = if nz > 1 {
        let gaps: Vec<f64> = by_position
            .windows(2)
            .map(|w| positions[w[1]] - positions[w[0]])
            .collect();
        let mean = (positions[by_position[nz - 1]] - positions[by_position[0]]) / (nz - 1) as f64;
        if gaps
            .iter()
            .any(|g| (g - mean).abs() > 0.01 * mean.abs().max(1e-3))
        {
            volume.warnings.push(format!(
                "slice spacing varies ({:.3} to {:.3} mm): the NIfTI assumes {mean:.3} mm",
                gaps.iter().cloned().fold(f64::INFINITY, f64::min),
                gaps.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
            ));
        }
        let travel = sub(highest.position.unwrap(), lowest.position.unwrap());
        let cos = dot(normalise(travel), normal);
        if cos < 0.9999 {
            volume.warnings.push(format!(
                "gantry tilt of {:.2}° (slices are sheared, not corrected)",
                cos.clamp(-1.0, 1.0).acos().to_degrees()
            ));
        }
        mean
    } else {
        first.thickness.unwrap_or(1.0)
    };
    let o = first.orientation.unwrap();
    let (row_dir, col_dir) = (normalise([o[0], o[1], o[2]]), normalise([o[3], o[4], o[5]]));
    let [dy, dx] = first.spacing.unwrap_or([1.0, 1.0]);
    // LPS affine of the stored voxels: i along the row direction, j against the column
    // direction (rows bottom-up), k along the normal, origin at the last row of the
    // lowest slice.
    let origin = add(
        lowest.position.unwrap(),
        col_dir.map(|v| v * dy * (first.rows as f64 - 1.0)),
    );
    let columns = [
        row_dir.map(|v| v * dx),
        col_dir.map(|v| -v * dy),
        normal.map(|v| v * dz),
    ];
    let mut affine = [[0.0; 4]; 3];
    for r in 0..3 {
        let sign = if r < 2 { -1.0 } else { 1.0 }; // LPS → RAS
        for c in 0..3 {
            affine[r][c] = sign * columns[c][r];
        }
        affine[r][3] = sign * origin[r];
    }
    volume.rescale_varies = members.iter().any(|m| m.1.rescale != first.rescale);
    let datatype = if volume.rescale_varies {
        DataType::F32
    } else {
        match (first.bits_allocated, first.signed) {
            (8, false) => DataType::U8,
            (8, true) => DataType::I8,
            (16, true) => DataType::I16,
            (16, false) if first.bits_stored < 16 => DataType::I16,
            (16, false) => DataType::U16,
            // dcm2niix stores 32-bit integers as signed.
            _ => DataType::I32,
        }
    };
    let (slope, inter) = if volume.rescale_varies {
        (1.0, 0.0)
    } else {
        first.rescale
    };
    let tr = first.repetition_time.map(|ms| ms / 1000.0).unwrap_or(0.0);
    volume.header = Some(Header {
        dim: [first.columns, first.rows, nz, nt],
        datatype,
        pixdim: [dx as f32, dy as f32, dz as f32, tr as f32],
        scl_slope: slope as f32,
        scl_inter: inter as f32,
        dim_info: match first.phase_rows {
            Some(true) => (3 << 4) | (1 << 2) | 2,
            Some(false) => (3 << 4) | (2 << 2) | 1,
            None => 0,
        },
        affine,
        descrip: match (first.modality.as_str(), first.echo_time) {
            ("MR", Some(te)) => format!("TE={te}"),
            _ => String::new(),
        },
    });
    Ok(())
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn add(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

/// The report's line for one volume.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeReport {
    /// Where it was written; `None` when it was not (see `reason`).
    pub path: Option<String>,
    pub series_number: Option<i64>,
    pub files: usize,
    pub slices: usize,
    pub volumes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A volume being filled.
struct Building {
    volume: usize,
    buffer: Vec<u8>,
    received: usize,
    sidecar: Option<Vec<u8>>,
    failed: Option<String>,
}

/// A finished volume: the sidecar and the `.nii` bytes, or why it failed.
pub struct Finished {
    pub volume: usize,
    pub result: Result<(Vec<u8>, Vec<u8>), String>,
}

/// Fills the planned volumes from the parsed files, one series at a time.
pub struct Converter {
    volumes: Vec<Volume>,
    /// input → (volume, place in the volume's member list)
    place: BTreeMap<usize, (usize, usize)>,
    building: BTreeMap<usize, Building>,
}

impl Converter {
    pub fn new(volumes: Vec<Volume>) -> Converter {
        let mut place = BTreeMap::new();
        for (v, volume) in volumes.iter().enumerate() {
            if volume.problem.is_none() {
                for (k, &i) in volume.members.iter().enumerate() {
                    place.insert(i, (v, k));
                }
            }
        }
        Converter {
            volumes,
            place,
            building: BTreeMap::new(),
        }
    }

    pub fn volumes(&self) -> &[Volume] {
        &self.volumes
    }

    /// One line per volume for the report.
    pub fn report(&self) -> Vec<VolumeReport> {
        self.volumes
            .iter()
            .map(|v| {
                let reason = v.problem.clone().or_else(|| match &v.outcome {
                    Some(Err(why)) => Some(why.clone()),
                    Some(Ok(())) => None,
                    None => Some("not written: the export ended before its last slice".into()),
                });
                VolumeReport {
                    path: if reason.is_none() {
                        v.path.clone()
                    } else {
                        None
                    },
                    series_number: v.series_number,
                    files: v.members.len(),
                    slices: v.slices,
                    volumes: v.volumes,
                    reason,
                    warnings: v.warnings.clone(),
                }
            })
            .collect()
    }

    pub fn volume_of(&self, input: usize) -> Option<usize> {
        self.place.get(&input).map(|p| p.0)
    }

    /// Adds one planned input (parsed with its pixel data, or the reason it could not be
    /// read). Returns the volume once its last member has arrived.
    pub fn add(
        &mut self,
        input: usize,
        object: Result<&Object, String>,
        policy: &Policy,
    ) -> Option<Finished> {
        let &(v, k) = self.place.get(&input)?;
        let volume = &self.volumes[v];
        let header = volume
            .header
            .as_ref()
            .expect("planned volumes have a header");
        let building = self.building.entry(v).or_insert_with(|| {
            let mut buffer = Vec::with_capacity(VOX_OFFSET + header.data_len());
            buffer.extend_from_slice(&header.encode());
            buffer.resize(VOX_OFFSET + header.data_len(), 0);
            Building {
                volume: v,
                buffer,
                received: 0,
                sidecar: None,
                failed: None,
            }
        });
        building.received += 1;
        match object {
            Ok(object) if building.failed.is_none() => {
                if k == 0 {
                    building.sidecar = Some(sidecar::json(object, volume, policy));
                }
                if let Err(why) = place_slice(
                    object,
                    header,
                    volume.rescale_varies,
                    k,
                    &mut building.buffer,
                ) {
                    building.failed = Some(why);
                    building.buffer = Vec::new();
                }
            }
            Ok(_) => {}
            Err(why) => {
                building.failed = Some(format!("a slice of the series could not be read: {why}"));
                building.buffer = Vec::new();
            }
        }
        if building.received < volume.members.len() {
            return None;
        }
        let b = self.building.remove(&v).expect("present");
        let result = match b.failed {
            Some(why) => Err(why),
            None => Ok((b.sidecar.unwrap_or_default(), b.buffer)),
        };
        self.volumes[v].outcome = Some(result.as_ref().map(|_| ()).map_err(Clone::clone));
        Some(Finished {
            volume: b.volume,
            result,
        })
    }
}

/// Copies one slice's pixels to its place: rows bottom-up, as dcm2niix stores them.
fn place_slice(
    object: &Object,
    header: &Header,
    to_float: bool,
    k: usize,
    out: &mut [u8],
) -> Result<(), String> {
    let element = object
        .element(tags::PIXEL_DATA)
        .map_err(|_| "no pixel data".to_string())?;
    let decoded;
    let (value, bytes) = match element.value().primitive() {
        Some(value) => (Some(value), value.to_bytes()),
        None => {
            // Encapsulated: decoded to native little-endian samples.
            use dicom_pixeldata::PixelDecoder;
            decoded = object.decode_pixel_data_frame(0).map_err(|e| {
                format!(
                    "pixel data in {} could not be decoded: {e}",
                    object.meta().transfer_syntax().trim_end_matches(['\0', ' '])
                )
            })?;
            (None, std::borrow::Cow::Borrowed(decoded.data()))
        }
    };
    let [columns, rows, _, _] = header.dim;
    let ds: &InMemDicomObject = object;
    let bits = text(ds, tags::BITS_ALLOCATED)
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(16);
    let in_bpp = bits / 8;
    let row_in = columns * in_bpp;
    let slice_in = row_in * rows;
    if bytes.len() < slice_in {
        return Err(format!(
            "pixel data has {} bytes, {} expected",
            bytes.len(),
            slice_in
        ));
    }
    // dicom-rs decodes big endian OW into native 16-bit words; OB stays as bytes.
    let big_endian_words =
        object.meta().transfer_syntax().trim_end_matches('\0') == "1.2.840.10008.1.2.2";
    let (big_endian, swap_halves) = match value {
        None => (false, false),
        Some(dicom_core::PrimitiveValue::U8(_)) => (big_endian_words && in_bpp > 1, false),
        Some(_) => (false, big_endian_words && in_bpp == 4),
    };
    let out_bpp = header.datatype.bytes();
    let row_out = columns * out_bpp;
    let slice_out = row_out * rows;
    let start = VOX_OFFSET + k * slice_out;
    let target = &mut out[start..start + slice_out];
    let signed = text(ds, tags::PIXEL_REPRESENTATION).as_deref() == Some("1");
    let (slope, inter) = (
        number(ds, tags::RESCALE_SLOPE).unwrap_or(1.0),
        number(ds, tags::RESCALE_INTERCEPT).unwrap_or(0.0),
    );
    for r in 0..rows {
        let src = &bytes[r * row_in..(r + 1) * row_in];
        let dst = &mut target[(rows - 1 - r) * row_out..(rows - r) * row_out];
        if !to_float && !big_endian && !swap_halves {
            dst.copy_from_slice(src);
            continue;
        }
        for (c, word) in src.chunks_exact(in_bpp).enumerate() {
            let mut w = [0u8; 4];
            w[..in_bpp].copy_from_slice(word);
            if big_endian {
                w[..in_bpp].reverse();
            }
            if swap_halves {
                w = [w[2], w[3], w[0], w[1]];
            }
            if !to_float {
                dst[c * in_bpp..(c + 1) * in_bpp].copy_from_slice(&w[..in_bpp]);
                continue;
            }
            let raw = match (in_bpp, signed) {
                (1, false) => w[0] as f64,
                (1, true) => w[0] as i8 as f64,
                (2, false) => u16::from_le_bytes([w[0], w[1]]) as f64,
                (2, true) => i16::from_le_bytes([w[0], w[1]]) as f64,
                (_, false) => u32::from_le_bytes(w) as f64,
                (_, true) => i32::from_le_bytes(w) as f64,
            };
            dst[c * 4..(c + 1) * 4].copy_from_slice(&((raw * slope + inter) as f32).to_le_bytes());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_file_safe() {
        assert_eq!(sanitise("T1 MPRAGE / sag (1.0mm)"), "T1_MPRAGE_sag_1_0mm");
        assert_eq!(sanitise("  "), "");
        assert_eq!(sanitise("ép2d-bold"), "p2d-bold");
    }
}
