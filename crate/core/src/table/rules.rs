//! The rules of a table's columns and the profiles that save them.

use serde::{Deserialize, Serialize};

pub use super::values::DateOrder;

/// What happens to a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    Keep,
    Drop,
    /// Replaced by the research patient ID ([`Keyring::patient`], as DICOM PatientID).
    PatientId,
    /// Replaced by the scan_research_id of the patient's visit on that date (or of that visit ID).
    Visit,
    /// Rewritten by the date policy (ISO 8601), shifted by the patient's offset under `shift`.
    Date,
    /// Reduced to the year.
    BirthDate,
}

/// The rule of one column, by header name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnRule {
    pub name: String,
    pub rule: Rule,
    /// Marked for the k-anonymity hint (e.g. sex, birth year, postcode).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quasi_identifier: bool,
    /// How dates with the year last are read (`day-first` when absent): chosen for a column
    /// whose dates read both ways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_order: Option<DateOrder>,
}

/// The rules of one table schema, saved as JSON and reused by later exports. A profile
/// applies to the table of that name (file name without extension) when `table` is given,
/// else to the table sharing the most column names with it (at least half of them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    pub columns: Vec<ColumnRule>,
}

/// Profiles from a JSON file: one profile object, or an array of them.
pub fn profiles_from_json(text: &str) -> Result<Vec<Profile>, String> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(Profile),
        Many(Vec<Profile>),
    }
    match serde_json::from_str(text) {
        Ok(OneOrMany::One(p)) => Ok(vec![p]),
        Ok(OneOrMany::Many(ps)) => Ok(ps),
        Err(_) => serde_json::from_str::<Profile>(text).map(|p| vec![p]).map_err(|e| format!("not an EHR profile: {e}")),
    }
}

/// The EHR part of the settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TableSettings {
    pub profiles: Vec<Profile>,
    /// Output header names reduced to letters, digits and `_`.
    pub sanitize_headers: bool,
    /// Skip a table with malformed rows instead of exporting it padded.
    pub skip_malformed: bool,
}
