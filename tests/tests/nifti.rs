//! DICOM → NIfTI against the reference, dcm2niix: every series that dcm2niix converts from
//! pydicom's and nibabel's test files and from generated series (axial, sagittal, coronal,
//! oblique, 4D, rescaled, enhanced multi-frame MR/CT, 3D acquisitions, CT with gantry tilt and its
//! `_Tilt_1` correction; and, compared by file name too, scouts, localizers, series with a scout,
//! two reconstructions under one SeriesNumber and a single CT image) goes through `capture export --format nifti`; both outputs must have the same
//! dimensions and data type, identical voxel bytes, affines within 1e-4 mm, the same
//! scl_slope/scl_inter and the same qform/sform codes. Lossy series too: the core decodes
//! 8-bit lossy JPEG with dcm2niix's own arithmetic, JPEG 2000 (irreversible included) with
//! OpenJPEG's (openjp2), and near-lossless JPEG-LS is integer decoding.
//! And no planted identifier reaches a NIfTI file or its sidecar.
//!
//! Needs dcm2niix on PATH (or `DCM2NIIX=/path/to/dcm2niix`): `pip install dcm2niix==1.0.20260724`.

use std::path::{Path, PathBuf};
use std::process::Command;

use capture_tests::{cli, fixtures, scan, series};

const DATE: &str = "20260301";
const DCM2NIIX_VERSION: &str = "1.0.20260724";

/// The dcm2niix binary; fails the test with what to install when it is missing.
fn dcm2niix() -> PathBuf {
    let bin = std::env::var_os("DCM2NIIX")
        .filter(|b| !b.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| "dcm2niix".into());
    match Command::new(&bin).arg("-v").output() {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            if !text.contains(DCM2NIIX_VERSION) {
                eprintln!("note: dcm2niix is not version {DCM2NIIX_VERSION}: {}", text.lines().next().unwrap_or(""));
            }
            bin
        }
        Err(e) => panic!(
            "dcm2niix is not installed ({}: {e}). The NIfTI tests compare with it: \
             `pip install dcm2niix=={DCM2NIIX_VERSION}` (CI: add it to .ci/toolchain.sh), or set DCM2NIIX",
            bin.display()
        ),
    }
}

/// The header fields compared, and the voxels.
#[derive(Debug)]
struct Nii {
    dim: Vec<i16>,
    datatype: i16,
    qform: i16,
    sform: i16,
    srow: [[f32; 4]; 3],
    /// scl_slope, scl_inter.
    scale: [f32; 2],
    voxels: Vec<u8>,
}

fn parse(bytes: &[u8]) -> Result<Nii, String> {
    if bytes.len() < 352
        || i32::from_le_bytes(bytes[0..4].try_into().unwrap()) != 348
        || &bytes[344..347] != b"n+1"
    {
        return Err("not a single-file little-endian NIfTI-1".into());
    }
    let i16_at = |o: usize| i16::from_le_bytes([bytes[o], bytes[o + 1]]);
    let f32_at = |o: usize| f32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let ndim = i16_at(40).clamp(1, 7) as usize;
    let mut srow = [[0f32; 4]; 3];
    for (r, row) in srow.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = f32_at(280 + 16 * r + 4 * c);
        }
    }
    let offset = f32_at(108) as usize;
    Ok(Nii {
        dim: (1..=ndim).map(|i| i16_at(40 + 2 * i)).collect(),
        datatype: i16_at(70),
        qform: i16_at(252),
        sform: i16_at(254),
        srow,
        scale: [f32_at(112), f32_at(116)],
        voxels: bytes
            .get(offset..)
            .ok_or("vox_offset beyond the file")?
            .to_vec(),
    })
}

/// Transfer syntaxes whose decoders may legitimately differ by a grey level: compared by
/// value, not by byte. None now: lossy JPEG (8-bit) is decoded with dcm2niix's arithmetic,
/// JPEG 2000 irreversible with OpenJPEG's (as dcm2niix), near-lossless JPEG-LS is integer
/// decoding. Kept for a codec whose decoders cannot agree.
const LOSSY: &[&str] = &[];

/// Whether any of the inputs is stored in a lossy transfer syntax.
fn lossy(inputs: &[PathBuf]) -> bool {
    // Read as the export reads them (a mislabelled data set included).
    inputs.iter().any(|p| {
        std::fs::read(p).is_ok_and(|bytes| {
            capture::dicom::parse(&bytes, true)
                .is_ok_and(|o| LOSSY.contains(&o.meta().transfer_syntax().trim_end_matches('\0')))
        })
    })
}

