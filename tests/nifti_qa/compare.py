#!/usr/bin/env python3
"""Issue 17's baseline: our NIfTI export against dcm2niix on ../shared/dcm_qa, folder by folder.

usage: compare.py DCM2NIIX CAPTURE_BIN QA_DIR WORK_DIR

For each folder: dcm2niix (-z n -b y -ba y) and `capture export --format nifti` convert its In/;
each dcm2niix volume is matched with ours by dimensions, sform (1e-4 mm) and voxel bytes; for the
matched pairs the BIDS fields issue 17 lists are compared (numbers within 1e-3 relative); .bval
files are counted on both sides. Prints one row a folder; WORK/<folder>/unmatched.txt lists
the dcm2niix volumes without an exact match, WORK/<folder>/fields.txt each field that differs. Pure Python (no numpy): NIfTI-1 read
by hand. A measurement, not a test: it never fails on a difference.
"""
import hashlib
import json
import os
import re
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
    os.makedirs(out, exist_ok=True)
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


def compare(ref, ours):
    vols_ref = {n: read_nifti(d) for n, d in ref.items() if n.endswith(".nii")}
    vols_ours = {n: read_nifti(d) for n, d in ours.items() if n.endswith(".nii")}
    matched, geometry_only, fields_equal, fields_total = 0, 0, 0, 0
    missing, differ = [], []
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
        want, got = sidecar(ref, name), sidecar(ours, exact[0])
        for field in FIELDS:
            if field in want:
                fields_total += 1
                same = same_number(want[field], got.get(field))
                fields_equal += same
                if not same:
                    differ.append(f"{name}\t{field}\twant {json.dumps(want[field])}\tgot {json.dumps(got.get(field))}")
    bvals = (sum(n.endswith(".bval") for n in ref), sum(n.endswith(".bval") for n in ours))
    return len(vols_ref), len(vols_ours), matched, geometry_only, fields_equal, fields_total, bvals, missing, differ


def main():
    exe, capture_bin, qa, work = sys.argv[1:5]
    print("| folder | dcm2niix volumes | ours | matched | same geometry, other voxels | fields equal | .bval dcm2niix / ours |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    totals = [0, 0, 0, 0, 0, 0]
    for folder in sorted(os.listdir(qa)):
        src = os.path.join(qa, folder, "In")
        if not os.path.isdir(src):
            continue
        out = os.path.join(work, folder)
        ref = dcm2niix(exe, src, os.path.join(out, "ref"))
        ours = capture(capture_bin, src, out)
        n_ref, n_ours, matched, geom, feq, ftot, bvals, missing, differ = compare(ref, ours)
        print(f"| {folder} | {n_ref} | {n_ours} | {matched} | {geom} | {feq}/{ftot} | {bvals[0]} / {bvals[1]} |")
        for i, v in enumerate((n_ref, n_ours, matched, geom, feq, ftot)):
            totals[i] += v
        with open(os.path.join(out, "unmatched.txt"), "w") as f:
            f.write("\n".join(missing) + "\n")
        with open(os.path.join(out, "fields.txt"), "w") as f:
            f.write("\n".join(differ) + "\n")
    print(f"| all | {totals[0]} | {totals[1]} | {totals[2]} | {totals[3]} | {totals[4]}/{totals[5]} | |")


if __name__ == "__main__":
    main()
