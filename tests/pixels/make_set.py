#!/usr/bin/env python3
"""Issue 18's test set: real-looking DICOM images with identifying text burned into the pixels.

usage: make_set.py OUT

Writes OUT/*.dcm and OUT/truth.json. Ultrasound (grey, RGB, a 12-frame RGB cine, one YBR_FULL_422
JPEG baseline, one RLE Lossless), a secondary capture (a viewer's screenshot) and two radiographs
(CR 16-bit MONOCHROME2, DX 16-bit MONOCHROME1, BurnedInAnnotation YES). Each carries a patient's
name (with diacritics), ID, birth date, study date and institution in its header and drawn into its
pixels where scanners put them (US header band, SC title bar, X-ray corners), 12 to 40 px tall
(Pillow's built-in font; DejaVu Sans for text with diacritics), beside innocuous text ("L"/"R" markers, a "5 cm" scale bar, settings).

truth.json: per file, its planted identifiers (text, kind, the ink's bounding box in pixels:
{"x","y","width","height"}, every pixel any of its glyphs touched) and the innocuous texts with
theirs; for the cine, the time stamp that changes on every frame (its texts per frame, one box
holding all). Deterministic: fixed seeds, fixed UIDs, fixed dates.
"""
import io
import json
import os
import sys

import numpy as np
import pydicom
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (ExplicitVRLittleEndian, JPEGBaseline8Bit, RLELossless, generate_uid)

US = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTI = "1.2.840.10008.5.1.4.1.1.3.1"
SC = "1.2.840.10008.5.1.4.1.1.7"
CR = "1.2.840.10008.5.1.4.1.1.1"
DX = "1.2.840.10008.5.1.4.1.1.1.1"

# One patient per file: (DICOM name, name as drawn, ID, birth date, study date, institution).
PATIENTS = {
    "us_grey": ("Müller-Ñúñez^Élodie", "Élodie Müller-Ñúñez", "PID-4471-0923", "19780314", "20241105", "Clinique Saint-Éloi"),
    "us_rgb": ("Østergård^Søren", "Søren Østergård", "DK-88213457", "19610722", "20240917", "Rigshospitalet Aarhus"),
    "us_cine": ("Çelik^Ayşe", "Ayşe Çelik", "TR-55190372", "19900102", "20250211", "Hôpital Lariboisière"),
    "us_jpeg": ("García Márquez^José", "José García Márquez", "ES-30927716", "19550630", "20240319", "Clínica Universitaria Navarra"),
    "us_rle": ("Dubois^François", "François Dubois", "FR-77410265", "19830919", "20230814", "Centre Hospitalier Valenciennes"),
    "sc_rgb": ("O'Connor^Siobhán", "Siobhán O'Connor", "IE-64029183", "19720411", "20250506", "Beaumont Hospital Dublin"),
    "cr_mono2": ("Kowalczyk^Bartłomiej", "Bartłomiej Kowalczyk", "PL-91836042", "19480925", "20240120", "Szpital Bielański Warszawa"),
    "dx_mono1": ("Brontë-Løvaas^Zoë", "Zoë Brontë-Løvaas", "NO-20458817", "20010813", "20251030", "Haukeland Universitetssjukehus"),
}


def shown_date(dicom_date):
    """A DICOM date as scanners print it: DD.MM.YYYY."""
    return f"{dicom_date[6:8]}.{dicom_date[4:6]}.{dicom_date[0:4]}"


# Pillow's built-in font (Aileron) has no glyph beyond ASCII: text with diacritics is drawn with
# DejaVu Sans (Debian's fonts-dejavu-core, which .ci/toolchain.sh peers installs).
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def font(text, size):
    if text.isascii():
        return ImageFont.load_default(size=size)
    if not os.path.exists(DEJAVU):
        sys.exit(f"make_set: {DEJAVU} is missing: install Debian's fonts-dejavu-core")
    return ImageFont.truetype(DEJAVU, size)


class Canvas:
    """An image being painted, and the truth of what was drawn where (the ink's exact box)."""

    def __init__(self, width, height):
        self.width, self.height = width, height
        self.identifiers, self.innocuous = [], []

    def ink(self, text, x, y, size, anchor="la"):
        """The alpha mask (0..255) of text drawn at (x, y), and its ink box (None if nothing)."""
        mask = Image.new("L", (self.width, self.height), 0)
        ImageDraw.Draw(mask).text((x, y), text, fill=255, font=font(text, size), anchor=anchor)
        alpha = np.asarray(mask)
        rows, cols = np.nonzero(alpha)
        box = {"x": int(cols.min()), "y": int(rows.min()), "width": int(cols.max() - cols.min() + 1),
               "height": int(rows.max() - rows.min() + 1)}
        return alpha, box

    def note(self, text, box, size, kind=None):
        entry = {"text": text, "size": size, "box": box}
        if kind:
            entry["kind"] = kind
            self.identifiers.append(entry)
        else:
            self.innocuous.append(entry)


