//! The I/O demo: a local HTTP server answers every request after a delay (a slow remote
//! service), and a blocking HTTP client (`ureq`) fetches the same pages on 2 threads, then
//! on 10.
//! Results arrive in completion order, with a progress bar; nothing leaves this machine
//! (the server listens on loopback). With 10 pages, 10 threads take about one delay, 2
//! threads about five.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use indicatif::ProgressIterator;
use rustures::{ThreadPool, as_completed};

const PAGES: usize = 10;
const DELAY: Duration = Duration::from_millis(400);

/// Starts the server on a free loopback port; returns its base URL. A plain HTTP/1.1
/// responder on std's listener: one thread per connection, so every request waits its
/// delay at the same time, as a remote service's would.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let address = listener.local_addr().expect("its address");
    thread::spawn(move || {
        for connection in listener.incoming().flatten() {
            thread::spawn(move || answer(connection));
        }
    });
    format!("http://{address}")
}

/// Reads one request (its head), waits the delay, answers with a small page.
fn answer(mut connection: TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match connection.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let path = String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    thread::sleep(DELAY);
    let body = format!("<html>{path} is here</html>");
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = connection.write_all(response.as_bytes());
}

/// Fetches `url` with a blocking client; returns the page's length.
fn fetch(url: String) -> Result<usize, String> {
    let mut response = ureq::get(&url).call().map_err(|e| format!("{url}: {e}"))?;
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("{url}: {e}"))?;
    Ok(body.len())
}

fn main() {
    let base = serve();
    println!("fetching {PAGES} pages from a local server that answers after {DELAY:?}\n");
    for threads in [2, 10] {
        let pool = ThreadPool::builder()
            .max_workers(threads)
            .build()
            .expect("a thread pool");
        let start = Instant::now();
        let futures: Vec<_> = (0..PAGES)
            .map(|i| {
                pool.submit(fetch, format!("{base}/page/{i}"))
                    .expect("submitted")
            })
            .collect();
        // `as_completed` knows its length: a progress bar (drawn on a terminal only).
        for done in as_completed(&futures, None).indexed().progress() {
            let (index, future) = done.expect("no timeout was set");
            match future.result() {
                Ok(Ok(bytes)) => println!("  page {index}: {bytes} bytes"),
                Ok(Err(why)) => println!("  page {index}: failed: {why}"),
                Err(err) => println!("  page {index}: {err}"),
            }
        }
        println!(
            "{threads} threads: {PAGES} pages in {:.2} s\n",
            start.elapsed().as_secs_f64()
        );
    }
}
