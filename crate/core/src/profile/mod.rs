//! The de-identification policy: which action DICOM PS3.15 Table E.1-1 prescribes for an
//! attribute, under the Basic Profile, its options and this tool's presets.
//!
//! The table itself is generated from the standard ([`annex_e`]); this module resolves a
//! row's action for the options in force, and [`walk`] applies it to every element at
//! every depth of an instance.

mod annex_e;
pub mod audit;
mod private;
mod scrub;
mod walk;

use std::collections::BTreeSet;

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use serde::{Deserialize, Serialize};

use crate::dates::DatePolicy;

pub use private::list as safe_private_list;
pub use walk::{deidentify, Subject, TOOL};

/// An action code of Table E.1-1 (PS3.15 E.1.1), compound codes included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Remove.
    X,
    /// Replace with a zero-length value.
    Z,
    /// Replace with a non-zero-length dummy value consistent with the VR.
    D,
    /// Replace with a UID that is consistent within the export.
    U,
    /// Keep.
    K,
    /// Clean: replace with values of similar meaning known not to identify.
    C,
    XZ,
    XD,
    ZD,
    XZD,
    XZU,
}

/// Which attributes a row of the table covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pattern {
    /// One attribute, `(gggg,eeee)` as `0xggggeeee`.
    Tag(u32),
    /// `(50xx,xxxx)`: retired curve groups.
    Curve,
    /// `(60xx,eeee)`: overlay groups, one element.
    Overlay(u16),
    /// Every attribute of an odd group.
    Private,
}

/// One row of Table E.1-1: pattern, name, Basic Profile action, and the action of each
/// option (in the order of [`Opt::ALL`]) where the option changes it.
#[derive(Debug)]
pub struct Row(pub Pattern, pub &'static str, pub Code, pub [Option<Code>; 10]);

const K_: Option<Code> = Some(Code::K);
const C_: Option<Code> = Some(Code::C);
const __: Option<Code> = None;

/// The rows of Table E.1-1, exact tags first in tag order.
pub fn rows() -> &'static [Row] {
    &annex_e::ROWS
}

/// The options of the Basic Application Level Confidentiality Profile (PS3.15 E.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Opt {
    RetainSafePrivate,
    RetainUids,
    RetainDeviceIdentity,
    RetainInstitutionIdentity,
    RetainPatientCharacteristics,
    RetainLongitudinalTemporalInformationFullDates,
    RetainLongitudinalTemporalInformationModifiedDates,
    CleanDescriptors,
    CleanStructuredContent,
    CleanGraphics,
    /// Clean Pixel Data (E.3.1): no column of the table; burned-in text is blacked out of the
    /// pixels of the images held back for it (crate::redact).
    CleanPixelData,
    /// Clean Recognizable Visual Features (E.3.2): no column of the table; the face is removed
    /// from the voxels of 3D head scans (crate::deface).
    CleanVisualFeatures,
}

impl Opt {
    /// In the order of the table's option columns.
    pub const ALL: [Opt; 10] = [
        Opt::RetainSafePrivate,
        Opt::RetainUids,
        Opt::RetainDeviceIdentity,
        Opt::RetainInstitutionIdentity,
        Opt::RetainPatientCharacteristics,
        Opt::RetainLongitudinalTemporalInformationFullDates,
        Opt::RetainLongitudinalTemporalInformationModifiedDates,
        Opt::CleanDescriptors,
        Opt::CleanStructuredContent,
        Opt::CleanGraphics,
    ];

