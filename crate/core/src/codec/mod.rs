//! Decoders of compressed pixel data: 8-bit lossy JPEG with dcm2niix's arithmetic (`jpeg`)
//! and JPEG-LS (`jpegls`), which import nothing else from the crate; one frame of any transfer
//! syntax decoded here, from a parsed object (`frame`, for `nifti` and `redact`); and, on
//! wasm32, the C library functions that openjp2 (JPEG 2000) links against (`libc_shim`).

pub mod frame;
pub mod jpeg;
pub mod jpegls;
#[cfg(target_arch = "wasm32")]
mod libc_shim;
