//! Rules: "for images of this scanner layout, black out these boxes" (`--pixel-rules FILE`, the
//! page's rule file, and the built-in set in builtin.json).

use serde::{Deserialize, Serialize};

use super::Rect;
use crate::dicom::Summary;

/// A rule file: `{"rules": [...]}` (other keys, such as `about`, are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PixelRules {
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One layout: the images it matches and the boxes to black out on them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    /// Where the layout comes from (a public library, or who measured it and when).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(rename = "match", default)]
    pub matches: Match,
    pub boxes: Vec<Rect>,
}

/// What an image must be for a rule to apply: every given key holds; a missing key is any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Match {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
    /// Contained in Manufacturer, ignoring case and surrounding spaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Contained in ManufacturerModelName, ignoring case and surrounding spaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sop_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<u32>,
    /// Each value is one of the image's ImageType values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub image_type: Vec<String>,
}

/// Why a rule file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesError {
    /// Not JSON of the rule file's shape (serde's message, with its line and column).
    Json(String),
    /// A rule without boxes, or with a box of no area.
    EmptyBox { rule: String },
}

impl std::fmt::Display for RulesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RulesError::Json(e) => write!(f, "the pixel rule file is not valid: {e}"),
            RulesError::EmptyBox { rule } => write!(f, "pixel rule {rule:?} has no box, or a box of no area"),
        }
    }
}

impl PixelRules {
    /// The built-in layouts (builtin.json, each citing its public source).
    pub fn builtin() -> PixelRules {
        PixelRules::from_json(include_str!("builtin.json")).expect("builtin.json is a valid rule file")
    }

    pub fn from_json(text: &str) -> Result<PixelRules, RulesError> {
        let rules: PixelRules = serde_json::from_str(text).map_err(|e| RulesError::Json(e.to_string()))?;
        rules.check()?;
        Ok(rules)
    }

    /// Every rule has boxes, each with an area.
    pub fn check(&self) -> Result<(), RulesError> {
        match self.rules.iter().find(|r| r.boxes.is_empty() || r.boxes.iter().any(|b| b.width == 0 || b.height == 0)) {
            Some(r) => Err(RulesError::EmptyBox { rule: r.name.clone() }),
            None => Ok(()),
        }
    }

    /// The rules that match the image, in file order.
    pub fn matching<'r>(&'r self, image: &'r Summary) -> impl Iterator<Item = &'r Rule> + 'r {
        self.rules.iter().filter(move |r| r.matches.holds(image))
    }
}

impl Match {
    pub fn holds(&self, s: &Summary) -> bool {
        let contains = |want: &Option<String>, have: &Option<String>| match want {
            None => true,
            Some(w) => have.as_deref().is_some_and(|h| h.trim().to_lowercase().contains(&w.trim().to_lowercase())),
        };
        let equal = |want: Option<u32>, have: Option<u32>| want.is_none() || want == have;
        self.modality.as_ref().is_none_or(|m| s.modality.as_deref().is_some_and(|h| h.trim().eq_ignore_ascii_case(m.trim())))
            && contains(&self.manufacturer, &s.manufacturer)
            && contains(&self.model, &s.model)
            && self.sop_class.as_ref().is_none_or(|c| c.trim() == s.sop_class)
            && equal(self.rows, s.rows)
            && equal(self.columns, s.columns)
            && self.image_type.iter().all(|t| s.image_type.iter().any(|h| h.eq_ignore_ascii_case(t.trim())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(manufacturer: &str, model: &str, rows: u32, columns: u32) -> Summary {
        Summary {
            modality: Some("US".into()),
            manufacturer: Some(manufacturer.into()),
            model: Some(model.into()),
            rows: Some(rows),
            columns: Some(columns),
            sop_class: "1.2.840.10008.5.1.4.1.1.6.1".into(),
            image_type: vec!["ORIGINAL".into(), "PRIMARY".into()],
            ..Summary::default()
        }
    }

    #[test]
    fn the_builtin_layouts_load_and_match_by_maker_model_and_size() {
        let rules = PixelRules::builtin();
        assert!(rules.rules.len() >= 10 && rules.rules.iter().all(|r| !r.source.is_empty()));
        let names = |s: &Summary| rules.matching(s).map(|r| r.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&us("SIEMENS", "ACUSON S2000", 768, 1024)), ["Siemens S2000 ultrasound 1024x768, header band"]);
        assert!(names(&us("SIEMENS", "ACUSON S2000", 600, 800)).is_empty(), "another size is another layout");
        assert_eq!(names(&us(" philips medical systems ", "iU22", 480, 640)).len(), 1, "case and spaces are ignored");
        assert!(names(&Summary { modality: Some("CT".into()), ..us("SIEMENS", "S2000", 768, 1024) }).is_empty());
    }

    #[test]
    fn a_rule_file_is_checked_and_every_key_must_hold() {
        let text = r#"{"rules": [{"name": "site", "match": {"sopClass": "1.2.840.10008.5.1.4.1.1.7", "imageType": ["SECONDARY"]},
                       "boxes": [{"x": 0, "y": 0, "width": 100, "height": 20}]}]}"#;
        let rules = PixelRules::from_json(text).unwrap();
        let sc = Summary { sop_class: "1.2.840.10008.5.1.4.1.1.7".into(), image_type: vec!["DERIVED".into(), "SECONDARY".into()], ..Summary::default() };
        assert_eq!(rules.matching(&sc).count(), 1);
        assert_eq!(rules.matching(&Summary { image_type: vec!["DERIVED".into()], ..sc.clone() }).count(), 0);
        let empty = r#"{"rules": [{"name": "nothing", "boxes": [{"x": 0, "y": 0, "width": 0, "height": 5}]}]}"#;
        assert_eq!(PixelRules::from_json(empty), Err(RulesError::EmptyBox { rule: "nothing".into() }));
        let typo = r#"{"rules": [{"name": "t", "match": {"modell": "x"}, "boxes": [{"x": 0, "y": 0, "width": 1, "height": 1}]}]}"#;
        assert!(matches!(PixelRules::from_json(typo), Err(RulesError::Json(e)) if e.contains("modell")), "a misspelt key is refused, not ignored");
    }
}
