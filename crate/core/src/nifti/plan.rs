//! The plan: the scanned slices grouped into volumes, each with its header and the place
//! of every slice in it.

use std::collections::BTreeMap;

use super::diffusion;
use super::geometry::{add, cross, dot, normalise, rotate, sub, Reorient};
use super::header::{self, DataType, Header};
use super::slice::{Frame, Slice};

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
    pub(super) rescale_varies: bool,
    /// Frames of each member (more than 1 for a multi-frame file).
    pub(super) frames: usize,
    /// The frames of enhanced images and mosaics, member after member in file order:
    /// (slot in the volume, rescale), or `None` for a frame of another volume (echo).
    pub(super) frame_places: Vec<Option<(usize, (f64, f64))>>,
    /// The echo (EffectiveEchoTime, ms) of one volume of a multi-echo enhanced file, which
    /// dcm2niix writes as one volume per echo, named `_e1`, `_e2`…
    pub echo: Option<(usize, f64)>,
    /// A 3D acquisition turned to the axes nearest RAS once filled.
    pub(super) reorient: Option<Reorient>,
    /// dcm2niix's suffix after the name (`_e2`, `_ph`…), set by `suffix::name_volumes`.
    pub suffix: String,
    /// A field map in Hz (`fieldmap`): `_fieldmaphz`, ImageType ending FIELDMAPHZ.
    pub(super) field_map_hz: bool,
    /// Its files can be written as they arrive: they fill whole slices in voxel order (no
    /// turning, no frames placed elsewhere), each with samples the scan saw (see
    /// [`Slice::placed_as_scanned`]).
    pub(super) streamable: bool,
    /// SliceTiming (seconds, voxel order), where dcm2niix writes it.
    pub slice_timing: Option<Vec<f64>>,
    /// A CT series with gantry tilt (`tilt`): on the stored volume, what its corrected
    /// volume is computed with; on the corrected volume (`_Tilt_1`), also the stored header.
    pub(super) tilt: Option<super::tilt::Tilt>,
    /// The `.bval`/`.bvec` of a diffusion volume.
    pub diffusion: Option<diffusion::Table>,
    /// Where its `.bval`/`.bvec` go, set by the job's plan for a diffusion volume.
    pub gradient_paths: Option<diffusion::GradientPaths>,
    /// Which of the volumes sharing a file name dcm2niix writes first (it adds `a`, `b`… to
    /// the later ones): the CRC-32 of its SeriesInstanceUID, then its first InstanceNumber.
    pub name_rank: (u32, (i64, String)),
}

impl Volume {
    /// `<SeriesNumber>_<sanitised name><suffix>`, without the extension.
    pub fn stem(&self) -> String {
        let number = self
            .series_number
            .map(|n| n.to_string())
            .unwrap_or_else(|| "0".into());
        let suffix = &self.suffix;
        match self.name.as_deref().map(sanitise).filter(|n| !n.is_empty()) {
            Some(name) => format!("{number}_{name}{suffix}"),
            None => format!("{number}{suffix}"),
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
/// volume's geometry. `slices` are (input index, header), named as the export writes the
/// name ([`Slice::export_name`]). The result does not depend on the order of `slices`.
pub fn plan(slices: &[(usize, &Slice)]) -> Vec<Volume> {
    let planned: Vec<(Volume, &Slice)> = series(slices)
        .into_iter()
        .flat_map(|members| {
            let echoes = echoes(members[0].1);
            echoes.into_iter().map(move |echo| (members.clone(), echo))
        })
        .map(|(members, echo)| {
            let name = members[0].1.name.as_ref().map(|(_, n)| n.clone());
            (Volume::planned(&members, name, echo), members[0].1)
        })
        .collect();
    let firsts: Vec<&Slice> = planned.iter().map(|p| p.1).collect();
    let mut volumes: Vec<Volume> = planned.iter().map(|p| p.0.clone()).collect();
    super::suffix::name_volumes(&mut volumes, &firsts);
    super::tilt::add_corrected(&mut volumes);
    volumes
}

/// The slices of each series (split where dcm2niix splits one), in acquisition order;
/// the series by SeriesNumber, then by what must agree within a volume.
fn series<'a>(slices: &[(usize, &'a Slice)]) -> Vec<Vec<(usize, &'a Slice)>> {
    let mut groups: BTreeMap<(i64, String), Vec<(usize, &Slice)>> = BTreeMap::new();
    for &(i, s) in slices {
        groups
            .entry((s.series_number.unwrap_or(i64::MAX), s.split.clone()))
            .or_default()
            .push((i, s));
    }
    groups
        .into_values()
        .map(|mut members| {
            members.sort_by(|a, b| a.1.order.cmp(&b.1.order));
            members
        })
        .collect()
}

