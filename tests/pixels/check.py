#!/usr/bin/env python3
"""Issue 18's acceptance: the Clean Pixel Data Option checked independently, with Tesseract OCR.

usage: check.py CAPTURE_BIN SET WORK [--rules FILE]
       check.py --without-option CAPTURE_BIN SET WORK
       check.py --self-test SET WORK

SET is make_set.py's folder (the .dcm files and truth.json). The first form runs
`CAPTURE_BIN export --option clean-pixel-data` on every file of SET, then checks, with pydicom,
numpy and Tesseract only (nothing of the engine):
  (a) held-back   every input is exported (report files[].outcome == "exported");
  (b) ocr         no token (4 characters or more, case and diacritics folded) of any planted
                  identifier is read by Tesseract on the exported frames (first, middle and last
                  of a multi-frame; frames up to 1100 px upscaled 2x first);
  (c) pixels      every pixel outside the report's boxes (files[].redaction.boxes) equals the
                  input's decoded pixel (YBR inputs: pydicom's RGB; exact, but for lossy JPEG
                  inputs the luma within 3: decoders differ in chroma upsampling), and the
                  shapes agree;
      fill        every pixel inside the boxes is black (0; for MONOCHROME1 its highest value);
  (d) box         every planted identifier's ink box is inside the union of the report's boxes;
  (e) header      BurnedInAnnotation NO, 113101 in DeidentificationMethodCodeSequence, transfer
                  syntax Explicit VR Little Endian;
  (f) header-identifier  no planted identifier's value anywhere in the exported header (every
                  element, any depth, the file meta too), folded.
It prints a table (file, frames, boxes, OCR tokens found, failures) and exits non-zero on any
failure.

--without-option exports the same set without the option: every file must be held back
(quarantined, code burned-in or risky-sop-class), as before the issue.

--self-test shows that the checks bite without our engine: Tesseract must read most planted
identifiers on the ORIGINAL frames (the figure is printed; under 75 % the OCR check proves
nothing and the self-test fails); a stand-in CLI (written into WORK) that blacks out the truth's
boxes itself must pass; then, broken one way at a time, it must fail with the expected kind: an
identifier box left unfilled (ocr), a pixel outside the boxes changed (pixels), a file held back
(held-back), BurnedInAnnotation left YES (header), the patient's name left in the header
(header-identifier).
"""
import concurrent.futures
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import time
import unicodedata
import zipfile

import numpy as np
import pydicom
from PIL import Image, ImageFilter

EXPLICIT_LE = "1.2.840.10008.1.2.1"
LOSSY = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.91"}
HELD_BACK_CODES = {"burned-in", "risky-sop-class"}
EXPORT_DATE = "20260101"

