//! Where the program's own executable code lies in this process: the check that a function
//! can be named across processes at all, and the program's GNU build-id.
//!
//! A worker runs the program's executable again, so an offset from the anchor names the
//! same code there only for code *of that executable* (see `naming.rs`). A function of a
//! shared library (a Rust `dylib`, `-C prefer-dynamic`, a plugin loaded with `dlopen`) is
//! loaded at its own, independently randomized address, so its offset from the anchor means
//! nothing in another process. Before anything is sent, the parent checks that every address
//! it names lies in one of the executable segments of the main program, as the dynamic
//! loader reports them (`dl_iterate_phdr`, whose first object is the main program). The
//! segments of the main program never move once loaded, so they are read once and cached.
//!
//! The same program headers give the main program's notes (`PT_NOTE`), among them the GNU
//! build-id that the linker wrote (`NT_GNU_BUILD_ID`): a hash of the linked output, the same
//! on every machine that runs a copy of the file (see `fingerprint.rs`).

use std::ops::Range;
use std::os::raw::{c_int, c_void};
use std::sync::OnceLock;

/// The main program's image as loaded in this process.
#[derive(Debug, Default)]
struct Image {
    /// The executable (`PF_X`) load segments, as address ranges.
    code: Vec<Range<usize>>,
    /// The readable (`PF_R`) load segments: where the program's bytes may be read.
    readable: Vec<Range<usize>>,
    /// The note segments (`PT_NOTE`).
    notes: Vec<Range<usize>>,
}

static IMAGE: OnceLock<Image> = OnceLock::new();

fn image() -> &'static Image {
    IMAGE.get_or_init(main_program_image)
}

/// The GNU build-id of the main program (the bytes of its `NT_GNU_BUILD_ID` note), if the
/// linker wrote one.
pub(crate) fn build_id() -> Option<Vec<u8>> {
    let image = image();
    image
        .notes
        .iter()
        .filter(|notes| {
            image
                .readable
                .iter()
                .any(|r| r.start <= notes.start && notes.end <= r.end)
        })
        .find_map(|notes| {
            // SAFETY: the note segment lies inside a readable load segment of the main
            // program (checked just above), mapped for the life of the process and never
            // written (notes are read-only data); the slice does not outlive this call.
            let bytes =
                unsafe { std::slice::from_raw_parts(notes.start as *const u8, notes.len()) };
            gnu_build_id(bytes)
        })
}

/// Finds the `NT_GNU_BUILD_ID` note among the ELF notes in `bytes`: each a 12-byte header
/// (name size, descriptor size, type, native-endian `u32`s), the name and the descriptor,
/// each padded to 4 bytes.
fn gnu_build_id(mut bytes: &[u8]) -> Option<Vec<u8>> {
    const NT_GNU_BUILD_ID: u32 = 3;
    let padded = |n: usize| n.checked_add(3).map(|n| n & !3);
    while bytes.len() >= 12 {
        let word = |i: usize| -> Option<usize> {
            let field: [u8; 4] = bytes.get(i..i + 4)?.try_into().ok()?;
            usize::try_from(u32::from_ne_bytes(field)).ok()
        };
        let (name_size, desc_size, kind) = (word(0)?, word(4)?, word(8)?);
        let desc_at = 12usize.checked_add(padded(name_size)?)?;
        let end = desc_at.checked_add(padded(desc_size)?)?;
        let name = bytes.get(12..12 + name_size)?;
        let desc = bytes.get(desc_at..desc_at + desc_size)?;
        if kind == NT_GNU_BUILD_ID as usize && name == b"GNU\0" {
            return Some(desc.to_vec());
        }
        bytes = bytes.get(end..)?;
    }
    None
}

