//! DICOM as bytes: recognising and parsing a file (the length walk first), reading its
//! attributes, and encoding a data set back. No policy here: `profile` decides what stays.

mod attr;
mod encode;
mod length;
mod parse;
mod plane;
mod summary;
#[cfg(test)]
mod tests;

use dicom_object::{FileDicomObject, InMemDicomObject};

pub use attr::{element, in_functional_groups, number, numbers, text};
pub use encode::{encode, meta, reinterpret_un};
pub use length::check_data_set;
pub use parse::{is_dicom, parse, parse_header, parse_split, Header, Split};
pub use plane::{frame_planes, Plane};
pub use summary::Summary;

/// A parsed DICOM file: file meta group and data set.
pub type Object = FileDicomObject<InMemDicomObject>;