/// The distinct echoes of an enhanced file, numbered from 1 in the order of their first
/// frames (as dcm2niix numbers them: Philips' B0 map, magnitude first, is `_e1`): one volume
/// each. A single `None` when it has fewer than two.
fn echoes(first: &Slice) -> Vec<Option<(usize, f64)>> {
    let mut echoes: Vec<f64> = Vec::new();
    for echo in first.frame_list.iter().filter_map(|f| f.echo) {
        if !echoes.contains(&echo) {
            echoes.push(echo);
        }
    }
    match echoes.len() {
        0 | 1 => vec![None],
        _ => echoes.into_iter().enumerate().map(|(n, e)| Some((n + 1, e))).collect(),
    }
}

impl Volume {
    /// The volume of `members` (one series, in acquisition order) for one `echo`, named
    /// `name`; with its problem when it cannot be converted.
    fn planned(members: &[(usize, &Slice)], name: Option<String>, echo: Option<(usize, f64)>) -> Volume {
        let first = members[0].1;
        let mut volume = Volume {
            members: members.iter().map(|m| m.0).collect(),
            series_number: first.series_number,
            name,
            slices: members.len(),
            volumes: 1,
            problem: None,
            warnings: Vec::new(),
            header: None,
            path: None,
            outcome: None,
            rescale_varies: false,
            frames: 1,
            frame_places: Vec::new(),
            echo,
            suffix: String::new(),
            field_map_hz: false,
            reorient: None,
            streamable: false,
            slice_timing: None,
            tilt: None,
            diffusion: None,
            gradient_paths: None,
            name_rank: (uid_crc(first.series_uid()), first.order.clone()),
        };
        if let Some(why) = members.iter().find_map(|m| m.1.unsupported()) {
            volume.problem = Some(why);
            return volume;
        }
        if let Err(why) = arrange(&mut volume, members) {
            volume.problem = Some(why);
        }
        volume.streamable = volume.reorient.is_none()
            && volume.frame_places.is_empty()
            && members.iter().all(|m| m.1.placed_as_scanned());
        super::slots::per_image(&mut volume, members);
        volume
    }
}

/// The CRC-32 of a SeriesInstanceUID, the order in which dcm2niix converts series (measured:
/// of two reconstructions under one SeriesNumber, the lower CRC keeps the plain name, 6 of 6).
fn uid_crc(uid: &str) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(uid.as_bytes());
    crc.sum()
}

/// Orders the members of one volume, detects 4D, checks the spacing, sets the header.
/// An enhanced image's frames are arranged as if each were an image of its own (in file
/// order, which is acquisition order for the 4D stacking).
fn arrange(volume: &mut Volume, members: &[(usize, &Slice)]) -> Result<(), String> {
    let first = members[0].1;
    if first.frame_list.is_empty() || first.frames < 2 {
        return arrange_images(volume, members);
    }
    if members.iter().any(|m| m.1.frame_list.len() != first.frame_list.len()) {
        return Err("multi-frame files with different numbers of frames in one series".into());
    }
    let image = Slice {
        frames: 1,
        frame_list: Vec::new(),
        ..first.clone()
    };
    // Frame f of the m-th member is image m × frames + f, in acquisition order (only
    // the frames of this volume's echo).
    let all: Vec<&Frame> = members.iter().flat_map(|m| &m.1.frame_list).collect();
    let frames: Vec<(usize, Slice)> = all
        .iter()
        .enumerate()
        .filter(|(_, frame)| volume.echo.is_none_or(|(_, te)| frame.echo == Some(te)))
        .map(|(f, frame)| {
            let echo_time = frame.echo.or(image.echo_time);
            (f, Slice { position: frame.position, rescale: frame.rescale, echo_time, ..image.clone() })
        })
        .collect();
    let pseudo: Vec<(usize, &Slice)> = frames.iter().map(|(_, s)| s).enumerate().collect();
    arrange_images(volume, &pseudo)?;
    let mut places = vec![None; all.len()];
    for (slot, &p) in volume.members.iter().enumerate() {
        let (f, frame) = &frames[p];
        places[*f] = Some((slot, frame.rescale));
    }
    volume.frame_places = places;
    volume.members = members.iter().map(|m| m.0).collect();
    volume.frames = first.frame_list.len();
    Ok(())
}