/// The voxels as numbers (NIfTI data types 2, 4, 8, 16, 128, 256, 512).
fn values(nii: &Nii) -> Option<Vec<f64>> {
    let v = &nii.voxels;
    Some(match nii.datatype {
        2 | 128 => v.iter().map(|&x| x as f64).collect(),
        256 => v.iter().map(|&x| x as i8 as f64).collect(),
        4 => v.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as f64).collect(),
        512 => v.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as f64).collect(),
        8 => v.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        16 => v.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        _ => return None,
    })
}

/// Why two NIfTI files differ, if they do.
fn compare(ours: &[u8], theirs: &[u8]) -> Result<(), String> {
    compare_voxels(ours, theirs, false).map(|_| ())
}

/// Why two NIfTI files differ, if they do; else the largest difference of a voxel value
/// (0 when the voxel bytes are identical). With `lossy`, voxels may differ in value (JPEG 2000
/// decoders of lossy data differ slightly), not in number.
fn compare_voxels(ours: &[u8], theirs: &[u8], lossy: bool) -> Result<f64, String> {
    let (a, b) = (parse(ours)?, parse(theirs)?);
    let mut why = Vec::new();
    // dcm2niix writes a 3D image with dim[0] = 3 even for one slice; trailing 1s aside, equal.
    let trim = |d: &[i16]| {
        d.iter()
            .rposition(|&n| n != 1)
            .map_or(vec![], |p| d[..=p].to_vec())
    };
    if trim(&a.dim) != trim(&b.dim) {
        why.push(format!("dimensions {:?} vs dcm2niix {:?}", a.dim, b.dim));
    }
    if a.datatype != b.datatype {
        why.push(format!(
            "datatype {} vs dcm2niix {}",
            a.datatype, b.datatype
        ));
    }
    if (a.qform, a.sform) != (b.qform, b.sform) {
        why.push(format!(
            "qform/sform codes {}/{} vs dcm2niix {}/{}",
            a.qform, a.sform, b.qform, b.sform
        ));
    }
    let worst = a
        .srow
        .iter()
        .flatten()
        .zip(b.srow.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    if worst > 1e-4 {
        why.push(format!(
            "affine differs by {worst} mm: {:?} vs dcm2niix {:?}",
            a.srow, b.srow
        ));
    }
    if a.scale.iter().zip(&b.scale).any(|(x, y)| (x - y).abs() > 1e-5 * y.abs().max(1.0)) {
        why.push(format!("scl_slope/scl_inter {:?} vs dcm2niix {:?}", a.scale, b.scale));
    }
    let mut largest = 0.0;
    if lossy && a.voxels.len() == b.voxels.len() && a.datatype == b.datatype {
        match (values(&a), values(&b)) {
            (Some(x), Some(y)) => {
                largest = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max)
            }
            _ => why.push(format!("datatype {} not compared", a.datatype)),
        }
    } else if a.voxels != b.voxels {
        let first = a.voxels.iter().zip(&b.voxels).position(|(x, y)| x != y);
        why.push(format!(
            "voxel bytes differ ({} vs {} bytes, first difference at {first:?})",
            a.voxels.len(),
            b.voxels.len()
        ));
    }
    if why.is_empty() {
        Ok(largest)
    } else {
        Err(why.join("; "))
    }
}

