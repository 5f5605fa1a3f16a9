//! The least a server on tokio can do per request: a measuring stick for
//! issue 12, not a server to run.
//!
//! ```sh
//! cargo run --release --example serve_floor -- --site EXPORT_DIR --bind 127.0.0.1:8080
//! ```
//!
//! It holds every file of an export in memory with its response head
//! written out in advance (the headers broadsheet sends, a fixed `Date`),
//! and, on each of two threads with a single-threaded tokio runtime as
//! broadsheet's workers have, answers every request with one vectored
//! write: `304` when the request has an `If-None-Match` line, the `.gz`
//! sibling when it names gzip, else the file. Nothing else: no parsing
//! beyond the path, no validation, no timeouts, no limits, no log, no
//! counting. Whatever broadsheet does on top of hyper costs at least what
//! this costs, so its CPU time per request, measured against nginx in the
//! same run (`FLOOR=1 PARTS=serve bash bench/run.sh`), bounds the ratios
//! any design on tokio can reach on the machine.

use std::collections::HashMap;
use std::io::IoSlice;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One file's three answers, each a head and a body.
#[derive(Clone)]
struct Answers {
    identity: (Vec<u8>, Vec<u8>),
    gzip: Option<(Vec<u8>, Vec<u8>)>,
    not_modified: Vec<u8>,
}

fn head(status: &str, content_type: &str, extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nETag: \"0123456789abcdef\"\r\n\
         Last-Modified: Mon, 30 Nov 2026 12:00:00 GMT\r\nCache-Control: public, max-age=300\r\n\
         Vary: Accept-Encoding\r\nX-Content-Type-Options: nosniff\r\n\
         Access-Control-Allow-Origin: *\r\nDate: Mon, 30 Nov 2026 23:00:00 GMT\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// Every file under `dir`, by URL path (`/x/index.html` also as `/x/`).
fn load(dir: &Path, root: &Path, out: &mut HashMap<Vec<u8>, Answers>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            load(&path, root, out)?;
            continue;
        }
        let Ok(name) = path.strip_prefix(root) else {
            continue;
        };
        let name = name.to_string_lossy().into_owned();
        if name.ends_with(".gz") || name.ends_with(".br") || name.starts_with('.') {
            continue;
        }
        let body = std::fs::read(&path)?;
        let content_type = match name.rsplit('.').next() {
            Some("xml") => "application/rss+xml; charset=utf-8",
            Some("json") => "application/feed+json; charset=utf-8",
            _ => "text/html; charset=utf-8",
        };
        let gzip = std::fs::read(format!("{}.gz", path.display()))
            .ok()
            .map(|gz| {
                let extra = format!("Content-Encoding: gzip\r\nContent-Length: {}\r\n", gz.len());
                (head("200 OK", content_type, &extra), gz)
            });
        let extra = format!("Content-Length: {}\r\n", body.len());
        let answers = Answers {
            identity: (head("200 OK", content_type, &extra), body),
            gzip,
            not_modified: head("304 Not Modified", content_type, ""),
        };
        let url = format!("/{name}");
        if let Some(folder) = url.strip_suffix("index.html") {
            out.insert(folder.as_bytes().to_vec(), answers.clone());
        }
        out.insert(url.into_bytes(), answers);
    }
    Ok(())
}

/// Answers one connection's requests until it closes.
async fn answer(mut stream: tokio::net::TcpStream, files: Arc<HashMap<Vec<u8>, Answers>>) {
    const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    let mut buf = vec![0u8; 8192];
    let mut len = 0;
    loop {
        match stream.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => len += n,
        }
        while let Some(end) = memchr::memmem::find(&buf[..len], b"\r\n\r\n") {
            let request = &buf[..end + 4];
            let target = request.get(4..).unwrap_or_default();
            let path = &target[..memchr::memchr(b' ', target).unwrap_or(0)];
            let (head, body): (&[u8], &[u8]) = match files.get(path) {
                None => (NOT_FOUND, b""),
                Some(answers) => {
                    if memchr::memmem::find(request, b"If-None-Match:").is_some() {
                        (&answers.not_modified, b"")
                    } else if let Some((head, body)) = answers
                        .gzip
                        .as_ref()
                        .filter(|_| memchr::memmem::find(request, b"gzip").is_some())
                    {
                        (head, body)
                    } else {
                        (&answers.identity.0, &answers.identity.1)
                    }
                }
            };
            let mut slices = [IoSlice::new(head), IoSlice::new(body)];
            let mut left: &mut [IoSlice<'_>] = &mut slices;
            let mut to_send = head.len() + body.len();
            while to_send > 0 {
                match stream.write_vectored(left).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        to_send -= n;
                        IoSlice::advance_slices(&mut left, n);
                    }
                }
            }
            buf.copy_within(end + 4..len, 0);
            len -= end + 4;
        }
        if len == buf.len() {
            return;
        }
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let (Some(site), Some(bind)) = (arg("--site"), arg("--bind")) else {
        eprintln!("usage: serve_floor --site EXPORT_DIR --bind ADDR");
        std::process::exit(2);
    };
    let mut files = HashMap::new();
    load(Path::new(&site), Path::new(&site), &mut files)?;
    let files = Arc::new(files);
    let listener = std::net::TcpListener::bind(&bind)?;
    listener.set_nonblocking(true)?;
    // What `bench/run.sh` waits for, as it does for broadsheet.
    println!("listening on http://{}", listener.local_addr()?);
    let mut workers = Vec::new();
    for _ in 0..2 {
        let listener = listener.try_clone()?;
        let files = Arc::clone(&files);
        workers.push(std::thread::spawn(move || -> std::io::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(answer(stream, Arc::clone(&files)));
                }
            })
        }));
    }
    for worker in workers {
        if let Ok(Err(error)) = worker.join() {
            return Err(error);
        }
    }
    Ok(())
}