/// A hash of the main program's executable code, for a program linked without a build-id:
/// the code segments hold no relocations (position-independent code), so they are the same
/// bytes in every process of the binary, on every machine. Computed once.
pub(crate) fn code_hash() -> u64 {
    static HASH: OnceLock<u64> = OnceLock::new();
    *HASH.get_or_init(|| {
        use std::hash::Hasher;
        let image = image();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for code in &image.code {
            if !image
                .readable
                .iter()
                .any(|r| r.start <= code.start && code.end <= r.end)
            {
                continue; // execute-only code cannot be read; its size still counts
            }
            // SAFETY: a readable load segment of the main program, mapped for the life of
            // the process; code is never written once loaded. The slice lives for this call.
            let bytes = unsafe { std::slice::from_raw_parts(code.start as *const u8, code.len()) };
            hasher.write(bytes);
        }
        hasher.write_usize(image.code.iter().map(Range::len).sum());
        hasher.finish()
    })
}

/// True when `address` lies in the executable code of the main program.
pub(crate) fn in_main_executable(address: usize) -> bool {
    image()
        .code
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

fn main_program_image() -> Image {
    let mut image = Image::default();
    // SAFETY: `dl_iterate_phdr` calls `first_object` synchronously, before it returns, with
    // `data` as given: a pointer to `image`, which outlives the call and is not used
    // otherwise meanwhile. `first_object` upholds the callback contract (see there).
    unsafe {
        libc::dl_iterate_phdr(
            Some(first_object),
            (&mut image as *mut Image).cast::<c_void>(),
        );
    }
    image
}

/// The `dl_iterate_phdr` callback: records the load and note segments of the first object,
/// which is the main program, and stops the iteration.
///
/// # Safety
/// `info` must point to a valid `dl_phdr_info` whose `dlpi_phdr` points to `dlpi_phnum`
/// program headers (the loader's guarantee during the callback), and `data` to a live
/// `Image` that nothing else uses during the call.
unsafe extern "C" fn first_object(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: by this function's contract, `info` is valid for reads during the call.
    let Some(info) = (unsafe { info.as_ref() }) else {
        return 1;
    };
    // SAFETY: by this function's contract, `data` is our exclusive `Image`.
    let Some(image) = (unsafe { data.cast::<Image>().as_mut() }) else {
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
        let start = base.wrapping_add(header.p_vaddr as usize);
        let range = start..start.saturating_add(header.p_memsz as usize);
        if header.p_type == libc::PT_LOAD {
            if header.p_flags & libc::PF_X != 0 {
                image.code.push(range.clone());
            }
            if header.p_flags & libc::PF_R != 0 {
                // Only the bytes from the file: the rest of `p_memsz` (.bss) is zeroes.
                let filesz = header.p_filesz.min(header.p_memsz) as usize;
                image.readable.push(start..start.saturating_add(filesz));
            }
        } else if header.p_type == libc::PT_NOTE {
            image.notes.push(range);
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
        assert!(in_main_executable(main_program_image as fn() -> _ as usize));
    }

    #[test]
    fn libc_and_the_heap_are_not() {
        assert!(!in_main_executable(libc::getpid as *const () as usize));
        let on_heap = Box::new(0u64);
        assert!(!in_main_executable(&*on_heap as *const u64 as usize));
        assert!(describe_foreign(libc::getpid as *const () as usize).contains("libc"));
    }

    #[test]
    fn the_build_id_is_the_one_the_linker_wrote() {
        let id = build_id().expect("this toolchain's linker writes a GNU build-id");
        assert!(id.len() >= 8, "{id:?}");
        assert_eq!(build_id(), Some(id));
    }

    #[test]
    fn notes_are_parsed_past_other_notes() {
        let mut notes = Vec::new();
        for (name, kind, desc) in [
            (&b"GNU\0"[..], 1u32, &[0u8; 16][..]),
            (b"GNU\0", 3, &[0xab; 20]),
        ] {
            notes.extend((name.len() as u32).to_ne_bytes());
            notes.extend((desc.len() as u32).to_ne_bytes());
            notes.extend(kind.to_ne_bytes());
            notes.extend(name);
            notes.extend(desc);
        }
        assert_eq!(gnu_build_id(&notes), Some(vec![0xab; 20]));
        assert_eq!(gnu_build_id(&notes[..30]), None, "a truncated note");
        assert_ne!(code_hash(), 0);
    }
}
