#!/usr/bin/env python3
"""Issue 17's baseline: our NIfTI export against dcm2niix on ../shared/dcm_qa, folder by folder.

usage: compare.py DCM2NIIX CAPTURE_BIN QA_DIR WORK_DIR

For each folder: dcm2niix (-z n -b y -ba y) and `capture export --format nifti` convert its In/;
each dcm2niix volume is matched with ours by dimensions, sform (1e-4 mm) and voxel bytes; for the
matched pairs the BIDS fields issue 17 lists are compared (numbers within 1e-3 relative), and the
file-name suffixes (dcm2niix's `%s_%p` name less series number and protocol name, e.g. `_e2_ph`;
ours less series number and name, and less a `_<n>` copy number where the name was removed);
.bval files are counted on both sides, and the .bval/.bvec of matched volumes compared (b within
0.5, vector components within 1e-3, as dcm2niix writes them: no sign flips allowed). Prints one
row a folder; WORK/<folder>/unmatched.txt lists the dcm2niix volumes without an exact match,
WORK/<folder>/fields.txt each field that differs, WORK/<folder>/suffixes.txt each matched volume
whose suffix differs, WORK/<folder>/diffusion.txt each .bval/.bvec that differs. Pure Python (no numpy): NIfTI-1 read
by hand. A measurement, not a test: it never fails on a difference.
"""
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile

FIELDS = [
    "SliceTiming", "PhaseEncodingDirection", "PhaseEncodingAxis", "EffectiveEchoSpacing",
    "TotalReadoutTime", "ParallelReductionFactorInPlane", "MultibandAccelerationFactor",
    "EchoTrainLength", "AcquisitionMatrixPE", "ReconMatrixPE", "BandwidthPerPixelPhaseEncode",
    "PartialFourier", "Manufacturer", "ImageType", "EchoTime", "RepetitionTime", "FlipAngle",
    "MagneticFieldStrength", "SliceThickness",
]


def read_nifti(data):
    """(dims, datatype, sform rows, sha256 of the voxel bytes) of an uncompressed NIfTI-1."""
    dims = struct.unpack_from("<8h", data, 40)
    datatype = struct.unpack_from("<h", data, 70)[0]
    vox_offset = int(struct.unpack_from("<f", data, 108)[0])
    srow = struct.unpack_from("<12f", data, 280)
    return dims[1:1 + dims[0]], datatype, srow, hashlib.sha256(data[vox_offset:]).hexdigest()


def same_number(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-3 * max(abs(a), abs(b), 1e-9)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_number(x, y) for x, y in zip(a, b))
    return a == b