/// `arrange` for images of one frame each, or one classic multi-frame file.
fn arrange_images(volume: &mut Volume, members: &[(usize, &Slice)]) -> Result<(), String> {
    check_alike(members)?;
    let first = members[0].1;
    let located = first.position.is_some();
    let o = first.orientation.unwrap_or([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let (row_dir, col_dir) = (normalise([o[0], o[1], o[2]]), normalise([o[3], o[4], o[5]]));
    let mut normal = normalise(cross(row_dir, col_dir)).map(|v| v * first.normal_sign);
    // X-ray images of several orientations: stacked as they come (see `xray`).
    let mixed = located && first.frames == 1 && super::xray::mixed(members);
    // A tilted CT series: its slice axis along the table (see `tilt`).
    let tilted = (first.frames == 1 && located && !mixed).then(|| super::tilt::Tilt::of(members, normal)).flatten();
    volume.tilt = tilted.as_ref().map(|t| t.0.clone());
    let (nz, nt, dz, lowest) = if first.frames > 1 || !located {
        unstacked(volume, members)
    } else if mixed {
        let (nz, dz, origin) = super::xray::stack(volume, members, normal)?;
        (nz, 1, dz, Some(origin))
    } else {
        stack(volume, members, normal)?
    };
    // One tilted CT slice: dcm2niix steps along the table (the normal turned back by the
    // gantry tilt about the row direction), not along the tilted normal.
    if let (1, Some(tilt)) = (nz * nt, first.tilt) {
        normal = rotate(normal, row_dir, -tilt.to_radians());
    }
    volume.frames = first.frames as usize;
    volume.slices = nz;
    volume.volumes = nt;
    volume.rescale_varies = members.iter().any(|m| m.1.rescale != first.rescale);
    let affine = match lowest {
        Some(position) => {
            let slice_axis = tilted.map_or(normal, |t| t.1);
            lps_affine(first, position, [row_dir, col_dir, slice_axis], dz)
        }
        // No position: dcm2niix's unit voxel grid (rows bottom-up), with no transform code.
        None => [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, -(first.rows as f64 - 1.0)],
            [0.0, 0.0, 1.0, 0.0],
        ],
    };
    // dcm2niix keeps the header's slice spacing in pixdim when the slices' is 0.
    let pixdim_z = match (mixed, dz) {
        (true, 0.0) => first.between.or(first.thickness).unwrap_or(1.0),
        _ => dz,
    };
    let header = header_of(first, volume, pixdim_z, affine);
    // Measured: dcm2niix leaves a single slice of a 3D acquisition as it is.
    match Reorient::of(&header).filter(|_| first.acquisition_3d && located && nz > 1) {
        Some((reorient, turned)) => {
            volume.reorient = Some(reorient);
            volume.header = Some(turned);
        }
        None => volume.header = Some(header),
    }
    Ok(())
}

/// Why the images of `members` cannot make one volume: different sizes or pixel formats,
/// positions on some only, or several multi-frame files.
fn check_alike(members: &[(usize, &Slice)]) -> Result<(), String> {
    let first = members[0].1;
    let format = |s: &Slice| (s.rows, s.columns, s.bits_allocated, s.signed, s.samples);
    if members.iter().any(|m| format(m.1) != format(first)) {
        return Err("images of different sizes or pixel formats in one series".into());
    }
    let located = first.position.is_some();
    if members.iter().any(|m| m.1.position.is_some() != located) {
        return Err("some images of the series have ImagePositionPatient, others not".into());
    }
    if first.frames > 1 && members.len() > 1 {
        return Err(format!(
            "{} multi-frame files in one series: not converted yet",
            members.len()
        ));
    }
    Ok(())
}

/// Without positions (or within one multi-frame file) the images stay in acquisition
/// order, one slice each, SliceThickness (else 1 mm) apart, as dcm2niix stacks them:
/// (slices, volumes, slice spacing, the first slice's position).
fn unstacked(volume: &mut Volume, members: &[(usize, &Slice)]) -> (usize, usize, f64, Option<[f64; 3]>) {
    let first = members[0].1;
    volume.members = members.iter().map(|m| m.0).collect();
    let nz = members.len() * first.frames as usize;
    let dz = match nz {
        1 => first.between.or(first.thickness),
        _ => first.thickness,
    };
    (nz, 1, dz.unwrap_or(1.0), first.position)
}

/// The RAS affine of the stored voxels, from the LPS geometry: i along the row direction,
/// j against the column direction (rows bottom-up), k along the normal (`axes`: row,
/// column, normal), origin at the last row of the lowest slice, at `position`.
fn lps_affine(first: &Slice, position: [f64; 3], axes: [[f64; 3]; 3], dz: f64) -> [[f64; 4]; 3] {
    let [row_dir, col_dir, normal] = axes;
    let [dy, dx] = first.spacing.unwrap_or([1.0, 1.0]);
    let origin = add(
        position,
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
    affine
}

/// The header of `volume` (its slices, volumes and whether its rescale varies are set),
/// stored as its first image's samples, `dz` apart.
fn header_of(first: &Slice, volume: &Volume, dz: f64, affine: [[f64; 4]; 3]) -> Header {
    let [dy, dx] = first.spacing.unwrap_or([1.0, 1.0]);
    let (slope, inter) = match (volume.rescale_varies || first.samples == 3, first.philips_scale) {
        (true, _) => (1.0, 0.0),
        // dcm2niix's Philips precise values: (stored × RS + RI) / (RS × SS).
        (false, Some(ss)) if first.rescale.0 != 0.0 => {
            (1.0 / ss, first.rescale.1 / (first.rescale.0 * ss))
        }
        (false, _) => first.rescale,
    };
    let tr = first.repetition_time.map(|ms| ms / 1000.0).unwrap_or(0.0);
    Header {
        dim: [first.columns, first.rows, volume.slices, volume.volumes],
        datatype: datatype(first, volume.rescale_varies),
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
        xform: if first.position.is_some() {
            header::XFORM_SCANNER_ANAT
        } else {
            0
        },
    }
}

/// The NIfTI data type of images like `first`: RGB24 for colour, float32 when the rescale
/// varies per slice, else as dcm2niix stores the samples.
fn datatype(first: &Slice, rescale_varies: bool) -> DataType {
    if first.samples == 3 {
        DataType::Rgb24
    } else if rescale_varies {
        DataType::F32
    } else {
        match (first.bits_allocated, first.signed) {
            (8 | 1, false) => DataType::U8,
            (8, true) => DataType::I8,
            (16, true) => DataType::I16,
            (16, false) if first.bits_stored < 16 => DataType::I16,
            (16, false) => DataType::U16,
            // dcm2niix stores 32-bit integers as signed.
            _ => DataType::I32,
        }
    }
}

/// Sorts located single-frame images along the normal and stacks repeated positions
/// into volumes: (slices, volumes, slice spacing, the lowest slice's position).
fn stack(
    volume: &mut Volume,
    members: &[(usize, &Slice)],
    normal: [f64; 3],
) -> Result<(usize, usize, f64, Option<[f64; 3]>), String> {
    let first = members[0].1;
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
    let lowest = members[at[by_position[0]][0]].1;
    let highest = members[at[by_position[nz - 1]][0]].1;
    // Slice spacing: measured, else the slice thickness; or the header's (see
    // `Slice::header_spacing`: XA30 3D T1w, positions give 2.0000010 mm, dcm2niix writes 2).
    let dz = if nz > 1 {
        let sorted: Vec<f64> = by_position.iter().map(|&j| positions[j]).collect();
        let travel = sub(highest.position.unwrap(), lowest.position.unwrap());
        let measured = measured_spacing(volume, &sorted, travel, normal);
        first.header_spacing.unwrap_or(measured)
    } else {
        first.between.or(first.thickness).unwrap_or(1.0)
    };
    // With the header's spacing, dcm2niix steps from the first image, not the lowest; so
    // it does for a tilted CT (along the normal: the lowest slice is elsewhere on the table).
    let from_first = first.header_spacing.is_some() || volume.tilt.is_some();
    let origin = match (from_first, first.position) {
        (true, Some(p)) if nz > 1 => {
            let rank = by_position.iter().position(|&j| j == 0).expect("the first position is listed") as f64;
            Some(add(p, normal.map(|v| -v * dz * rank)))
        }
        _ => lowest.position,
    };
    Ok((nz, nt, dz, origin))
}

/// The mean spacing of slices at `sorted` positions along `normal` (ascending); warns when
/// the gaps vary or the slices travel off the normal (`travel`: lowest to highest).
fn measured_spacing(volume: &mut Volume, sorted: &[f64], travel: [f64; 3], normal: [f64; 3]) -> f64 {
    let nz = sorted.len();
    let gaps: Vec<f64> = sorted.windows(2).map(|w| w[1] - w[0]).collect();
    let mean = (sorted[nz - 1] - sorted[0]) / (nz - 1) as f64;
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
    let cos = dot(normalise(travel), normal);
    if cos < 0.9999 && volume.tilt.is_none() {
        volume.warnings.push(format!(
            "gantry tilt of {:.2}° (slices are sheared, not corrected)",
            cos.clamp(-1.0, 1.0).acos().to_degrees()
        ));
    }
    mean
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
