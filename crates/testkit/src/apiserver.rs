//! A Kubernetes API server for tests, enough for kube-rs to run for real: list and watch over
//! HTTP/1.1 with resourceVersions, chunked watch streams, bookmarks, 410 Expired after
//! compaction, dropped streams, injected 5xx and outages. Services, EndpointSlices, Namespaces
//! and Pods, all namespaces.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The kinds served, by their collection path.
const KINDS: [(&str, &str, &str); 4] = [
    ("/api/v1/services", "ServiceList", "v1"),
    (
        "/apis/discovery.k8s.io/v1/endpointslices",
        "EndpointSliceList",
        "discovery.k8s.io/v1",
    ),
    ("/api/v1/namespaces", "NamespaceList", "v1"),
    ("/api/v1/pods", "PodList", "v1"),
];

#[derive(Default)]
struct State {
    rv: u64,
    /// Objects by collection path, then namespace/name.
    objects: BTreeMap<&'static str, BTreeMap<String, Value>>,
    /// Every change: (resourceVersion, path, type, object).
    events: Vec<(u64, &'static str, &'static str, Value)>,
    /// Watches asking for versions older than this get 410 Expired.
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
    pub fn apply(&self, mut object: Value) {
        let path = path_of(&object);
        let (lock, cvar) = &*self.state;
        let mut s = lock.lock().expect("state");
        s.rv += 1;
        let rv = s.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let key = key_of(&object);
        let kind = if s
            .objects
            .entry(path)
            .or_default()
            .insert(key, object.clone())
            .is_some()
        {
            "MODIFIED"
        } else {
            "ADDED"
        };
        s.events.push((rv, path, kind, object));
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
        let Some(mut object) = s.objects.entry(path).or_default().remove(&key) else {
            return;
        };
        s.rv += 1;
        let rv = s.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        s.events.push((rv, path, "DELETED", object));
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
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_string))
        };
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
        if param("watch").as_deref() == Some("true") || param("watch").as_deref() == Some("1") {
            let since: u64 = param("resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
            self.watch(
                conn,
                path,
                since,
                param("allowWatchBookmarks").as_deref() == Some("true"),
            );
            return false;
        }
        let s = self.state.0.lock().expect("state");
        let items: Vec<&Value> = s
            .objects
            .get(path)
            .map(|m| m.values().collect())
            .unwrap_or_default();
        let list = json!({"apiVersion": api_version, "kind": list_kind, "metadata": {"resourceVersion": s.rv.to_string()}, "items": items});
        drop(s);
        send(conn, 200, &list)
    }

    /// Streams the events of `path` after `since`, as chunks, until the stream is dropped.
    fn watch(&self, conn: &mut TcpStream, path: &'static str, since: u64, bookmarks: bool) {
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
            let pending: Vec<Value> = s
                .events
                .iter()
                .filter(|(rv, p, _, _)| *rv > last && *p == path)
                .map(|(_, _, kind, object)| json!({"type": kind, "object": object}))
                .collect();
            last = s.rv;
            let now_rv = s.rv;
            drop(s);
            for event in pending {
                if chunk(conn, &event).is_err() {
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
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    let reply = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(reply.as_bytes()).is_ok()
}

fn chunk(conn: &mut TcpStream, value: &Value) -> std::io::Result<()> {
    let line = format!("{value}\n");
    conn.write_all(format!("{:x}\r\n{line}\r\n", line.len()).as_bytes())?;
    conn.flush()
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
