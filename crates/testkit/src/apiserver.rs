//! A Kubernetes API server for tests that behaves like kube-apiserver where clients can tell:
//! consistent lists (no `resourceVersion`) are paged by `limit`/`continue`, while
//! `resourceVersion=0` lists are served whole from the "watch cache", `limit` ignored; watches
//! over chunked HTTP/1.1 with resourceVersions, bookmarks, 410 Expired after compaction; label
//! and field selectors; `sendInitialEvents` refused as by an API server without the WatchList
//! feature (422). Also dropped streams, injected 5xx and outages, and a record of every request.
//! Services, EndpointSlices, Namespaces, Pods and (the Multi-Cluster Services API's CRD)
//! ServiceImports, all namespaces.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The kinds served, by their collection path.
const KINDS: [(&str, &str, &str); 5] = [
    ("/api/v1/services", "ServiceList", "v1"),
    (
        "/apis/discovery.k8s.io/v1/endpointslices",
        "EndpointSliceList",
        "discovery.k8s.io/v1",
    ),
    ("/api/v1/namespaces", "NamespaceList", "v1"),
    ("/api/v1/pods", "PodList", "v1"),
    (
        "/apis/multicluster.x-k8s.io/v1alpha1/serviceimports",
        "ServiceImportList",
        "multicluster.x-k8s.io/v1alpha1",
    ),
];

/// An object as stored: parsed for selectors, and its JSON text, made once, for responses.
#[derive(Clone)]
struct Stored {
    value: Arc<Value>,
    text: Arc<str>,
}

impl Stored {
    fn new(value: Value) -> Stored {
        let text = Arc::from(value.to_string());
        Stored {
            value: Arc::new(value),
            text,
        }
    }
}

/// One change: its resourceVersion, type and object, and the object it replaced (a watch with a
/// selector sees an object leave or join its selection as DELETED or ADDED, as
/// kube-apiserver's watch cache sends it).
struct Change {
    rv: u64,
    kind: &'static str,
    object: Stored,
    previous: Option<Stored>,
}

impl Change {
    /// The event a watch with `filter` gets for this change, if any.
    fn seen_through(&self, filter: &Filter) -> Option<&'static str> {
        let was = self.previous.as_ref().is_some_and(|p| filter.admits(&p.value));
        if self.kind == "DELETED" {
            return was.then_some("DELETED");
        }
        match (was, filter.admits(&self.object.value)) {
            (true, true) => Some(self.kind),
            (true, false) => Some("DELETED"),
            (false, true) => Some("ADDED"),
            (false, false) => None,
        }
    }
}

#[derive(Default)]
struct State {
    rv: u64,
    /// Objects by collection path, then namespace/name (etcd's key order).
    objects: BTreeMap<&'static str, BTreeMap<String, Stored>>,
    /// Every change by collection path, in resourceVersion order.
    events: BTreeMap<&'static str, Vec<Change>>,
    /// Watches and continued lists asking for versions older than this get 410 Expired.
    compacted: u64,
    /// Bumped to end every open watch.
    generation: u64,
}

