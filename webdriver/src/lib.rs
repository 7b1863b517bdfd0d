//! Test tooling for the page: a static file server with the project's security headers
//! ([`server`]), a minimal WebDriver client for headless Chromium ([`driver`]).
//! Real DICOM inputs come from the `capture-tests` crate's fixtures. The end-to-end tests live in `tests/`.

pub mod driver;
pub mod procmem;
pub mod server;
