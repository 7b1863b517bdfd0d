#!/usr/bin/env python3
"""Issue 19's acceptance: defaced head volumes checked independently of the engine.

usage: check.py WORK SERIES EXPORT [SERIES EXPORT ...]
       check.py --self-test WORK SERIES [SERIES ...]

SERIES is an original DICOM series folder (one head volume), EXPORT the unzipped export of
`capture export --option clean-visual-features --format both` of it (NIFTI/**.nii and
DICOM/**.dcm). DCM2NIIX names dcm2niix. For every head (see oracle.py for the regions):
  (a) volume    dcm2niix's volume of SERIES is the original; our NIfTI has its grid (shape,
                affine within 0.01 mm);
  (b) face      F = pydeface 2.1.0's facemask on the volume (ANTsPy Affine of its head template,
                warped with defaultvalue=1: outside the template nothing is face). F eroded by
                ERODE voxels (registrations of the same template by two tools differ by a few mm
                at F's borders), in the head's tissue and TISSUE_MM around it (the face is tissue:
                air in front of and under it shows nothing, and F's air is where two fits of the
                template's grid edges disagree most), must be 100 % removed; the fraction of the
                whole of F is printed;
  (c) brain     B = MNI ICBM 2009c grey + white matter put once on pydeface's template (Rigid,
                then a Similarity driven by the brain's surroundings: 1.08 l, a few mm inside the
                template's brain surface, 17 mm from F at its nearest), carried to the volume by
                the same Affine as F; sane (BRAIN_LITRES, no voxel in F); 0 voxels of B changed.
                A generated head (a truth.json beside its series folder, from make_heads.py)
                carries both F and B by its known affine instead of a registration: exact, a
                stronger oracle (and the only sound one for the CT: a T1 template registered to
                HU by intensity is weak). Every registration is single-threaded and seeded: two
                runs give identical regions (multi-threaded ITK did not: 0 then 2,449 voxels of
                B in F on the same head);
  (d) voxels    every changed voxel holds one fill value (0, the volume's minimum, or the value of
                stored 0), every other voxel equals the original exactly; no changed voxel farther
                than OUTSIDE_MM from F;
  (e) dicom     our DICOM frames, placed by ImagePositionPatient/Orientation/PixelSpacing, cover
                our NIfTI's grid once and equal it voxel for voxel (rescaled); the original DICOM
                equals dcm2niix's volume the same way (the placement is right);
  (f) detector  OpenCV's Haar cascade on renderings of the head's surface seen from the front
                (oracle.renders: 4 skin thresholds, two scales): a face found on the original must
                not be found on ours (no detection overlapping a face box of the original by
                IoU >= 0.25; where the skin is gone ours shows background). The issue asks this
                "on every volume where it finds one before": a head whose original shows no face
                gets a note, and only a run where no head at all shows one before fails.
One line per failure "FAIL <head> <check>: ...", a summary line per head, exit 1 on any failure.

--self-test: a stand-in defacer (zeroes F exactly, NIfTI and DICOM) must pass on every SERIES and
each break of it must fail on the first: nothing removed, a brain voxel changed, a voxel far from
the face changed, a changed voxel not the fill value, the DICOM left unzeroed at one voxel, the
region shifted up into the brain (6 mm past its nearest brain voxel). The detector must find a face on the first.
"""
import glob
import json
import os
import sys
import time

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian
from scipy import ndimage as ndi

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nibabel as nib  # noqa: E402
import oracle  # noqa: E402

ERODE = 2
# The face region's core is counted in the head's tissue and this far around it (mm).
TISSUE_MM = 3.0
BRAIN_LITRES = (0.8, 1.8)  # B is conservative (inside the brain surface): 0.96-1.18 l on the four heads
OUTSIDE_MM = 15.0
IOU = 0.25


# ------------------------------------------------------------------ DICOM placement


