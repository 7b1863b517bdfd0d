//! Dev-only measurement of the defacing engine on a NIfTI-1 file (.nii or .nii.gz, sform):
//! `cargo run --release -p capture --example deface -- in.nii.gz out_prefix [mr|ct]` prints
//! the fit's time, scale and overlap and writes out_prefix.mask (u8 per voxel, NIfTI order),
//! out_prefix_sag.pam and out_prefix_ax.pam (the previews); a 4th argument `noeyes` leaves
//! the eyes band out (pydeface's region alone).

use std::io::Read;
use std::time::Instant;

use capture::deface::{self, Grid, Modality, Volume};

fn read_nifti(path: &str) -> Volume {
    let raw = std::fs::read(path).expect("read");
    let mut bytes = Vec::new();
    if path.ends_with(".gz") {
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut bytes).expect("gunzip");
    } else {
        bytes = raw;
    }
    let i16_at = |o: usize| i16::from_le_bytes([bytes[o], bytes[o + 1]]);
    let f32_at = |o: usize| f32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let dims = [i16_at(42) as usize, i16_at(44) as usize, i16_at(46) as usize];
    let (datatype, offset) = (i16_at(70), f32_at(108) as usize);
    let (slope, inter) = (f32_at(112), f32_at(116));
    assert!(i16_at(254) > 0, "sform needed");
    let mut affine = [[0.0; 4]; 3];
    for r in 0..3 {
        for c in 0..4 {
            affine[r][c] = f32_at(280 + 16 * r + 4 * c) as f64;
        }
    }
    let n = dims[0] * dims[1] * dims[2];
    let body = &bytes[offset..];
    let value = |i: usize| -> f32 {
        match datatype {
            2 => body[i] as f32,
            4 => i16::from_le_bytes([body[2 * i], body[2 * i + 1]]) as f32,
            512 => u16::from_le_bytes([body[2 * i], body[2 * i + 1]]) as f32,
            16 => f32::from_le_bytes(body[4 * i..4 * i + 4].try_into().unwrap()),
            64 => f64::from_le_bytes(body[8 * i..8 * i + 8].try_into().unwrap()) as f32,
            d => panic!("datatype {d}"),
        }
    };
    let (slope, inter) = if slope == 0.0 { (1.0, 0.0) } else { (slope, inter) };
    let data = (0..n).map(|i| value(i) * slope + inter).collect();
    Volume { grid: Grid { dims, affine }, data }
}

fn write_pam(path: String, p: &deface::Picture) {
    let mut out = format!("P7\nWIDTH {}\nHEIGHT {}\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n", p.width, p.height).into_bytes();
    out.extend_from_slice(&p.rgba);
    std::fs::write(path, out).expect("write");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let volume = read_nifti(&args[1]);
    let modality = if args.get(3).map(String::as_str) == Some("ct") { Modality::Ct } else { Modality::Mr };
    let start = Instant::now();
    let fit = deface::fit(&volume, modality);
    let fitted = start.elapsed();
    let mut fit = match fit {
        Ok(f) => f,
        Err(e) => {
            println!("{}: {e} ({:.2} s)", args[1], fitted.as_secs_f64());
            return;
        }
    };
    fit.eyes = args.get(4).map(String::as_str) != Some("noeyes");
    let mask = fit.mask(&volume.grid);
    let masked = start.elapsed();
    let previews = deface::previews(&volume, &mask);
    let total = start.elapsed();
    println!(
        "{}: dims {:?} fit {:.2} s, mask {:.2} s, previews {:.2} s; scale {:.3?} overlap {:.3}; {} voxels",
        args[1], volume.grid.dims, fitted.as_secs_f64(), (masked - fitted).as_secs_f64(),
        (total - masked).as_secs_f64(), fit.scale, fit.overlap, previews.voxels
    );
    std::fs::write(format!("{}.mask", args[2]), mask.iter().map(|&m| m as u8).collect::<Vec<_>>()).expect("write");
    write_pam(format!("{}_sag.pam", args[2]), &previews.sagittal);
    write_pam(format!("{}_ax.pam", args[2]), &previews.axial);
}
