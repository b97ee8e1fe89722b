//! ipc-queue beside a raw socketpair and the `ipc-channel` crate, in the same run.
//!
//! Every peer runs in the same run against a real child process: the bench binary re-executes
//! itself with `IPC_BENCH_ROLE` set (see `main`).
//!
//! - `ipc/round_trip`: one small message there and back: raw socketpair ping-pong (8 bytes,
//!   `write_all`/`read_exact`, the floor), ipc-queue blocking (`ours`), spin-then-block
//!   (`ours_spin`), and the process pool's shape (split duplex, replies through a spinning
//!   `Selector`: `ours_selector_spin`).
//! - `ipc/throughput/{64B,4KiB,1MiB}`: a stream of messages then one acknowledgement, for
//!   the raw socketpair (one `write` per message), ipc-queue (`ours`: one `send` per
//!   message; `ours_batch`, at 64 B and 4 KiB: `send_batch` of 64 messages, one write per
//!   batch) and ipc-channel.

#![allow(missing_docs)] // criterion's macros generate undocumented items
use std::{
    hint::black_box,
    io::{Read, Write},
    os::unix::net::UnixStream,
    process::{Child, Command},
    time::{Duration, Instant},
};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use ipc_channel::ipc::{IpcBytesSender, IpcOneShotServer, IpcReceiver, IpcSender};
use serde_bytes::ByteBuf;

const ROLE: &str = "IPC_BENCH_ROLE";
const FD: &str = "IPC_BENCH_FD";
const SPIN: &str = "IPC_BENCH_SPIN_US";
const SERVER: &str = "IPC_BENCH_SERVER";
const SIZES: [(usize, &str); 3] = [(64, "64B"), (4096, "4KiB"), (1 << 20, "1MiB")];
/// Messages per `send_batch` call in the batched throughput row.
const BATCH: usize = 64;
/// Spin used by the spin-then-block variant, on both sides.
const SPIN_US: u64 = 50;

/// What the ipc-channel child hands back: where to send data, where acks come from.
/// ipc-channel's bytes channel takes `&[u8]` (a typed `IpcSender<ByteBuf>` would need a
/// clone per send), the fairest match for ipc-queue's `&ByteBuf`.
type ChannelEnds = (IpcBytesSender, IpcReceiver<u64>);

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        child(&role);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

fn bench_cmd(role: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.env(ROLE, role);
    cmd
}

/// A child that owns the other end, killed and reaped when dropped.
struct Worker(Child);
impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(role: &str, end: impl ipc_queue::Endpoint, spin_us: u64) -> Worker {
    let mut cmd = bench_cmd(role);
    cmd.env(SPIN, spin_us.to_string());
    Worker(ipc_queue::spawn_with(&mut cmd, FD, end).expect("spawn"))
}

/// Takes the end handed to this child with `from_env` (`FD`).
fn take_end<T>(from_env: unsafe fn(&str) -> std::io::Result<T>) -> T {
    // SAFETY: `child` runs only in a process that `spawn` started with
    // `spawn_with(.., FD, ..)`, which set the variable for it alone with the descriptor it
    // handed over; each role takes it once, and the child starts no process of its own.
    unsafe { from_env(FD) }.expect("fd")
}

fn child(role: &str) {
    let spin = Duration::from_micros(
        std::env::var(SPIN)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
    );
    match role {
        "echo_raw" => {
            let mut s = UnixStream::from(take_end(ipc_queue::fd_from_env));
            let mut buf = [0u8; 8];
            while s.read_exact(&mut buf).is_ok() {
                if s.write_all(&buf).is_err() {
                    return;
                }
            }
        }
        "echo_ipc" => {
            let mut end = take_end(ipc_queue::Duplex::<u64, u64>::from_env).with_spin(spin);
            while let Ok(v) = end.recv() {
                if end.send(&v).is_err() {
                    return;
                }
            }
        }
        // Reads `n: u64` then `n` bytes, acknowledges with one byte; repeats.
        "sink_raw" => {
            let mut s = UnixStream::from(take_end(ipc_queue::fd_from_env));
            let mut buf = vec![0u8; 1 << 20];
            let mut n = [0u8; 8];
            while s.read_exact(&mut n).is_ok() {
                let mut left = u64::from_le_bytes(n) as usize;
                while left > 0 {
                    let k = left.min(buf.len());
                    if s.read_exact(&mut buf[..k]).is_err() {
                        return;
                    }
                    left -= k;
                }
                if s.write_all(&[1]).is_err() {
                    return;
                }
            }
        }
        // Counts messages; an empty one asks for the count.
        "sink_ipc" => {
            let mut end = take_end(ipc_queue::Duplex::<u64, ByteBuf>::from_env);
            let mut count = 0u64;
            while let Ok(m) = end.recv() {
                if m.is_empty() {
                    if end.send(&count).is_err() {
                        return;
                    }
                    count = 0;
                } else {
                    count += 1;
                }
            }
        }
        "sink_ipc_channel" => {
            let name = std::env::var(SERVER).expect("server name");
            let bootstrap = IpcSender::<ChannelEnds>::connect(name).expect("connect");
            let (data_tx, data_rx) = ipc_channel::ipc::bytes_channel().expect("channel");
            let (ack_tx, ack_rx) = ipc_channel::ipc::channel::<u64>().expect("channel");
            bootstrap.send((data_tx, ack_rx)).expect("bootstrap");
            let mut count = 0u64;
            while let Ok(m) = data_rx.recv() {
                if m.is_empty() {
                    if ack_tx.send(count).is_err() {
                        return;
                    }
                    count = 0;
                } else {
                    count += 1;
                }
            }
        }
        other => panic!("unknown role {other}"),
    }
}