def frames(ds):
    """(pixels, position, orientation, spacing, slope, intercept) per frame of a data set."""
    pixels = ds.pixel_array
    if "PerFrameFunctionalGroupsSequence" not in ds:
        yield (pixels, ds.ImagePositionPatient, ds.ImageOrientationPatient, ds.PixelSpacing,
               float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0)))
        return
    shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None

    def group(frame, name):
        for g in (frame, shared):
            if g is not None and name in g:
                return g[name][0]
        return None

    stack = pixels if ds.NumberOfFrames > 1 else pixels[None]
    for n, frame in enumerate(ds.PerFrameFunctionalGroupsSequence):
        pvt = group(frame, "PixelValueTransformationSequence")
        yield (stack[n], group(frame, "PlanePositionSequence").ImagePositionPatient,
               group(frame, "PlaneOrientationSequence").ImageOrientationPatient,
               group(frame, "PixelMeasuresSequence").PixelSpacing,
               float(pvt.RescaleSlope) if pvt else 1.0, float(pvt.RescaleIntercept) if pvt else 0.0)


def placement(position, orientation, spacing, shape, affine):
    """The (i, j, k) voxel of each pixel of a frame in a NIfTI grid, or None when it falls between
    voxels (more than 0.05 voxel off)."""
    rows, cols = shape
    lps = np.asarray(position, float)
    col_step = np.asarray(orientation[:3], float) * float(spacing[1])
    row_step = np.asarray(orientation[3:], float) * float(spacing[0])
    flip = np.array([-1.0, -1.0, 1.0])
    inv = np.linalg.inv(affine)
    start = inv[:3, :3] @ (flip * lps) + inv[:3, 3]
    dc, dr = inv[:3, :3] @ (flip * col_step), inv[:3, :3] @ (flip * row_step)
    ijk = start[:, None, None] + dc[:, None, None] * np.arange(cols)[None, None, :] \
        + dr[:, None, None] * np.arange(rows)[None, :, None]
    near = np.rint(ijk)
    if np.abs(ijk - near).max() > 0.05:
        return None
    return near.astype(int)


def dicom_volume(paths, shape, affine):
    """Our DICOM frames placed in a grid: (values, times covered, frames off the grid)."""
    values = np.zeros(shape, np.float64)
    count = np.zeros(shape, np.int32)
    off = 0
    for path in paths:
        ds = pydicom.dcmread(path)
        for pixels, pos, ori, spacing, slope, inter in frames(ds):
            ijk = placement(pos, ori, spacing, pixels.shape, affine)
            inside = ijk is not None and all((ijk[a] >= 0).all() and (ijk[a] < shape[a]).all() for a in range(3))
            if not inside:
                off += 1
                continue
            values[ijk[0], ijk[1], ijk[2]] = pixels * slope + inter
            count[ijk[0], ijk[1], ijk[2]] += 1
    return values, count, off


def dicom_files(folder):
    return sorted(p for p in glob.glob(os.path.join(folder, "**", "*"), recursive=True)
                  if os.path.isfile(p) and not p.endswith((".nii", ".json", ".txt", ".bval", ".bvec")))


# ------------------------------------------------------------------ one head


