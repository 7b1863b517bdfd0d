//! The export tree: every path of the zip, the product's contract with the platform that
//! ingests it. Nothing else in the crate formats an export path.
//!
//! ```text
//! DICOM/<day>/<visit>/<NNNN>.dcm
//! NIFTI/<day>/<visit>/<stem>[_<n>].nii[.gz]   and its sidecar <stem>[_<n>].json
//!                                              (diffusion: also .bval and .bvec)
//! EHR/<day>/<table>.csv
//! <root>/<day>/.ready                          (an empty marker, after the folder's files)
//! ```
//!
//! `<day>` is the export date `YYYYMMDD`, or `YYYY/YYYYMMDD` with the year folder.

use std::collections::BTreeSet;
use std::fmt;

use crate::dates::Date;

/// The three trees of the export, one per kind of output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Root {
    Dicom,
    Nifti,
    Ehr,
}

impl Root {
    pub fn name(self) -> &'static str {
        match self {
            Root::Dicom => "DICOM",
            Root::Nifti => "NIFTI",
            Root::Ehr => "EHR",
        }
    }
}

impl fmt::Display for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The two entries of one NIfTI volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nifti {
    /// The `.nii` or `.nii.gz`.
    pub volume: String,
    /// The `.json` sidecar, written before its volume (entries are in path order).
    pub sidecar: String,
    /// The b-values of a diffusion volume (`.bval`), written before its sidecar.
    pub bval: String,
    /// The gradient directions of a diffusion volume (`.bvec`).
    pub bvec: String,
}

/// The paths of one export: its daily folder and the NIfTI extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `YYYYMMDD`, or `YYYY/YYYYMMDD` with the year folder.
    day: String,
    nifti_gzip: bool,
}

impl Layout {
    pub fn new(export_date: Date, year_folder: bool, nifti_gzip: bool) -> Layout {
        let date = export_date.to_da();
        let day = if year_folder { format!("{}/{date}", &date[..4]) } else { date };
        Layout { day, nifti_gzip }
    }

    /// The daily folder under each root: `YYYYMMDD` or `YYYY/YYYYMMDD`.
    pub fn day(&self) -> &str {
        &self.day
    }

    /// The `number`th instance (from 1, in visit order) of a visit.
    pub fn dicom(&self, visit: &str, number: usize) -> String {
        format!("{}/{}/{visit}/{number:04}.dcm", Root::Dicom, self.day)
    }

    /// A volume named `stem`; `copy` 1 is the name itself, copies 2 to 27 get `a` to `z` as
    /// dcm2niix names volumes whose names are taken, later ones `_<n>`.
    pub fn nifti(&self, visit: &str, stem: &str, copy: usize) -> Nifti {
        let name = match copy {
            0 | 1 => stem.to_string(),
            2..=27 => format!("{stem}{}", char::from(b'a' + (copy - 2) as u8)),
            _ => format!("{stem}_{copy}"),
        };
        let folder = format!("{}/{}/{visit}", Root::Nifti, self.day);
        let extension = if self.nifti_gzip { ".nii.gz" } else { ".nii" };
        Nifti {
            volume: format!("{folder}/{name}{extension}"),
            sidecar: format!("{folder}/{name}.json"),
            bval: format!("{folder}/{name}.bval"),
            bvec: format!("{folder}/{name}.bvec"),
        }
    }

    /// [`Layout::nifti`] with the first copy whose volume path is not in `taken` (two series
    /// of a visit may share a stem); the path is added to `taken`.
    pub fn nifti_unique(&self, visit: &str, stem: &str, taken: &mut BTreeSet<String>) -> Nifti {
        let mut copy = 1;
        loop {
            let paths = self.nifti(visit, stem, copy);
            if taken.insert(paths.volume.clone()) {
                return paths;
            }
            copy += 1;
        }
    }

    /// An EHR table, by its unique name.
    pub fn table(&self, name: &str) -> String {
        format!("{}/{}/{name}.csv", Root::Ehr, self.day)
    }

    /// The `.ready` marker of a root's daily folder.
    pub fn ready(&self, root: Root) -> String {
        format!("{root}/{}/.ready", self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(year_folder: bool, nifti_gzip: bool) -> Layout {
        Layout::new(Date::parse_da("20261124").unwrap(), year_folder, nifti_gzip)
    }

    #[test]
    fn the_daily_folder_has_an_optional_year_level() {
        assert_eq!(layout(false, false).day(), "20261124");
        assert_eq!(layout(true, false).day(), "2026/20261124");
    }

    #[test]
    fn dicom_files_are_numbered_in_their_visit_folder() {
        assert_eq!(layout(false, false).dicom("V1", 1), "DICOM/20261124/V1/0001.dcm");
        assert_eq!(layout(true, false).dicom("V1", 12345), "DICOM/2026/20261124/V1/12345.dcm");
    }

    #[test]
    fn nifti_volumes_have_a_sidecar_and_an_extension() {
        let plain = layout(false, false).nifti("V1", "3_t1", 1);
        assert_eq!(plain.volume, "NIFTI/20261124/V1/3_t1.nii");
        assert_eq!(plain.sidecar, "NIFTI/20261124/V1/3_t1.json");
        assert_eq!(plain.bval, "NIFTI/20261124/V1/3_t1.bval");
        assert_eq!(plain.bvec, "NIFTI/20261124/V1/3_t1.bvec");
        let gz = layout(true, true).nifti("V1", "3_t1", 1);
        assert_eq!(gz.volume, "NIFTI/2026/20261124/V1/3_t1.nii.gz");
        assert_eq!(gz.sidecar, "NIFTI/2026/20261124/V1/3_t1.json");
    }

    #[test]
    fn nifti_names_taken_get_a_copy_suffix() {
        let layout = layout(false, true);
        let mut taken = BTreeSet::new();
        let names: Vec<Nifti> = (0..3).map(|_| layout.nifti_unique("V1", "3_t1", &mut taken)).collect();
        assert_eq!(names[0].volume, "NIFTI/20261124/V1/3_t1.nii.gz");
        assert_eq!(names[1].volume, "NIFTI/20261124/V1/3_t1a.nii.gz");
        assert_eq!(names[2].sidecar, "NIFTI/20261124/V1/3_t1b.json");
        assert_eq!(layout.nifti("V1", "3_t1", 27).volume, "NIFTI/20261124/V1/3_t1z.nii.gz");
        assert_eq!(layout.nifti("V1", "3_t1", 28).volume, "NIFTI/20261124/V1/3_t1_28.nii.gz");
        // Another visit's folder does not share the names.
        assert_eq!(layout.nifti_unique("V2", "3_t1", &mut taken).volume, "NIFTI/20261124/V2/3_t1.nii.gz");
    }

    #[test]
    fn tables_sit_in_the_daily_folder() {
        assert_eq!(layout(false, false).table("labs"), "EHR/20261124/labs.csv");
        assert_eq!(layout(true, false).table("labs"), "EHR/2026/20261124/labs.csv");
    }

    #[test]
    fn each_daily_folder_has_its_ready_marker() {
        assert_eq!(layout(false, false).ready(Root::Dicom), "DICOM/20261124/.ready");
        assert_eq!(layout(true, false).ready(Root::Nifti), "NIFTI/2026/20261124/.ready");
        assert_eq!(layout(true, false).ready(Root::Ehr), "EHR/2026/20261124/.ready");
    }
}