/// dcm2niix's `.nii` files for the DICOM files in `dir`, by name.
fn reference(bin: &Path, dir: &Path) -> Vec<(String, Vec<u8>)> {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(bin)
        .args(["-z", "n", "-b", "n", "-f", "%s_%p"])
        .arg("-o")
        .arg(out.path())
        .arg(dir)
        .output()
        .expect("run dcm2niix");
    let _ = status;
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "nii"))
        // Overlays dcm2niix writes as separate `_ROI<n>` images are not series.
        .filter(|p| !p.file_name().unwrap().to_string_lossy().contains("_ROI"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// What `capture export --format nifti` made of the inputs: the `.nii` entries and the
/// report's volume lines.
fn ours(inputs: &[PathBuf]) -> (Vec<(String, Vec<u8>)>, Vec<serde_json::Value>) {
    let export = cli::export(
        inputs,
        DATE,
        &["--format", "nifti", "--include-quarantined"],
    );
    let report: serde_json::Value = serde_json::from_str(&export.report).expect("report JSON");
    let mut volumes = report["nifti"].as_array().cloned().unwrap_or_default();
    // Files the core could not read at all have no volume: their reason stands in.
    for file in report["files"].as_array().into_iter().flatten() {
        if file["outcome"] == "skipped"
            && !file["reason"]
                .as_str()
                .unwrap_or("")
                .starts_with("not converted to NIfTI")
        {
            volumes.push(serde_json::json!({ "reason": file["reason"] }));
        }
    }
    let nii = scan::entries(&export.zip)
        .into_iter()
        .filter(|(n, _)| n.ends_with(".nii"))
        .collect();
    (nii, volumes)
}

/// Reasons of ours that mark a part not done yet (compressed, colour, multi-frame).
fn known_gap(reason: &str) -> bool {
    [
        "unsupported transfer syntax",
        "samples per pixel",
        "multi-frame",
        "bits allocated not converted",
        "mosaic",
        "corrupt DICOM file",
    ]
    .iter()
    .any(|g| reason.contains(g))
}

#[derive(Default)]
struct Tally {
    agree: Vec<String>,
    /// Lossy series: same header, voxel values within a few grey levels (the largest
    /// difference is reported).
    lossy: Vec<String>,
    gaps: Vec<String>,
    wrong: Vec<String>,
    /// dcm2niix's outputs that are not valid NIfTI-1 (see [`bitpix_fits_datatype`]): not
    /// convertible series, left out of the comparison.
    invalid: Vec<String>,
    /// Agreeing volumes whose file names differ (ours, dcm2niix's).
    renamed: Vec<String>,
    /// Series whose set of file names differs from dcm2niix's.
    names_differ: Vec<String>,
}

/// Series where dcm2niix gives `a` to one of two volumes of one SeriesInstanceUID in the order
/// it reads the files from the folder (readdir order, not an order of the data): only the set
/// of names is compared.
const NAMED_IN_FOLDER_ORDER: &[&str] = &["enhanced-two-files", "ct-recons-one-uid"];

/// `renamed` less the series named in folder order, and every series whose names differ.
fn name_failures(tally: &Tally) -> Vec<String> {
    let folder_order = |l: &&String| NAMED_IN_FOLDER_ORDER.iter().any(|n| l.starts_with(&format!("{n}: ")));
    tally.renamed.iter().filter(|l| !folder_order(l)).chain(&tally.names_differ).cloned().collect()
}

/// Whether a NIfTI-1 header's bitpix is the size of its datatype, as the format requires.
/// dcm2niix 1.0.20260724 writes 32-bit RGB (pydicom's SC_rgb_rle_32bit*.dcm) as datatype
/// INT32 with bitpix 96, three words per voxel, which no reader takes as that image (NIfTI-1
/// has no 96-bit RGB type); we refuse such images with a reason instead.
fn bitpix_fits_datatype(nii: &[u8]) -> bool {
    let Ok(header) = parse(nii) else { return true };
    let bits = match header.datatype {
        2 | 256 => 8,
        4 | 512 => 16,
        8 | 16 | 768 => 32,
        64 | 1024 | 1280 => 64,
        128 => 24,
        _ => return true,
    };
    nii.get(72..74).is_some_and(|b| i16::from_le_bytes([b[0], b[1]]) == bits)
}
fn check_case(bin: &Path, label: &str, dir: &Path, inputs: &[PathBuf], tally: &mut Tally) {
    check_against(bin, label, dir, dir, inputs, tally)
}

/// Like `check_case`, with dcm2niix's output for the files in `reference_dir`.
fn check_against(
    bin: &Path,
    label: &str,
    dir: &Path,
    reference_dir: &Path,
    inputs: &[PathBuf],
    tally: &mut Tally,
) {
    let _ = dir;
    let (theirs, invalid): (Vec<_>, Vec<_>) = reference(bin, reference_dir)
        .into_iter()
        .partition(|(_, bytes)| bitpix_fits_datatype(bytes));
    tally.invalid.extend(invalid.iter().map(|(name, _)| format!("{label}: {name}")));
    if theirs.is_empty() {
        return; // dcm2niix does not convert it (validly): not a convertible series
    }
    let (mine, volumes) = ours(inputs);
    let reasons: Vec<String> = volumes
        .iter()
        .filter_map(|v| v["reason"].as_str().map(str::to_string))
        .collect();
    if mine.len() != theirs.len() {
        let line = format!(
            "{label}: {} NIfTI file(s), dcm2niix {} ({:?}); our reasons: {reasons:?}",
            mine.len(),
            theirs.len(),
            theirs.iter().map(|t| &t.0).collect::<Vec<_>>()
        );
        if mine.is_empty() && !reasons.is_empty() && reasons.iter().all(|r| known_gap(r)) {
            tally.gaps.extend(theirs.iter().map(|_| line.clone()));
        } else {
            tally.wrong.push(line);
        }
        return;
    }
    // Pair by content where names do not say it: dcm2niix suffixes `a`, `b`… to volumes of
    // one series in the order it meets the files, which is not an order of the data.
    let mut theirs = theirs;
    for i in 0..mine.len() {
        if let Some(j) = (i..theirs.len()).find(|&j| compare(&mine[i].1, &theirs[j].1).is_ok()) {
            theirs.swap(i, j);
        }
    }
    let base = |n: &String| n.rsplit('/').next().unwrap_or(n).to_string();
    let mut ours_named: Vec<String> = mine.iter().map(|m| base(&m.0)).collect();
    let mut theirs_named: Vec<String> = theirs.iter().map(|t| t.0.clone()).collect();
    ours_named.sort();
    theirs_named.sort();
    if ours_named != theirs_named {
        tally.names_differ.push(format!("{label}: ours {ours_named:?}, dcm2niix {theirs_named:?}"));
    }
    let lossy = lossy(inputs);
    for ((name, a), (their_name, b)) in mine.iter().zip(&theirs) {
        match (compare(a, b), lossy) {
            (Ok(()), _) => {
                tally.agree.push(format!("{label}: {name} = {their_name}"));
                if name.rsplit('/').next() != Some(their_name.as_str()) {
                    tally.renamed.push(format!("{label}: {name} is dcm2niix's {their_name}"));
                }
            }
            (Err(_), true) => match compare_voxels(a, b, true) {
                Ok(d) => tally.lossy.push(format!(
                    "{label}: {name} vs {their_name}: largest voxel difference {d}"
                )),
                Err(why) => tally
                    .wrong
                    .push(format!("{label}: {name} vs {their_name}: {why}")),
            },
            (Err(why), false) => tally
                .wrong
                .push(format!("{label}: {name} vs {their_name}: {why}")),
        }
    }
}

fn report(tally: &Tally) -> usize {
    let total = tally.agree.len() + tally.lossy.len() + tally.gaps.len() + tally.wrong.len();
    eprintln!(
        "{} of {total} series agree with dcm2niix ({} lossy series compared by value)",
        tally.agree.len(),
        tally.lossy.len()
    );
    for l in &tally.lossy {
        eprintln!("  lossy, same header, values differ: {l}");
    }
    for l in &tally.invalid {
        eprintln!("  not a convertible series: dcm2niix's NIfTI is invalid (bitpix is not its datatype's size): {l}");
    }
    for g in &tally.gaps {
        eprintln!("  not converted yet: {g}");
    }
    for w in &tally.wrong {
        eprintln!("  DIFFERENT: {w}");
    }
    total
}

#[test]
fn generated_series_match_dcm2niix() {
    let bin = dcm2niix();
    let work = tempfile::tempdir().unwrap();
    let mut tally = Tally::default();
    for (i, spec) in series::specs().iter().enumerate() {
        let dir = work.path().join(spec.name);
        let files = series::write(spec, i, &dir);
        check_case(&bin, spec.name, &dir, &files, &mut tally);
    }
    let total = report(&tally);
    assert_eq!(
        total,
        series::specs().iter().map(|s| s.outputs()).sum::<usize>(),
        "dcm2niix converted a different number of generated series"
    );
    let failures = [&tally.wrong[..], &tally.gaps[..], &name_failures(&tally)[..]].concat();
    assert!(failures.is_empty(), "generated series differ from dcm2niix:\n  {}", failures.join("\n  "));
}

/// Every pydicom test file alone, as dcm2niix converts it.
fn pydicom_tally() -> Tally {
    let files = fixtures::pydicom_test_files().unwrap_or_else(|e| panic!("{e}"));
    each_file_alone(&files)
}

/// Every `.dcm` file under `folder`, each alone, against dcm2niix.
///
/// One exception: a `*_big_endian.dcm` file whose little-endian twin is present is
/// compared with dcm2niix's output for the twin (the same image): dcm2niix 1.0.20260724
/// writes 8-bit samples stored as big-endian OW without swapping them back.
fn each_file_alone(folder: &Path) -> Tally {
    let bin = dcm2niix();
    let mut names: Vec<PathBuf> = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for path in std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()) {
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "dcm") {
                names.push(path);
            }
        }
    }
    names.sort();
    let mut tally = Tally::default();
    let work = tempfile::tempdir().unwrap();
    let alone = |path: &Path| {
        let label = path
            .strip_prefix(folder)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('/', "_");
        let dir = work.path().join(&label);
        std::fs::create_dir_all(&dir).unwrap();
        let copy = dir.join(path.file_name().unwrap());
        std::fs::copy(path, &copy).unwrap();
        (label, dir, copy)
    };
    for path in &names {
        let (label, dir, copy) = alone(path);
        let name = path.file_name().unwrap().to_string_lossy();
        let twin = path.with_file_name(name.replace("_big_endian", ""));
        if name.contains("_big_endian") && twin.is_file() {
            let (_, twin_dir, _) = alone(&twin);
            check_against(&bin, &label, &dir, &twin_dir, &[copy], &mut tally);
        } else {
            check_case(&bin, &label, &dir, &[copy], &mut tally);
        }
    }
    tally
}