def blend(image, alpha, colour):
    """image (rows, cols[, 3]) with colour laid over it where alpha says (0..255)."""
    a = alpha.astype(np.float64) / 255.0
    if image.ndim == 3:
        a = a[..., None]
    out = image.astype(np.float64) * (1 - a) + np.asarray(colour, dtype=np.float64) * a
    return np.rint(out).astype(image.dtype)


def draw(canvas, image, text, x, y, size, colour, kind=None, anchor="la"):
    alpha, box = canvas.ink(text, x, y, size, anchor)
    canvas.note(text, box, size, kind)
    return blend(image, alpha, colour)


def sector(rng, width, height, top, grey=True):
    """An ultrasound fan: speckle inside a sector below the header band, black elsewhere."""
    yy, xx = np.mgrid[0:height, 0:width]
    apex_x, apex_y = width / 2, top - 20
    r = np.hypot(xx - apex_x, yy - apex_y)
    angle = np.arctan2(xx - apex_x, yy - apex_y)
    inside = (np.abs(angle) < 0.62) & (r > 40) & (r < height - top + 5)
    speckle = rng.gamma(1.6, 38.0, size=(height, width))
    depth = np.clip(1.15 - r / (1.4 * height), 0.2, 1.0)
    tissue = np.clip(speckle * depth + 20 * np.sin(xx / 37.0) * np.cos(yy / 23.0), 0, 230)
    # A dark cyst, as a liver scan would show.
    tissue[(xx - apex_x - 40) ** 2 + (yy - top - height * 0.35) ** 2 < (height * 0.08) ** 2] *= 0.15
    img = np.where(inside, tissue, 0).astype(np.uint8)
    return img if grey else np.repeat(img[..., None], 3, axis=2)