    /// The kebab-case name used by the CLI, the settings and the report.
    pub fn name(self) -> &'static str {
        match self {
            Opt::RetainSafePrivate => "retain-safe-private",
            Opt::RetainUids => "retain-uids",
            Opt::RetainDeviceIdentity => "retain-device-identity",
            Opt::RetainInstitutionIdentity => "retain-institution-identity",
            Opt::RetainPatientCharacteristics => "retain-patient-characteristics",
            Opt::RetainLongitudinalTemporalInformationFullDates => "retain-longitudinal-temporal-information-full-dates",
            Opt::RetainLongitudinalTemporalInformationModifiedDates => {
                "retain-longitudinal-temporal-information-modified-dates"
            }
            Opt::CleanDescriptors => "clean-descriptors",
            Opt::CleanStructuredContent => "clean-structured-content",
            Opt::CleanGraphics => "clean-graphics",
            Opt::CleanPixelData => "clean-pixel-data",
            Opt::CleanVisualFeatures => "clean-visual-features",
        }
    }

    /// The options that act on pixels, not on attributes: no column of Table E.1-1; recorded
    /// only on the files whose pixels they changed.
    pub const PIXEL: [Opt; 2] = [Opt::CleanPixelData, Opt::CleanVisualFeatures];

    pub fn from_name(name: &str) -> Option<Opt> {
        Opt::ALL.into_iter().chain(Opt::PIXEL).find(|o| o.name() == name)
    }

    /// The CID 7050 code (De-identification Method) that records the option.
    pub fn code(self) -> (&'static str, &'static str) {
        match self {
            Opt::RetainSafePrivate => ("113111", "Retain Safe Private Option"),
            Opt::RetainUids => ("113110", "Retain UIDs Option"),
            Opt::RetainDeviceIdentity => ("113109", "Retain Device Identity Option"),
            Opt::RetainInstitutionIdentity => ("113112", "Retain Institution Identity Option"),
            Opt::RetainPatientCharacteristics => ("113108", "Retain Patient Characteristics Option"),
            Opt::RetainLongitudinalTemporalInformationFullDates => {
                ("113106", "Retain Longitudinal Temporal Information Full Dates Option")
            }
            Opt::RetainLongitudinalTemporalInformationModifiedDates => {
                ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
            }
            Opt::CleanDescriptors => ("113105", "Clean Descriptors Option"),
            Opt::CleanStructuredContent => ("113104", "Clean Structured Content Option"),
            Opt::CleanGraphics => ("113103", "Clean Graphics Option"),
            Opt::CleanPixelData => ("113101", "Clean Pixel Data Option"),
            Opt::CleanVisualFeatures => ("113102", "Clean Recognizable Visual Features Option"),
        }
    }

    /// The option's column of Table E.1-1 (none for the pixel options).
    fn column(self) -> Option<usize> {
        Opt::ALL.iter().position(|&o| o == self)
    }
}

/// A named starting point for the options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// The Basic Profile with the options the user chooses; dates removed unless a date
    /// policy is chosen.
    Basic,
    /// For the research platform the export feeds: Basic Profile + Retain Patient
    /// Characteristics + Retain Device Identity, SeriesDescription and ProtocolName kept
    /// verbatim (protocols are matched by name), birth date reduced to the year, other
    /// dates to the month, PatientAge computed before, times removed, PRIMARY images only.
    #[default]
    Mip,
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::Basic => "basic",
            Preset::Mip => "mip",
        }
    }
}

/// The resolved policy of one export: preset, effective options and date policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub preset: Preset,
    pub options: BTreeSet<Opt>,
    pub dates: DatePolicy,
    /// Pixel options applied to the output at hand (see [`Policy::applying`]).
    pub applied: Vec<Opt>,
}

impl Policy {
    /// Resolves the user's choices. The two longitudinal options are the date policy seen
    /// from the standard: full dates = `keep`, modified dates = `month` or `shift`.
    pub fn new(preset: Preset, chosen: &[Opt], dates: Option<DatePolicy>) -> Policy {
        let mut options: BTreeSet<Opt> = chosen.iter().copied().collect();
        if preset == Preset::Mip {
            options.insert(Opt::RetainPatientCharacteristics);
            options.insert(Opt::RetainDeviceIdentity);
        }
        let dates = dates.unwrap_or(if options.contains(&Opt::RetainLongitudinalTemporalInformationFullDates) {
            DatePolicy::Keep
        } else if options.contains(&Opt::RetainLongitudinalTemporalInformationModifiedDates) {
            DatePolicy::Shift
        } else if preset == Preset::Mip {
            DatePolicy::Month
        } else {
            DatePolicy::Remove
        });
        options.remove(&Opt::RetainLongitudinalTemporalInformationFullDates);
        options.remove(&Opt::RetainLongitudinalTemporalInformationModifiedDates);
        match dates {
            DatePolicy::Keep => options.insert(Opt::RetainLongitudinalTemporalInformationFullDates),
            DatePolicy::Month | DatePolicy::Shift => options.insert(Opt::RetainLongitudinalTemporalInformationModifiedDates),
            DatePolicy::Remove => false,
        };
        Policy { preset, options, dates, applied: Vec::new() }
    }