/// nibabel's DICOM test files, each alone, against dcm2niix.
#[test]
fn nibabel_series_match_dcm2niix() {
    let files = fixtures::nibabel_test_files().unwrap_or_else(|e| panic!("{e}"));
    let tally = each_file_alone(&files);
    let total = report(&tally);
    assert!(total > 0, "dcm2niix converted none of nibabel's test files");
    assert!(
        tally.wrong.is_empty(),
        "series differ from dcm2niix:\n  {}",
        tally.wrong.join("\n  ")
    );
}

#[test]
fn pydicom_series_match_dcm2niix_where_supported() {
    let tally = pydicom_tally();
    let total = report(&tally);
    assert!(total > 0, "dcm2niix converted none of pydicom's test files");
    assert!(
        tally.wrong.is_empty(),
        "series differ from dcm2niix:\n  {}",
        tally.wrong.join("\n  ")
    );
}

#[test]
fn every_pydicom_series_matches_dcm2niix() {
    let tally = pydicom_tally();
    report(&tally);
    assert!(
        tally.wrong.is_empty() && tally.gaps.is_empty(),
        "{} series differ or are not converted",
        tally.wrong.len() + tally.gaps.len()
    );
}

/// Runs one of dcmtk's compressors (`dcmcrle`, `dcmcjpeg`, `dcmcjpls`) on every file.
fn compress(tool: &str, args: &[&str], inputs: &[PathBuf], dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    inputs
        .iter()
        .map(|input| {
            let out = dir.join(input.file_name().unwrap());
            let run = Command::new(tool)
                .args(args)
                .arg(input)
                .arg(&out)
                .output()
                .unwrap_or_else(|e| {
                    panic!("{tool} is missing ({e}): install dcmtk (`.ci/toolchain.sh peers`)")
                });
            assert!(
                run.status.success(),
                "{tool} {args:?} {}: {}",
                input.display(),
                String::from_utf8_lossy(&run.stderr)
            );
            out
        })
        .collect()
}

