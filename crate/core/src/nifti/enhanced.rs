//! dcm2niix's rule for the files of a series stored as enhanced (multi-frame) images: a
//! file whose frames dcm2niix orders itself becomes a volume of its own; the files of a
//! series whose frames it does not order are stacked like classic images, one 3D block a
//! file, into one 4D volume (Siemens XA: one file a time point).
//!
//! Read in dcm2niix 1.0.20260724 (nii_dicom.cpp, nii_loadDirCore) and measured on its
//! binary: it orders a file's frames, and converts the file at once, when (a) its maker is
//! unknown, Philips, Canon or Bruker and every frame has DimensionIndexValues in a
//! FrameContentSequence, or (b) it counted no DimensionIndexValues and every frame's
//! ImagePositionPatient came after an ImageOrientationPatient in the file's tag order. (b)
//! depends on where the orientation sits: a shared functional group precedes the per-frame
//! ones, but within a per-frame item the plane position (0020,9113) precedes the plane
//! orientation (0020,9116), so per-frame orientations leave the first frame uncounted.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::dicom::text;

/// Philips' private per-frame sequence, whose positions dcm2niix does not count.
const PHILIPS_PER_FRAME: Tag = Tag(0x2005, 0x140F);

/// Whether dcm2niix converts enhanced image `ds` as a volume of its own (it orders its
/// frames), rather than stacking it with the other files of its series.
pub(super) fn converted_alone(ds: &InMemDicomObject) -> bool {
    let frames = text(ds, tags::NUMBER_OF_FRAMES).and_then(|v| v.parse::<usize>().ok()).unwrap_or(1);
    if frames < 2 {
        return false;
    }
    let indexed = if reads_dimension_indices(ds) { indexed_frames(ds) } else { 0 };
    match indexed {
        0 => {
            let mut walk = Walk::default();
            walk.visit(ds);
            walk.located == frames
        }
        n => n > 1 && n == frames,
    }
}

/// Whether dcm2niix records DimensionIndexValues for this maker: unknown makers, Philips,
/// Canon (Toshiba) and Bruker (it compares the first two letters of Manufacturer).
pub(super) fn reads_dimension_indices(ds: &InMemDicomObject) -> bool {
    let maker = text(ds, tags::MANUFACTURER).unwrap_or_default().to_ascii_uppercase();
    const OTHERS: [&str; 5] = ["SI", "GE", "HI", "ME", "UI"];
    !OTHERS.iter().any(|p| maker.starts_with(p))
}

/// The per-frame functional group items that hold DimensionIndexValues in their
/// FrameContentSequence.
fn indexed_frames(ds: &InMemDicomObject) -> usize {
    items(ds, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .iter()
        .filter(|frame| {
            items(frame, tags::FRAME_CONTENT_SEQUENCE)
                .iter()
                .any(|content| content.element_opt(tags::DIMENSION_INDEX_VALUES).ok().flatten().is_some())
        })
        .count()
}

fn items(ds: &InMemDicomObject, sequence: Tag) -> &[InMemDicomObject] {
    ds.element_opt(sequence).ok().flatten().and_then(|e| e.items()).unwrap_or(&[])
}

/// The data set in tag order, depth first, as dcm2niix reads it: positions counted once
/// an orientation has been seen.
#[derive(Default)]
struct Walk {
    oriented: bool,
    located: usize,
}

impl Walk {
    fn visit(&mut self, ds: &InMemDicomObject) {
        for element in ds.iter() {
            match element.header().tag {
                tags::IMAGE_ORIENTATION_PATIENT => self.oriented = true,
                tags::IMAGE_POSITION_PATIENT if self.oriented => self.located += 1,
                PHILIPS_PER_FRAME | tags::PIXEL_DATA => {}
                _ => {
                    for item in element.items().unwrap_or(&[]) {
                        self.visit(item);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first file of dcm_qa's `folder`, or `None` where the data is absent.
    fn first_file(folder: &str) -> Option<InMemDicomObject> {
        let files = super::super::dcm_qa_files(folder)?;
        Some(dicom_object::open_file(&files[0]).expect("a DICOM file").into_inner())
    }

    /// Siemens XA30 BOLD, one file a time point: per-frame orientations, so dcm2niix counts
    /// 32 of 33 positions and stacks the 20 files into one 4D volume.
    #[test]
    fn siemens_xa_files_are_stacked() {
        let Some(ds) = first_file("xa30/In/7_func-bold_task-fa_run-1") else { return };
        assert!(!reads_dimension_indices(&ds));
        let mut walk = Walk::default();
        walk.visit(&ds);
        assert_eq!(walk.located, 32);
        assert!(!converted_alone(&ds));
    }

    /// The same file under an unknown maker: its 33 DimensionIndexValues order the frames,
    /// and dcm2niix writes it alone (measured: `-a` suffixed copies, one a file).
    #[test]
    fn unknown_maker_with_indices_stands_alone() {
        let Some(mut ds) = first_file("xa30/In/7_func-bold_task-fa_run-1") else { return };
        ds.put(dicom_core::DataElement::new(
            tags::MANUFACTURER,
            dicom_core::VR::LO,
            dicom_core::PrimitiveValue::from("ACME"),
        ));
        assert_eq!(indexed_frames(&ds), 33);
        assert!(converted_alone(&ds));
    }
}
