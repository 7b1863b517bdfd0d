//! Zip archives as inputs (`unzip::ZipInput`, as the page's WebZip and the tests use it):
//! the central directory is listed, every readable entry read within its declared size.
#![no_main]

use std::io::Cursor;

use capture::unzip::ZipInput;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut input) = ZipInput::open(Cursor::new(data)) else { return };
    for entry in input.entries() {
        if entry.ignored.is_none() {
            if let Ok(bytes) = input.read(entry.index) {
                assert_eq!(bytes.len() as u64, entry.size, "an entry read is exactly its declared size");
            }
        }
    }
});