/// The generated series compressed by dcmtk: RLE, lossless JPEG (processes 14 and 14
/// SV1), lossy 8-bit JPEG (baseline: decoded with dcm2niix's arithmetic) and lossless
/// JPEG-LS must give dcm2niix's voxels byte for byte; near-lossless JPEG-LS (NEAR 2) the
/// same header and voxels compared by value (its decoding is exact integer arithmetic, so
/// equal bytes are expected; a difference is reported); 12-bit lossy JPEG, which has no
/// pure-Rust decoder here, is reported per series with its transfer syntax.
#[test]
fn compressed_series_match_dcm2niix() {
    let bin = dcm2niix();
    let work = tempfile::tempdir().unwrap();
    let specs = series::specs();
    let mut tally = Tally::default();
    let mut reported = Vec::new();
    for name in ["axial", "ct-rescaled", "bold-4d", "uint16-full"] {
        let index = specs.iter().position(|s| s.name == name).unwrap();
        let native = series::write(&specs[index], index, &work.path().join(name));
        let codecs: [(&str, &str, &[&str]); 7] = [
            ("rle", "dcmcrle", &[]),
            ("jpeg-lossless-sv1", "dcmcjpeg", &["+e1"]),
            ("jpeg-lossless-sv6", "dcmcjpeg", &["+el"]),
            ("jpeg-baseline", "dcmcjpeg", &["+eb", "+be", "+q", "90"]),
            ("jpeg-extended-12", "dcmcjpeg", &["+ee", "+bt"]),
            ("jpeg-ls", "dcmcjpls", &[]),
            ("jpeg-ls-near", "dcmcjpls", &["+en", "+md", "2"]),
        ];
        for (codec, tool, args) in codecs {
            if codec == "jpeg-ls-near" && name == "ct-rescaled" {
                continue; // dcmcjpls encodes unsigned pixels only in near-lossless mode
            }
            let label = format!("{name}/{codec}");
            let dir = work.path().join(format!("{name}-{codec}"));
            let files = compress(tool, args, &native, &dir);
            match codec {
                "jpeg-extended-12" => {
                    let (mine, volumes) = ours(&files);
                    let reason = volumes
                        .iter()
                        .filter_map(|v| v["reason"].as_str())
                        .collect::<Vec<_>>()
                        .join("; ");
                    let ts = "1.2.840.10008.1.2.4.51";
                    if mine.is_empty()
                        && reason.contains(&format!("unsupported transfer syntax {ts}"))
                    {
                        reported.push(format!("{label}: {reason}"));
                    } else {
                        tally.wrong.push(format!(
                            "{label}: expected reported as unsupported ({ts}); got {} NIfTI, {volumes:?}",
                            mine.len()
                        ));
                    }
                }
                _ => check_case(&bin, &label, &dir, &files, &mut tally),
            }
        }
    }
    let total = report(&tally);
    eprintln!("(RLE, JPEG lossless SV1 and SV6, JPEG baseline, JPEG-LS lossless and near-lossless: {total} series)");
    for r in &reported {
        eprintln!("  reported, not converted: {r}");
    }
    assert_eq!(total, 23, "dcm2niix converted a different number of compressed series");
    assert!(
        tally.wrong.is_empty() && tally.gaps.is_empty(),
        "compressed series differ from dcm2niix:\n  {}",
        [&tally.wrong[..], &tally.gaps[..]].concat().join("\n  ")
    );
    assert_eq!(reported.len(), 4);
}