/// A test API server on 127.0.0.1; stops on drop.
pub struct FakeApiServer {
    pub addr: SocketAddr,
    state: Arc<(Mutex<State>, Condvar)>,
    stop: Arc<AtomicBool>,
    fail_next: Arc<AtomicUsize>,
    outage: Arc<AtomicBool>,
    /// Requests served, as `METHOD path?query` lines.
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl FakeApiServer {
    pub fn start() -> FakeApiServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind api server");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let server = FakeApiServer {
            addr,
            state: Arc::new((Mutex::new(State::default()), Condvar::new())),
            stop: Arc::new(AtomicBool::new(false)),
            fail_next: Arc::new(AtomicUsize::new(0)),
            outage: Arc::new(AtomicBool::new(false)),
            requests: Arc::new(Mutex::new(Vec::new())),
        };
        let shared = server.shared();
        std::thread::spawn(move || {
            while !shared.stop.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let shared = shared.clone();
                        std::thread::spawn(move || shared.serve(conn));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        server
    }

    /// `http://127.0.0.1:PORT`, for `endpoint`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Writes a kubeconfig for this server; returns its path.
    pub fn kubeconfig(&self, dir: &crate::TempDir) -> std::path::PathBuf {
        dir.write(
            "kubeconfig",
            &format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}\nusers:\n- name: test\n  user:\n    token: test-token\n\
                 contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\ncurrent-context: test\n",
                self.url()
            ),
        )
    }

    fn shared(&self) -> Shared {
        Shared {
            state: self.state.clone(),
            stop: self.stop.clone(),
            fail_next: self.fail_next.clone(),
            outage: self.outage.clone(),
            requests: self.requests.clone(),
        }
    }

    /// Creates or replaces an object (its kind decides the collection).
    pub fn apply(&self, object: Value) {
        self.apply_all(std::iter::once(object));
    }

    /// Creates or replaces many objects under one lock (fixtures of 100,000 objects).
    pub fn apply_all(&self, objects: impl IntoIterator<Item = Value>) {
        let (lock, cvar) = &*self.state;
        let mut s = lock.lock().expect("state");
        for mut object in objects {
            let path = path_of(&object);
            s.rv += 1;
            let rv = s.rv;
            object["metadata"]["resourceVersion"] = json!(rv.to_string());
            let key = key_of(&object);
            let stored = Stored::new(object);
            let previous = s.objects.entry(path).or_default().insert(key, stored.clone());
            let kind = if previous.is_some() { "MODIFIED" } else { "ADDED" };
            s.events.entry(path).or_default().push(Change {
                rv,
                kind,
                object: stored,
                previous,
            });
        }
        cvar.notify_all();
    }

    /// Deletes an object by kind, namespace and name.
    pub fn delete(&self, kind: &str, namespace: &str, name: &str) {
        let path = path_of(&json!({"kind": kind}));
        let key = if namespace.is_empty() {
            name.to_string()
        } else {
            format!("{namespace}/{name}")
        };
        let (lock, cvar) = &*self.state;
        let mut s = lock.lock().expect("state");
        let Some(old) = s.objects.entry(path).or_default().remove(&key) else {
            return;
        };
        s.rv += 1;
        let rv = s.rv;
        let mut object = (*old.value).clone();
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        s.events.entry(path).or_default().push(Change {
            rv,
            kind: "DELETED",
            object: Stored::new(object),
            previous: Some(old),
        });
        cvar.notify_all();
    }

    /// The next `n` requests get 500.
    pub fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::Release);
    }

    /// Ends every open watch stream (as an API server restart or a load balancer does).
    pub fn drop_watches(&self) {
        let (lock, cvar) = &*self.state;
        lock.lock().expect("state").generation += 1;
        cvar.notify_all();
    }

    /// Forgets history: resuming watches get 410 Expired and must list again.
    pub fn compact(&self) {
        let (lock, cvar) = &*self.state;
        let mut s = lock.lock().expect("state");
        // Compaction moves the store on: every version a client has seen is now too old.
        s.rv += 1;
        s.compacted = s.rv;
        s.events.clear();
        s.generation += 1;
        cvar.notify_all();
    }

    /// While on, every request gets 503 and open watches end.
    pub fn set_outage(&self, on: bool) {
        self.outage.store(on, Ordering::Release);
        if on {
            self.drop_watches();
        }
    }

    /// How many lists (not watches) of the collection at `path` were served.
    pub fn lists(&self, path: &str) -> usize {
        let prefix = format!("GET {path}?");
        self.requests
            .lock()
            .expect("requests")
            .iter()
            .filter(|r| r.starts_with(&prefix) && !r.contains("watch=true"))
            .count()
    }

    /// How many requests have `needle` in their request line.
    pub fn count(&self, needle: &str) -> usize {
        self.requests
            .lock()
            .expect("requests")
            .iter()
            .filter(|r| r.contains(needle))
            .count()
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.drop_watches();
    }
}

