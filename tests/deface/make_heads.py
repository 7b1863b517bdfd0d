#!/usr/bin/env python3
"""Generated heads for issue 19's tests: DICOM series (classic, one file per slice) of a 3D T1-like
MR and a head CT with its table.

usage: make_heads.py OUT

No full head other than pydeface's template is on PyPI under a licence that allows it (nilearn's
MNI 2009c is brain only; templateflow and brainweb download at run time), so both heads are
pydeface 2.1.0's mean_reg2mean.nii.gz (MIT) moved by a known random affine (seeded: rotations up to
12 degrees, scales 0.92-1.08 per axis, a shift of up to 20 mm) and sampled onto an oblique grid
whose field of view cuts the top of the skull and the neck. The engine embeds the same template,
so these heads test the pipeline (tilt, crop, slice order, CT intensities, DICOM geometry) rather
than the fit to a new face; the real XA30 T1s test that.

OUT/t1_sag_tilted: MR, MRAcquisitionType 3D, sagittal tilted 10 degrees, 1.0 mm, 160 x 224 x 240,
                   uint16, Rician-like noise.
OUT/ct_head_axial: CT, BodyPartExamined HEAD, axial tilted 8 degrees, 1.0 x 1.0 mm, 1.25 mm slices,
                   144 slices of 256 x 256, HU from the template's tissue (bone where the template is
                   dark within 12 mm of the skin), a carbon table and its foam pad behind the head,
                   RescaleIntercept -1024.
OUT/truth.json:    each head's affine (template RAS mm -> head RAS mm).
"""
import json
import os
import sys

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from scipy import ndimage as ndi

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

FLIP = np.diag([-1.0, -1.0, 1.0])  # RAS <-> LPS


def rotation(rx, ry, rz):
    """Rotation matrix of angles (degrees) about x, then y, then z."""
    a, b, c = np.radians([rx, ry, rz])
    x = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    y = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    z = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return z @ y @ x


def random_affine(rng, centre):
    """A known random affine of RAS mm about the head's centre."""
    m = rotation(*rng.uniform(-12, 12, 3)) @ np.diag(rng.uniform(0.92, 1.08, 3))
    out = np.eye(4)
    out[:3, :3] = m
    out[:3, 3] = centre - m @ centre + rng.uniform(-20, 20, 3)
    return out


def template():
    img = nib.load(oracle.pydeface("mean_reg2mean.nii.gz"))
    return img.get_fdata(dtype=np.float32), img.affine


def head_centre(data, affine):
    """RAS mm of the centre of the head's bounding box."""
    idx = np.argwhere(data > 0.1 * np.percentile(data, 99))
    mid = (idx.min(0) + idx.max(0)) / 2
    return affine[:3, :3] @ mid + affine[:3, 3]


def sample(data, affine, move, grid, shape):
    """The template moved by move, on a grid (4x4: index (slice, row, column) -> LPS mm) of shape
    (slices, rows, columns), linear."""
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    m = np.linalg.inv(affine) @ np.linalg.inv(move) @ flip @ grid
    return ndi.affine_transform(data, m[:3, :3], offset=m[:3, 3], output_shape=shape, order=1, mode="constant",
                                cval=0.0)


def dataset(path, meta_class, uid_root, n, first, pixels, fields):
    """One classic single-frame file."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = meta_class
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[uid_root, str(n)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    for k, v in fields.items():
        setattr(ds, k, v)
    ds.InstanceNumber = n + 1
    ds.ImagePositionPatient = [round(float(v), 4) for v in first]
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)


def grid_of(axes, dims, spacing, centre):
    """A grid's 4x4 matrix, index (slice, row, column) -> LPS mm: axes (column, row, slice
    directions), dims (cols, rows, slices), spacing mm, centred on centre."""
    g = np.eye(4)
    for col, a in zip((2, 1, 0), range(3)):
        g[:3, col] = axes[a] * spacing[a]
    g[:3, 3] = centre - sum((dims[a] - 1) / 2 * spacing[a] * axes[a] for a in range(3))
    return g


def shape_of(dims):
    return (dims[2], dims[1], dims[0])


def place(points, axes, dims, spacing, up, crop):
    """The grid's centre (LPS) around the head's points: centred on each axis, but along axis up
    (index, sign: +1 when the axis points superior) the head's top cut by crop mm."""
    centre = np.zeros(3)
    for a in range(3):
        proj = points @ axes[a]
        mid = (proj.min() + proj.max()) / 2
        if a == up[0]:
            top = proj.max() if up[1] > 0 else proj.min()
            half = (dims[a] - 1) / 2 * spacing[a]
            mid = top - up[1] * (crop + half)
        centre += mid * axes[a]
    return centre


def head_points(data, affine, move):
    """The moved head's voxels (every 4th), LPS mm."""
    idx = np.argwhere(data[::4, ::4, ::4] > 0.1 * np.percentile(data, 99)) * 4
    ras = idx @ affine[:3, :3].T + affine[:3, 3]
    ras = ras @ move[:3, :3].T + move[:3, 3]
    return ras @ FLIP.T


def common(name, uid_root, description, number):
    # A name sharing no word with any other field: the export's output audit holds back a file
    # where an input's name appears (a PatientName "Generated^Head" beside Manufacturer "Generated" did).
    return dict(SpecificCharacterSet="ISO_IR 192", PatientName="Fàçè^Hélène", PatientID=f"GEN-{name}",
                PatientBirthDate="19700101",
                PatientSex="O", StudyDate="20260101", StudyTime="120000", SeriesDate="20260101",
                AccessionNumber="GEN0001", StudyID="1", ReferringPhysicianName="",
                StudyInstanceUID=generate_uid(entropy_srcs=["study", name]),
                SeriesInstanceUID=generate_uid(entropy_srcs=[uid_root]),
                FrameOfReferenceUID=generate_uid(entropy_srcs=["for", uid_root]),
                SeriesNumber=number, SeriesDescription=description, Manufacturer="ACME",
                PatientPosition="HFS", ImageType=["ORIGINAL", "PRIMARY", "OTHER"])