#[test]
fn no_planted_identifier_in_nifti_or_sidecar() {
    let work = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    for (i, spec) in series::specs().iter().enumerate() {
        inputs.extend(series::write(spec, i, &work.path().join(spec.name)));
    }
    for preset in ["mip", "basic"] {
        let export = cli::export(&inputs, DATE, &["--format", "both", "--preset", preset]);
        let entries = scan::entries(&export.zip);
        let nifti: Vec<(String, Vec<u8>)> = entries
            .iter()
            .filter(|(n, _)| n.starts_with("NIFTI/"))
            .cloned()
            .collect();
        let volumes: usize = series::specs().iter().map(|s| s.outputs()).sum();
        assert_eq!(
            nifti.iter().filter(|(n, _)| n.ends_with(".nii")).count(),
            volumes,
            "{preset}: one NIfTI per generated volume; report:\n{}",
            export.report
        );
        assert_eq!(nifti.iter().filter(|(n, _)| n.ends_with(".json")).count(), volumes);
        let mut leaks = Vec::new();
        // Nor anything of the Siemens CSA header the mosaics are read with.
        let csa = ["SV10", "SliceNormalVector", "NumberOfImagesInMosaic", "SIEMENS CSA HEADER"];
        for needle in series::PLANTED.iter().chain(&csa) {
            for (name, data) in &nifti {
                if scan::contains(data, needle.as_bytes())
                    || scan::contains(name.as_bytes(), needle.as_bytes())
                {
                    leaks.push(format!("{needle:?} in {name}"));
                }
            }
        }
        assert!(
            leaks.is_empty(),
            "{preset}: planted identifiers in the export:\n  {}",
            leaks.join("\n  ")
        );
        // The sidecars are JSON, and name the series only as the policy allows.
        for (name, data) in nifti.iter().filter(|(n, _)| n.ends_with(".json")) {
            let json: serde_json::Value =
                serde_json::from_slice(data).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
            assert_eq!(json["ConversionSoftware"], "capture");
            // An enhanced file's timing comes from its functional groups.
            if name.contains("enhanced-mr-4d") {
                assert_eq!((json["EchoTime"].as_f64(), json["RepetitionTime"].as_f64()), (Some(0.03), Some(2.0)), "{name}");
            }
            // Each echo of a multi-echo file has its own echo time.
            for (echo, te) in [("_e1", 0.03), ("_e2", 0.04), ("_e3", 0.05)] {
                if name.contains("enhanced-multi-echo") && name.ends_with(&format!("{echo}.json")) {
                    assert_eq!(json["EchoTime"].as_f64(), Some(te), "{name}");
                }
            }
            assert_eq!(
                json.get("ProtocolName").is_some(),
                preset == "mip",
                "{preset}: {name}"
            );
        }
        // DICOM and NIfTI trees side by side.
        assert!(entries.iter().any(|(n, _)| n.starts_with("DICOM/")));
    }
}

