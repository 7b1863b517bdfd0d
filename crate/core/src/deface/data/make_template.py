"""Builds template.bin (embedded by crate/core/src/deface/template.rs) from two PyPI packages.

Sources (wheels, unpacked; pass the folder holding them as argv[1]):
  pydeface 2.1.0   https://pypi.org/project/pydeface/2.1.0/  (MIT, LICENSE-pydeface.txt)
      pydeface/data/mean_reg2mean.nii.gz   the head template (176x256x256, ~1 mm)
      pydeface/data/facemask.nii.gz        1 = keep, 0 = face (what pydeface removes)
  nilearn 0.14.1   https://pypi.org/project/nilearn/0.14.1/  (BSD-3, LICENSE-nilearn.txt; the
      MNI ICBM152 2009 data under the MNI terms, LICENSE-MNI-ICBM152.txt)
      nilearn/datasets/data/mni_icbm152_{t1,gm,wm}_tal_nlin_sym_09a_converted.nii.gz
Tools: nibabel 5.4.2, scipy, numpy, antspyx 0.6.3 (rigid, then similarity, registration of the MNI T1, which is
brain-only, to the pydeface head: rigid because an affine of a brain-only image to a head
stretches the brain to the skull).

Output (zlib-compressed, NIfTI order, i fastest):
  template.bin     b"DFT2", dims u16 x3, affine 3x4 f64 LE (voxel -> RAS mm), then two u8 arrays:
                   face fraction (0..255), flags (bit 0 head silhouette, bit 1 brain guard = gm+wm
                   dilated by GUARD_MM, bit 2 the eyes band: up to EYES_MM above the face
                   region's top edge). Embedded in the page (~27 KB).
  template_t1.bin  the T1 intensities (u8, head only, 0 outside) on the same grid: the unit tests'
                   synthetic heads only, never embedded outside tests (~510 KB).
Run: python make_template.py <unpacked wheels dir> <out dir> [preview.png]
"""
import os, struct, sys, zlib
# One ITK thread, set before ANTs loads (see brain_guard: the guard is then the same on every run).
os.environ['ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS'] = '1'
import numpy as np, nibabel as nib
from scipy import ndimage as ndi

GUARD_MM = 9.0
SCALE_MM = 6.0
EYES_MM = 15.0

