//! Where the program's own executable code lies in this process: the check that a function
//! can be named across processes at all.
//!
//! A worker runs the program's executable again, so an offset from the anchor names the
//! same code there only for code *of that executable* (see `naming.rs`). A function of a
//! shared library (a Rust `dylib`, `-C prefer-dynamic`, a plugin loaded with `dlopen`) is
//! loaded at its own, independently randomized address, so its offset from the anchor means
//! nothing in another process. Before anything is sent, the parent checks that every address
//! it names lies in one of the executable segments of the main program, as the dynamic
//! loader reports them (`dl_iterate_phdr`, whose first object is the main program). The
//! segments of the main program never move once loaded, so they are read once and cached.

use std::ops::Range;
use std::os::raw::{c_int, c_void};
use std::sync::OnceLock;

/// The executable (`PF_X`) load segments of the main program, as address ranges.
static SEGMENTS: OnceLock<Vec<Range<usize>>> = OnceLock::new();

/// True when `address` lies in the executable code of the main program.
pub(crate) fn in_main_executable(address: usize) -> bool {
    SEGMENTS
        .get_or_init(main_program_segments)
        .iter()
        .any(|segment| segment.contains(&address))
}

/// Why a function cannot be named across processes: where it lies instead.
pub(crate) fn describe_foreign(address: usize) -> String {
    let place = match mapping_path(address) {
        Some(path) => format!("it lies in {path}"),
        None => "it lies outside every mapped file".to_owned(),
    };
    format!(
        "the function at {address:#x} is not part of the program's executable ({place}), so \
         a worker process cannot find it: a process pool runs only functions compiled into \
         the program itself, not functions of a shared library (a Rust dylib, \
         -C prefer-dynamic, a plugin)"
    )
}

fn main_program_segments() -> Vec<Range<usize>> {
    let mut segments: Vec<Range<usize>> = Vec::new();
    // SAFETY: `dl_iterate_phdr` calls `first_object` synchronously, before it returns, with
    // `data` as given: a pointer to `segments`, which outlives the call and is not used
    // otherwise meanwhile. `first_object` upholds the callback contract (see there).
    unsafe {
        libc::dl_iterate_phdr(
            Some(first_object),
            (&mut segments as *mut Vec<Range<usize>>).cast::<c_void>(),
        );
    }
    segments
}

/// The `dl_iterate_phdr` callback: records the executable load segments of the first
/// object, which is the main program, and stops the iteration.
///
/// # Safety
/// `info` must point to a valid `dl_phdr_info` whose `dlpi_phdr` points to `dlpi_phnum`
/// program headers (the loader's guarantee during the callback), and `data` to a live
/// `Vec<Range<usize>>` that nothing else uses during the call.
unsafe extern "C" fn first_object(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: by this function's contract, `info` is valid for reads during the call.
    let Some(info) = (unsafe { info.as_ref() }) else {
        return 1;
    };
    // SAFETY: by this function's contract, `data` is our exclusive `Vec`.
    let Some(segments) = (unsafe { data.cast::<Vec<Range<usize>>>().as_mut() }) else {
        return 1;
    };
    let headers = if info.dlpi_phdr.is_null() {
        &[][..]
    } else {
        // SAFETY: the loader gives `dlpi_phnum` headers at `dlpi_phdr`, alive during the
        // callback; the slice does not outlive it.
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
    };
    let base = info.dlpi_addr as usize;
    for header in headers {
        if header.p_type == libc::PT_LOAD && header.p_flags & libc::PF_X != 0 {
            let start = base.wrapping_add(header.p_vaddr as usize);
            segments.push(start..start.saturating_add(header.p_memsz as usize));
        }
    }
    1 // a non-zero return stops the iteration after the main program
}

/// The file mapped at `address`, from `/proc/self/maps` (for error messages only).
fn mapping_path(address: usize) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        // "start-end perms offset dev inode   path"
        let mut fields = line.split_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let start = usize::from_str_radix(start, 16).ok()?;
        let end = usize::from_str_radix(end, 16).ok()?;
        if !(start..end).contains(&address) {
            return None;
        }
        let path = fields.nth(4)?;
        Some(path.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(x: u8) -> u8 {
        x
    }

    #[test]
    fn this_crates_functions_are_in_the_executable() {
        assert!(in_main_executable(local as fn(u8) -> u8 as usize));
        assert!(in_main_executable(
            main_program_segments as fn() -> _ as usize
        ));
    }

    #[test]
    fn libc_and_the_heap_are_not() {
        assert!(!in_main_executable(libc::getpid as *const () as usize));
        let on_heap = Box::new(0u64);
        assert!(!in_main_executable(&*on_heap as *const u64 as usize));
        assert!(describe_foreign(libc::getpid as *const () as usize).contains("libc"));
    }
}