def known_affine(series):
    """A generated head's known affine (template RAS -> head RAS) from make_heads.py's truth.json
    beside its series folder, or None."""
    path = os.path.join(os.path.dirname(os.path.normpath(series)), "truth.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        truth = json.load(f)
    name = os.path.basename(os.path.normpath(series))
    return np.array(truth[name]) if name in truth else None


class Head:
    """An original head volume and what the oracle knows of it."""

    def __init__(self, series, work, cache):
        self.name = os.path.basename(os.path.normpath(series))
        self.series = series
        self.nii = oracle.dcm2niix(os.environ["DCM2NIIX"], series, os.path.join(work, self.name, "dcm2niix"))
        img = nib.load(self.nii)
        self.data, self.affine = img.get_fdata(), img.affine
        self.voxel = np.linalg.norm(self.affine[:3, :3], axis=0)
        face, self.brain, self.transform = oracle.regions(self.nii, cache, known_affine(series))
        # Two independent registrations touch at a few voxels: the brain wins (it must not change).
        self.shared = int((face & self.brain).sum())
        self.face = face & ~ndi.binary_dilation(self.brain, iterations=1)
        self.problems = self.sanity()
        self._pictures = None
        self._near = None

    def sanity(self):
        """The oracle's own faults: a brain mask of an implausible size or touching the face,
        a face region that is empty, the original DICOM not placed onto dcm2niix's volume."""
        out = []
        litres = self.brain.sum() * np.prod(self.voxel) / 1e6
        if not BRAIN_LITRES[0] <= litres <= BRAIN_LITRES[1]:
            out.append(f"oracle: brain mask {litres:.2f} l, outside {BRAIN_LITRES}")
        if self.shared > 0.001 * self.face.sum():
            out.append(f"oracle: brain mask and face region share {self.shared} voxels (over 0.1 % of the region)")
        if self.face.sum() * np.prod(self.voxel) < 100e3:
            out.append(f"oracle: face region only {self.face.sum() * np.prod(self.voxel) / 1e3:.0f} ml")
        values, count, off = dicom_volume(dicom_files(self.series), self.data.shape, self.affine)
        if off or (count != 1).any() or not np.allclose(values, self.data, rtol=1e-5, atol=1e-3):
            out.append(f"oracle: the original DICOM does not place onto dcm2niix's volume ({off} frames off, "
                       f"{(count != 1).sum()} voxels not covered once, {(~np.isclose(values, self.data, 1e-5, 1e-3)).sum()} differ)")
        return out

    def pictures(self):
        if self._pictures is None:
            self._pictures = oracle.in_template_space(self.data, self.affine, self.transform)
        return self._pictures

    def core(self):
        """The part of the face region that must be removed: F eroded, away from the brain, in
        the head's tissue (air in front of and under the face shows nothing to anyone)."""
        core = ndi.binary_erosion(self.face, iterations=ERODE, border_value=1)
        return core & ~ndi.binary_dilation(self.brain, iterations=ERODE) & self.tissue()

    def tissue(self):
        """The head's tissue and TISSUE_MM around it: over the lowest skin threshold the renders
        use (oracle.FRACTIONS[0] of the way from the smoothed volume's minimum to its 99th
        percentile), as a renderer would draw the skin."""
        smooth = ndi.gaussian_filter(self.data, 1.0)
        top = np.percentile(smooth[smooth > smooth.min()], 99)
        skin = smooth > smooth.min() + oracle.FRACTIONS[0] * (top - smooth.min())
        return ndi.distance_transform_edt(~skin, sampling=self.voxel) <= TISSUE_MM

    def near_face(self):
        """Voxels within OUTSIDE_MM of F (computed once)."""
        if self._near is None:
            self._near = ndi.distance_transform_edt(~self.face, sampling=self.voxel) <= OUTSIDE_MM
        return self._near


def our_nifti(head, export):
    """Our NIfTI of the head: the .nii in export with its grid (the one closest to the original)."""
    best = None
    for path in glob.glob(os.path.join(export, "**", "*.nii"), recursive=True):
        img = nib.load(path)
        if img.shape != head.data.shape or not np.allclose(img.affine, head.affine, atol=0.01):
            continue
        data = img.get_fdata()
        changed = int((data != head.data).sum())
        if best is None or changed < best[0]:
            best = (changed, path, data)
    return (best[1], best[2]) if best else (None, None)


def fill_value(head, ours, changed, failures):
    """The one value our changed voxels hold; a failure when there are several or it is not a fill."""
    values = np.unique(ours[changed])
    if len(values) == 0:
        return None
    allowed = {0.0, float(head.data.min())}
    stored_zero = float(nib.load(head.nii).dataobj.inter or 0.0) if hasattr(nib.load(head.nii).dataobj, "inter") else 0.0
    allowed.add(stored_zero)
    bad = [v for v in values if not any(abs(v - a) < 1e-3 for a in allowed)]
    if len(values) > 1 or bad:
        failures.append(f"voxels: changed voxels hold {len(values)} values ({values[:5].tolist()}...), "
                        f"not one of {sorted(allowed)}; {int(np.isin(ours[changed], bad).sum())} hold another value")
    return float(values[0])


def detector(head, ours):
    """(f): ([(fraction, boxes before, boxes after that overlap a box before)], failures)."""
    original = head.pictures()
    defaced = oracle.in_template_space(ours, head.affine, head.transform)
    rows, before_any, after_any = [], False, False
    for frac, (pic_o, pic_d) in oracle.renders(original, defaced).items():
        before = oracle.faces(pic_o)
        after = [b for b in oracle.faces(pic_d) if any(oracle.overlap(a, b) >= IOU for a in before)]
        rows.append((frac, len(before), len(after)))
        before_any |= bool(before)
        after_any |= bool(after)
    failures = []
    if after_any:
        failures.append("detector: a face is still found after: " + ", ".join(
            f"skin {f}: {a} of {b}" for f, b, a in rows if a))
    return rows, before_any, failures


def check_head(head, export):
    """The failures of our export of one head, and a summary line."""
    failures = list(head.problems)
    path, ours = our_nifti(head, export)
    if ours is None:
        return failures + ["volume: no NIfTI in the export has the original's grid"], "no NIfTI"
    changed = ours != head.data
    core = head.core()
    fill = fill_value(head, ours, changed, failures)
    target = 0.0 if fill is None else fill
    missed = core & (ours != target)
    if missed.any():
        failures.append(f"face: {missed.sum()} of {core.sum()} voxels of the face region's core not removed")
    removed_face = (head.face & (ours == target)).sum()
    brain = changed & head.brain
    if brain.any():
        failures.append(f"brain: {brain.sum()} voxels of the brain mask changed (first at {np.argwhere(brain)[0].tolist()})")
    far = changed & ~head.near_face()
    if far.any():
        failures.append(f"voxels: {far.sum()} changed voxels farther than {OUTSIDE_MM} mm from the face region "
                        f"(first at {np.argwhere(far)[0].tolist()})")
    dcm = dicom_files(os.path.join(export, "DICOM")) if os.path.isdir(os.path.join(export, "DICOM")) else []
    if not dcm:
        failures.append("dicom: no DICOM in the export")
    else:
        values, count, off = dicom_volume(dcm, ours.shape, head.affine)
        differ = (count == 1) & ~np.isclose(values, ours, rtol=1e-5, atol=1e-3)
        if off or (count != 1).any() or differ.any():
            failures.append(f"dicom: {off} frames off the grid, {(count != 1).sum()} voxels not covered once, "
                            f"{differ.sum()} voxels differ from our NIfTI")
    rows, found, fails = detector(head, ours)
    failures += fails
    notes = [] if found else ["detector: no face found on the original (the detector proves nothing on this head)"]
    summary = (f"{head.name}: {os.path.relpath(path, export)} {ours.shape} voxel {np.round(head.voxel, 2).tolist()} mm; "
               f"face region {head.face.sum()} voxels, {100 * removed_face / max(1, head.face.sum()):.1f} % removed, "
               f"core {core.sum()}; brain mask {head.shared} voxels in it; brain {head.brain.sum() * np.prod(head.voxel) / 1e6:.2f} l; changed {changed.sum()} "
               f"(fill {fill}); faces before/after per skin threshold " + " ".join(f"{f}:{b}/{a}" for f, b, a in rows))
    return failures, notes, found, summary


def report(name, failures, notes, summary):
    for f in failures:
        print(f"FAIL {name} {f}")
    for n in notes:
        print(f"note {name} {n}")
    print(("ok   " if not failures else "BAD  ") + summary)


# ------------------------------------------------------------------ self-test


def stand_in(head, out, region, fill, dicom_region=None, odd=None):
    """A stand-in defacer's export of head into out: region set to fill in the NIfTI (float32)
    and in the DICOM (the original files, pixels rewritten uncompressed); odd: one voxel given
    another value."""
    import shutil
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "NIFTI"))
    os.makedirs(os.path.join(out, "DICOM"))
    vol = head.data.copy()
    vol[region] = fill
    if odd is not None:
        vol[tuple(odd)] = fill + 7
    nib.save(nib.Nifti1Image(vol.astype(np.float32), head.affine), os.path.join(out, "NIFTI", "standin.nii"))
    dvol = head.data.copy()
    dvol[region if dicom_region is None else dicom_region] = fill
    if odd is not None:
        dvol[tuple(odd)] = fill + 7
    for n, path in enumerate(dicom_files(head.series)):
        ds = pydicom.dcmread(path)
        stack = [f for f in frames(ds)]
        pixels = np.array([f[0] for f in stack])
        for m, (_, pos, ori, spacing, slope, inter) in enumerate(stack):
            ijk = placement(pos, ori, spacing, pixels.shape[1:], head.affine)
            pixels[m] = np.rint((dvol[ijk[0], ijk[1], ijk[2]] - inter) / slope).astype(pixels.dtype)
        ds.PixelData = (pixels if len(stack) > 1 or "NumberOfFrames" in ds else pixels[0]).tobytes()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.save_as(os.path.join(out, "DICOM", f"{n:04d}.dcm"), enforce_file_format=True)


