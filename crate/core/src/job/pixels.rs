//! The Clean Pixel Data Option's part of the plan: which held-back images it exports, with
//! which boxes; the review's series, previews and the user's accepted boxes.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Format, Input, Job};
use crate::dicom::Summary;
use crate::error::{JobError, Reason};
use crate::profile::Opt;
use crate::redact::{self, Boxes, PixelRules, Rect};
use crate::report::{Outcome, Why};

/// One held-back image the option exports: its boxes, and the outcome it goes back to when
/// its series needs the user's acceptance and did not get it.
#[derive(Debug, Clone)]
pub(super) struct PixelPlan {
    pub series: String,
    pub boxes: Boxes,
    pub needs_acceptance: bool,
    pub held: (Why, String),
}

/// A series of images whose pixels the option cleans, as the review shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PixelSeries {
    pub key: String,
    /// Its inputs in scan order; the first is previewed.
    pub inputs: Vec<usize>,
    pub modality: String,
    pub manufacturer: String,
    pub model: String,
    pub sop_class: String,
    pub rows: u32,
    pub columns: u32,
    /// The rules that match it (their boxes are applied).
    pub rules: Vec<String>,
    /// No rule matched: it is exported only with boxes the user accepts.
    pub needs_acceptance: bool,
}

/// The review's preview of one image: its first frame in grey, scaled down, and the boxes
/// proposed on it (the rules' and the detector's), in the image's pixel coordinates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PixelPreview {
    pub columns: u32,
    pub rows: u32,
    pub frames: usize,
    pub thumb_width: u32,
    pub thumb_height: u32,
    pub thumb: Vec<u8>,
    pub proposed: Vec<Rect>,
}

/// Whether an instance held back for this reason is one the option can clean: burned-in text
/// on any image, or an image class whose pixels usually show text (not documents or reports).
fn cleanable_hold(why: &Why, s: &Summary) -> bool {
    const PIXEL_CLASSES: &[&str] =
        &["1.2.840.10008.5.1.4.1.1.6.", "1.2.840.10008.5.1.4.1.1.3.1", "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.77.1."];
    let pixel_class = PIXEL_CLASSES.iter().any(|p| s.sop_class == p.trim_end_matches('.') || s.sop_class.starts_with(p));
    why.code == Reason::BurnedIn || (why.code == Reason::RiskySopClass && pixel_class)
}

impl Job {
    /// With the option (and a DICOM tree to write into), releases the held-back images it can
    /// clean, each with its rules' boxes; the page's review then decides the others.
    pub(super) fn plan_pixels(&mut self) {
        let on = self.policy.options.contains(&Opt::CleanPixelData) && self.settings.format != Format::Nifti;
        if !on {
            return;
        }
        let builtin = PixelRules::builtin();
        let site = self.settings.pixel_rules.clone().unwrap_or_default();
        for (i, input) in self.inputs.iter_mut().enumerate() {
            let Some(plan) = pixel_plan(input, &[&site, &builtin], &self.settings) else { continue };
            input.outcome = Outcome::Pending;
            input.why = None;
            self.pixels.insert(i, plan);
        }
    }

    /// The series the option cleans, for the review (after `plan`).
    pub fn pixel_series(&self) -> Vec<PixelSeries> {
        let mut series: BTreeMap<&str, PixelSeries> = BTreeMap::new();
        for (&i, plan) in &self.pixels {
            let s = self.summary(i);
            let entry = series.entry(&plan.series).or_insert_with(|| PixelSeries {
                key: plan.series.clone(),
                inputs: Vec::new(),
                modality: s.modality.clone().unwrap_or_default(),
                manufacturer: s.manufacturer.clone().unwrap_or_default(),
                model: s.model.clone().unwrap_or_default(),
                sop_class: s.sop_class.clone(),
                rows: s.rows.unwrap_or(0),
                columns: s.columns.unwrap_or(0),
                rules: plan.boxes.rules.clone(),
                needs_acceptance: plan.needs_acceptance,
            });
            entry.inputs.push(i);
        }
        series.into_values().collect()
    }

    /// The user's boxes for series `key`: its images are then exported with exactly these.
    pub fn accept_pixel_boxes(&mut self, key: &str, boxes: Vec<Rect>) -> Result<(), JobError> {
        let mut found = false;
        for plan in self.pixels.values_mut().filter(|p| p.series == key) {
            plan.boxes = Boxes { fixed: boxes.clone(), rules: Vec::new(), detect: false, accepted: true };
            plan.needs_acceptance = false;
            found = true;
        }
        if found { Ok(()) } else { Err(JobError::UnknownPixelSeries(key.to_string())) }
    }

    /// One image whose pixels the option cleans: held back again when its series needed the
    /// user's acceptance and did not get it.
    pub(super) fn export_cleaned(&mut self, input: usize, path: String, bytes: &[u8], out: &mut dyn FnMut(Vec<Vec<u8>>)) -> Result<(), JobError> {
        if self.hold_unaccepted(input) {
            return Ok(());
        }
        let boxes = self.pixels[&input].boxes.clone();
        self.export_redacted_into(input, path, bytes, &boxes, out)
    }

    /// Why input `i` stays held back unless the user accepts its series' boxes, if it does.
    pub(super) fn awaiting_boxes(&self, i: usize) -> Option<(&Why, &String)> {
        self.pixels.get(&i).filter(|p| p.needs_acceptance).map(|p| (&p.held.0, &p.held.1))
    }