#[derive(Clone)]
struct Shared {
    state: Arc<(Mutex<State>, Condvar)>,
    stop: Arc<AtomicBool>,
    fail_next: Arc<AtomicUsize>,
    outage: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
}

fn path_of(object: &Value) -> &'static str {
    match object["kind"].as_str() {
        Some("Service") => KINDS[0].0,
        Some("EndpointSlice") => KINDS[1].0,
        Some("Namespace") => KINDS[2].0,
        Some("ServiceImport") => KINDS[4].0,
        _ => KINDS[3].0,
    }
}

fn key_of(object: &Value) -> String {
    let name = object["metadata"]["name"].as_str().unwrap_or("");
    match object["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

/// A request's query parameters, percent-decoded.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: &str) -> Params {
        Params(
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (decode(k), decode(v)))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One requirement of a label or field selector: equality-based, as kube-apiserver parses them
/// (`k=v`, `k==v`, `k!=v`, `k`, `!k`); set-based ones (`k in (a,b)`, `k notin (a)`) for labels.
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A selector: every requirement must hold.
struct Selector(Vec<Requirement>);

impl Selector {
    fn parse(text: &str) -> Selector {
        let mut reqs = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            // A set requirement holds commas inside its parentheses.
            let end = match (rest.find('('), rest.find(',')) {
                (Some(open), Some(comma)) if open < comma => {
                    rest[open..].find(')').map_or(rest.len(), |c| open + c + 1)
                }
                (_, Some(comma)) => comma,
                _ => rest.len(),
            };
            let req = rest[..end].trim();
            rest = rest[end..].trim_start_matches(',').trim();
            let set = |s: &str| -> Vec<String> {
                s.trim()
                    .trim_start_matches('(')
                    .trim_end_matches(')')
                    .split(',')
                    .map(|v| v.trim().to_string())
                    .collect()
            };
            reqs.push(if let Some(k) = req.strip_prefix('!') {
                Requirement::Absent(k.trim().into())
            } else if let Some((k, v)) = req.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, s)) = req.split_once(" notin ") {
                Requirement::NotIn(k.trim().into(), set(s))
            } else if let Some((k, s)) = req.split_once(" in ") {
                Requirement::In(k.trim().into(), set(s))
            } else {
                Requirement::Exists(req.into())
            });
        }
        Selector(reqs)
    }

    /// Whether the values `get` finds satisfy every requirement.
    fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k).as_deref() == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k).as_deref() != Some(v.as_str()),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::Absent(k) => get(k).is_none(),
            Requirement::In(k, set) => get(k).is_some_and(|v| set.contains(&v)),
            Requirement::NotIn(k, set) => get(k).is_none_or(|v| !set.contains(&v)),
        })
    }
}

/// The selectors of one list or watch.
struct Filter {
    labels: Option<Selector>,
    fields: Option<Selector>,
}

impl Filter {
    fn of(params: &Params) -> Filter {
        Filter {
            labels: params.get("labelSelector").map(Selector::parse),
            fields: params.get("fieldSelector").map(Selector::parse),
        }
    }

    fn admits(&self, object: &Value) -> bool {
        let labels = self
            .labels
            .as_ref()
            .is_none_or(|s| s.matches(|k| object["metadata"]["labels"][k].as_str().map(String::from)));
        // Field paths as kube-apiserver names them: `metadata.name`, `status.phase`, ...
        let fields = self.fields.as_ref().is_none_or(|s| {
            s.matches(|path| {
                let mut v = object;
                for part in path.split('.') {
                    v = &v[part];
                }
                // A field the kind has but the object leaves unset selects as "".
                Some(v.as_str().unwrap_or("").to_string())
            })
        });
        labels && fields
    }
}

