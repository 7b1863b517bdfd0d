//! Decoders of compressed pixel data that import nothing else from the crate: 8-bit lossy
//! JPEG with dcm2niix's arithmetic (`jpeg`) and JPEG-LS (`jpegls`); and, on wasm32, the C
//! library functions that openjp2 (JPEG 2000) links against (`libc_shim`).

pub mod jpeg;
pub mod jpegls;
#[cfg(target_arch = "wasm32")]
mod libc_shim;
