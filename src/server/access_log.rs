//! The access log: one line per request under the target
//! `broadsheet::access`, with `peer` (the connection's), `client` (the same
//! address, or behind a trusted proxy the one it names), `method`, `path`, `status`, `bytes`
//! (of the body sent), `micros` (time to answer, not to transmit) and
//! `version`, in the layout of the server's other log lines (`tracing`'s).
//! `RUST_LOG` sets the level; `RUST_LOG=info,broadsheet::access=off`
//! keeps the server's own messages and drops the access log.
//!
//! A request only copies its line's fields into a bounded queue ([`Queue`]);
//! a thread of its own ([`Writer`]) formats them and writes them in batches,
//! every [`INTERVAL`], so that neither the formatting nor the `write` is on
//! a request's path. The queue holds [`CAPACITY`] lines: when the writer
//! falls behind (a slow disk, a blocked pipe), the lines that do not fit are
//! dropped and counted, rather than blocking requests or growing without
//! bound; the count is logged (a `warn` line at most once a second) and
//! reported by `/healthz` (`access_log_dropped`). Lines whose write failed
//! count as dropped too. On a clean shutdown ([`Writer::stop`], after the
//! workers have ended), every queued line is written and flushed.
//!
//! Only the line lives here: which requests are answered, and how, is
//! decided before it is written.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use hyper::body::Body as _;
use hyper::{Method, Request, Response, Version};
use tracing::warn;

use super::handler::Body;
use super::state::State;

/// How many lines the queue holds: at 200,000 requests a second, 80 ms of
/// them, more than [`INTERVAL`].
pub(crate) const CAPACITY: usize = 16_384;

/// How often the writer takes what is queued and writes it.
pub(crate) const INTERVAL: Duration = Duration::from_millis(20);

/// How often, at most, dropped lines are reported in the log.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// Whether the access log is on: `RUST_LOG` enables `info` for its target.
pub(crate) fn enabled() -> bool {
    tracing::enabled!(target: "broadsheet::access", tracing::Level::INFO)
}

/// One request's line, as the request leaves it: copied fields, nothing
/// formatted.
struct Line {
    at: SystemTime,
    peer: SocketAddr,
    client: IpAddr,
    method: Method,
    path: String,
    status: u16,
    bytes: u64,
    micros: u64,
    version: Version,
}

/// The requests' end of the access log.
#[derive(Debug)]
pub(crate) struct Queue {
    lines: SyncSender<Line>,
    dropped: Arc<AtomicU64>,
}