impl Shared {
    fn serve(&self, conn: TcpStream) {
        let _ = conn.set_nonblocking(false);
        let Ok(read_half) = conn.try_clone() else { return };
        let mut reader = BufReader::new(read_half);
        let mut conn = conn;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 {
                    return;
                }
                if header == "\r\n" {
                    break;
                }
                if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            self.requests.lock().expect("requests").push(format!(
                "{} {target}",
                line.split_whitespace().next().unwrap_or("")
            ));
            let keep = self.respond(&mut conn, &target);
            if !keep {
                return;
            }
        }
    }

    /// Answers one request; false when the connection must close.
    fn respond(&self, conn: &mut TcpStream, target: &str) -> bool {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let params = Params::parse(query);
        if self.outage.load(Ordering::Acquire) {
            return send(
                conn,
                503,
                &status(503, "ServiceUnavailable", "the API server is down"),
            );
        }
        if self
            .fail_next
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
        {
            return send(conn, 500, &status(500, "InternalError", "injected failure"));
        }
        let Some(&(path, list_kind, api_version)) = KINDS.iter().find(|(p, _, _)| *p == path) else {
            return send(conn, 404, &status(404, "NotFound", "no such path"));
        };
        let filter = Filter::of(&params);
        if matches!(params.get("watch"), Some("true" | "1")) {
            // As an API server without the WatchList feature gate (its validation's message).
            if params.get("sendInitialEvents").is_some() {
                return send(
                    conn,
                    422,
                    &status(
                        422,
                        "Invalid",
                        "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
                    ),
                );
            }
            let since: u64 = params
                .get("resourceVersion")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            self.watch(
                conn,
                path,
                since,
                params.get("allowWatchBookmarks") == Some("true"),
                &filter,
            );
            return false;
        }
        self.list(conn, path, list_kind, api_version, &params, &filter)
    }

    /// A list: whole from the cache for `resourceVersion=0` (`limit` ignored, as kube-apiserver's
    /// watch cache does); a consistent list (no version) in pages of `limit`, continued by the
    /// `continue` token at the first page's version.
    fn list(
        &self,
        conn: &mut TcpStream,
        path: &'static str,
        list_kind: &str,
        api_version: &str,
        params: &Params,
        filter: &Filter,
    ) -> bool {
        let s = self.state.0.lock().expect("state");
        let from_cache = params.get("resourceVersion").is_some_and(|v| !v.is_empty());
        let limit: Option<usize> = params
            .get("limit")
            .and_then(|l| l.parse().ok())
            .filter(|l| *l > 0 && !from_cache);
        // The token: the first page's version and the last key served.
        let (rv, after) = match params.get("continue").and_then(|c| c.split_once('/')) {
            Some((rv, key)) => match rv.parse::<u64>() {
                Ok(rv) if rv < s.compacted => {
                    drop(s);
                    return send(
                        conn,
                        410,
                        &status(410, "Expired", "The provided continue parameter is too old"),
                    );
                }
                Ok(rv) => (rv, Some(key.to_string())),
                Err(_) => (s.rv, None),
            },
            None => (s.rv, None),
        };
        let all = s.objects.get(path);
        let mut items: Vec<Arc<str>> = Vec::new();
        let mut last = None;
        let mut more = false;
        let range = all.into_iter().flat_map(|m| match &after {
            Some(k) => {
                m.range::<String, _>((std::ops::Bound::Excluded(k.clone()), std::ops::Bound::Unbounded))
            }
            None => m.range::<String, _>(..),
        });
        for (key, object) in range {
            if !filter.admits(&object.value) {
                continue;
            }
            if limit.is_some_and(|l| items.len() >= l) {
                more = true;
                break;
            }
            items.push(object.text.clone());
            last = Some(key.clone());
        }
        drop(s);
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if more && let Some(last) = last {
            meta["continue"] = json!(format!("{rv}/{last}"));
        }
        // Written as kube-apiserver writes big lists: chunked, objects as they are encoded.
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        let open =
            format!(r#"{{"kind":"{list_kind}","apiVersion":"{api_version}","metadata":{meta},"items":["#);
        if conn.write_all(head.as_bytes()).is_err() || write_chunk(conn, open.as_bytes()).is_err() {
            return false;
        }
        let mut buf = String::new();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                buf.push(',');
            }
            buf.push_str(item);
            if buf.len() > 64 << 10 {
                if write_chunk(conn, buf.as_bytes()).is_err() {
                    return false;
                }
                buf.clear();
            }
        }
        buf.push_str("]}");
        write_chunk(conn, buf.as_bytes()).is_ok() && conn.write_all(b"0\r\n\r\n").is_ok()
    }

    /// Streams the events of `path` after `since`, as chunks, until the stream is dropped.
    fn watch(&self, conn: &mut TcpStream, path: &'static str, since: u64, bookmarks: bool, filter: &Filter) {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        if conn.write_all(head.as_bytes()).is_err() {
            return;
        }
        let (lock, cvar) = &*self.state;
        let mut s = lock.lock().expect("state");
        let generation = s.generation;
        if since < s.compacted {
            let expired =
                json!({"type": "ERROR", "object": status(410, "Expired", "too old resource version")});
            drop(s);
            let _ = chunk(conn, &expired);
            let _ = conn.write_all(b"0\r\n\r\n");
            return;
        }
        let mut last = since;
        let mut bookmark_at = Instant::now();
        loop {
            if self.stop.load(Ordering::Acquire)
                || s.generation != generation
                || self.outage.load(Ordering::Acquire)
            {
                break;
            }
            let events = s.events.get(path).map_or(&[][..], Vec::as_slice);
            let from = events.partition_point(|c| c.rv <= last);
            let pending: Vec<(&'static str, Stored)> = events[from..]
                .iter()
                .filter_map(|c| Some((c.seen_through(filter)?, c.object.clone())))
                .collect();
            last = s.rv;
            let now_rv = s.rv;
            drop(s);
            for (kind, object) in pending {
                let line = format!("{{\"type\":\"{kind}\",\"object\":{}}}\n", object.text);
                if write_chunk(conn, line.as_bytes()).is_err() {
                    return;
                }
            }
            if bookmarks && bookmark_at.elapsed() > Duration::from_secs(1) {
                let kind = KINDS
                    .iter()
                    .find(|(p, _, _)| *p == path)
                    .map_or("", |k| k.1.trim_end_matches("List"));
                let bookmark = json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": now_rv.to_string()}}});
                if chunk(conn, &bookmark).is_err() {
                    return;
                }
                bookmark_at = Instant::now();
            }
            s = lock.lock().expect("state");
            s = cvar.wait_timeout(s, Duration::from_millis(200)).expect("wait").0;
        }
        let _ = conn.write_all(b"0\r\n\r\n");
    }
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code})
}