/// `--nifti-gz`: the same volumes, gzip-compressed, named `.nii.gz`, each with its `.json`;
/// the default stays `.nii`. Every generated series: a `.nii` is written as its files arrive
/// where it can be (`nifti::Output::Stream`), a `.nii.gz` always whole, so this also checks
/// that both ways give the same bytes.
#[test]
fn nifti_gz_holds_the_same_volumes() {
    use std::io::Read;
    let work = tempfile::tempdir().unwrap();
    let specs = series::specs();
    let mut inputs = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        inputs.extend(series::write(spec, i, &work.path().join(spec.name)));
    }
    let plain = scan::entries(&cli::export(&inputs, DATE, &["--format", "nifti"]).zip);
    let packed = scan::entries(&cli::export(&inputs, DATE, &["--format", "nifti", "--nifti-gz"]).zip);
    let nii: Vec<&(String, Vec<u8>)> = plain.iter().filter(|(n, _)| n.ends_with(".nii")).collect();
    let gz: Vec<&(String, Vec<u8>)> = packed.iter().filter(|(n, _)| n.ends_with(".nii.gz")).collect();
    assert_eq!(nii.len(), specs.iter().map(series::Spec::outputs).sum::<usize>(), "{plain:?}");
    assert_eq!(gz.len(), nii.len());
    for ((name, volume), (gz_name, compressed)) in nii.iter().zip(&gz) {
        assert_eq!(format!("{name}.gz"), *gz_name);
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut inflated)
            .unwrap();
        assert!(inflated == *volume, "{gz_name} does not inflate to {name}");
        let json = format!("{}.json", gz_name.trim_end_matches(".nii.gz"));
        assert!(packed.iter().any(|(n, _)| *n == json), "no {json}");
    }
    assert!(!plain.iter().any(|(n, _)| n.ends_with(".gz")));
}