fn roundtrip(c: &mut Criterion) {
    let mut g = c.benchmark_group("ipc/round_trip");

    let (mut mine, theirs) = UnixStream::pair().expect("pair");
    let worker = spawn("echo_raw", theirs, 0);
    g.bench_function("raw_socketpair", |b| {
        let mut buf = [0u8; 8];
        b.iter(|| {
            mine.write_all(&7u64.to_le_bytes()).expect("write");
            mine.read_exact(&mut buf).expect("read");
            black_box(buf);
        })
    });
    drop((mine, worker));

    for (name, spin_us) in [("ours", 0), ("ours_spin", SPIN_US)] {
        let (mine, theirs) = ipc_queue::duplex::<u64, u64>().expect("duplex");
        let worker = spawn("echo_ipc", theirs, spin_us);
        let mut mine = mine.with_spin(Duration::from_micros(spin_us));
        g.bench_function(name, |b| {
            b.iter(|| {
                mine.send(&7).expect("send");
                black_box(mine.recv().expect("recv"))
            })
        });
        drop((mine, worker));
    }

    // The process pool's shape: a split duplex, replies read through a spinning Selector.
    let (mine, theirs) = ipc_queue::duplex::<u64, u64>().expect("duplex");
    let worker = spawn("echo_ipc", theirs, SPIN_US);
    let (tx, rx) = mine.split();
    let mut rxs = [rx];
    let mut sel = ipc_queue::Selector::new().with_spin(Duration::from_micros(SPIN_US));
    g.bench_function("ours_selector_spin", |b| {
        b.iter(|| {
            tx.send(&7).expect("send");
            black_box(sel.recv_any(&mut rxs, None).expect("recv"))
        })
    });
    drop((tx, rxs, worker));
    g.finish();
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("ipc/throughput");
    g.measurement_time(Duration::from_secs(3));
    for (size, label) in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let payload = vec![0xa5u8; size];

        let (mut mine, theirs) = UnixStream::pair().expect("pair");
        let worker = spawn("sink_raw", theirs, 0);
        g.bench_with_input(
            BenchmarkId::new("raw_socketpair", label),
            &payload,
            |b, p| {
                b.iter_custom(|iters| {
                    let t0 = Instant::now();
                    mine.write_all(&(iters * p.len() as u64).to_le_bytes())
                        .expect("write");
                    for _ in 0..iters {
                        mine.write_all(p).expect("write");
                    }
                    let mut ack = [0u8; 1];
                    mine.read_exact(&mut ack).expect("ack");
                    t0.elapsed()
                })
            },
        );
        drop((mine, worker));

        let (mut mine, theirs) = ipc_queue::duplex::<ByteBuf, u64>().expect("duplex");
        let worker = spawn("sink_ipc", theirs, 0);
        let msg = ByteBuf::from(payload.clone());
        let flush = ByteBuf::new();
        g.bench_with_input(BenchmarkId::new("ours", label), &msg, |b, m| {
            b.iter_custom(|iters| {
                let t0 = Instant::now();
                for _ in 0..iters {
                    mine.send(m).expect("send");
                }
                mine.send(&flush).expect("send");
                assert_eq!(mine.recv().expect("ack"), iters);
                t0.elapsed()
            })
        });
        // The same stream sent with `send_batch`, BATCH messages per call (one write each):
        // for small messages only (a batch is encoded whole before its write).
        let batch = vec![msg.clone(); if size <= 4096 { BATCH } else { 0 }];
        if !batch.is_empty() {
            g.bench_with_input(BenchmarkId::new("ours_batch", label), &batch, |b, batch| {
                b.iter_custom(|iters| {
                    let t0 = Instant::now();
                    let mut left = iters as usize;
                    while left > 0 {
                        let n = left.min(batch.len());
                        mine.send_batch(&batch[..n]).expect("send");
                        left -= n;
                    }
                    mine.send(&flush).expect("send");
                    assert_eq!(mine.recv().expect("ack"), iters);
                    t0.elapsed()
                })
            });
        }
        drop((mine, worker));

        let (server, name) = IpcOneShotServer::<ChannelEnds>::new().expect("server");
        let mut cmd = bench_cmd("sink_ipc_channel");
        cmd.env(SERVER, name);
        let worker = Worker(cmd.spawn().expect("spawn"));
        let (_, (data_tx, ack_rx)) = server.accept().expect("accept");
        g.bench_with_input(BenchmarkId::new("ipc_channel", label), &payload, |b, p| {
            b.iter_custom(|iters| {
                let t0 = Instant::now();
                for _ in 0..iters {
                    data_tx.send(p).expect("send");
                }
                data_tx.send(&[]).expect("send");
                assert_eq!(ack_rx.recv().expect("ack"), iters);
                t0.elapsed()
            })
        });
        drop((data_tx, ack_rx, worker));
    }
    g.finish();
}

criterion_group!(benches, roundtrip, throughput);
