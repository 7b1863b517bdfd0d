//! Shared test support: real inputs ([`fixtures`]: pydicom's files, fetched at test time),
//! the `capture` binary ([`cli`]) and checks on export zips ([`scan`]). Used by the
//! integration tests in `tests/tests/` and by the webdriver tests.

pub mod cli;
pub mod corpus;
pub mod fixtures;
pub mod head;
pub mod oracle;
pub mod scan;
pub mod series;
pub mod ultrasound;