fn send(conn: &mut TcpStream, code: u16, body: &Value) -> bool {
    let body = body.to_string();
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        410 => "Gone",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    let reply = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(reply.as_bytes()).is_ok()
}

fn write_chunk(conn: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    conn.write_all(format!("{:x}\r\n", bytes.len()).as_bytes())?;
    conn.write_all(bytes)?;
    conn.write_all(b"\r\n")?;
    conn.flush()
}

fn chunk(conn: &mut TcpStream, value: &Value) -> std::io::Result<()> {
    write_chunk(conn, format!("{value}\n").as_bytes())
}

/// A Service object: `ip` "None" for headless; `ports` as (name, protocol, port).
pub fn service(namespace: &str, name: &str, ip: &str, ports: &[(&str, &str, i32)]) -> Value {
    let ports: Vec<Value> = ports
        .iter()
        .map(|(n, p, port)| json!({"name": n, "protocol": p, "port": port}))
        .collect();
    let ips: Vec<&str> = if ip == "None" {
        vec!["None"]
    } else {
        ip.split(',').collect()
    };
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
           "spec": {"type": "ClusterIP", "clusterIP": ips[0], "clusterIPs": ips, "ports": ports, "selector": {"app": name}}})
}

/// An ExternalName Service.
pub fn external_name(namespace: &str, name: &str, target: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
           "spec": {"type": "ExternalName", "externalName": target}})
}

