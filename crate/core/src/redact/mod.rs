//! The Clean Pixel Data Option (PS3.15 E.3.1, code 113101): boxes of identifying text found in
//! an image's pixels (rules per scanner layout, a detector, the user's own) and blacked out on
//! every frame and sample before the file is written.

pub mod detect;

use serde::{Deserialize, Serialize};

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

/// One frame as a grey display image, 8 bits per pixel, row by row (windowed as a viewer shows
/// it): what the detector reads and the review's thumbnail is drawn from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Luma {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_is_clipped_to_the_image() {
        let r = Rect { x: 600, y: 10, width: 100, height: 20 };
        assert_eq!(r.clip(640, 480), Some(Rect { x: 600, y: 10, width: 40, height: 20 }));
        assert_eq!(Rect { x: 700, y: 0, width: 5, height: 5 }.clip(640, 480), None);
        assert!(r.contains(600, 10) && r.contains(699, 29) && !r.contains(700, 10) && !r.contains(600, 30));
    }
}