def superior_shift(mask, affine, mm):
    """The mask moved mm towards the head's top (along the voxel axis closest to superior)."""
    axis = int(np.argmax(np.abs(affine[2, :3])))
    steps = int(round(mm / np.linalg.norm(affine[:3, axis]))) * int(np.sign(affine[2, axis]))
    out = np.zeros_like(mask)
    src = [slice(None)] * 3
    dst = [slice(None)] * 3
    if steps > 0:
        src[axis], dst[axis] = slice(0, -steps), slice(steps, None)
    else:
        src[axis], dst[axis] = slice(-steps, None), slice(0, steps)
    out[tuple(dst)] = mask[tuple(src)]
    return out


def breaks(head):
    """(name, stand_in keyword arguments, the check that must fail) for each break."""
    fill = 0.0
    brain_voxel = np.argwhere(ndi.binary_erosion(head.brain, iterations=3))
    brain_voxel = brain_voxel[len(brain_voxel) // 2]
    dist = ndi.distance_transform_edt(~head.face, sampling=head.voxel)
    far = np.unravel_index(np.argmax(np.where(head.data > np.percentile(head.data, 75), dist, 0)), dist.shape)
    core = np.argwhere(head.core())
    one_core = core[len(core) // 2]
    with_brain = head.face.copy()
    with_brain[tuple(brain_voxel)] = True
    with_far = head.face.copy()
    with_far[far] = True
    # Far enough up to reach the brain: F's nearest voxel to B, and 6 mm more.
    up = float(np.ceil(ndi.distance_transform_edt(~head.brain, sampling=head.voxel)[head.face].min())) + 6.0
    dicom_hole = head.face.copy()
    dicom_hole[tuple(one_core)] = False
    return [
        ("none", dict(region=head.face, fill=fill), None),
        ("nothing removed", dict(region=np.zeros_like(head.face), fill=fill), "face"),
        ("a brain voxel", dict(region=with_brain, fill=fill), "brain"),
        ("a voxel far from the face", dict(region=with_far, fill=fill), "voxels"),
        ("a changed voxel not the fill", dict(region=head.face, fill=fill, odd=one_core), "voxels"),
        ("the DICOM unzeroed at one voxel", dict(region=head.face, fill=fill, dicom_region=dicom_hole), "dicom"),
        (f"the region {up:.0f} mm up", dict(region=superior_shift(head.face, head.affine, up), fill=fill), "brain"),
    ]


def self_test(work, series):
    cache = os.path.join(work, "cache")
    heads = [Head(s, work, cache) for s in series]
    wrong = []
    for n, head in enumerate(heads):
        for name, kwargs, expect in breaks(head)[: None if n == 0 else 1]:
            out = os.path.join(work, head.name, "standin")
            stand_in(head, out, **kwargs)
            failures, notes, found, summary = check_head(head, out)
            if not found:
                failures.append("detector: no face found on the original: the self-test needs one")
            kinds = {f.split(":")[0] for f in failures}
            ok = (not failures) if expect is None else (expect in kinds)
            print(f"self-test {head.name} [{name}]: {'ok' if ok else 'WRONG'}; failures: {sorted(kinds) or 'none'}")
            if expect is None:
                print("  " + summary)
            for f in failures:
                print(f"  {f}")
            if not ok:
                wrong.append(f"{head.name} [{name}]")
    if wrong:
        sys.exit("self-test FAILED: the check is wrong for: " + ", ".join(wrong))
    print(f"self-test ok: the stand-in passes on {len(heads)} heads and each of {len(breaks(heads[0])) - 1} breaks is caught")


def main():
    args = sys.argv[1:]
    start = time.time()
    if args and args[0] == "--self-test":
        self_test(args[1], args[2:])
    else:
        work, pairs = args[0], args[1:]
        if not pairs or len(pairs) % 2:
            sys.exit(__doc__)
        bad, any_face = 0, False
        for series, export in zip(pairs[::2], pairs[1::2]):
            head = Head(series, work, os.path.join(work, "cache"))
            failures, notes, found, summary = check_head(head, export)
            report(head.name, failures, notes, summary)
            bad += bool(failures)
            any_face |= found
        if not any_face:
            print("FAIL detector: no face found on any original: the detector proves nothing")
        print(f"{len(pairs) // 2 - bad} passed, {bad} failed")
        if bad or not any_face:
            sys.exit(1)
    print(f"({time.time() - start:.1f} s)")


if __name__ == "__main__":
    main()