    /// The action for one attribute, before the VR decides what a compound code means.
    pub fn action(&self, tag: Tag) -> Action {
        match tag {
            tags::PATIENT_NAME | tags::PATIENT_ID => return Action::Patient,
            tags::STUDY_ID => return Action::Visit,
            // Written afresh once the data set is clean.
            tags::PATIENT_IDENTITY_REMOVED
            | tags::DEIDENTIFICATION_METHOD
            | tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE
            | tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED => return Action::Code(Code::X),
            _ => {}
        }
        // A birth date reduced to its month still narrows a patient down to a few dozen
        // people in a hospital: with the month policy it goes to the year, as in the tables.
        if tag == tags::PATIENT_BIRTH_DATE && self.dates == DatePolicy::Month {
            return Action::BirthYear;
        }
        if self.preset == Preset::Mip {
            match tag {
                // Kept for protocol matching, but cleaned of the instance's identifiers.
                tags::SERIES_DESCRIPTION | tags::PROTOCOL_NAME => return Action::Code(Code::C),
                tags::PATIENT_BIRTH_DATE => return Action::BirthYear,
                // Computed from the original dates before they are reduced.
                tags::PATIENT_AGE => return Action::Code(Code::X),
                _ => {}
            }
        }
        match row(tag) {
            Some(row) => Action::Code(self.resolve(row)),
            None => Action::Unlisted,
        }
    }

    /// A row's action under the options in force: an option that keeps wins over one
    /// that cleans, which wins over the Basic Profile.
    pub fn resolve(&self, row: &Row) -> Code {
        let chosen: Vec<Code> = self.options.iter().filter_map(|o| o.column().and_then(|c| row.3[c])).collect();
        if chosen.contains(&Code::K) {
            Code::K
        } else if chosen.contains(&Code::C) {
            Code::C
        } else {
            row.2
        }
    }

    /// The values written into DeidentificationMethod (LO, 64 characters each).
    pub fn method(&self) -> Vec<String> {
        let mut out = vec![TOOL.to_string(), format!("preset {}", self.preset.name()), format!("dates {}", self.dates.name())];
        out.extend(self.options.iter().filter(|o| o.column().is_some()).map(|o| o.name().to_string()));
        if self.preset == Preset::Mip {
            out.push("series-description and protocol-name kept, identifiers removed".to_string());
        }
        out.extend(self.applied.iter().map(|o| o.name().to_string()));
        out
    }

    /// The policy of an output whose pixels `opt` changed (a defaced volume's sidecar): its
    /// method ends with the option's name and code, as the DICOM files' do.
    pub fn applying(&self, opt: Opt) -> Policy {
        let mut policy = self.clone();
        policy.applied.push(opt);
        policy
    }

    /// The CID 7050 codes (value, meaning) of the method: the Basic Profile, then each option.
    pub fn method_codes(&self) -> Vec<(&'static str, &'static str)> {
        let mut codes = vec![("113100", "Basic Application Confidentiality Profile")];
        // 113101 only on the files whose pixels were cleaned (crate::redact adds it there).
        codes.extend(self.options.iter().filter(|o| o.column().is_some()).map(|o: &Opt| o.code()));
        codes.extend(self.applied.iter().map(|o| o.code()));
        codes
    }
}

/// Whether the tag's row is cleaned by Retain Longitudinal Temporal Information with
/// Modified Dates: a temporal attribute whatever its VR (Timezone Offset From UTC is SH).
pub fn is_temporal(tag: Tag) -> bool {
    row(tag).is_some_and(|r| r.3[Opt::ALL.iter().position(|&o| o == Opt::RetainLongitudinalTemporalInformationModifiedDates).unwrap_or(6)] == Some(Code::C))
}

/// A text attribute as the DICOM export writes it, for the other outputs (NIfTI names and
/// sidecars): kept, cleaned of the instance's identifiers, or `None` when it is removed,
/// emptied or replaced.
pub fn exported_text(ds: &dicom_object::InMemDicomObject, policy: &Policy, tag: Tag) -> Option<String> {
    let value = crate::dicom::text(ds, tag)?;
    match policy.action(tag) {
        Action::Code(Code::K) | Action::Unlisted => Some(value),
        Action::Code(Code::C) => {
            let words = audit::Identifiers::collect(ds, policy, 0).words();
            Some(scrub::scrub(&value, &words)).filter(|v| !v.is_empty())
        }
        _ => None,
    }
}

/// What the walk does with one element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Code(Code),
    /// Not in Table E.1-1: kept, but UIDs are still remapped (see [`walk`]).
    Unlisted,
    /// Replace with the research patient ID.
    Patient,
    /// Replace with the visit's research ID.
    Visit,
    /// Reduce a birth date to the first of January of its year.
    BirthYear,
}

