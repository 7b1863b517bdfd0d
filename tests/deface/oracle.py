"""Issue 19's independent oracle, the pieces: volumes, face region, brain mask, face detector.

Nothing here comes from the engine (crate/core/src/deface): the face region is pydeface 2.1.0's
facemask (its PyPI wheel's data, MIT) carried by an ANTsPy Affine registration of pydeface's head
template to the volume; the brain mask is nilearn 0.14.1's MNI ICBM 2009c grey + white matter
(BSD-3 + MNI terms) put once on pydeface's template (Rigid, then a Similarity masked to the brain's
surroundings: mni_to_template) and carried by the same Affine; a generated head's known affine
carries both instead. Registrations are single-threaded and seeded (reproducible). Faces are
looked for by OpenCV's Haar cascade on a rendering of the head's surface. Registrations are
cached on disk (WORK/cache) by the volume's digest: the self-test and the CLI test pay once.
"""
import glob
import hashlib
import importlib.util
import os
import subprocess

import numpy as np
from scipy import ndimage as ndi

# Reproducible registrations: ITK's multi-threaded metric sums in a varying order (two runs of the
# same Affine differed by thousands of voxels), and ANTs' sampling is random unless seeded.
os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = "1"
os.environ["ANTS_RANDOM_SEED"] = "19"
import ants  # noqa: E402  (after the thread count)
import cv2  # noqa: E402
import nibabel as nib  # noqa: E402

VERSION = "deface-oracle 2"  # part of the cache key: bump when a registration changes
REG_MM = 3.0  # registrations run on 3 mm grids: the face region is tens of mm across
ITERATIONS = (1000, 500, 250, 0)
SEED = 19
GUARD_MM = 4.0  # MNI's brain is scaled to the template by its voxels this close to the rigid brain
FLIP4 = np.diag([-1.0, -1.0, 1.0, 1.0])  # RAS <-> LPS


