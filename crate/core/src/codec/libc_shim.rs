//! The few C library functions that `openjp2` (a c2rust port of OpenJPEG) links against
//! and wasm32-unknown-unknown lacks: it has no C library. Natively the platform's libc
//! provides them and this module is not compiled.
//!
//! Only what the final link leaves undefined is here: the allocator (`malloc`, `calloc`,
//! `realloc`, `free`) and `strcpy` (reached from the encoder's comment; we never encode).
//! `memcpy`/`memset`/`memmove`, `strlen` and the libm functions (`floor`, `ceil`, `sqrt`,
//! `pow`) already come from compiler_builtins on wasm32. The linker lets the crate's own
//! cdylib (which Cargo links although we only use the rlib) leave these symbols
//! undefined (.ci/wasm-cargo); build-wasm.sh fails if our module still imports any.

use std::alloc::{self, GlobalAlloc, Layout, System};
use std::ffi::{c_char, c_void};
use std::ptr;

/// The module's allocator: the system one (dlmalloc on wasm32), except that freeing null
/// does nothing. openjp2 hands `dealloc` the null buffer of a code block it never decoded;
/// natively that reaches C's `free`, which ignores null, while dlmalloc reads the header
/// before it and traps ("memory access out of bounds").
struct NullTolerant;

unsafe impl GlobalAlloc for NullTolerant {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if !p.is_null() {
            System.dealloc(p, layout)
        }
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        System.realloc(p, layout, size)
    }
}

#[global_allocator]
static ALLOCATOR: NullTolerant = NullTolerant;

/// Bytes before each block: its size, for `free` and `realloc`. 16 keeps the block
/// aligned as C's malloc aligns (max_align_t).
const HEADER: usize = 16;

/// Largest single block handed out: a bound on what a hostile codestream can make the
/// decoder reserve (the caller already refuses frames over 512 MiB of output).
const MAX_BLOCK: usize = 1 << 30;

fn layout(size: usize) -> Option<Layout> {
    let total = size.checked_add(HEADER).filter(|&t| t <= MAX_BLOCK)?;
    Layout::from_size_align(total, HEADER).ok()
}

/// Allocates `size` bytes behind a header holding `size`; null when refused or out of memory.
unsafe fn allocate(size: usize, zeroed: bool) -> *mut c_void {
    let Some(layout) = layout(size) else {
        return ptr::null_mut();
    };
    let base = if zeroed {
        alloc::alloc_zeroed(layout)
    } else {
        alloc::alloc(layout)
    };
    if base.is_null() {
        return ptr::null_mut();
    }
    (base as *mut usize).write(size);
    base.add(HEADER) as *mut c_void
}

/// The block start and the size recorded there, for a pointer `allocate` returned.
unsafe fn block(p: *mut c_void) -> (*mut u8, usize) {
    let base = (p as *mut u8).sub(HEADER);
    (base, (base as *const usize).read())
}

#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    allocate(size, false)
}

#[no_mangle]
pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    match count.checked_mul(size) {
        Some(total) => allocate(total, true),
        None => ptr::null_mut(),
    }
}

#[no_mangle]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return allocate(size, false);
    }
    let (base, old) = block(p);
    let (Some(old_layout), Some(_)) = (layout(old), layout(size)) else {
        // C's realloc keeps the old block when it cannot grow it.
        return ptr::null_mut();
    };
    let grown = alloc::realloc(base, old_layout, size + HEADER);
    if grown.is_null() {
        return ptr::null_mut();
    }
    (grown as *mut usize).write(size);
    grown.add(HEADER) as *mut c_void
}

#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    let (base, size) = block(p);
    if let Some(layout) = layout(size) {
        alloc::dealloc(base, layout);
    }
}

#[no_mangle]
pub unsafe extern "C" fn strcpy(dst: *mut c_char, src: *const c_char) -> *mut c_char {
    let mut i = 0;
    loop {
        let c = *src.add(i);
        *dst.add(i) = c;
        if c == 0 {
            return dst;
        }
        i += 1;
    }
}
