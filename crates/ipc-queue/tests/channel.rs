//! In-process tests over real socketpairs: threads, framing, bad input, timeouts, spinning.

use std::{
    io::Write,
    os::unix::net::UnixStream,
    sync::{Arc, Barrier},
    thread,
    time::{Duration, Instant},
};

use ipc_queue::{Receiver, RecvError, SelectError, Selector, SendError, Sender, channel, duplex};
use serde::{Deserialize, Serialize};

/// Generous bound that only a hang exceeds.
const HANG: Duration = Duration::from_secs(30);

/// A raw socket to write bytes into, and a typed receiver on the other end.
fn raw_pair<T: serde::de::DeserializeOwned>() -> (UnixStream, Receiver<T>) {
    let (a, b) = UnixStream::pair().unwrap();
    (a, Receiver::from_fd(b.into()).unwrap())
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_le_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Stamped {
    thread: u32,
    seq: u32,
    data: Vec<u8>,
}

fn stamped(thread: u32, seq: u32) -> Stamped {
    // Sizes up to ~260 KB, more than a socket buffer, so writes are split by the kernel and
    // interleaving would show.
    let len = if seq % 50 == 7 {
        260_000
    } else {
        (seq as usize * 37 + thread as usize) % 3000
    };
    Stamped {
        thread,
        seq,
        data: vec![(thread * 31 + seq) as u8; len],
    }
}

/// Starts `threads` writers on clones of one sender, released together, each sending its
/// `per_thread` stamped messages with `write(tx, thread)`; reads them all, checking that
/// each arrives whole and in its thread's order (`each` sees every message as it comes),
/// then that the channel ends once every writer is done.
fn stamped_streams(
    threads: u32,
    per_thread: u32,
    write: fn(&Sender<Stamped>, u32) -> Result<(), SendError>,
    mut each: impl FnMut(&Stamped),
) {
    let (tx, mut rx) = channel::<Stamped>().unwrap();
    let barrier = Arc::new(Barrier::new(threads as usize));
    let writers: Vec<_> = (0..threads)
        .map(|t| {
            let tx: Sender<Stamped> = tx.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                write(&tx, t)
            })
        })
        .collect();
    drop(tx);
    let mut next = vec![0u32; threads as usize];
    for _ in 0..threads * per_thread {
        let m = rx.recv_timeout(HANG).unwrap();
        assert_eq!(m.seq, next[m.thread as usize], "per-thread order");
        assert!(
            m == stamped(m.thread, m.seq),
            "message {}/{} corrupted",
            m.thread,
            m.seq
        );
        each(&m);
        next[m.thread as usize] += 1;
    }
    for w in writers {
        w.join().unwrap().unwrap();
    }
    // All clones dropped: the receiver sees the end.
    assert!(matches!(
        rx.recv_timeout(HANG),
        Err(RecvError::Disconnected)
    ));
}

#[test]
fn many_sender_threads_never_interleave_frames() {
    const PER_THREAD: u32 = 200;
    stamped_streams(
        4,
        PER_THREAD,
        |tx, t| (0..PER_THREAD).try_for_each(|seq| tx.send(&stamped(t, seq))),
        |_| {},
    );
}

/// Batches from several threads at once, with frames larger than the socket buffer inside
/// them: every frame arrives whole, each thread's in order, and a batch's frames are never
/// split by another thread's.
#[test]
fn batches_from_many_threads_arrive_whole_and_in_order() {
    const BATCHES: u32 = 20;
    const PER_BATCH: u32 = 25;
    let mut current: Option<u32> = None;
    stamped_streams(
        3,
        BATCHES * PER_BATCH,
        |tx, t| {
            (0..BATCHES).try_for_each(|b| {
                let batch: Vec<_> = (b * PER_BATCH..(b + 1) * PER_BATCH)
                    .map(|seq| stamped(t, seq))
                    .collect();
                tx.send_batch(&batch)
            })
        },
        |m| {
            if m.seq % PER_BATCH != 0 {
                assert_eq!(
                    current,
                    Some(m.thread),
                    "a batch was split by another thread's frame"
                );
            }
            current = Some(m.thread);
        },
    );
}