def package_data(package, *parts):
    """A data file of an installed wheel, found without importing the package (it is installed
    without its dependencies: only its data is read)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed: run .ci/toolchain.sh peers")
    path = os.path.join(spec.submodule_search_locations[0], *parts)
    if not os.path.isfile(path):
        raise SystemExit(f"{path} is missing from the {package} wheel")
    return path


def pydeface(name):
    return package_data("pydeface", "data", name)


def mni(kind):
    return package_data("nilearn", "datasets", "data", f"mni_icbm152_{kind}_tal_nlin_sym_09a_converted.nii.gz")


# ------------------------------------------------------------------ volumes


def dcm2niix(exe, series_dir, out_dir):
    """dcm2niix's volume of one series folder: the largest 3D .nii it writes."""
    os.makedirs(out_dir, exist_ok=True)
    for old in glob.glob(os.path.join(out_dir, "*")):
        os.remove(old)
    subprocess.run([exe, "-z", "n", "-b", "n", "-f", "%s_%p", "-o", out_dir, series_dir],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    niis = [p for p in glob.glob(os.path.join(out_dir, "*.nii")) if len(nib.load(p).shape) == 3]
    if not niis:
        raise SystemExit(f"dcm2niix wrote no 3D volume for {series_dir}")
    return max(niis, key=lambda p: int(np.prod(nib.load(p).shape)))


def digest(path, move=None):
    h = hashlib.sha256(VERSION.encode())
    if move is not None:
        h.update(np.asarray(move, np.float64).tobytes())
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()[:16]


def to_ants(data, affine):
    """An ANTs image (LPS physical space) of voxels in NIfTI order with their RAS affine."""
    flip = np.diag([-1.0, -1.0, 1.0])
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    direction = flip @ affine[:3, :3] / spacing
    origin = flip @ affine[:3, 3]
    return ants.from_numpy(np.asarray(data, dtype=np.float32), origin=origin.tolist(), spacing=spacing.tolist(),
                           direction=direction)


def coarse(image, mm=REG_MM):
    """The image on a grid of at least mm per voxel, smoothed first (for registration only)."""
    spacing = [max(mm, s) for s in image.spacing]
    if all(abs(a - b) < 1e-6 for a, b in zip(spacing, image.spacing)):
        return image
    sigma = [max(0.0, (t / s - 1) / 2) for t, s in zip(spacing, image.spacing)]
    smooth = ants.smooth_image(image, sigma, sigma_in_physical_coordinates=False)
    return ants.resample_image(smooth, spacing, use_voxels=False, interp_type=0)


# ------------------------------------------------------------------ registration


def mni_brain():
    """MNI's brain mask (grey + white matter over 20 %) as an ANTs image on MNI's grid."""
    gm, wm = ants.image_read(mni("gm")), ants.image_read(mni("wm"))
    return gm.new_image_like(((gm.numpy() + wm.numpy()) > 0.2 * 255).astype(np.float32))


def register(fixed, moving, kind, initial=None, mask=None):
    """ANTsPy registration (moving -> fixed), single-threaded and seeded: reproducible."""
    r = ants.registration(fixed=fixed, moving=moving, type_of_transform=kind, initial_transform=initial, mask=mask,
                          aff_iterations=ITERATIONS, random_seed=SEED)
    return r["fwdtransforms"]


def mni_to_template(cache):
    """MNI ICBM 2009c's brain mask on pydeface's template grid, and its transform file: a Rigid
    registration of MNI's T1 (brain only) from the identity (the two spaces roughly agree;
    centring by mass would pull the brain into the neck), then a Similarity one driven only by
    the template's voxels within GUARD_MM of that rigid brain (MNI's brain is larger than the
    template's: unscaled it covers the skull, 1.94 l; an Affine, masked or on the template
    multiplied by the mask, grows into the skull, 2.29 l). The result, 1.11 l, lies a few mm
    inside the template's brain surface (conservative: it never reaches the skull) and 16.8 mm
    from the face region at its nearest. Cached."""
    path = os.path.join(cache, "mni-to-pydeface")
    if not os.path.exists(path + ".npz"):
        os.makedirs(cache, exist_ok=True)
        full = ants.image_read(pydeface("mean_reg2mean.nii.gz"))
        tpl = coarse(full)
        t1 = coarse(ants.image_read(mni("t1")))
        rigid = register(tpl, t1, "Rigid", initial=["Identity"])
        first = ants.apply_transforms(fixed=tpl, moving=mni_brain(), transformlist=rigid,
                                      interpolator="nearestNeighbor")
        near = ndi.distance_transform_edt(first.numpy() < 0.5, sampling=tpl.spacing) <= GUARD_MM
        fit = register(tpl, t1, "Similarity", initial=rigid, mask=first.new_image_like(near.astype(np.float32)))
        brain = ants.apply_transforms(fixed=full, moving=mni_brain(), transformlist=fit,
                                      interpolator="nearestNeighbor").numpy() > 0.5
        tmp = f"{path}.{os.getpid()}"
        ants.write_transform(ants.read_transform(fit[0]), tmp + ".mat")
        os.replace(tmp + ".mat", path + ".mat")
        np.savez_compressed(tmp + ".npz", brain=brain)
        os.replace(tmp + ".npz", path + ".npz")
    return path + ".mat", np.load(path + ".npz")["brain"]


def ants_affine(move):
    """An ANTs transform file's content for a known affine move (template RAS mm -> head RAS mm):
    ANTs maps the fixed (head) LPS point to the moving (template) LPS point."""
    back = FLIP4 @ np.linalg.inv(move) @ FLIP4
    return ants.create_ants_transform(transform_type="AffineTransform", dimension=3,
                                      matrix=back[:3, :3], translation=back[:3, 3], center=[0.0, 0.0, 0.0])


def carried(mask, mask_affine, move, shape, affine, outside):
    """A template-space mask carried exactly by a known affine move onto a grid (nearest voxel;
    outside the template: outside)."""
    to_tpl = np.linalg.inv(mask_affine) @ np.linalg.inv(move) @ affine
    ijk = np.indices(shape, dtype=np.float32).reshape(3, -1)
    src = to_tpl[:3, :3].astype(np.float32) @ ijk + to_tpl[:3, 3:].astype(np.float32)
    out = ndi.map_coordinates(mask.astype(np.uint8), src, order=0, mode="constant", cval=int(outside))
    return out.reshape(shape).astype(bool)


def regions(nii_path, cache, move=None):
    """(face, brain, template_transform_file) for a volume: boolean arrays in its voxel grid
    (nibabel's order), and the transform of pydeface's template to it. move: the known affine
    (template RAS -> head RAS) of a generated head, carrying both regions exactly; otherwise an
    Affine registration of the template carries both (the face and mni_to_template's brain: one
    fit, so the two keep the template's 16.8 mm apart, scaled). Cached by digest."""
    key = os.path.join(cache, digest(nii_path, move))
    if not os.path.exists(key + ".npz"):
        os.makedirs(cache, exist_ok=True)
        img = nib.load(nii_path)
        _, tpl_brain = mni_to_template(cache)
        tmp = f"{key}.{os.getpid()}"
        if move is not None:
            mask_img = nib.load(pydeface("facemask.nii.gz"))
            face = carried(mask_img.get_fdata() == 0, mask_img.affine, move, img.shape, img.affine, False)
            brain = carried(tpl_brain, mask_img.affine, move, img.shape, img.affine, False)
            ants.write_transform(ants_affine(move), tmp + ".mat")
        else:
            fixed = to_ants(img.get_fdata(dtype=np.float32), img.affine)
            small = coarse(fixed)
            fit = register(small, coarse(ants.image_read(pydeface("mean_reg2mean.nii.gz"))), "Affine")
            keep = ants.apply_transforms(fixed=fixed, moving=ants.image_read(pydeface("facemask.nii.gz")),
                                         transformlist=fit, interpolator="nearestNeighbor", defaultvalue=1).numpy()
            face = keep == 0
            tpl_img = ants.image_read(pydeface("facemask.nii.gz"))
            brain = ants.apply_transforms(fixed=fixed, moving=tpl_img.new_image_like(tpl_brain.astype(np.float32)),
                                          transformlist=fit, interpolator="nearestNeighbor").numpy() > 0.5
            ants.write_transform(ants.read_transform(fit[0]), tmp + ".mat")
        os.replace(tmp + ".mat", key + ".mat")
        np.savez_compressed(tmp + ".npz", face=face, brain=brain)
        os.replace(tmp + ".npz", key + ".npz")
    z = np.load(key + ".npz")
    return z["face"], z["brain"], key + ".mat"


# ------------------------------------------------------------------ rendering and detection

CASCADE = None
FRACTIONS = (0.1, 0.15, 0.2, 0.3)  # skin thresholds, of the head's 99th percentile
UPSCALES = (1, 2)
MIN_FACE_MM = 80  # a face box is about 130 mm across; smaller boxes are a nose or an ear
TOLERANCE_MM = 3.0  # a ray's hit this much deeper than the original skin is not skin any more


def in_template_space(data, affine, transform):
    """The volume resampled onto pydeface's template grid (1 mm, RAS index order), linear."""
    tpl = ants.image_read(pydeface("mean_reg2mean.nii.gz"))
    moving = to_ants(data, affine)
    out = ants.apply_transforms(fixed=tpl, moving=moving, transformlist=[transform], whichtoinvert=[True],
                                interpolator="linear", defaultvalue=float(data.min()))
    return out.numpy()


def first_hits(vol, threshold):
    """Per ray from the front (template j decreasing), the depth of the first voxel over the
    threshold (rays[i, k]); rays that hit nothing get the volume's depth."""
    hit = vol[:, ::-1, :] > threshold
    depth = np.argmax(hit, axis=1).astype(np.float32)
    depth[~hit.any(axis=1)] = vol.shape[1]
    return depth


def shade(depth, background):
    """A grey picture of a depth map, lit from the upper front; superior up, the patient's right on
    the viewer's left."""
    gx, gz = np.gradient(ndi.gaussian_filter(depth, 1.0))
    n = np.stack([-gx, -gz, np.ones_like(gx)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    light = np.array([0.3, 0.5, 1.0]) / np.linalg.norm([0.3, 0.5, 1.0])
    img = (n @ light).clip(0, 1) * 255
    img[background] = 0
    return np.ascontiguousarray(np.rot90(img)[:, ::-1].astype(np.uint8))


_ORIGINALS = {}


def original_renders(original):
    """{fraction: (skin threshold, depth map, picture)} of an original, computed once per array."""
    key = id(original)
    if key not in _ORIGINALS:
        smooth = ndi.gaussian_filter(original, 1.0)
        top = np.percentile(smooth[smooth > smooth.min()], 99)
        out = {}
        for frac in FRACTIONS:
            thr = smooth.min() + frac * (top - smooth.min())
            depth = first_hits(smooth, thr)
            out[frac] = (thr, depth, shade(depth, depth >= original.shape[1]))
        _ORIGINALS[key] = (original, out)  # the array is kept: its id stays its own
    return _ORIGINALS[key][1]


def renders(original, ours):
    """{fraction: (picture of the original, picture of ours)}, both in template space.

    What an attacker would look at is the skin: where ours still has the original's skin the
    two pictures agree; where the first surface in ours lies deeper than the original's skin (the
    skin was removed and the ray went on to a cut surface, bone or the orbit behind it) ours shows
    background. A cut surface is not the face; counting it as one would make any defacing fail
    (Haar fires on the cut's edges), counting it as background is what a reviewer of a rendering
    sees: no skin there."""
    out = {}
    smooth_d = ndi.gaussian_filter(ours, 1.0) if ours is not None else None
    for frac, (thr, d_o, pic_o) in original_renders(original).items():
        none = d_o >= original.shape[1]
        pic_d = None
        if smooth_d is not None:
            d_d = first_hits(smooth_d, thr)
            pic_d = shade(d_d, none | (d_d > d_o + TOLERANCE_MM))
        out[frac] = (pic_o, pic_d)
    return out


def faces(picture):
    """Haar detections [(x, y, w, h)] in the picture's pixels, over the upscales."""
    global CASCADE
    if CASCADE is None:
        CASCADE = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml"))
    found = []
    for up in UPSCALES:
        big = cv2.resize(picture, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC) if up != 1 else picture
        size = (MIN_FACE_MM * up, MIN_FACE_MM * up)
        for x, y, w, h in CASCADE.detectMultiScale(big, scaleFactor=1.05, minNeighbors=5, minSize=size):
            found.append(tuple(int(round(v / up)) for v in (x, y, w, h)))
    return found


def overlap(a, b):
    """Intersection over union of two boxes (x, y, w, h)."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter)