# Letters NFKD does not split into a base letter and a mark.
FOLD = str.maketrans({"ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "æ": "ae", "Æ": "ae", "ß": "ss", "đ": "d", "ı": "i"})


def fold(text):
    """Lower case, no diacritics, every run of other characters one space."""
    text = unicodedata.normalize("NFKD", str(text).translate(FOLD))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def tokens(identifier):
    """The identifier's tokens of 4 characters or more: each word whole (folded, joined) and its parts."""
    texts = identifier.get("frameTexts") or [identifier["text"]]
    out = set()
    for text in texts:
        for word in text.split():
            parts = fold(word).split()
            for t in ["".join(parts)] + parts:
                if len(t) >= 4:
                    out.add(t)
    return out


def header_values(truth_file):
    """Folded, joined values no exported header may hold: the planted identifiers whole, the
    header's identifying values whole, and the names' words (4 letters or more)."""
    values = set()
    for ident in truth_file["identifiers"]:
        if ident["kind"] == "time-stamp":
            continue
        values.add(fold(ident["text"]).replace(" ", ""))
        if ident["kind"] == "patient-name":
            values.update(w for w in fold(ident["text"]).split() if len(w) >= 4 and not w.isdigit())
    for value in truth_file["header"].values():
        values.add(fold(value).replace(" ", ""))
    return {v for v in values if len(v) >= 4}


# ---------------------------------------------------------------- pixels

def decoded(ds):
    """(frames, rows, cols, samples) as pydicom decodes it, YBR converted to RGB."""
    arr = pydicom.pixels.pixel_array(ds, as_rgb=True)
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    samples = int(ds.SamplesPerPixel)
    return arr.reshape(frames, int(ds.Rows), int(ds.Columns), samples)


def coverage(boxes, rows, cols):
    mask = np.zeros((rows, cols), bool)
    for b in boxes:
        x, y = max(0, int(b["x"])), max(0, int(b["y"]))
        mask[y:min(rows, y + int(b["height"])), x:min(cols, x + int(b["width"]))] = True
    return mask


def display(frame, ds):
    """An 8-bit grey image of one frame as a viewer shows it (full stored range; MONOCHROME1
    inverted). Deeper than 8 bits, the local contrast only (the frame minus its 31x31 mean, in
    absolute value): Tesseract's global threshold cannot part text from a radiograph's
    background, which spans the same grey levels."""
    if frame.shape[-1] == 3:
        return np.asarray(Image.fromarray(frame.astype(np.uint8)).convert("L"))
    grey = frame[..., 0].astype(np.float64)
    top = float((1 << int(ds.BitsStored)) - 1)
    grey = np.clip(grey * 255.0 / top, 0, 255)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        grey = 255 - grey
    if int(ds.BitsStored) <= 8:
        return grey.astype(np.uint8)
    image = Image.fromarray(grey.astype(np.uint8))
    local = np.abs(grey - np.asarray(image.filter(ImageFilter.BoxBlur(15)), np.float64))
    return np.clip(local * 255.0 / max(1.0, local.max()), 0, 255).astype(np.uint8)


def ocr_frames(frames_count):
    return sorted({0, frames_count // 2, frames_count - 1})


OCR_CACHE = {}


def ocr(image, work):
    """Tesseract's words on an 8-bit grey image (upscaled 2x up to 1100 px)."""
    h, w = image.shape
    scale = 2 if max(h, w) <= 1100 else 1
    png = Image.fromarray(image)
    if scale > 1:
        png = png.resize((w * scale, h * scale), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    png.save(buf, "PNG")
    key = hashlib.sha256(buf.getvalue()).hexdigest()
    if key not in OCR_CACHE:
        path = os.path.join(work, f"ocr-{key[:16]}.png")
        with open(path, "wb") as f:
            f.write(buf.getvalue())
        out = subprocess.run(["tesseract", path, "stdout", "--psm", "11", "-l", "eng"], capture_output=True,
                             env=dict(os.environ, OMP_THREAD_LIMIT="1"))
        os.remove(path)
        if out.returncode != 0:
            raise RuntimeError(f"tesseract failed: {out.stderr.decode(errors='replace')}")
        OCR_CACHE[key] = out.stdout.decode("utf-8", errors="replace").split()
    return OCR_CACHE[key]


def read_tokens(words, wanted):
    """The wanted tokens that one of the OCR words contains (words folded and joined)."""
    joined = ["".join(fold(w).split()) for w in words]
    return sorted(t for t in wanted if any(t in w for w in joined))


def ocr_many(jobs, work):
    """OCR of many images at once (two at a time per core): results in order."""
    workers = max(1, min(4, os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda image: ocr(image, work), jobs))


# ---------------------------------------------------------------- the check

def run_cli(capture, files, work, extra):
    secret = os.path.join(work, "secret.txt")
    with open(secret, "w") as f:
        f.write("correct horse battery staple 2026\n")
    out, report = os.path.join(work, "out.zip"), os.path.join(work, "report.json")
    for p in (out, report):
        if os.path.exists(p):
            os.remove(p)
    cmd = [capture, "export", "--out", out, "--report", report, "--secret-file", secret,
           "--export-date", EXPORT_DATE] + extra + files
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0 or not os.path.exists(report):
        return None, None, f"`{' '.join(cmd[:12])} …` failed ({run.returncode}): {run.stderr.strip()[-1500:]}"
    with open(report) as f:
        entries = {os.path.basename(e["name"]): e for e in json.load(f)["files"]}
    return entries, out, None


def header_failures(ds, values):
    """(e) and (f) on one exported data set."""
    fails = []
    if ds.get("BurnedInAnnotation") != "NO":
        fails.append(("header", f"BurnedInAnnotation is {ds.get('BurnedInAnnotation')!r}, not 'NO'"))
    codes = [str(item.get("CodeValue", "")) for item in ds.get("DeidentificationMethodCodeSequence", [])]
    if "113101" not in codes:
        fails.append(("header", f"113101 not in DeidentificationMethodCodeSequence {codes}"))
    ts = str(ds.file_meta.get("TransferSyntaxUID", ""))
    if ts != EXPLICIT_LE:
        fails.append(("header", f"transfer syntax {ts}, not Explicit VR Little Endian"))
    elements = list(ds.file_meta.iterall()) + list(ds.iterall())
    for elem in elements:
        if elem.tag == 0x7FE00010 or elem.VR == "SQ":
            continue
        value = elem.value
        items = value if isinstance(value, (list, pydicom.multival.MultiValue)) else [value]
        for item in items:
            if isinstance(item, bytes):
                item = item.decode("latin-1")
            text = fold(item).replace(" ", "")
            for v in values:
                if v in text:
                    fails.append(("header-identifier", f"{elem.keyword or elem.tag}: {v!r} in {str(item)[:60]!r}"))
    return fails


def pixel_failures(ds_in, ds_out, boxes, truth_file, ts_in):
    """(c), fill and (d) on one image."""
    fails = []
    a_in, a_out = decoded(ds_in), decoded(ds_out)
    if a_in.shape != a_out.shape:
        return [("pixels", f"shape {a_out.shape} differs from the input's {a_in.shape}")], a_out
    mask = coverage(boxes, a_in.shape[1], a_in.shape[2])
    if ts_in in LOSSY:
        # JPEG decoders differ in chroma upsampling (up to 16 in R, G or B at colour edges
        # between libjpeg's fancy upsampling and others): compare the luma, within 3.
        weights = np.array([0.299, 0.587, 0.114]) if a_in.shape[3] == 3 else np.array([1.0])
        diff = np.abs((a_in * weights).sum(axis=3) - (a_out * weights).sum(axis=3)) > 3
    else:
        diff = (a_in != a_out).any(axis=3)
    outside = diff & ~mask[None]
    if outside.any():
        f, r, c = np.argwhere(outside)[0]
        fails.append(("pixels", f"{int(outside.sum())} pixel(s) outside the boxes changed (first: frame {f} row {r} column {c})"))
    black = (1 << int(ds_out.BitsStored)) - 1 if ds_out.PhotometricInterpretation == "MONOCHROME1" else 0
    inside = (a_out != black).any(axis=3) & mask[None]
    if inside.any():
        f, r, c = np.argwhere(inside)[0]
        fails.append(("fill", f"{int(inside.sum())} pixel(s) inside the boxes not black ({black}) (first: frame {f} row {r} column {c})"))
    for ident in truth_file["identifiers"]:
        b = ident["box"]
        if not mask[b["y"]:b["y"] + b["height"], b["x"]:b["x"] + b["width"]].all():
            fails.append(("box", f"{ident['kind']} {ident['text'][:30]!r} at {b} not inside the boxes"))
    return fails, a_out


def check(capture, set_dir, work, extra=()):
    """The failures [(file, kind, text)] and the table rows of one export with the option."""
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(set_dir, "truth.json")) as f:
        truth = json.load(f)
    files = [os.path.abspath(os.path.join(set_dir, n)) for n in sorted(truth)]
    entries, zip_path, error = run_cli(capture, files, work, ["--option", "clean-pixel-data"] + list(extra))
    if error:
        return [("*", "cli", error)], []
    failures, rows, jobs = [], {}, []
    z = zipfile.ZipFile(zip_path)
    for name in sorted(truth):
        t = truth[name]
        entry = entries.get(name)
        rows[name] = {"frames": t["frames"], "boxes": "-", "ocr": []}
        if not entry or entry.get("outcome") != "exported":
            why = entry and f"{entry.get('outcome')} ({entry.get('code')}: {entry.get('reason')})"
            failures.append((name, "held-back", f"not exported: {why or 'not in the report'}"))
            continue
        ds_in = pydicom.dcmread(os.path.join(set_dir, name))
        ds_out = pydicom.dcmread(io.BytesIO(z.read(entry["path"])))
        boxes = (entry.get("redaction") or {}).get("boxes", [])
        rows[name]["boxes"] = len(boxes)
        fails = header_failures(ds_out, header_values(t))
        pix, a_out = pixel_failures(ds_in, ds_out, boxes, t, str(ds_in.file_meta.TransferSyntaxUID))
        failures += [(name, kind, text) for kind, text in fails + pix]
        wanted = set().union(*(tokens(i) for i in t["identifiers"]))
        for f in ocr_frames(a_out.shape[0]):
            jobs.append((name, f, display(a_out[f], ds_out), wanted))
    for (name, f, _, wanted), words in zip(jobs, ocr_many([j[2] for j in jobs], work)):
        found = read_tokens(words, wanted)
        rows[name]["ocr"] += found
        if found:
            failures.append((name, "ocr", f"frame {f}: Tesseract reads {found}"))
    return failures, rows


def print_table(rows, failures):
    print(f"{'file':<16}{'frames':>7}{'boxes':>7}  {'OCR tokens found':<30} failures")
    for name, row in rows.items():
        kinds = sorted({k for n, k, _ in failures if n == name})
        print(f"{name:<16}{row['frames']:>7}{row['boxes']!s:>7}  {(' '.join(sorted(set(row['ocr']))) or '-'):<30} {' '.join(kinds) or '-'}")


def without_option(capture, set_dir, work):
    """Every file held back (burned-in or risky-sop-class) when the option is not given."""
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(set_dir, "truth.json")) as f:
        truth = json.load(f)
    files = [os.path.abspath(os.path.join(set_dir, n)) for n in sorted(truth)]
    entries, _, error = run_cli(capture, files, work, [])
    if error:
        return [("*", "cli", error)]
    failures = []
    for name in sorted(truth):
        e = entries.get(name) or {}
        print(f"{name:<16} {e.get('outcome')} {e.get('code')}")
        if e.get("outcome") != "quarantined" or e.get("code") not in HELD_BACK_CODES:
            failures.append((name, "exported", f"{e.get('outcome')} ({e.get('code')}), not held back"))
    return failures


# ---------------------------------------------------------------- the self-test

FAKE = r'''#!/usr/bin/env python3
"""Stand-in for `capture export --option clean-pixel-data`, written by check.py --self-test: blacks
out truth.json's identifier boxes (padded by 2 px) on every frame, writes native Explicit VR LE,
and breaks one thing as FAKE_BREAK says."""
import io, json, os, sys, zipfile
import numpy as np, pydicom
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

args = sys.argv[2:]
out, report = args[args.index("--out") + 1], args[args.index("--report") + 1]
files = [a for a in args if a.endswith(".dcm")]
truth = json.load(open(os.environ["FAKE_TRUTH"]))
brk, skip = os.environ.get("FAKE_BREAK", "none"), os.environ.get("FAKE_SKIP", "")
entries = []
with zipfile.ZipFile(out, "w") as z:
    for i, path in enumerate(files):
        name = os.path.basename(path)
        if brk == "held-back" and i == 0:
            entries.append({"name": path, "size": 0, "outcome": "quarantined", "reason": "burned-in text", "code": "burned-in"})
            continue
        ds = pydicom.dcmread(path)
        arr = pydicom.pixels.pixel_array(ds, as_rgb=True)
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        arr = arr.reshape(frames, int(ds.Rows), int(ds.Columns), int(ds.SamplesPerPixel)).copy()
        mono1 = ds.PhotometricInterpretation == "MONOCHROME1"
        black = (1 << int(ds.BitsStored)) - 1 if mono1 else 0
        boxes = []
        for k, ident in enumerate(truth[name]["identifiers"]):
            if brk == "unfilled" and f"{name}:{k}" == skip:
                continue
            b = ident["box"]
            x, y = max(0, b["x"] - 2), max(0, b["y"] - 2)
            w, h = min(ds.Columns, b["x"] + b["width"] + 2) - x, min(ds.Rows, b["y"] + b["height"] + 2) - y
            arr[:, y:y + h, x:x + w] = black
            boxes.append({"x": x, "y": y, "width": w, "height": h})
        if brk == "pixel" and i == len(files) - 1:
            arr[-1, ds.Rows // 2, ds.Columns // 2, 0] ^= 1
        photometric = "RGB" if str(ds.PhotometricInterpretation).startswith("YBR") else str(ds.PhotometricInterpretation)
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        for kw in ("PatientBirthDate", "InstitutionName", "AccessionNumber", "LossyImageCompression"):
            if kw in ds:
                delattr(ds, kw)
        ds.PatientName = truth[name]["header"]["PatientName"] if brk == "header-name" else "ANON^X"
        ds.PatientID = f"P{i:04d}"
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20260101"
        ds.BurnedInAnnotation = "YES" if brk == "bia" else "NO"
        codes = []
        for value in ("113100", "113101"):
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", "option"
            codes.append(item)
        ds.DeidentificationMethodCodeSequence = codes
        arr = arr[..., 0] if arr.shape[-1] == 1 else arr
        ds.set_pixel_data(arr[0] if frames == 1 else arr, photometric, int(ds.BitsStored))
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        zpath = f"DICOM/20260101/X{i:02d}/0001.dcm"
        z.writestr(zpath, buf.getvalue())
        entries.append({"name": path, "size": os.path.getsize(path), "outcome": "exported", "path": zpath,
                        "redaction": {"boxes": boxes, "frames": frames, "rules": [], "detected": 0, "accepted": False}})
json.dump({"files": entries}, open(report, "w"), indent=1)
'''

BREAKS = {"none": None, "unfilled": "ocr", "pixel": "pixels", "held-back": "held-back", "bia": "header",
          "header-name": "header-identifier"}


def originals_readable(set_dir, truth, work):
    """Per identifier, the tokens Tesseract reads on the original frames; prints the figure."""
    jobs = []
    for name in sorted(truth):
        ds = pydicom.dcmread(os.path.join(set_dir, name))
        arr = decoded(ds)
        for f in ocr_frames(arr.shape[0]):
            jobs.append((name, display(arr[f], ds)))
    words = {}
    for (name, _), w in zip(jobs, ocr_many([j[1] for j in jobs], work)):
        words.setdefault(name, []).extend(w)
    read, all_tokens, got_tokens = {}, 0, 0
    for name in sorted(truth):
        for k, ident in enumerate(truth[name]["identifiers"]):
            wanted = tokens(ident)
            found = read_tokens(words[name], wanted)
            all_tokens, got_tokens = all_tokens + len(wanted), got_tokens + len(found)
            read[f"{name}:{k}"] = (ident, wanted, found)
    n = len(read)
    readable = sum(1 for _, _, found in read.values() if found)
    print(f"self-test: OCR on the original frames reads {readable}/{n} planted identifiers "
          f"(at least one token each), {got_tokens}/{all_tokens} tokens")
    for key, (ident, wanted, found) in read.items():
        if not found:
            print(f"  unread: {key} {ident['kind']} {ident['text'][:40]!r} (size {ident['size']})")
    return read, readable / n


def self_test(set_dir, work):
    os.makedirs(work, exist_ok=True)
    truth_path = os.path.join(set_dir, "truth.json")
    with open(truth_path) as f:
        truth = json.load(f)
    read, fraction = originals_readable(set_dir, truth, work)
    problems = []
    if fraction < 0.75:
        problems.append(f"OCR reads only {fraction:.0%} of the planted identifiers on the originals")
    # The unfilled box: a patient name Tesseract reads whole on its original.
    skip = next((k for k, (i, wanted, found) in read.items() if i["kind"] == "patient-name" and found == sorted(wanted)),
                next(k for k, (_, _, found) in read.items() if found))
    fake = os.path.join(work, "fake-capture")
    with open(fake, "w") as f:
        f.write(FAKE)
    os.chmod(fake, 0o755)
    wrapper = os.path.join(work, "fake-capture.sh")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\nexec {sys.executable} {fake} \"$@\"\n")
    os.chmod(wrapper, 0o755)
    os.environ.update(FAKE_TRUTH=truth_path, FAKE_SKIP=skip)
    print(f"self-test: the 'unfilled' break leaves {skip} ({read[skip][0]['text']!r}) unfilled")
    for brk, expected in BREAKS.items():
        os.environ["FAKE_BREAK"] = brk
        failures, _ = check(wrapper, set_dir, os.path.join(work, brk))
        kinds = sorted({k for _, k, _ in failures})
        print(f"self-test {brk}: {len(failures)} failure(s) {kinds}" + "".join(f"\n  {x}" for x in failures[:4]))
        if expected is None and failures:
            problems.append("the clean stand-in fails")
        if expected is not None and expected not in kinds:
            problems.append(f"break '{brk}' is not caught as {expected}")
    if problems:
        sys.exit("self-test FAILED: " + "; ".join(problems))
    print("self-test ok: OCR reads the originals, the clean stand-in passes and each break is caught")


def main():
    args = sys.argv[1:]
    start = time.time()
    if args and args[0] == "--self-test":
        self_test(*args[1:3])
    elif args and args[0] == "--without-option":
        failures = without_option(*args[1:4])
        for name, kind, text in failures:
            print(f"FAIL {name} {kind}: {text}")
        print(f"without the option: {len(failures)} failure(s)")
        sys.exit(1 if failures else 0)
    else:
        if len(args) < 3:
            sys.exit(__doc__)
        extra = ["--pixel-rules", args[args.index("--rules") + 1]] if "--rules" in args else []
        failures, rows = check(*args[:3], extra)
        print_table(rows, failures)
        for name, kind, text in failures:
            print(f"FAIL {name} {kind}: {text}")
        counts = {}
        for _, kind, _ in failures:
            counts[kind] = counts.get(kind, 0) + 1
        print(f"summary: {len(rows)} files, {len(failures)} failure(s) {json.dumps(counts) if counts else ''}")
        print(f"time: {time.time() - start:.1f} s")
        sys.exit(1 if failures else 0)
    print(f"time: {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