/// An EndpointSlice of `service`: addresses as (ip, hostname, ready); ports as (name, protocol, port).
pub fn endpoint_slice(
    namespace: &str,
    name: &str,
    service: &str,
    addresses: &[(&str, Option<&str>, bool)],
    ports: &[(&str, &str, i32)],
) -> Value {
    let endpoints: Vec<Value> = addresses
        .iter()
        .map(|(ip, host, ready)| {
            let mut e = json!({"addresses": [ip], "conditions": {"ready": ready}});
            if let Some(h) = host {
                e["hostname"] = json!(h);
            }
            e
        })
        .collect();
    let ports: Vec<Value> = ports
        .iter()
        .map(|(n, p, port)| json!({"name": n, "protocol": p, "port": port}))
        .collect();
    let family = if addresses.first().is_some_and(|a| a.0.contains(':')) {
        "IPv6"
    } else {
        "IPv4"
    };
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": family,
           "metadata": {"name": name, "namespace": namespace, "labels": {"kubernetes.io/service-name": service}},
           "endpoints": endpoints, "ports": ports})
}

/// A ServiceImport (`ClusterSetIP` with `ips`, or `Headless` when `ips` is empty).
pub fn service_import(namespace: &str, name: &str, ips: &[&str], ports: &[(&str, &str, i32)]) -> Value {
    let ports: Vec<Value> = ports
        .iter()
        .map(|(n, p, port)| json!({"name": n, "protocol": p, "port": port}))
        .collect();
    let kind = if ips.is_empty() {
        "Headless"
    } else {
        "ClusterSetIP"
    };
    json!({"apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ServiceImport",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"type": kind, "ips": ips, "ports": ports}})
}

/// An EndpointSlice an MCS implementation made for an imported service: [`endpoint_slice`]
/// labelled with the multicluster service name and source cluster instead of the cluster's own.
pub fn imported_slice(
    namespace: &str,
    name: &str,
    service: &str,
    cluster: &str,
    addresses: &[(&str, Option<&str>, bool)],
    ports: &[(&str, &str, i32)],
) -> Value {
    let mut slice = endpoint_slice(namespace, name, service, addresses, ports);
    slice["metadata"]["labels"] = json!({
        "multicluster.kubernetes.io/service-name": service,
        "multicluster.kubernetes.io/source-cluster": cluster,
        "endpointslice.kubernetes.io/managed-by": "mcs-controller"
    });
    slice
}

/// A Namespace.
pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

