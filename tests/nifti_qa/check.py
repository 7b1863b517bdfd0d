#!/usr/bin/env python3
"""Issue 17's acceptance on ../shared/dcm_qa: our NIfTI export against dcm2niix, as a test.

usage: check.py DCM2NIIX CAPTURE_BIN QA_DIR WORK [--accepted FILE]
       check.py --self-test DCM2NIIX QA_DIR WORK

Runs compare.py (which converts every folder both ways and writes one file a kind of
difference: WORK/<folder>/unmatched.txt, fields.txt, suffixes.txt, diffusion.txt), then fails
on any line of them that the accepted file does not name (a line "folder<TAB>text": a
difference whose line starts with text is accepted; each accepted line says why in a comment
above it). Independently of the engine, every sidecar of ours is scanned with pydicom's reading
of the inputs: no key that names a date, time of day, person, ID, UID, institution, station or
serial number, and no string value holding an identifying value of any input file.

--self-test shows the check bites: a stand-in CLI (this file, run as `fake-capture`) exports
dcm2niix's own outputs of one folder, unchanged (the check must pass) and then broken one way at
a time (a voxel, a field, a file-name suffix, a b-vector, an AcquisitionTime key, a patient ID in
a string): each must fail.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
KINDS = ("unmatched.txt", "fields.txt", "suffixes.txt", "diffusion.txt")

# Keys no sidecar may have: what dcm2niix writes about the patient, the place, the time of day.
FORBIDDEN_KEYS = {
    "AcquisitionTime", "AcquisitionDateTime", "AcquisitionDate", "ContentTime", "SeriesTime",
    "StudyTime", "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientWeight",
    "PatientAge", "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
    "StationName", "DeviceSerialNumber", "ReferringPhysicianName", "StudyID", "AccessionNumber",
    "SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID", "SOPInstanceUID",
    "OperatorsName", "PerformingPhysicianName", "ProcedureStepDescription", "ImageComments",
}
FORBIDDEN_PATTERN = re.compile(r"(Date|DateTime|UID|Physician|Operator|Institution|Station|Serial|^Patient(?!Position))")

# Attributes whose values identify the patient, the visit or the place, read with pydicom.
IDENTIFYING = [
    "PatientName", "PatientID", "OtherPatientIDs", "PatientBirthDate", "StudyDate", "SeriesDate",
    "AcquisitionDate", "ContentDate", "StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime",
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName",
    "DeviceSerialNumber", "ReferringPhysicianName", "AccessionNumber", "StudyID", "OperatorsName",
    "PerformingPhysicianName",
]


def identifying_values(folder):
    """Identifying values (4 characters or more) of every DICOM file under folder."""
    import pydicom
    values = set()
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                ds = pydicom.dcmread(os.path.join(root, name), stop_before_pixels=True, force=True)
            except Exception:
                continue
            for keyword in IDENTIFYING:
                value = ds.get(keyword)
                parts = value if isinstance(value, (list, pydicom.multival.MultiValue)) else [value]
                for part in parts:
                    text = str(part or "").strip()
                    if keyword.endswith("Time"):
                        text = text.split(".")[0]
                    if len(text) >= 4 and text.lower() not in ("anonymous", "none", "unknown"):
                        values.add(text)
    return values


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)


def scan_sidecars(zip_path, values):
    """Each identifying key or value found in the sidecars of the zip."""
    found = []
    if not os.path.exists(zip_path):
        return found
    with zipfile.ZipFile(zip_path) as z:
        for name in z.namelist():
            if not name.endswith(".json"):
                continue
            sidecar = json.loads(z.read(name))
            for key in sidecar:
                if key in FORBIDDEN_KEYS or FORBIDDEN_PATTERN.search(key):
                    found.append(f"{os.path.basename(name)}\tkey {key}")
            for text in strings(sidecar):
                for v in values:
                    if v in text:
                        found.append(f"{os.path.basename(name)}\tvalue {v!r} in {text!r}")
    return found


def accepted(path):
    out = []
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if line and not line.startswith("#") and "\t" in line:
                    out.append(tuple(line.split("\t", 1)))
    return out


def check(dcm2niix, capture, qa, work, accepted_file=None):
    """The failures of one run: (folder, kind, line)."""
    os.makedirs(work, exist_ok=True)
    subprocess.run([sys.executable, os.path.join(HERE, "compare.py"), dcm2niix, capture, qa, work], check=True)
    allowed = accepted(accepted_file)
    failures = []
    for folder in sorted(os.listdir(qa)):
        if not os.path.isdir(os.path.join(qa, folder, "In")):
            continue
        for kind in KINDS:
            path = os.path.join(work, folder, kind)
            if not os.path.exists(path):
                continue
            for line in open(path).read().splitlines():
                if line and not any(f == folder and line.startswith(t) for f, t in allowed):
                    failures.append((folder, kind, line))
        values = identifying_values(os.path.join(qa, folder, "In"))
        for line in scan_sidecars(os.path.join(work, folder, "ours.zip"), values):
            failures.append((folder, "identifying", line))
    return failures


def fake_capture(argv):
    """Stands in for `capture export`: dcm2niix's outputs of the input, broken as FAKE_BREAK says."""
    out, src = argv[argv.index("--out") + 1], argv[-1]
    tmp = out + ".d"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    subprocess.run([os.environ["FAKE_DCM2NIIX"], "-z", "n", "-b", "y", "-ba", "n", "-f", "%s_%p", "-o", tmp, src],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    files = {n: open(os.path.join(tmp, n), "rb").read() for n in sorted(os.listdir(tmp))}
    # dcm2niix's sidecars without what ours never write (the time of day, the place).
    for name in [n for n in files if n.endswith(".json")]:
        sidecar = json.loads(files[name])
        keep = {k: v for k, v in sidecar.items() if k not in FORBIDDEN_KEYS and not FORBIDDEN_PATTERN.search(k)}
        files[name] = json.dumps(keep).encode()
    broken = os.environ.get("FAKE_BREAK", "none")
    nii = sorted(n for n in files if n.endswith(".nii"))
    if broken == "voxel":
        data = bytearray(files[nii[0]])
        data[-1] ^= 0xFF
        files[nii[0]] = bytes(data)
    elif broken == "suffix":
        files[nii[0].replace(".nii", "_x.nii")] = files.pop(nii[0])
    elif broken in ("field", "key", "identifier"):
        name = sorted(n for n in files if n.endswith(".json"))[0]
        sidecar = json.loads(files[name])
        if broken == "field":
            sidecar["EchoTime"] = sidecar.get("EchoTime", 0) * 2 + 0.01
        elif broken == "key":
            sidecar["AcquisitionTime"] = "12:00:00"
        else:
            sidecar["ProtocolName"] = "x " + os.environ["FAKE_IDENTIFIER"]
        files[name] = json.dumps(sidecar).encode()
    elif broken == "bvec":
        name = sorted(n for n in files if n.endswith(".bvec"))[0]
        files[name] = files[name].replace(b"-", b"", 1) if b"-" in files[name] else b"-" + files[name]
    with zipfile.ZipFile(out, "w") as z:
        for name, data in files.items():
            z.writestr("NIFTI/20261204/X/" + name, data)


def self_test(dcm2niix, qa, work):
    """Runs the check with the stand-in CLI on a diffusion folder: clean, then broken each way."""
    sub = os.path.join(work, "qa")
    os.makedirs(sub, exist_ok=True)
    folder = "philips_dwi"
    link = os.path.join(sub, folder)
    if not os.path.exists(link):
        os.symlink(os.path.abspath(os.path.join(qa, folder)), link)
    values = sorted(identifying_values(os.path.join(qa, folder, "In")))
    assert values, "the self-test folder has no identifying value to plant"
    fake = os.path.join(work, "fake-capture")
    with open(fake, "w") as f:
        f.write(f"#!/bin/sh\nexec {sys.executable} {os.path.abspath(__file__)} fake-capture \"$@\"\n")
    os.chmod(fake, 0o755)
    os.environ.update(FAKE_DCM2NIIX=dcm2niix, FAKE_IDENTIFIER=values[0])
    results = {}
    for broken in ("none", "voxel", "suffix", "field", "bvec", "key", "identifier"):
        os.environ["FAKE_BREAK"] = broken
        failures = check(dcm2niix, fake, sub, os.path.join(work, broken))
        results[broken] = failures
        print(f"self-test {broken}: {len(failures)} failure(s)" + "".join(f"\n  {f}" for f in failures[:3]))
    bad = [b for b, f in results.items() if (b == "none") == bool(f)]
    if bad:
        sys.exit(f"self-test FAILED: the check is wrong for: {', '.join(bad)}")
    print("self-test ok: the clean stand-in passes and each break is caught")


def main():
    args = sys.argv[1:]
    if args and args[0] == "fake-capture":
        return fake_capture(args[1:])
    if args and args[0] == "--self-test":
        return self_test(*args[1:4])
    accepted_file = args[args.index("--accepted") + 1] if "--accepted" in args else None
    failures = check(*args[:4], accepted_file)
    for folder, kind, line in failures:
        print(f"FAIL {folder} {kind}: {line}")
    counts = {}
    for folder, _, _ in failures:
        counts[folder] = counts.get(folder, 0) + 1
    print("failures per folder:", json.dumps(counts) if counts else "none")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