def blocks(a, f=2):
    """Mean over f x f x f blocks (the 2 mm grid)."""
    s = [n // f for n in a.shape]
    a = a[:s[0] * f, :s[1] * f, :s[2] * f].astype(np.float64)
    return a.reshape(s[0], f, s[1], f, s[2], f).mean(axis=(1, 3, 5))

def silhouette(v):
    """Head = above a fifth of the robust maximum, holes filled per axial slice and in 3D,
    the largest component; a closing first bridges the thin dark skull at the top."""
    m = v > 0.2 * np.percentile(v, 99)
    m = ndi.binary_closing(m, iterations=2, border_value=0)
    for k in range(m.shape[2]):
        m[:, :, k] = ndi.binary_fill_holes(m[:, :, k])
    m = ndi.binary_fill_holes(m)
    lab, n = ndi.label(m)
    sizes = ndi.sum(m, lab, range(1, n + 1))
    return lab == (1 + int(np.argmax(sizes)))

def brain_guard(root, head_img):
    """nilearn's gm+wm in the pydeface head's 1 mm grid (ANTs rigid then similarity), dilated by GUARD_MM."""
    import ants
    n = root + '/nilearn/datasets/data/mni_icbm152_%s_tal_nlin_sym_09a_converted.nii.gz'
    fix = ants.image_read(root + '/pydeface/data/mean_reg2mean.nii.gz')
    mov = ants.image_read(n % 't1')
    gm, wm = ants.image_read(n % 'gm'), ants.image_read(n % 'wm')
    bm = gm.new_image_like(((gm.numpy() + wm.numpy()) > 0.2 * 255).astype('float32'))
    # antspyx 0.6.3 ignores registration(random_seed=...): without a global seed and one
    # thread the guard differs from run to run (8 % of its voxels).
    ants.config.set_ants_deterministic(True, 1)
    # Rigid alone leaves MNI's brain at its own size (1.94 l on this head, reaching the skull);
    # a Similarity then scales it, its metric limited to the template's voxels within
    # SCALE_MM of the rigid brain (the brain's surroundings, not the face or neck).
    fix2, mov2 = ants.resample_image(fix, (2, 2, 2)), ants.resample_image(mov, (2, 2, 2))
    r = ants.registration(fixed=fix2, moving=mov2, type_of_transform='Rigid')
    first = ants.apply_transforms(fixed=fix2, moving=bm, transformlist=r['fwdtransforms'],
                                  interpolator='nearestNeighbor').numpy() > 0.5
    near = ndi.distance_transform_edt(~first, sampling=(2, 2, 2)) <= SCALE_MM
    r = ants.registration(fixed=fix2, moving=mov2, type_of_transform='Similarity',
                          initial_transform=r['fwdtransforms'][0], mask=fix2.new_image_like(near.astype('float32')))
    m = ants.apply_transforms(fixed=fix, moving=bm, transformlist=r['fwdtransforms'],
                              interpolator='nearestNeighbor').numpy() > 0.5
    zooms = head_img.header.get_zooms()[:3]
    dist = ndi.distance_transform_edt(~m, sampling=zooms)
    return m, dist <= GUARD_MM

def eye_band(face, head_img):
    """pydeface's face region stops across the eyes: the band up to EYES_MM above its top
    edge (the face region moved up, less the region itself), for the optional eyes bit."""
    steps = int(round(EYES_MM / head_img.header.get_zooms()[2]))
    up = np.zeros_like(face)
    for s in range(1, steps + 1):
        up[:, :, s:] |= face[:, :, :-s]
    return up & ~face

def main():
    root, out = sys.argv[1], sys.argv[2]
    head_img = nib.load(root + '/pydeface/data/mean_reg2mean.nii.gz')
    head = head_img.get_fdata()
    keep = nib.load(root + '/pydeface/data/facemask.nii.gz').get_fdata()
    brain, guard = brain_guard(root, head_img)
    h2 = blocks(head)
    sil = silhouette(h2)
    face = blocks(1.0 - keep)
    eyes = blocks(eye_band(keep < 0.5, head_img).astype(np.float64)) >= 0.5
    g2 = blocks(guard.astype(np.float64)) > 0  # any 1 mm guard voxel guards the 2 mm voxel
    inten = np.where(ndi.binary_dilation(sil, iterations=1), h2, 0)
    inten = np.clip(np.round(255 * inten / np.percentile(h2[sil], 99.5)), 0, 255).astype(np.uint8)
    facef = np.clip(np.round(255 * face), 0, 255).astype(np.uint8)
    flags = sil.astype(np.uint8) | (g2.astype(np.uint8) << 1) | (eyes.astype(np.uint8) << 2)
    aff = head_img.affine @ np.array([[2, 0, 0, 0.5], [0, 2, 0, 0.5], [0, 0, 2, 0.5], [0, 0, 0, 1]])
    hdr = b'DFT2' + struct.pack('<3H', *h2.shape) + struct.pack('<12d', *aff[:3].ravel())
    body = b''.join(a.ravel(order='F').tobytes() for a in (facef, flags))
    data = zlib.compress(hdr + body, 9)
    open(out + '/template.bin', 'wb').write(data)
    t1 = zlib.compress(inten.ravel(order='F').tobytes(), 9)
    open(out + '/template_t1.bin', 'wb').write(t1)
    removed = (face >= 0.5) & ~g2
    print('dims', h2.shape, 'bytes', len(data), len(t1), 'head voxels', int(sil.sum()),
          'face voxels', int((face >= 0.5).sum()), 'face in guard', int(((face >= 0.5) & g2).sum()),
          'removed', int(removed.sum()), 'eyes band', int((eyes & ~g2).sum()), 'brain 1mm voxels', int(brain.sum()))
    if len(sys.argv) > 3:
        preview(h2, sil, removed | (eyes & ~g2), g2, sys.argv[3])

def preview(h2, sil, removed, g2, path):
    """Mid-sagittal and two axial slices: grey, head outline green, removed red, guard blue."""
    import cv2
    tiles = []
    for sl in [(h2.shape[0] // 2, None), (h2.shape[0] // 2 + 16, None), (None, 40), (None, 55)]:
        pick = (lambda a: np.rot90(a[sl[0]])) if sl[0] is not None else (lambda a: np.rot90(a[:, :, sl[1]]))
        g = (255 * pick(h2) / np.percentile(h2, 99.5)).clip(0, 255).astype(np.uint8)
        c = cv2.cvtColor(g, cv2.COLOR_GRAY2BGR).astype(np.float64)
        for m, col in [(pick(removed), (0, 0, 255)), (pick(g2), (255, 0, 0))]:
            c[m] = 0.5 * c[m] + 0.5 * np.array(col)
        edge = pick(sil) ^ ndi.binary_erosion(pick(sil))
        c[edge] = (0, 255, 0)
        tiles.append(cv2.resize(c.astype(np.uint8), (256, 256), interpolation=cv2.INTER_NEAREST))
    cv2.imwrite(path, np.hstack(tiles))

if __name__ == '__main__':
    main()