/// A `.nii` is written as its files arrive (`nifti::Output::Stream`): a file that changes or
/// can no longer be read after the volume's first bytes are written stops the export with
/// the volume's path and the reason, never leaving a short volume in a zip that looks whole.
/// One lost before the volume's first bytes is reported with the volume, and the export goes
/// on (the zip is complete and readable).
#[test]
fn a_file_lost_while_its_volume_is_written_stops_the_export_with_the_reason() {
    use capture::{Job, JobError, Settings};
    let work = tempfile::tempdir().unwrap();
    let spec = &series::specs()[0];
    let files = series::write(spec, 0, work.path());
    assert!(files.len() >= 3);
    let bytes: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    // `lost(k, plan)`: the input of the k-th plan step is read back changed (its header no
    // longer the scanned one) or not at all.
    let export = |lost_step: usize, unreadable: bool| {
        let settings = Settings::from_json(r#"{"format": "nifti", "preset": "basic"}"#).unwrap();
        let mut job = Job::new(settings, cli::PASSPHRASE.as_bytes(), DATE).unwrap();
        for (file, b) in files.iter().zip(&bytes) {
            job.scan(&file.display().to_string(), b);
        }
        let mut zip = Vec::new();
        for (k, step) in job.plan().unwrap().iter().enumerate() {
            let parts = if k != lost_step {
                job.export_parts(step.input, &bytes[step.input])
            } else if unreadable {
                job.export_unreadable(step.input, "permission denied")
            } else {
                let mut changed = bytes[step.input].clone();
                let at = changed.windows(4).position(|w| w == b"ORIG").expect("ImageType ORIGINAL");
                changed[at..at + 4].copy_from_slice(b"DERI");
                job.export_parts(step.input, &changed)
            };
            match parts {
                Ok(parts) => parts.iter().for_each(|p| zip.extend_from_slice(p)),
                Err(e) => return Err(e),
            }
        }
        zip.extend(job.finish()?);
        Ok((zip, job.report()))
    };
    for unreadable in [false, true] {
        // After the first file: the export stops, naming the volume and the reason.
        match export(1, unreadable) {
            Err(JobError::VolumeIncomplete { path, why }) => {
                assert!(path.starts_with("NIFTI/") && path.ends_with(".nii"), "{path}");
                let expected = if unreadable { "permission denied" } else { "changed" };
                assert!(why.contains(expected), "{why}");
            }
            other => panic!("a volume cut after its first file must stop the export: {:?}", other.map(|r| r.1.counts)),
        }
        // The first file: the volume is not written, every file says why, the zip is whole.
        let (zip, report) = export(0, unreadable).unwrap_or_else(|e| panic!("{e}"));
        assert!(scan::entries(&zip).iter().all(|(n, _)| !n.ends_with(".nii")), "no volume may be written");
        assert_eq!(report.counts.skipped, files.len());
        assert!(report.nifti[0].reason.as_deref().is_some_and(|r| r.contains("could not be read")), "{:?}", report.nifti);
    }
    // Nothing lost: the volume is written, and every file is exported.
    let (zip, report) = export(usize::MAX, false).unwrap();
    assert_eq!(scan::entries(&zip).iter().filter(|(n, _)| n.ends_with(".nii")).count(), 1);
    assert_eq!(report.counts.exported, files.len());
}

/// `--format both`: each file's report line names its DICOM copy, whether its volume was written
/// whole or as its files arrived (the streamed volumes once named the `.nii` instead).
#[test]
fn with_both_formats_the_report_names_each_files_dicom_copy() {
    let work = tempfile::tempdir().unwrap();
    let spec = &series::specs()[0];
    let inputs = series::write(spec, 0, work.path());
    for extra in [&["--format", "both"][..], &["--format", "both", "--nifti-gz"]] {
        let export = cli::export(&inputs, DATE, extra);
        let report: serde_json::Value = serde_json::from_str(&export.report).expect("report JSON");
        let files = report["files"].as_array().expect("files");
        assert_eq!(files.len(), inputs.len());
        for file in files {
            let path = file["path"].as_str().unwrap_or_default();
            assert!(path.starts_with("DICOM/") && path.ends_with(".dcm"), "{extra:?}: {file}");
        }
        let entries = scan::entries(&export.zip);
        assert!(entries.iter().any(|(n, _)| n.starts_with("NIFTI/")), "{extra:?}: no volume written");
    }
}

/// Series that dcm2niix splits or names its own way (scouts, images of several orientations,
/// two reconstructions under one SeriesNumber, a single image): the same volumes, voxels and
/// file names (`_i<InstanceNumber>`, `a`, `b`…).
#[test]
fn split_series_match_dcm2niix_by_name() {
    let bin = dcm2niix();
    let work = tempfile::tempdir().unwrap();
    let mut tally = Tally::default();
    for (i, spec) in series::grouping_specs().iter().enumerate() {
        let dir = work.path().join(spec.name);
        let files = series::write(spec, 100 + i, &dir);
        check_case(&bin, spec.name, &dir, &files, &mut tally);
    }
    report(&tally);
    for l in tally.renamed.iter().chain(&tally.names_differ) {
        eprintln!("  NAMED OTHERWISE: {l}");
    }
    let failures = [&tally.wrong[..], &tally.gaps[..], &name_failures(&tally)[..]].concat();
    assert!(failures.is_empty(), "split series differ from dcm2niix:\n  {}", failures.join("\n  "));
    assert!(tally.agree.len() >= series::grouping_specs().len(), "{:?}", tally.agree);
}