def write_series(out, name, values, grid, axes, spacing, fields, sop_class):
    """values (slices, rows, cols) as stored uint16 at points: one file a slice."""
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    fields = dict(fields, ImageOrientationPatient=[round(float(v), 6) for v in np.concatenate([axes[0], axes[1]])],
                  PixelSpacing=[spacing[1], spacing[0]], SliceThickness=spacing[2],
                  SpacingBetweenSlices=spacing[2])
    normal = np.cross(axes[0], axes[1])
    for n in range(values.shape[0]):
        first = grid[:3, 0] * n + grid[:3, 3]
        f = dict(fields, SliceLocation=round(float(first @ normal), 4))
        dataset(os.path.join(folder, f"{n + 1:04d}.dcm"), sop_class, fields["SeriesInstanceUID"], n,
                first, values[n], f)


def t1(out, data, affine, rng):
    move = random_affine(rng, head_centre(data, affine))
    tilt = rotation(10, 0, 3)
    axes = [tilt @ np.array([0.0, 1, 0]), tilt @ np.array([0.0, 0, -1]), tilt @ np.array([-1.0, 0, 0])]
    dims, spacing = (240, 224, 160), (1.0, 1.0, 1.0)
    centre = place(head_points(data, affine, move), axes, dims, spacing, (1, -1), 6.0)
    grid = grid_of(axes, dims, spacing, centre)
    signal = sample(data, affine, move, grid, shape_of(dims))
    signal *= 800 / np.percentile(signal[signal > 0], 99)
    noise = rng.normal(0, 10, (2,) + signal.shape)
    values = np.sqrt((signal + noise[0]) ** 2 + noise[1] ** 2).clip(0, 4095).round()
    fields = common("t1", "t1_sag_tilted", "t1_mprage_sag_tilted", 5)
    fields.update(Modality="MR", MRAcquisitionType="3D", ScanningSequence="GR\\IR", SequenceVariant="SP\\MP",
                  RepetitionTime=2300, EchoTime=2.98, InversionTime=900, FlipAngle=9, MagneticFieldStrength=3,
                  ImagingFrequency=123.2, BodyPartExamined="HEAD")
    write_series(out, "t1_sag_tilted", values, grid, axes, (1.0, 1.0, 1.0), fields, pydicom.uid.MRImageStorage)
    return move


def hounsfield(signal, rng):
    """HU from the template's T1 signal: air, soft tissue, bone (dark within 12 mm of the skin)."""
    bright = np.percentile(signal[signal > 0], 99)
    head = ndi.binary_fill_holes(signal > 0.12 * bright)
    for k in range(head.shape[0]):
        head[k] = ndi.binary_fill_holes(head[k])
    depth = ndi.distance_transform_edt(head, sampling=(1.25, 1.0, 1.0))
    dark = signal < 0.35 * bright
    hu = np.full(signal.shape, -1000.0)
    hu[head] = 25 + 20 * (signal[head] / bright)
    hu[head & dark & (depth > 2) & (depth < 12)] = 900
    hu[head & dark & (depth >= 12)] = 8
    return ndi.gaussian_filter(hu, 0.6) + rng.normal(0, 6, hu.shape)


def add_table(hu, grid, top_lps):
    """A carbon table (8 mm, 300 HU) on a foam pad (20 mm, -900 HU) behind the head (posterior, LPS +y)."""
    s, r, c = (np.arange(n) for n in hu.shape)
    y = grid[1, 0] * s[:, None, None] + grid[1, 1] * r[None, :, None] + grid[1, 2] * c[None, None, :] + grid[1, 3]
    hu[(y > top_lps + 2) & (y <= top_lps + 22)] = -900
    hu[(y > top_lps + 22) & (y <= top_lps + 30)] = 300
    return hu


def ct(out, data, affine, rng):
    move = random_affine(rng, head_centre(data, affine))
    tilt = rotation(-8, 0, 0)
    axes = [tilt @ np.array([1.0, 0, 0]), tilt @ np.array([0.0, 1, 0]), tilt @ np.array([0.0, 0, 1])]
    dims, spacing = (256, 256, 144), (1.0, 1.0, 1.25)
    pts = head_points(data, affine, move)
    centre = place(pts, axes, dims, spacing, (2, 1), 12.0) + 20 * axes[1]  # room behind for the table
    grid = grid_of(axes, dims, spacing, centre)
    hu = hounsfield(sample(data, affine, move, grid, shape_of(dims)), rng)
    hu = add_table(hu, grid, pts[:, 1].max())
    values = (hu + 1024).clip(0, 4095).round()
    fields = common("ct", "ct_head_axial", "HEAD 1.25 mm", 2)
    fields.update(Modality="CT", BodyPartExamined="HEAD", KVP=120, XRayTubeCurrent=250, ConvolutionKernel="H30s",
                  RescaleIntercept=-1024, RescaleSlope=1, RescaleType="HU", WindowCenter=40, WindowWidth=80)
    write_series(out, "ct_head_axial", values, grid, axes, spacing, fields, pydicom.uid.CTImageStorage)
    return move


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    data, affine = template()
    rng = np.random.default_rng(19)
    truth = {"t1_sag_tilted": t1(out, data, affine, rng).tolist(), "ct_head_axial": ct(out, data, affine, rng).tolist()}
    with open(os.path.join(out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)


if __name__ == "__main__":
    main()