def scale_bar(canvas, img, x, top, bottom, colour):
    """Depth ticks every 1 cm-ish at column x, labelled '5 cm' at the fifth tick (innocuous)."""
    step = max(8, (bottom - top) // 10)
    for i in range(11):
        y = top + i * step
        length = 8 if i % 5 == 0 else 4
        img[y:y + 2, x:x + length] = colour
    return draw(canvas, img, "5 cm", x + 12, top + 5 * step - 6, 12, colour)


def us_header(canvas, img, name, colour, size_small, size_name):
    """Header band of an ultrasound: institution and date top-left, patient top-right, settings."""
    dname, drawn, pid, birth, study, inst = PATIENTS[name]
    w = canvas.width
    img = draw(canvas, img, inst, 8, 6, size_small, colour, "institution")
    img = draw(canvas, img, shown_date(study) + " 10:42", 8, 10 + size_small, size_small, colour, "study-date")
    img = draw(canvas, img, drawn, w - 8, 6, size_name, colour, "patient-name", anchor="ra")
    img = draw(canvas, img, "ID " + pid, w - 8, 10 + size_name, size_small, colour, "patient-id", anchor="ra")
    img = draw(canvas, img, "DOB " + shown_date(birth), w - 8, 14 + size_name + size_small, size_small, colour,
               "birth-date", anchor="ra")
    img = draw(canvas, img, "MI 1.1  TIs 0.4", w // 2 - 50, 8, 12, colour)
    return img


def us_frame(name, width, height, rgb, seed):
    rng = np.random.default_rng(seed)
    canvas = Canvas(width, height)
    top = 64
    img = sector(rng, width, height, top, grey=not rgb)
    white = (235, 235, 235) if rgb else 235
    if rgb:
        # Colour Doppler: a red and a blue vessel inside the fan.
        yy, xx = np.mgrid[0:height, 0:width]
        vessel = np.abs((yy - height * 0.55) - 0.3 * (xx - width / 2)) < 6
        img[vessel & (np.abs(xx - width / 2) < 60)] = (200, 30, 30)
        vessel = np.abs((yy - height * 0.62) + 0.2 * (xx - width / 2)) < 5
        img[vessel & (np.abs(xx - width / 2) < 50)] = (30, 60, 210)
    img = us_header(canvas, img, name, (240, 230, 120) if rgb else white, 14, 18)
    img = scale_bar(canvas, img, width - 40, top + 10, height - 30, white)
    img = draw(canvas, img, "L", 20, height // 2, 24, white)
    img = draw(canvas, img, "C5-1  4.5MHz  Gen", 8, height - 22, 12, white)
    return img, canvas


def base(name, sop_class, modality, charset="ISO_IR 192"):
    dname, drawn, pid, birth, study, inst = PATIENTS[name]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    uid = lambda what: generate_uid(entropy_srcs=["issue18", name, what])
    meta.MediaStorageSOPInstanceUID = uid("sop")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = charset
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uid("study"), uid("series")
    ds.Modality = modality
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = dname, pid, birth, "O"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study
    ds.StudyTime = ds.ContentTime = "104200"
    ds.InstitutionName = inst
    ds.AccessionNumber = "ACC" + pid[-6:]
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 1, 1
    ds.Manufacturer = {"US": "Generic Ultrasound", "OT": "Generic Viewer", "CR": "Generic CR", "DX": "Generic DR"}[modality]
    ds.ManufacturerModelName = "Issue18 Phantom"
    ds.ImageType = ["ORIGINAL", "PRIMARY"] if modality != "OT" else ["DERIVED", "SECONDARY"]
    return ds


def native(ds, frames, photometric, bits_stored=None):
    """ds with frames (a list of (rows, cols[, 3]) arrays) as native pixel data."""
    arr = frames[0] if len(frames) == 1 else np.stack(frames)
    ds.set_pixel_data(arr, photometric, bits_stored or arr.dtype.itemsize * 8, generate_instance_uid=False)
    if len(frames) > 1:
        ds.NumberOfFrames = len(frames)
    return ds


def write(out, name, ds, canvas, truth, frames=1, **extra):
    path = os.path.join(out, name + ".dcm")
    ds.save_as(path, enforce_file_format=True)
    entry = {"sopClass": str(ds.SOPClassUID), "frames": frames, "rows": canvas.height, "columns": canvas.width,
             "photometric": str(ds.PhotometricInterpretation), "transferSyntax": str(ds.file_meta.TransferSyntaxUID),
             "header": {"PatientName": str(ds.PatientName), "PatientID": ds.PatientID,
                        "PatientBirthDate": ds.PatientBirthDate, "StudyDate": ds.StudyDate,
                        "InstitutionName": ds.InstitutionName, "AccessionNumber": ds.AccessionNumber},
             "identifiers": canvas.identifiers, "innocuous": canvas.innocuous}
    entry.update(extra)
    truth[name + ".dcm"] = entry


def us_single(out, truth, name, rgb, seed):
    img, canvas = us_frame(name, 640 if not rgb else 800, 480 if not rgb else 600, rgb, seed)
    ds = base(name, US, "US")
    ds.BurnedInAnnotation = "YES"
    write(out, name, native(ds, [img], "RGB" if rgb else "MONOCHROME2"), canvas, truth)


def us_cine(out, truth, frames=12):
    """RGB cine: the same header on every frame, the fan moving, a time stamp changing."""
    name = "us_cine"
    images, stamps, boxes = [], [], []
    for i in range(frames):
        img, canvas = us_frame(name, 640, 480, True, 1000 + i)
        stamp = f"10:42:{17 + i // 10:02d}.{i % 10}"
        alpha, box = canvas.ink(stamp, 8, 480 - 44, 14)
        images.append(blend(img, alpha, (240, 230, 120)))
        stamps.append(stamp)
        boxes.append(box)
    x0, y0 = min(b["x"] for b in boxes), min(b["y"] for b in boxes)
    x1 = max(b["x"] + b["width"] for b in boxes)
    y1 = max(b["y"] + b["height"] for b in boxes)
    canvas.identifiers.append({"text": " ".join(stamps), "kind": "time-stamp", "size": 14, "frameTexts": stamps,
                               "box": {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}})
    ds = base(name, US_MULTI, "US")
    ds.BurnedInAnnotation = "YES"
    ds.FrameTime = "33.3"
    ds.FrameIncrementPointer = 0x00181063
    write(out, name, native(ds, images, "RGB"), canvas, truth, frames=frames)


def us_jpeg(out, truth):
    """YBR_FULL_422 JPEG baseline: Pillow's JPEG of an RGB frame (4:2:2), encapsulated."""
    name = "us_jpeg"
    img, canvas = us_frame(name, 640, 480, True, 7)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=95, subsampling=1)
    ds = native(base(name, US, "US"), [img], "RGB")
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    ds.BurnedInAnnotation = "YES"
    write(out, name, ds, canvas, truth)


def us_rle(out, truth):
    name = "us_rle"
    img, canvas = us_frame(name, 640, 480, True, 11)
    ds = native(base(name, US, "US"), [img], "RGB")
    ds.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
    write(out, name, ds, canvas, truth)


def secondary_capture(out, truth):
    """A viewer's screenshot: title bar with the patient, a CT-like slice, a status bar."""
    name = "sc_rgb"
    dname, drawn, pid, birth, study, inst = PATIENTS[name]
    w, h = 1024, 768
    rng = np.random.default_rng(21)
    canvas = Canvas(w, h)
    img = np.full((h, w, 3), 32, np.uint8)
    img[0:34] = (52, 64, 92)
    img[h - 26:] = (45, 45, 45)
    yy, xx = np.mgrid[0:h, 0:w]
    body = ((xx - w / 2) / 330.0) ** 2 + ((yy - h / 2) / 280.0) ** 2 < 1
    slice_ = np.clip(110 + rng.normal(0, 12, (h, w)) + 30 * np.sin(xx / 50.0), 0, 255)
    img[body] = np.repeat(slice_[body][:, None], 3, axis=1).astype(np.uint8)
    white = (245, 245, 245)
    img = draw(canvas, img, drawn, 10, 8, 16, white, "patient-name")
    img = draw(canvas, img, pid, 250, 8, 16, white, "patient-id")
    img = draw(canvas, img, "* " + shown_date(birth), 430, 8, 16, white, "birth-date")
    img = draw(canvas, img, inst, w - 10, 8, 16, white, "institution", anchor="ra")
    img = draw(canvas, img, "Study " + shown_date(study), 20, 48, 20, (255, 220, 0), "study-date")
    img = draw(canvas, img, "W 400  L 40   Zoom 100%", 10, h - 20, 13, (200, 200, 200))
    img = draw(canvas, img, "R", 80, h // 2, 32, white)
    ds = base(name, SC, "OT")
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "YES"
    write(out, name, native(ds, [img], "RGB"), canvas, truth)


def radiograph(out, truth, name, sop_class, modality, width, height, mono1):
    """A chest radiograph, 12-bit in 16: the patient in the top-left corner, the place top-right,
    the date bottom-left, a big 'R' marker; text white as displayed (0 for MONOCHROME1)."""
    dname, drawn, pid, birth, study, inst = PATIENTS[name]
    rng = np.random.default_rng(31 if mono1 else 41)
    canvas = Canvas(width, height)
    yy, xx = np.mgrid[0:height, 0:width]
    dense = 2600 - 900 * np.exp(-(((xx - width * 0.32) / (width * 0.16)) ** 2 + ((yy - height * 0.5) / (height * 0.28)) ** 2))
    dense -= 900 * np.exp(-(((xx - width * 0.68) / (width * 0.16)) ** 2 + ((yy - height * 0.5) / (height * 0.28)) ** 2))
    dense += 700 * np.exp(-(((xx - width * 0.5) / (width * 0.07)) ** 2))
    img = np.clip(dense + rng.normal(0, 40, (height, width)), 0, 4095)
    if mono1:
        img = 4095 - img
    img = img.astype(np.uint16)
    text = 0 if mono1 else 4095
    img = draw(canvas, img, drawn.upper(), 30, 30, 40, text, "patient-name")
    img = draw(canvas, img, pid, 30, 80, 32, text, "patient-id")
    img = draw(canvas, img, shown_date(birth), 30, 122, 28, text, "birth-date")
    img = draw(canvas, img, inst, width - 30, 30, 28, text, "institution", anchor="ra")
    img = draw(canvas, img, shown_date(study) + "  09:15", 30, height - 60, 28, text, "study-date")
    img = draw(canvas, img, "R", width - 90, height // 2, 40, text)
    img = draw(canvas, img, "PA ERECT", width - 30, height - 60, 24, text, anchor="ra")
    ds = base(name, sop_class, modality, charset="ISO_IR 100" if mono1 else "ISO_IR 192")
    ds.BurnedInAnnotation = "YES"
    ds.BodyPartExamined = "CHEST"
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    if modality == "DX":
        ds.PresentationIntentType = "FOR PRESENTATION"
    write(out, name, native(ds, [img], "MONOCHROME1" if mono1 else "MONOCHROME2", 12), canvas, truth)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    truth = {}
    us_single(out, truth, "us_grey", False, 3)
    us_single(out, truth, "us_rgb", True, 5)
    us_cine(out, truth)
    us_jpeg(out, truth)
    us_rle(out, truth)
    secondary_capture(out, truth)
    radiograph(out, truth, "cr_mono2", CR, "CR", 1400, 1700, False)
    radiograph(out, truth, "dx_mono1", DX, "DX", 1200, 1500, True)
    with open(os.path.join(out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1, ensure_ascii=False)
    count = sum(len(t["identifiers"]) for t in truth.values())
    print(f"make_set: {len(truth)} files, {count} planted identifiers, in {out}")


if __name__ == "__main__":
    main()