def dcm2niix(exe, src, out):
    # A fresh folder: dcm2niix names a second run's outputs `…a.nii`, `…b.nii`.
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    subprocess.run([exe, "-z", "n", "-b", "y", "-ba", "y", "-f", "%s_%p", "-o", out, src],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    files = {}
    for name in os.listdir(out):
        with open(os.path.join(out, name), "rb") as f:
            files[name] = f.read()
    return files


def capture(exe, src, work):
    secret = os.path.join(work, "secret.txt")
    with open(secret, "w") as f:
        f.write("nifti qa\n")
    out = os.path.join(work, "ours.zip")
    subprocess.run([exe, "export", "--format", "nifti", "--preset", "basic", "--out", out,
                    "--export-date", "20261204", "--secret-file", secret, src],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not os.path.exists(out):
        return {}
    with zipfile.ZipFile(out) as z:
        return {os.path.basename(n): z.read(n) for n in z.namelist() if not n.endswith("/")}


def sidecar(files, nii_name):
    for ext in (".nii",):
        stem = nii_name[: -len(ext)]
        if stem + ".json" in files:
            return json.loads(files[stem + ".json"])
    return {}


def our_sanitise(name):
    """plan.rs `sanitise`: ASCII letters, digits and `-` kept, runs of others one `_`, trimmed."""
    out = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9-]", "_", name)).lstrip("_")
    return out.rstrip("_")[:64]


def ref_suffix(name, want):
    """dcm2niix's suffix: its `%s_%p` stem less `<series>_` and the protocol name (dcm2niix
    replaces characters one for one, so its length is the protocol name's)."""
    stem = name[: -len(".nii")]
    series = stem.split("_", 1)[0]
    protocol = want.get("ProtocolName") or want.get("SeriesDescription") or ""
    rest = stem[len(series):]
    return rest[1 + len(protocol):] if protocol and rest.startswith("_") else rest


def our_suffix(name, want, ours):
    """Our suffix: the stem less the series number, our form of the name when kept, and a
    `_<n>` copy number when the stem without it is also ours (two series, one name)."""
    stem = name[: -len(".nii")]
    base = re.sub(r"_\d+$", "", stem)
    if base != stem and base + ".nii" in ours:
        stem = base
    series = stem.split("_", 1)[0]
    rest = stem[len(series):]
    for field in ("ProtocolName", "SeriesDescription"):
        kept = our_sanitise(want.get(field) or "")
        if kept and rest.startswith("_" + kept):
            return rest[1 + len(kept):]
    return rest


def read_table(files, nii_name, ext):
    """The rows of numbers of a .bval/.bvec beside `nii_name`, or None."""
    name = nii_name[: -len(".nii")] + ext
    if name not in files:
        return None
    return [[float(x) for x in line.split()] for line in files[name].decode().splitlines() if line.strip()]


def same_table(want, got, tolerance):
    if want is None or got is None:
        return want is None and got is None
    return len(want) == len(got) and all(
        len(a) == len(b) and all(abs(x - y) <= tolerance for x, y in zip(a, b)) for a, b in zip(want, got))


def compare_diffusion(ref, ours, name, ours_name, counts, diffs):
    """Counts equal .bval and .bvec of one matched pair ([bval equal, bvec equal, with either])."""
    for i, (ext, tolerance) in enumerate(((".bval", 0.5), (".bvec", 1e-3))):
        want, got = read_table(ref, name, ext), read_table(ours, ours_name, ext)
        if want is None and got is None:
            continue
        counts[2 + i] += 1
        if same_table(want, got, tolerance):
            counts[i] += 1
        else:
            diffs.append(f"{name}\t{ext}\twant {want}\tgot {got}")


def compare(ref, ours):
    vols_ref = {n: read_nifti(d) for n, d in ref.items() if n.endswith(".nii")}
    vols_ours = {n: read_nifti(d) for n, d in ours.items() if n.endswith(".nii")}
    matched, geometry_only, fields_equal, fields_total = 0, 0, 0, 0
    missing, differ, suffixes = [], [], []
    diffusion, diffusion_counts = [], [0, 0, 0, 0]
    for name, (dims, _, srow, digest) in sorted(vols_ref.items()):
        same_geometry = [o for o, (d2, _, s2, _) in vols_ours.items()
                         if d2 == dims and all(abs(a - b) <= 1e-4 for a, b in zip(srow, s2))]
        exact = [o for o in same_geometry if vols_ours[o][3] == digest]
        if not exact:
            (geometry_only := geometry_only + 1) if same_geometry else None
            missing.append(name)
            continue
        matched += 1
        # Series with the same voxels (GE's multiphase series differ only in their delay):
        # the one of the same series number first.
        exact.sort(key=lambda o: re.match(r"\d*", o).group() != re.match(r"\d*", name).group())
        compare_diffusion(ref, ours, name, exact[0], diffusion_counts, diffusion)
        want, got = sidecar(ref, name), sidecar(ours, exact[0])
        expected, found = ref_suffix(name, want), our_suffix(exact[0], want, vols_ours)
        if expected != found:
            suffixes.append(f"{name}\t{exact[0]}\twant {expected!r}\tgot {found!r}")
        for field in FIELDS:
            if field in want:
                fields_total += 1
                same = same_number(want[field], got.get(field))
                fields_equal += same
                if not same:
                    differ.append(f"{name}\t{field}\twant {json.dumps(want[field])}\tgot {json.dumps(got.get(field))}")
    bvals = (sum(n.endswith(".bval") for n in ref), sum(n.endswith(".bval") for n in ours))
    return (len(vols_ref), len(vols_ours), matched, geometry_only, fields_equal, fields_total, bvals, missing, differ,
            suffixes, diffusion_counts, diffusion)


def main():
    exe, capture_bin, qa, work = sys.argv[1:5]
    print("| folder | dcm2niix volumes | ours | matched | same geometry, other voxels | fields equal | .bval dcm2niix / ours"
          " | suffix differs | bval equal | bvec equal |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    totals = [0, 0, 0, 0, 0, 0, 0]
    for folder in sorted(os.listdir(qa)):
        src = os.path.join(qa, folder, "In")
        if not os.path.isdir(src):
            continue
        out = os.path.join(work, folder)
        ref = dcm2niix(exe, src, os.path.join(out, "ref"))
        ours = capture(capture_bin, src, out)
        n_ref, n_ours, matched, geom, feq, ftot, bvals, missing, differ, suffixes, dc, diffusion = compare(ref, ours)
        print(f"| {folder} | {n_ref} | {n_ours} | {matched} | {geom} | {feq}/{ftot} | {bvals[0]} / {bvals[1]}"
              f" | {len(suffixes)} | {dc[0]}/{dc[2]} | {dc[1]}/{dc[3]} |")
        for i, v in enumerate((n_ref, n_ours, matched, geom, feq, ftot, len(suffixes))):
            totals[i] += v
        with open(os.path.join(out, "unmatched.txt"), "w") as f:
            f.write("\n".join(missing) + "\n")
        with open(os.path.join(out, "fields.txt"), "w") as f:
            f.write("\n".join(differ) + "\n")
        with open(os.path.join(out, "suffixes.txt"), "w") as f:
            f.write("\n".join(suffixes) + "\n")
        with open(os.path.join(out, "diffusion.txt"), "w") as f:
            f.write("\n".join(diffusion) + "\n")
    print(f"| all | {totals[0]} | {totals[1]} | {totals[2]} | {totals[3]} | {totals[4]}/{totals[5]} | | {totals[6]} | | |")


if __name__ == "__main__":
    main()