/// A Pod with `ip` in `phase` (`Running`, `Succeeded`, ...).
pub fn pod(namespace: &str, name: &str, ip: &str, phase: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
           "spec": {"containers": [{"name": "app", "image": "app"}]},
           "status": {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}]}})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GETs `target` over HTTP/1.1; returns the status and the body, de-chunked.
    fn get(api: &FakeApiServer, target: &str) -> (u16, Value) {
        let mut conn = TcpStream::connect(api.addr).expect("connect");
        write!(
            conn,
            "GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut reader = BufReader::new(conn);
        let mut line = String::new();
        reader.read_line(&mut line).expect("status line");
        let code = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("code");
        let mut chunked = false;
        let mut length = None;
        loop {
            line.clear();
            reader.read_line(&mut line).expect("header");
            let lower = line.to_ascii_lowercase();
            if lower == "\r\n" {
                break;
            }
            chunked |= lower.starts_with("transfer-encoding: chunked");
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse::<usize>().ok();
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                reader.read_line(&mut line).expect("chunk size");
                let size = usize::from_str_radix(line.trim(), 16).expect("hex size");
                if size == 0 {
                    break;
                }
                let mut part = vec![0u8; size + 2];
                reader.read_exact(&mut part).expect("chunk");
                body.extend_from_slice(&part[..size]);
            }
        } else {
            let mut part = vec![0u8; length.unwrap_or(0)];
            reader.read_exact(&mut part).expect("body");
            body = part;
        }
        (code, serde_json::from_slice(&body).expect("json body"))
    }

    fn names(list: &Value) -> Vec<String> {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn consistent_lists_page_and_cached_lists_do_not() {
        let api = FakeApiServer::start();
        api.apply_all((0..5).map(|i| service("default", &format!("s{i}"), "10.96.0.1", &[])));
        let (code, first) = get(&api, "/api/v1/services?limit=2");
        assert_eq!((code, names(&first)), (200, vec!["s0".into(), "s1".into()]));
        let token = first["metadata"]["continue"]
            .as_str()
            .expect("continue")
            .to_string();
        let (_, second) = get(&api, &format!("/api/v1/services?limit=2&continue={token}"));
        assert_eq!(names(&second), ["s2", "s3"]);
        // Pages after the first are at the first page's version.
        assert_eq!(
            second["metadata"]["resourceVersion"],
            first["metadata"]["resourceVersion"]
        );
        let token = second["metadata"]["continue"]
            .as_str()
            .expect("continue")
            .to_string();
        let (_, last) = get(&api, &format!("/api/v1/services?limit=2&continue={token}"));
        assert_eq!(names(&last), ["s4"]);
        assert!(last["metadata"]["continue"].is_null());
        // From the cache: whole, whatever the limit.
        let (_, cached) = get(&api, "/api/v1/services?limit=2&resourceVersion=0");
        assert_eq!(names(&cached).len(), 5);
        // A continue token from before a compaction has expired.
        api.compact();
        let (code, _) = get(&api, &format!("/api/v1/services?limit=2&continue={token}"));
        assert_eq!(code, 410);
    }

    #[test]
    fn selectors_and_no_watch_list() {
        let api = FakeApiServer::start();
        api.apply(pod("default", "run", "10.244.0.1", "Running"));
        api.apply(pod("default", "done", "10.244.0.2", "Succeeded"));
        let (_, live) = get(
            &api,
            "/api/v1/pods?resourceVersion=0&fieldSelector=status.phase%21%3DSucceeded",
        );
        assert_eq!(names(&live), ["run"]);
        api.apply(endpoint_slice("default", "a-1", "a", &[], &[]));
        api.apply(endpoint_slice("default", "b-1", "b", &[], &[]));
        let (_, a) = get(
            &api,
            "/apis/discovery.k8s.io/v1/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Da",
        );
        assert_eq!(names(&a), ["a-1"]);
        let (code, status) = get(
            &api,
            "/api/v1/services?watch=true&sendInitialEvents=true&resourceVersion=0",
        );
        assert_eq!((code, status["reason"].as_str()), (422, Some("Invalid")));
    }

    #[test]
    fn objects_leaving_a_watch_selection_are_deleted_for_it() {
        let mut change = Change {
            rv: 2,
            kind: "MODIFIED",
            object: Stored::new(pod("default", "p", "10.244.0.1", "Succeeded")),
            previous: Some(Stored::new(pod("default", "p", "10.244.0.1", "Running"))),
        };
        let live = Filter {
            labels: None,
            fields: Some(Selector::parse("status.phase!=Succeeded,status.phase!=Failed")),
        };
        assert_eq!(change.seen_through(&live), Some("DELETED"));
        std::mem::swap(&mut change.object, change.previous.as_mut().expect("previous"));
        assert_eq!(change.seen_through(&live), Some("ADDED"));
        let all = Filter {
            labels: None,
            fields: None,
        };
        assert_eq!(change.seen_through(&all), Some("MODIFIED"));
    }
}