/// A batch with one message too large sends none of its messages; an empty batch sends
/// nothing; a batch to a peer that is gone is `Disconnected`.
#[test]
fn a_refused_batch_sends_nothing() {
    let (tx, mut rx) = channel::<Vec<u8>>().unwrap();
    let tx = tx.with_max_frame(1024);
    let batch = [vec![1u8; 10], vec![2u8; 2000], vec![3u8; 10]];
    match tx.send_batch(&batch) {
        Err(SendError::TooLarge {
            size: 2002,
            max: 1024,
        }) => {}
        other => panic!("{other:?}"),
    }
    tx.send_batch(&[]).unwrap();
    assert!(matches!(rx.try_recv(), Err(RecvError::Empty)));
    tx.send_batch(&batch[..1]).unwrap();
    assert_eq!(rx.recv_timeout(HANG).unwrap(), vec![1u8; 10]);
    drop(rx);
    assert!(matches!(
        tx.send_batch(&batch[..1]),
        Err(SendError::Disconnected)
    ));
}

#[test]
fn oversize_send_is_rejected_and_sends_nothing() {
    let (tx, mut rx) = channel::<Vec<u8>>().unwrap();
    let tx = tx.with_max_frame(1024);
    match tx.send(&vec![1u8; 2000]) {
        Err(SendError::TooLarge {
            size: 2002,
            max: 1024,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(rx.try_recv(), Err(RecvError::Empty)));
    // Exactly at the limit is fine (1022 bytes + 2-byte length prefix = 1024).
    tx.send(&vec![2u8; 1022]).unwrap();
    assert_eq!(rx.recv_timeout(HANG).unwrap(), vec![2u8; 1022]);
    assert!(matches!(rx.try_recv(), Err(RecvError::Empty)));
}

#[test]
fn pre_encoded_frames_interleave_with_typed_ones_across_a_full_buffer() {
    let (tx, mut rx) = channel::<Vec<u8>>().unwrap();
    // 3 MB: far more than the socket buffer, so the frame goes out in many partial writes.
    let big = postcard::to_stdvec(&vec![7u8; 3_000_000]).unwrap();
    let reader = std::thread::spawn(move || {
        let first = rx.recv_timeout(HANG).unwrap();
        let second = rx.recv_timeout(HANG).unwrap();
        (first, second, rx.recv_timeout(HANG).unwrap())
    });
    tx.send_encoded(&big).unwrap();
    tx.send(&vec![1, 2]).unwrap();
    tx.send_encoded(&postcard::to_stdvec(&vec![3u8]).unwrap())
        .unwrap();
    let (first, second, third) = reader.join().unwrap();
    assert!(first.len() == 3_000_000 && first.iter().all(|&b| b == 7));
    assert_eq!((second, third), (vec![1, 2], vec![3]));
    let tx = tx.with_max_frame(10);
    assert!(matches!(
        tx.send_encoded(&[0; 11]),
        Err(SendError::TooLarge { size: 11, max: 10 })
    ));
}

#[test]
fn frames_taken_undecoded_leave_the_stream_aligned() {
    let (tx, mut rx) = channel::<Vec<u8>>().unwrap();
    let writer = std::thread::spawn(move || {
        for round in 0..3u8 {
            tx.send(&vec![round; 1_000_000]).unwrap(); // large: the buffer is handed over
            tx.send(&vec![round]).unwrap(); // small: copied out
        }
    });
    for round in 0..3u8 {
        let big = rx.recv_frame().unwrap();
        assert_eq!(
            postcard::from_bytes::<Vec<u8>>(&big).unwrap(),
            vec![round; 1_000_000]
        );
        let small = rx.recv_timeout(HANG).unwrap();
        assert_eq!(small, vec![round]);
    }
    writer.join().unwrap();
    assert!(matches!(rx.recv_frame(), Err(RecvError::Disconnected)));
}

#[test]
fn oversize_header_is_refused_then_skipped() {
    let (mut raw, rx) = raw_pair::<Vec<u8>>();
    let mut rx = rx.with_max_frame(1000);
    let big = frame(&[0u8; 1001]);
    let good = frame(&postcard::to_stdvec(&vec![5u8; 3]).unwrap());
    let writer = thread::spawn(move || {
        raw.write_all(&big)?;
        raw.write_all(&good).map(|()| raw)
    });
    match rx.recv_timeout(HANG) {
        Err(RecvError::FrameTooLarge {
            announced: 1001,
            max: 1000,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(rx.recv_timeout(HANG).unwrap(), vec![5u8; 3]);
    drop(writer.join().unwrap().unwrap());
    assert!(matches!(
        rx.recv_timeout(HANG),
        Err(RecvError::Disconnected)
    ));
}

#[test]
fn decode_error_then_the_next_frame_still_reads() {
    let (mut raw, mut rx) = raw_pair::<(u8, bool)>();
    raw.write_all(&frame(&[1, 2])).unwrap(); // bool 2: invalid
    raw.write_all(&frame(&[1])).unwrap(); // too short
    raw.write_all(&frame(&[1, 1, 9])).unwrap(); // trailing byte
    raw.write_all(&frame(&[])).unwrap(); // empty
    raw.write_all(&frame(&[4, 1])).unwrap(); // good
    for _ in 0..4 {
        let r = rx.recv_timeout(HANG);
        assert!(matches!(r, Err(RecvError::Decode(_))), "{r:?}");
    }
    assert_eq!(rx.recv_timeout(HANG).unwrap(), (4, true));
}

#[test]
fn peer_closing_mid_frame_is_disconnected() {
    let (mut raw, mut rx) = raw_pair::<Vec<u8>>();
    raw.write_all(&frame(&postcard::to_stdvec(&vec![1u8; 10]).unwrap()))
        .unwrap();
    raw.write_all(&[100, 0, 0, 0, 1, 2]).unwrap(); // a frame cut short
    drop(raw);
    assert_eq!(rx.recv().unwrap(), vec![1u8; 10]);
    assert!(matches!(rx.recv(), Err(RecvError::Disconnected)));
    assert!(
        matches!(rx.try_recv(), Err(RecvError::Disconnected)),
        "sticky"
    );
}

#[test]
fn peer_closing_mid_header_is_disconnected() {
    let (mut raw, mut rx) = raw_pair::<u8>();
    raw.write_all(&[1, 0]).unwrap();
    drop(raw);
    assert!(matches!(
        rx.recv_timeout(HANG),
        Err(RecvError::Disconnected)
    ));
}

#[test]
fn frames_split_into_single_bytes_reassemble() {
    let (raw, mut rx) = raw_pair::<String>();
    let bytes = [
        frame(&postcard::to_stdvec("hello").unwrap()),
        frame(&postcard::to_stdvec("world").unwrap()),
    ]
    .concat();
    let writer = thread::spawn(move || {
        let mut raw = raw;
        for b in bytes {
            raw.write_all(&[b])?;
            thread::yield_now();
        }
        Ok::<_, std::io::Error>(raw)
    });
    // Mix of receive flavours, all of which must keep the partial frame.
    let mut got = Vec::new();
    while got.len() < 2 {
        match rx.try_recv() {
            Ok(s) => got.push(s),
            Err(RecvError::Empty) => match rx.recv_timeout(Duration::from_micros(50)) {
                Ok(s) => got.push(s),
                Err(RecvError::Timeout) => {}
                Err(e) => panic!("{e}"),
            },
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, ["hello", "world"]);
    drop(writer.join().unwrap().unwrap());
}

#[test]
fn recv_timeout_waits_at_least_the_timeout() {
    let (_tx, mut rx) = channel::<u8>().unwrap();
    let t0 = Instant::now();
    assert!(matches!(
        rx.recv_timeout(Duration::from_millis(30)),
        Err(RecvError::Timeout)
    ));
    assert!(t0.elapsed() >= Duration::from_millis(30));
    assert!(matches!(
        rx.recv_deadline(Instant::now()),
        Err(RecvError::Timeout)
    ));
}

#[test]
fn a_past_deadline_still_returns_what_has_arrived() {
    let (tx, mut rx) = channel::<u8>().unwrap();
    tx.send(&9).unwrap();
    assert_eq!(
        rx.recv_deadline(Instant::now() - Duration::from_millis(1))
            .unwrap(),
        9
    );
}

/// A deadline that has passed still returns a frame that is whole in the socket, even one
/// that takes more than one read (the deadline is looked at only once a read has taken
/// all the socket held); the selector's zero timeout too.
#[test]
fn a_past_deadline_still_returns_a_frame_larger_than_one_read() {
    // More than the receiver's first read (64 KiB), less than a socket buffer.
    let big = vec![5u8; 100_000];
    let (tx, mut rx) = channel::<Vec<u8>>().unwrap();
    tx.send(&big).unwrap();
    let past = Instant::now() - Duration::from_millis(1);
    assert_eq!(rx.recv_deadline(past).unwrap(), big);
    tx.send(&big).unwrap();
    let mut rxs = [rx];
    let got = Selector::new().recv_any(&mut rxs, Some(Duration::ZERO));
    assert_eq!(got.unwrap(), (0, big));
}

#[test]
fn blocking_recv_wakes_when_the_sender_is_dropped() {
    let (a, b) = duplex::<u8, u8>().unwrap();
    let (tx, mut rx) = b.split();
    let reader = thread::spawn(move || rx.recv());
    drop(a);
    let r = reader.join().unwrap();
    assert!(matches!(r, Err(RecvError::Disconnected)), "{r:?}");
    assert!(matches!(tx.send(&1), Err(SendError::Disconnected)));
}

/// CPU time used by the calling thread.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

#[test]
fn spinning_is_bounded_and_idle_waits_do_not_burn_cpu() {
    let (tx, rx) = channel::<u64>().unwrap();
    let mut rx = rx.with_spin(Duration::from_millis(2));
    let cpu0 = thread_cpu();
    assert!(matches!(
        rx.recv_timeout(Duration::from_millis(300)),
        Err(RecvError::Timeout)
    ));
    let mut sel = Selector::new().with_spin(Duration::from_millis(2));
    let mut rxs = [rx];
    assert!(matches!(
        sel.recv_any(&mut rxs, Some(Duration::from_millis(300))),
        Err(SelectError::Timeout)
    ));
    let burnt = thread_cpu() - cpu0;
    // Spinning through both waits would burn ~600 ms; the bounded spin burns ~4 ms.
    assert!(
        burnt < Duration::from_millis(200),
        "burnt {burnt:?} of CPU while idle"
    );
    // And a spinning receive still gets messages.
    let [mut rx] = rxs;
    for i in 0..100 {
        tx.send(&i).unwrap();
        assert_eq!(rx.recv().unwrap(), i);
    }
}

/// A peer that keeps a frame coming: writes the header of a large frame, then its payload
/// a byte at a time from a few threads until dropped, never finishing it.
struct Trickle {
    peer: UnixStream,
    writers: Vec<thread::JoinHandle<()>>,
}

impl Trickle {
    fn start<T: serde::de::DeserializeOwned>() -> (Trickle, Receiver<T>) {
        let (mut peer, rx) = raw_pair::<T>();
        // Far more bytes than the writers send before the test ends.
        peer.write_all(&(32u32 << 20).to_le_bytes()).unwrap();
        let started = Arc::new(Barrier::new(4));
        let writers = (0..3)
            .map(|_| {
                let (mut a, started) = (peer.try_clone().unwrap(), started.clone());
                thread::spawn(move || {
                    started.wait();
                    // Bounded by the test: the socket is shut down when it ends (a writer
                    // blocked on a full socket gets an error then), and after `HANG` anyway.
                    let end = Instant::now() + HANG;
                    let mut sent = 0usize;
                    while sent < 8 << 20 && Instant::now() < end && a.write_all(&[7]).is_ok() {
                        sent += 1;
                    }
                })
            })
            .collect();
        started.wait();
        (Trickle { peer, writers }, rx)
    }
}

impl Drop for Trickle {
    fn drop(&mut self) {
        let _ = self.peer.shutdown(std::net::Shutdown::Both);
        for writer in self.writers.drain(..) {
            let _ = writer.join();
        }
    }
}

/// How long past its deadline a receive may return: generous (a loaded machine), far
/// less than the writers' `HANG`.
const LATE: Duration = Duration::from_secs(5);

/// A receive's deadline holds while a peer keeps sending bytes of a frame it never
/// finishes: each read that brought bytes used to put the deadline check off, so the
/// receive waited as long as the bytes kept coming (with a spin or without).
#[test]
fn recv_deadline_holds_while_a_peer_trickles_a_frame() {
    for spin in [Duration::ZERO, Duration::from_micros(50)] {
        let (trickle, rx) = Trickle::start::<Vec<u8>>();
        let mut rx = rx.with_spin(spin);
        let timeout = Duration::from_millis(100);
        let t0 = Instant::now();
        let got = rx.recv_timeout(timeout);
        let took = t0.elapsed();
        drop(trickle);
        assert!(matches!(got, Err(RecvError::Timeout)), "{got:?}");
        assert!(
            took < timeout + LATE,
            "spin {spin:?}: returned after {took:?}"
        );
        // A receive that must not wait at all does not either.
        let (trickle, mut rx) = Trickle::start::<Vec<u8>>();
        let t0 = Instant::now();
        let got = rx.try_recv();
        let took = t0.elapsed();
        drop(trickle);
        assert!(matches!(got, Err(RecvError::Empty)), "{got:?}");
        assert!(took < LATE, "try_recv returned after {took:?}");
    }
}

/// A receiver whose peer sends one more byte of a frame it never finishes every time the
/// selector looks at the receiver (`as_mut`): the worst case of a peer that keeps a frame
/// coming, made deterministic. Stops sending after `HANG`, so a selector that waits for
/// the bytes to stop returns then, and the test fails instead of hanging.
struct PeerAtEveryLook {
    peer: UnixStream,
    rx: Receiver<Vec<u8>>,
    until: Instant,
    sent: usize,
}

impl AsMut<Receiver<Vec<u8>>> for PeerAtEveryLook {
    fn as_mut(&mut self) -> &mut Receiver<Vec<u8>> {
        // Within the frame's 32 MiB, so that it never completes.
        if Instant::now() < self.until && self.sent < 16 << 20 {
            self.peer.write_all(&[7]).unwrap();
            self.sent += 1;
        }
        &mut self.rx
    }
}

/// A selector's deadline holds while a peer keeps sending bytes of a frame it never
/// finishes, even when a byte has come in every time the selector looks: each `poll`
/// that found bytes used to put the deadline check off, so the selector waited for as
/// long as the bytes kept coming.
#[test]
fn selector_deadline_holds_while_a_byte_comes_at_every_look() {
    for spin in [Duration::ZERO, Duration::from_micros(50)] {
        let (mut peer, rx) = raw_pair::<Vec<u8>>();
        peer.write_all(&(32u32 << 20).to_le_bytes()).unwrap();
        let mut rxs = [PeerAtEveryLook {
            peer,
            rx,
            until: Instant::now() + HANG,
            sent: 0,
        }];
        let mut sel = Selector::new().with_spin(spin);
        let timeout = Duration::from_millis(100);
        let t0 = Instant::now();
        let got = sel.recv_any(&mut rxs, Some(timeout));
        let took = t0.elapsed();
        assert!(matches!(got, Err(SelectError::Timeout)), "{got:?}");
        assert!(
            took < timeout + LATE,
            "spin {spin:?}: returned after {took:?}, {} bytes later",
            rxs[0].sent
        );
    }
}

/// The same for a selector (the process pool's manager waits on its workers with one,
/// until the next per-task deadline): a worker trickling a frame does not hold it past
/// the deadline.
#[test]
fn selector_deadline_holds_while_a_peer_trickles_a_frame() {
    for spin in [Duration::ZERO, Duration::from_micros(50)] {
        let (trickle, rx) = Trickle::start::<Vec<u8>>();
        let (_quiet_tx, quiet) = channel::<Vec<u8>>().unwrap();
        let mut rxs = [quiet, rx];
        let mut sel = Selector::new().with_spin(spin);
        let timeout = Duration::from_millis(100);
        let t0 = Instant::now();
        let got = sel.recv_any(&mut rxs, Some(timeout));
        let took = t0.elapsed();
        drop(trickle);
        assert!(matches!(got, Err(SelectError::Timeout)), "{got:?}");
        assert!(
            took < timeout + LATE,
            "spin {spin:?}: returned after {took:?}"
        );
    }
}

#[test]
fn selector_returns_frames_already_buffered() {
    let (tx, rx) = channel::<u32>().unwrap();
    // Two frames arrive in one read; the second then sits in the receiver's buffer while the
    // socket is no longer readable.
    tx.send(&1).unwrap();
    tx.send(&2).unwrap();
    let mut rxs = vec![rx];
    let mut sel = Selector::new();
    assert_eq!(sel.recv_any(&mut rxs, Some(HANG)).unwrap(), (0, 1));
    let t0 = Instant::now();
    assert_eq!(sel.recv_any(&mut rxs, Some(HANG)).unwrap(), (0, 2));
    assert!(t0.elapsed() < HANG);
}

#[test]
fn selector_is_fair_across_busy_receivers() {
    let mut txs = Vec::new();
    let mut rxs = Vec::new();
    for _ in 0..3 {
        let (tx, rx) = channel::<u32>().unwrap();
        for i in 0..10 {
            tx.send(&i).unwrap();
        }
        txs.push(tx);
        rxs.push(rx);
    }
    let mut sel = Selector::new();
    let order: Vec<usize> = (0..6)
        .map(|_| sel.recv_any(&mut rxs, Some(HANG)).unwrap().0)
        .collect();
    assert_eq!(order, [0, 1, 2, 0, 1, 2]);
}

#[test]
fn selector_over_borrowed_receivers_and_empty_sets() {
    let (tx, mut a) = channel::<u8>().unwrap();
    let (_tx2, mut b) = channel::<u8>().unwrap();
    let mut sel = Selector::new();
    let mut none: [Receiver<u8>; 0] = [];
    assert!(matches!(
        sel.recv_any(&mut none, None),
        Err(SelectError::NoReceivers)
    ));
    tx.send(&3).unwrap();
    let mut borrowed = [&mut b, &mut a];
    assert_eq!(sel.recv_any(&mut borrowed, Some(HANG)).unwrap(), (1, 3));
}

#[test]
fn from_fd_rejects_what_is_not_a_unix_stream_socket() {
    let file = std::fs::File::open("/proc/self/exe").unwrap();
    let err = Receiver::<u8>::from_fd(file.into()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let err = Sender::<u8>::from_fd(udp.into()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn errors_have_clear_messages() {
    let e = SendError::TooLarge { size: 10, max: 5 };
    assert!(e.to_string().contains("10 bytes") && e.to_string().contains("nothing was sent"));
    let e = RecvError::FrameTooLarge {
        announced: 10,
        max: 5,
    };
    assert!(e.to_string().contains("announced 10 bytes"));
    let e = SelectError::Recv {
        index: 3,
        error: RecvError::Disconnected,
    };
    assert_eq!(
        e.to_string(),
        "receiver 3: ipc receive failed: the peer disconnected"
    );
    assert!(std::error::Error::source(&e).is_some());
}
