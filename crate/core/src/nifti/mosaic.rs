//! Siemens mosaics: the slices tiled in one image, their number and direction read from
//! the private tag or the CSA image header.

use dicom_core::Tag;
use dicom_object::InMemDicomObject;

use super::csa;
use super::geometry::{cross, dot, normalise};
use super::slice::{Frame, Slice};

/// Siemens' number of images in a mosaic (0019,100A, US, creator "SIEMENS MR HEADER";
/// an implicit VR file leaves it as two little-endian bytes), else the CSA image header's
/// NumberOfImagesInMosaic.
pub(super) fn mosaic_images(ds: &InMemDicomObject) -> Option<usize> {
    let from_tag = || {
        let element = ds.element_opt(Tag(0x0019, 0x100A)).ok()??;
        Some(match element.vr() {
            dicom_core::VR::US => element.to_int::<u16>().ok()?,
            _ => u16::from_le_bytes(element.to_bytes().ok()?.get(..2)?.try_into().ok()?),
        } as usize)
    };
    let from_csa = || csa::values(&csa::image_header(ds)?, "NumberOfImagesInMosaic")?.first()?.parse().ok();
    // At most a US value (the tag's VR): a hostile CSA count must not size the frame list.
    from_tag().or_else(from_csa).filter(|&n| n > 0 && n <= u16::MAX as usize)
}

/// -1 when the CSA header's SliceNormalVector points against the row × column normal: the
/// tiles then run the other way, and dcm2niix keeps their order with k along that vector.
pub(super) fn mosaic_normal_sign(ds: &InMemDicomObject, orientation: Option<[f64; 6]>) -> f64 {
    let given = csa::image_header(ds)
        .and_then(|csa| csa::values(&csa, "SliceNormalVector"))
        .and_then(|v| <[f64; 3]>::try_from(v.iter().map(|x| x.parse().ok()).collect::<Option<Vec<f64>>>()?).ok());
    match (given, orientation) {
        (Some(n), Some(o)) if dot(n, cross([o[0], o[1], o[2]], [o[3], o[4], o[5]])) < 0.0 => -1.0,
        _ => 1.0,
    }
}

/// Tiles per row (and column) of a mosaic of `images`.
fn mosaic_tiles(images: usize) -> usize {
    (1..=images).find(|t| t * t >= images).unwrap_or(1)
}

impl Slice {
    /// A Siemens mosaic as the images it tiles: the tile size, and each tile's position
    /// (ImagePositionPatient is the corner of the whole mosaic: its centre stays, as
    /// dcm2niix corrects it), SpacingBetweenSlices (else SliceThickness) apart along the
    /// normal.
    pub(super) fn untiled(mut self, images: usize, sign: f64) -> Slice {
        let tiles = mosaic_tiles(images);
        let (rows, columns) = (self.rows / tiles, self.columns / tiles);
        if let (Some(p), Some(o)) = (self.position, self.orientation) {
            let [dy, dx] = self.spacing.unwrap_or([1.0, 1.0]);
            let (r, c) = (normalise([o[0], o[1], o[2]]), normalise([o[3], o[4], o[5]]));
            let normal = normalise(cross(r, c)).map(|v| v * sign);
            let dz = self.between.or(self.thickness).unwrap_or(1.0);
            // With the tile size as a fraction when the tiles do not divide the image
            // (measured on nibabel's shrunken mosaics, as dcm2niix places them).
            let shift_r = dx * (self.columns as f64 - self.columns as f64 / tiles as f64) / 2.0;
            let shift_c = dy * (self.rows as f64 - self.rows as f64 / tiles as f64) / 2.0;
            let corner = [0, 1, 2].map(|i| p[i] + r[i] * shift_r + c[i] * shift_c);
            self.frame_list = (0..images)
                .map(|k| Frame {
                    position: Some([0, 1, 2].map(|i| corner[i] + normal[i] * dz * k as f64)),
                    rescale: self.rescale,
                    echo: None,
                    time: self.timing.tiles_ms.as_ref().and_then(|t| t.get(k).copied()),
                    gradient: None,
                    field_map_hz: false,
                })
                .collect();
            self.position = Some(corner);
        }
        self.rows = rows;
        self.columns = columns;
        self.frames = images as u32;
        self.normal_sign = sign;
        self
    }
}

/// The `images` tiles of a mosaic of `[rows, columns]` samples, tile after tile (row-major
/// tiles of `columns` × `rows` samples of `bpp` bytes). A row of tiles starts at `tile
/// row × (all samples / tiles)`, which is `tile row × rows × columns` when the tiles divide
/// the image; when they do not, dcm2niix starts them there (measured on nibabel's shrunken
/// mosaics).
pub(super) fn untile(
    bytes: &[u8],
    [mosaic_rows, mosaic_columns]: [usize; 2],
    columns: usize,
    rows: usize,
    images: usize,
    bpp: usize,
) -> Vec<u8> {
    let tiles = mosaic_tiles(images);
    let mut out = Vec::with_capacity(images * rows * columns * bpp);
    for k in 0..images {
        let (tile_row, tile_column) = (k / tiles, k % tiles);
        let row_start = tile_row * (mosaic_rows * mosaic_columns / tiles);
        for y in 0..rows {
            let from = (row_start + y * mosaic_columns + tile_column * columns) * bpp;
            match bytes.get(from..from + columns * bpp) {
                Some(row) => out.extend_from_slice(row),
                None => return out, // short pixel data: reported by the length check
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tiles of a 2 × 2 mosaic of 3 images (the fourth tile empty), one after another.
    #[test]
    fn mosaic_tiles_come_out_in_order() {
        // 4 × 4 samples of 1 byte: tiles of 2 × 2 labelled 1, 2, 3, 0.
        let mosaic = [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 0, 0, 3, 3, 0, 0];
        assert_eq!(untile(&mosaic, [4, 4], 2, 2, 3, 1), [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
        assert_eq!(mosaic_tiles(48), 7);
        assert_eq!(mosaic_tiles(49), 7);
        assert_eq!(mosaic_tiles(50), 8);
    }
}