impl Queue {
    /// Queues the line of `request` from `client` on a connection from
    /// `peer`, answered with `response`,
    /// timed from `started`; drops and counts it when the queue is full.
    pub(crate) fn record<B>(
        &self,
        peer: SocketAddr,
        client: IpAddr,
        request: &Request<B>,
        response: &Response<Body>,
        started: Instant,
    ) {
        let line = Line {
            at: SystemTime::now(),
            peer,
            client,
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
            status: response.status().as_u16(),
            bytes: response.body().size_hint().exact().unwrap_or(0),
            micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            version: request.version(),
        };
        match self.lines.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lines dropped since start: not queued, or not written.
    #[cfg(test)]
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Writes `request`'s line to the access log of `state`, if it has one.
pub(crate) fn record<B>(
    state: &State,
    peer: SocketAddr,
    client: IpAddr,
    request: &Request<B>,
    response: &Response<Body>,
    started: Instant,
) {
    if let Some(queue) = state.access_log() {
        queue.record(peer, client, request, response, started);
    }
}

/// The thread that writes the queued lines; [`Writer::stop`] writes the
/// last of them and waits for it.
#[derive(Debug)]
pub(crate) struct Writer {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

/// Starts the writer thread, writing to `out`, and returns the queue for
/// requests and the writer's handle. `on_dropped` is told the total of
/// dropped lines whenever it has grown (at most once per [`REPORT_EVERY`],
/// and at the end).
pub(crate) fn start(
    out: Box<dyn Write + Send>,
    capacity: usize,
    interval: Duration,
    on_dropped: Box<dyn Fn(u64) + Send>,
) -> std::io::Result<(Queue, Writer)> {
    let (lines, received) = mpsc::sync_channel(capacity);
    let dropped = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writing = Writing {
        received,
        out,
        dropped: dropped.clone(),
        reported: 0,
        last_report: None,
        on_dropped,
        buffer: Vec::with_capacity(64 * 1024),
    };
    let stopping = stop.clone();
    let thread = std::thread::Builder::new()
        .name("broadsheet-access-log".into())
        .spawn(move || writing.run(&stopping, interval))?;
    Ok((
        Queue { lines, dropped },
        Writer {
            thread: Some(thread),
            stop,
        },
    ))
}

impl Writer {
    /// Writes every line queued so far, flushes, and ends the thread.
    /// Call once the requests have ended: a line queued after this is
    /// dropped (and counted).
    pub(crate) fn stop(mut self) {
        self.stop_and_wait();
    }

    fn stop_and_wait(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            if thread.join().is_err() {
                warn!("the access log's writer panicked");
            }
        }
    }
}

impl Drop for Writer {
    /// A server dropped without [`Writer::stop`] still writes what is queued.
    fn drop(&mut self) {
        self.stop_and_wait();
    }
}

/// The writer thread's side.
struct Writing {
    received: Receiver<Line>,
    out: Box<dyn Write + Send>,
    dropped: Arc<AtomicU64>,
    /// The dropped total last reported.
    reported: u64,
    last_report: Option<Instant>,
    on_dropped: Box<dyn Fn(u64) + Send>,
    buffer: Vec<u8>,
}

impl Writing {
    /// Every `interval` (or when told to stop), takes what is queued and
    /// writes it. Sleeping between batches, rather than waiting on the
    /// queue, means a request never has to wake this thread.
    fn run(mut self, stop: &AtomicBool, interval: Duration) {
        loop {
            let stopping = stop.load(Ordering::Acquire);
            self.write_queued();
            self.report_dropped(stopping);
            if stopping {
                return;
            }
            std::thread::park_timeout(interval);
        }
    }

    /// Formats and writes the queued lines, a batch at a time.
    fn write_queued(&mut self) {
        let mut count = 0u64;
        let mut second = None;
        while let Ok(line) = self.received.try_recv() {
            format_line(&mut self.buffer, &line, &mut second);
            count += 1;
            if self.buffer.len() >= 60 * 1024 {
                self.write_buffer(count);
                count = 0;
            }
        }
        if count > 0 {
            self.write_buffer(count);
        }
    }

    fn write_buffer(&mut self, lines: u64) {
        let written = self
            .out
            .write_all(&self.buffer)
            .and_then(|()| self.out.flush());
        if written.is_err() {
            self.dropped.fetch_add(lines, Ordering::Relaxed);
        }
        self.buffer.clear();
    }

    fn report_dropped(&mut self, stopping: bool) {
        let total = self.dropped.load(Ordering::Relaxed);
        if total == self.reported {
            return;
        }
        let due = self
            .last_report
            .is_none_or(|last| last.elapsed() >= REPORT_EVERY);
        if !due && !stopping {
            return;
        }
        warn!(
            "access log: {} lines dropped (its writer fell behind, or writing failed); {total} since start",
            total - self.reported
        );
        (self.on_dropped)(total);
        self.reported = total;
        self.last_report = Some(Instant::now());
    }
}

/// Appends the line, in the layout of `tracing`'s other lines:
/// `2024-05-20T10:00:00.123456Z  INFO broadsheet::access: peer=… client=… method=GET
/// path=/rss.xml status=200 bytes=60150 micros=4 version=HTTP/1.1`.
/// `second` caches the formatted date and time to the second.
fn format_line(out: &mut Vec<u8>, line: &Line, second: &mut Option<(i64, String)>) {
    let at = DateTime::<Utc>::from(line.at);
    let seconds = at.timestamp();
    let prefix = match second {
        Some((cached, prefix)) if *cached == seconds => prefix,
        _ => {
            let prefix = at.format("%Y-%m-%dT%H:%M:%S").to_string();
            &mut second.insert((seconds, prefix)).1
        }
    };
    // Writing to a Vec cannot fail.
    let _ = writeln!(
        out,
        "{prefix}.{:06}Z  INFO broadsheet::access: peer={} client={} method={} path={} status={} bytes={} micros={} version={:?}",
        at.timestamp_subsec_micros(),
        line.peer,
        line.client,
        line.method,
        line.path,
        line.status,
        line.bytes,
        line.micros,
        line.version,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A writer into shared memory that can be made to block.
    #[derive(Clone, Default)]
    struct Shared {
        bytes: Arc<Mutex<Vec<u8>>>,
        gate: Arc<Mutex<()>>,
        entered: Arc<AtomicBool>,
    }

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.entered.store(true, Ordering::Release);
            let _open = self.gate.lock().unwrap_or_else(|e| e.into_inner());
            self.bytes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.bytes.lock().unwrap().clone()).unwrap()
        }
    }

