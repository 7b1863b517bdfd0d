//! The Clean Pixel Data Option (PS3.15 E.3.1, code 113101): boxes of identifying text found in
//! an image's pixels (rules per scanner layout, a detector, the user's own) and blacked out on
//! every frame and sample before the file is written.

use serde::{Deserialize, Serialize};

use crate::dicom::{self, Object};
pub use crate::error::RedactError;
pub use image::{Format, Image, Output};
pub use rules::{PixelRules, Rule, RulesError};

pub mod detect;
mod image;
pub mod rules;
pub mod write;

/// A box to black out, in the image's pixel coordinates (column `x`, row `y`, from the top left).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    /// The part of the box inside an image of `columns` × `rows` (None when nothing is).
    pub fn clip(self, columns: u32, rows: u32) -> Option<Rect> {
        let right = self.x.saturating_add(self.width).min(columns);
        let bottom = self.y.saturating_add(self.height).min(rows);
        (right > self.x && bottom > self.y).then(|| Rect { x: self.x, y: self.y, width: right - self.x, height: bottom - self.y })
    }

    /// Whether pixel (`column`, `row`) is inside the box.
    pub fn contains(self, column: u32, row: u32) -> bool {
        column >= self.x && row >= self.y && column - self.x < self.width && row - self.y < self.height
    }
}

/// What to black out on one image: boxes on every frame (a rule's or the user's), and whether
/// the detector adds what it finds on each frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Boxes {
    pub fixed: Vec<Rect>,
    /// The names of the rules that gave `fixed` (none when the user's boxes were accepted).
    pub rules: Vec<String>,
    pub detect: bool,
    /// `fixed` are the user's, accepted on the review screen.
    pub accepted: bool,
}

/// One frame as a grey display image, 8 bits per pixel, row by row (windowed as a viewer shows
/// it): what the detector reads and the review's thumbnail is drawn from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Luma {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// The review's preview of an image: its first frame's display grey, for the thumbnail and
/// the detector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub columns: u32,
    pub rows: u32,
    pub frames: usize,
    /// Full size.
    pub luma: Luma,
}

/// The first frame of a DICOM file (its bytes, whole) as the review shows it.
pub fn preview(bytes: &[u8]) -> Result<Preview, RedactError> {
    let split = dicom::parse_split(bytes, false).map_err(|e| RedactError::Decode { frame: 0, why: e.to_string() })?;
    let image = Image::open(&split, bytes)?;
    let luma = image.luma(&image.frame(0)?);
    let format = &image.format;
    Ok(Preview { columns: format.columns as u32, rows: format.rows as u32, frames: format.frames, luma })
}

/// `luma` made no larger than `longest` pixels on its longer side, each pixel the average of
/// the pixels it covers (integer arithmetic); the aspect is kept. As it is when small enough.
pub fn thumbnail(luma: &Luma, longest: u32) -> Luma {
    let (w, h) = (luma.width as u64, luma.height as u64);
    let longest = longest.max(1) as u64;
    if w.max(h) <= longest || w == 0 || h == 0 {
        return luma.clone();
    }
    let (tw, th) = if w >= h { (longest, (h * longest / w).max(1)) } else { ((w * longest / h).max(1), longest) };
    let mut pixels = Vec::with_capacity((tw * th) as usize);
    for ty in 0..th {
        let (y0, y1) = (ty * h / th, ((ty + 1) * h / th).max(ty * h / th + 1));
        for tx in 0..tw {
            let (x0, x1) = (tx * w / tw, ((tx + 1) * w / tw).max(tx * w / tw + 1));
            let sum: u64 = (y0..y1).map(|y| (x0..x1).map(|x| luma.pixels[(y * w + x) as usize] as u64).sum::<u64>()).sum();
            let count = (y1 - y0) * (x1 - x0);
            pixels.push(((sum + count / 2) / count) as u8);
        }
    }
    Luma { width: tw as u32, height: th as u32, pixels }
}

/// Whether the image's pixels can be cleaned: a transfer syntax decoded here (not video), a
/// photometric interpretation and sample layout this engine writes. The header is enough.
pub fn cleanable(object: &Object) -> Result<(), RedactError> {
    Format::of(object).map(|_| ())
}

/// `boxes` clipped to an image of `columns` × `rows` (those outside it dropped), then merged.
pub fn merge_within(boxes: Vec<Rect>, columns: u32, rows: u32) -> Vec<Rect> {
    merge(boxes.into_iter().filter_map(|b| b.clip(columns, rows)).collect())
}

/// `boxes` with every overlapping (or touching) pair replaced by the box around both, until
/// none overlap; sorted.
pub fn merge(mut boxes: Vec<Rect>) -> Vec<Rect> {
    let touch = |a: &Rect, b: &Rect| {
        a.x as u64 <= b.x as u64 + b.width as u64
            && b.x as u64 <= a.x as u64 + a.width as u64
            && a.y as u64 <= b.y as u64 + b.height as u64
            && b.y as u64 <= a.y as u64 + a.height as u64
    };
    boxes.retain(|b| b.width > 0 && b.height > 0);
    let mut merged = true;
    while merged {
        merged = false;
        'outer: for i in 0..boxes.len() {
            for j in i + 1..boxes.len() {
                if touch(&boxes[i], &boxes[j]) {
                    let b = boxes.swap_remove(j);
                    let a = boxes[i];
                    let (x, y) = (a.x.min(b.x), a.y.min(b.y));
                    let right = a.x.saturating_add(a.width).max(b.x.saturating_add(b.width));
                    let bottom = a.y.saturating_add(a.height).max(b.y.saturating_add(b.height));
                    boxes[i] = Rect { x, y, width: right - x, height: bottom - y };
                    merged = true;
                    break 'outer;
                }
            }
        }
    }
    boxes.sort();
    boxes
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod rect_tests {
    use super::*;

    #[test]
    fn a_box_is_clipped_to_the_image() {
        let r = Rect { x: 600, y: 10, width: 100, height: 20 };
        assert_eq!(r.clip(640, 480), Some(Rect { x: 600, y: 10, width: 40, height: 20 }));
        assert_eq!(Rect { x: 700, y: 0, width: 5, height: 5 }.clip(640, 480), None);
        assert!(r.contains(600, 10) && r.contains(699, 29) && !r.contains(700, 10) && !r.contains(600, 30));
    }
}