/// The row of Table E.1-1 that covers a tag.
pub fn row(tag: Tag) -> Option<&'static Row> {
    let rows = rows();
    let key = ((tag.group() as u32) << 16) | tag.element() as u32;
    let exact = rows.partition_point(|r| matches!(r.0, Pattern::Tag(_)));
    if let Ok(i) = rows[..exact].binary_search_by(|r| match r.0 {
        Pattern::Tag(t) => t.cmp(&key),
        _ => unreachable!("exact rows come first"),
    }) {
        return Some(&rows[i]);
    }
    let group = tag.group();
    rows[exact..].iter().find(|r| match r.0 {
        Pattern::Curve => group & 0xFF01 == 0x5000,
        Pattern::Overlay(e) => group & 0xFF01 == 0x6000 && tag.element() == e,
        Pattern::Private => group % 2 == 1,
        Pattern::Tag(_) => false,
    })
}

/// Resolves a compound code with what the VR allows. Whether the attribute is Type 1 or 2
/// in its IOD is not known here, so the choice is the one that keeps the file valid in
/// every case: X/Z → Z (never Type 1), X/D, Z/D, X/Z/D → D (a dummy satisfies Type 1; on a
/// sequence, an item of dummies: see the walk).
pub fn simple(code: Code, vr: VR) -> Code {
    match code {
        Code::XZ => Code::Z,
        Code::XD | Code::ZD | Code::XZD => Code::D,
        // Sequences of references: kept for their references, their UIDs replaced, every
        // other value of their items cleaned.
        Code::XZU if vr == VR::SQ => Code::C,
        Code::XZU if vr == VR::UI => Code::U,
        Code::XZU => Code::Z,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_covers_exact_and_wildcard_rows() {
        assert_eq!(row(tags::ACCESSION_NUMBER).unwrap().1, "Accession Number");
        assert_eq!(row(Tag(0x6002, 0x3000)).unwrap().1, "Overlay Data");
        assert_eq!(row(Tag(0x501E, 0x1234)).unwrap().1, "Curve Data");
        assert_eq!(row(Tag(0x0009, 0x1001)).unwrap().1, "Private Attributes");
        assert!(row(tags::ROWS).is_none());
        assert!(row(Tag(0x6001, 0x3000)).unwrap().0 == Pattern::Private);
        // Every exact row is found by its own tag.
        for r in rows() {
            if let Pattern::Tag(t) = r.0 {
                assert_eq!(row(Tag((t >> 16) as u16, t as u16)).unwrap().1, r.1);
            }
        }
    }

    #[test]
    fn options_override_the_basic_profile() {
        let basic = Policy::new(Preset::Basic, &[], None);
        assert_eq!(basic.dates, DatePolicy::Remove);
        let device_serial = row(tags::DEVICE_SERIAL_NUMBER).unwrap();
        assert_ne!(basic.resolve(device_serial), Code::K);
        let device = Policy::new(Preset::Basic, &[Opt::RetainDeviceIdentity], None);
        assert_eq!(device.resolve(device_serial), Code::K);
        let network = row(Tag(0x0008, 0x1000)).unwrap();
        assert_eq!(basic.resolve(network), Code::X);
        assert_eq!(device.resolve(network), Code::C);
        // Keeping wins over cleaning: Allergies under both options.
        let both = Policy::new(Preset::Basic, &[Opt::RetainPatientCharacteristics, Opt::CleanDescriptors], None);
        assert_eq!(both.resolve(row(Tag(0x0010, 0x2110)).unwrap()), Code::C);
        let mip = Policy::new(Preset::Mip, &[], None);
        assert_eq!(mip.dates, DatePolicy::Month);
        assert!(mip.options.contains(&Opt::RetainLongitudinalTemporalInformationModifiedDates));
        assert_eq!(mip.action(tags::SERIES_DESCRIPTION), Action::Code(Code::C));
        assert_eq!(basic.action(tags::SERIES_DESCRIPTION), Action::Code(Code::X));
        assert_eq!(mip.resolve(row(tags::STUDY_DATE).unwrap()), Code::C);
        assert_eq!(Policy::new(Preset::Basic, &[Opt::RetainLongitudinalTemporalInformationFullDates], None).dates, DatePolicy::Keep);
    }

    #[test]
    fn option_names_round_trip() {
        for o in Opt::ALL {
            assert_eq!(Opt::from_name(o.name()), Some(o));
            assert!(o.code().0.starts_with("1131"));
        }
    }
}