    fn request(path: &str) -> Request<()> {
        Request::get(path).body(()).unwrap()
    }

    fn ok() -> Response<Body> {
        Response::new(Body::default())
    }

    fn peer() -> SocketAddr {
        "127.0.0.1:4000".parse().unwrap()
    }

    #[test]
    fn lines_are_written_by_the_writer_in_the_layout_of_the_other_log_lines() {
        let out = Shared::default();
        let (queue, writer) = start(
            Box::new(out.clone()),
            16,
            Duration::from_secs(3600),
            Box::new(|_| {}),
        )
        .unwrap();
        queue.record(
            peer(),
            peer().ip(),
            &request("/rss.xml"),
            &ok(),
            Instant::now(),
        );
        // An hour's interval: only stopping writes the line.
        writer.stop();
        let text = out.text();
        let line = text.lines().next().unwrap();
        let fields = &line[26..];
        assert!(
            fields.starts_with("Z  INFO broadsheet::access: peer=127.0.0.1:4000 client=127.0.0.1 method=GET path=/rss.xml status=200 bytes=0 micros="),
            "{line}"
        );
        assert!(fields.ends_with(" version=HTTP/1.1"), "{line}");
        assert!(DateTime::parse_from_rfc3339(&line[..27]).is_ok(), "{line}");
        assert_eq!(queue.dropped(), 0);
    }

    #[test]
    fn stopping_writes_every_queued_line() {
        let out = Shared::default();
        let (queue, writer) = start(
            Box::new(out.clone()),
            CAPACITY,
            Duration::from_secs(3600),
            Box::new(|_| {}),
        )
        .unwrap();
        for i in 0..5_000 {
            queue.record(
                peer(),
                peer().ip(),
                &request(&format!("/{i}")),
                &ok(),
                Instant::now(),
            );
        }
        writer.stop();
        let text = out.text();
        assert_eq!(text.lines().count(), 5_000);
        assert!(text.lines().last().unwrap().contains("path=/4999 "));
        assert_eq!(queue.dropped(), 0);
    }

    #[test]
    fn a_blocked_writer_drops_and_counts_lines_beyond_the_queue() {
        let out = Shared::default();
        let reported = Arc::new(AtomicU64::new(0));
        let told = reported.clone();
        let (queue, writer) = start(
            Box::new(out.clone()),
            8,
            Duration::from_millis(1),
            Box::new(move |total| told.store(total, Ordering::Relaxed)),
        )
        .unwrap();
        // The disk stalls: the writer blocks on its first write.
        let stall = out.gate.lock().unwrap();
        queue.record(
            peer(),
            peer().ip(),
            &request("/first"),
            &ok(),
            Instant::now(),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !out.entered.load(Ordering::Acquire) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let started = Instant::now();
        for _ in 0..100 {
            queue.record(
                peer(),
                peer().ip(),
                &request("/more"),
                &ok(),
                Instant::now(),
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "requests never wait for the writer"
        );
        // The first line is with the writer, 8 fit in the queue.
        assert_eq!(queue.dropped(), 92);
        drop(stall);
        writer.stop();
        assert_eq!(out.text().lines().count(), 9);
        assert_eq!(reported.load(Ordering::Relaxed), 92);
    }

    #[test]
    fn failed_writes_count_as_dropped() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (queue, writer) = start(
            Box::new(Broken),
            16,
            Duration::from_secs(3600),
            Box::new(|_| {}),
        )
        .unwrap();
        for _ in 0..3 {
            queue.record(peer(), peer().ip(), &request("/"), &ok(), Instant::now());
        }
        writer.stop();
        assert_eq!(queue.dropped(), 3);
    }
}
