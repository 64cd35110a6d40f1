//! Loopback plumbing: free ports and a tiny HTTP GET for the monitoring port.
//!
//! A hand-rolled HTTP/1.0 GET keeps the dev-dependency list short; the
//! monitoring endpoints (`/healthz`, `/jsz`) answer small JSON bodies and
//! close the connection, which is all this needs.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

/// Ports handed out in this process; the OS may return a port again once its
/// probe listener is closed, and two servers of one test must not share one.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback port nothing listens on right now. Another process can still
/// take it before the server binds; the server then fails to start and says
/// so in its log, which `Server::start` reports.
pub fn free_port() -> u16 {
    let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let seen = guard.get_or_insert_with(HashSet::new);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind a loopback port")
            .port();
        if seen.insert(port) {
            return port;
        }
    }
}

/// True when something accepts TCP connections on the loopback port.
pub fn port_open(port: u16) -> bool {
    let addr = ([127, 0, 0, 1], port).into();
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// GETs `path` from the loopback port; returns the status code and body.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let addr = ([127, 0, 0, 1], port).into();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

/// GETs `path` and parses the body as JSON, off the async worker threads.
pub async fn http_get_json(port: u16, path: &str) -> std::io::Result<(u16, serde_json::Value)> {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        let (status, body) = http_get(port, &path)?;
        let json = serde_json::from_str(&body).map_err(std::io::Error::other)?;
        Ok((status, json))
    })
    .await
    .expect("http task panicked")
}
