//! Arbitrary bytes into a receiver: no panic, no hang, and no allocation beyond the maximum
//! frame size, checked by a global allocator that records the largest single request made
//! while a receive call runs on the test's thread.
//!
//! Seeded (reproducible) random streams: pure noise, and sequences of frames mixing valid
//! messages with random payloads, where every valid message must come out intact and in order
//! (the stream stays aligned through every error).

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    io::Write,
    os::unix::net::UnixStream,
    thread,
    time::Duration,
};

use ipc_queue::{Receiver, RecvError};
use serde::{Deserialize, Serialize};

/// Records, per thread, the largest allocation (or reallocation) asked for while `TRACK` is
/// set on that thread.
struct PeakAlloc;

thread_local! {
    // `const` and drop-free: accessing them never allocates, so the allocator may use them.
    static TRACK: Cell<bool> = const { Cell::new(false) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    if TRACK.with(Cell::get) {
        PEAK.with(|p| p.set(p.get().max(size)));
    }
}

/// Runs `f` with allocation tracking on for this thread.
fn tracked<R>(f: impl FnOnce() -> R) -> R {
    TRACK.with(|t| t.set(true));
    let r = f();
    TRACK.with(|t| t.set(false));
    r
}

fn peak() -> usize {
    PEAK.with(Cell::get)
}

// SAFETY: delegates every call unchanged to `System`, only recording sizes on the side.
unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: same contract as ours, passed through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours, passed through.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: same contract as ours, passed through.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

/// Generous bound that only a hang exceeds.
const HANG: Duration = Duration::from_secs(30);
/// The receivers' maximum frame size in these tests.
const MAX: usize = 64 * 1024;
/// No receive may allocate a block larger than this: the receive buffer is at most
/// `max(64 KiB, 4 + MAX)`, and decoding a random payload may preallocate up to serde's
/// "cautious" cap of 1 MiB for a sequence whose announced length the payload cannot back.
const ALLOC_BOUND: usize = 1 << 20;

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Msg {
    Unit,
    Num(u64, i32),
    Text(String),
    Bytes(Vec<u8>),
    Nested(Vec<(bool, Option<String>)>),
}

/// xorshift64*: a tiny seeded generator, so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// Up to `n - 1` random bytes.
    fn some_bytes(&mut self, n: u64) -> Vec<u8> {
        let len = self.below(n) as usize;
        self.bytes(len)
    }
    fn msg(&mut self) -> Msg {
        match self.below(5) {
            0 => Msg::Unit,
            1 => Msg::Num(self.next(), self.next() as i32),
            2 => Msg::Text("é".repeat(self.below(50) as usize)),
            3 => Msg::Bytes(self.some_bytes(3000)),
            _ => Msg::Nested(
                (0..self.below(5))
                    .map(|i| (i % 2 == 0, Some(i.to_string())))
                    .collect(),
            ),
        }
    }
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_le_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

/// Writes `bytes` into one end of a fresh socketpair from a thread, closes it, and drains the
/// receiving end until `Disconnected`; returns every result. The receive count is bounded: each
/// call consumes at least one frame or ends the stream.
fn feed(bytes: Vec<u8>) -> Vec<Result<Msg, RecvError>> {
    let (a, b) = UnixStream::pair().unwrap();
    let mut rx = Receiver::<Msg>::from_fd(b.into())
        .unwrap()
        .with_max_frame(MAX);
    let writer = thread::spawn(move || {
        let mut a = a;
        // The reader may stop early (it does not), so a write error is not a failure.
        let _ = a.write_all(&bytes);
    });
    let mut out = Vec::new();
    loop {
        match tracked(|| rx.recv_timeout(HANG)) {
            Err(RecvError::Disconnected) => break,
            Err(RecvError::Timeout) => panic!("receiver hung"),
            r => out.push(r),
        }
        assert!(out.len() < 100_000, "receiver does not make progress");
    }
    writer.join().unwrap();
    out
}

#[test]
fn random_noise_never_panics_hangs_or_over_allocates() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut kinds = [0usize; 3];
    for round in 0..300 {
        let bytes = if round % 2 == 0 {
            // Pure noise (its first header is usually oversize).
            let len = rng.below(if round % 10 == 0 { 200_000 } else { 300 }) as usize;
            rng.bytes(len)
        } else {
            // Well-formed headers over short random payloads, so that payloads get decoded
            // (and now and then decode by chance).
            let mut bytes = Vec::new();
            for _ in 0..rng.below(200) {
                let payload = rng.some_bytes(6);
                bytes.extend(frame(&payload));
            }
            // Cut the stream anywhere.
            let keep = rng.below(bytes.len() as u64 + 1) as usize;
            bytes.truncate(keep);
            bytes
        };
        for r in feed(bytes) {
            match r {
                Ok(_) => kinds[0] += 1,
                Err(RecvError::Decode(_)) => kinds[1] += 1,
                Err(RecvError::FrameTooLarge { .. }) => kinds[2] += 1,
                Err(e) => panic!("{e:?}"),
            }
        }
    }
    // The noise reached every path: decoded by chance, undecodable, oversize.
    assert!(kinds.iter().all(|&k| k > 0), "{kinds:?}");
    assert!(peak() <= ALLOC_BOUND, "largest allocation {} bytes", peak());
}

#[test]
fn valid_frames_survive_garbage_frames_between_them() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for _ in 0..100 {
        let mut bytes = Vec::new();
        let mut sent = Vec::new();
        for _ in 0..rng.below(30) {
            match rng.below(4) {
                0 | 1 => {
                    let m = rng.msg();
                    bytes.extend(frame(&postcard::to_stdvec(&m).unwrap()));
                    sent.push(m);
                }
                // Random payload: decodes to something or fails, but is one frame either way.
                2 => bytes.extend(frame(&rng.some_bytes(100))),
                // Oversize frame with its payload: refused, skipped.
                _ => {
                    let len = MAX + 1 + rng.below(1000) as usize;
                    bytes.extend(frame(&rng.bytes(len)));
                }
            }
        }
        // The valid messages come out in order, among the outcomes of the garbage frames.
        let got = feed(bytes);
        let mut want = sent.iter().peekable();
        for r in &got {
            if let (Ok(m), Some(&w)) = (r, want.peek()) {
                if m == w {
                    want.next();
                }
            }
        }
        assert!(
            want.peek().is_none(),
            "lost {:?} of {sent:?}; got {got:?}",
            want.peek()
        );
    }
    assert!(peak() <= ALLOC_BOUND, "largest allocation {} bytes", peak());
}

#[test]
fn a_header_announcing_gigabytes_allocates_nothing_for_it() {
    let (mut a, b) = UnixStream::pair().unwrap();
    let mut rx = Receiver::<Vec<u8>>::from_fd(b.into())
        .unwrap()
        .with_max_frame(1 << 20);
    a.write_all(&(3u32 << 30).to_le_bytes()).unwrap();
    a.write_all(&[0u8; 1000]).unwrap();
    match tracked(|| rx.recv_timeout(HANG)) {
        Err(RecvError::FrameTooLarge { announced, max }) => {
            assert_eq!((announced, max), (3 << 30, 1 << 20));
        }
        other => panic!("{other:?}"),
    }
    drop(a);
    assert!(matches!(
        tracked(|| rx.recv_timeout(HANG)),
        Err(RecvError::Disconnected)
    ));
    // Only the 64 KiB read buffer: nothing sized by the header.
    assert!(
        peak() > 0 && peak() <= 64 * 1024,
        "largest allocation {} bytes",
        peak()
    );
}