    /// Puts an image whose series needed the user's acceptance, and did not get it, back on hold.
    /// Gives whether it did.
    pub(super) fn hold_unaccepted(&mut self, input: usize) -> bool {
        let Some((why, reason)) = self.awaiting_boxes(input).map(|(w, r)| (w.clone(), r.clone())) else { return false };
        self.inputs[input].outcome = Outcome::Quarantined { reason };
        self.inputs[input].why = Some(why);
        true
    }
}

/// The plan of one held-back input, if the option cleans it: the matching rules' boxes, the
/// detector (as the settings say), and whether the user must accept its boxes (the page's
/// review, when no rule matched).
fn pixel_plan(input: &Input, rule_sets: &[&PixelRules], settings: &super::Settings) -> Option<PixelPlan> {
    let (Some(s), Outcome::Quarantined { reason }, Some(why)) = (&input.summary, &input.outcome, &input.why) else {
        return None;
    };
    if !cleanable_hold(why, s) {
        return None;
    }
    let rules: Vec<_> = rule_sets.iter().flat_map(|set| set.matching(s)).collect();
    let mut fixed: Vec<Rect> = rules.iter().flat_map(|r| r.boxes.iter().copied()).collect();
    fixed.sort();
    fixed.dedup();
    Some(PixelPlan {
        series: s.series_uid.clone(),
        needs_acceptance: rules.is_empty() && settings.pixel_review,
        boxes: Boxes { fixed, rules: rules.iter().map(|r| r.name.clone()).collect(), detect: settings.pixel_detect.0, accepted: false },
        held: (why.clone(), reason.clone()),
    })
}

impl Job {
    /// The review's preview of input `input` (its whole file): its first frame, scaled down,
    /// with the boxes proposed on it.
    pub fn pixel_preview(&self, input: usize, bytes: &[u8]) -> Result<PixelPreview, JobError> {
        let plan = self.pixels.get(&input).ok_or(JobError::UnknownInput(input))?;
        let preview = redact::preview(bytes).map_err(|e| JobError::PixelPreview(e.to_string()))?;
        let mut proposed = plan.boxes.fixed.clone();
        if plan.boxes.detect {
            proposed.extend(redact::detect::detect(&preview.luma));
        }
        let thumb = redact::thumbnail(&preview.luma, THUMBNAIL);
        Ok(PixelPreview {
            columns: preview.columns,
            rows: preview.rows,
            frames: preview.frames,
            thumb_width: thumb.width,
            thumb_height: thumb.height,
            thumb: thumb.pixels,
            proposed: redact::merge_within(proposed, preview.columns, preview.rows),
        })
    }
}

/// The longer side of the review's thumbnails, in pixels.
const THUMBNAIL: u32 = 480;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Settings;

    fn held(sop_class: &str, code: Reason, model: &str) -> Input {
        let summary = Summary {
            series_uid: "1.2.3".into(),
            sop_class: sop_class.into(),
            modality: Some("US".into()),
            manufacturer: Some("Philips".into()),
            model: Some(model.into()),
            rows: Some(480),
            columns: Some(640),
            ..Summary::default()
        };
        Input {
            name: "a.dcm".into(),
            size: 1,
            summary: Some(summary),
            outcome: Outcome::Quarantined { reason: "held".into() },
            why: Some(Why::new(code, None)),
            redaction: None,
            defaced: false,
        }
    }

    #[test]
    fn images_held_for_their_pixels_are_cleaned_documents_are_not() {
        let rules = PixelRules::builtin();
        let cli = Settings::default();
        let us = held("1.2.840.10008.5.1.4.1.1.6.1", Reason::RiskySopClass, "iU22");
        let plan = pixel_plan(&us, &[&rules], &cli).expect("an ultrasound image is cleaned");
        assert_eq!(plan.boxes.fixed, [Rect { x: 0, y: 0, width: 640, height: 47 }], "the built-in iU22 480-row layout");
        assert!(plan.boxes.detect && !plan.needs_acceptance);
        let sr = held("1.2.840.10008.5.1.4.1.1.88.22", Reason::RiskySopClass, "iU22");
        assert!(pixel_plan(&sr, &[&rules], &cli).is_none(), "a structured report has no pixels to clean");
        let ct = held("1.2.840.10008.5.1.4.1.1.2", Reason::BurnedIn, "");
        assert!(pixel_plan(&ct, &[&rules], &cli).is_some(), "burned-in text on any image");
    }

    #[test]
    fn on_the_page_an_image_no_rule_matches_waits_for_the_users_boxes() {
        let page = Settings { pixel_review: true, ..Settings::default() };
        let unknown = held("1.2.840.10008.5.1.4.1.1.7", Reason::RiskySopClass, "Workstation");
        let plan = pixel_plan(&unknown, &[&PixelRules::builtin()], &page).unwrap();
        assert!(plan.needs_acceptance && plan.boxes.fixed.is_empty() && plan.boxes.rules.is_empty());
        let known = held("1.2.840.10008.5.1.4.1.1.6.1", Reason::RiskySopClass, "iU22");
        assert!(!pixel_plan(&known, &[&PixelRules::builtin()], &page).unwrap().needs_acceptance, "a rule matched");
    }
}
