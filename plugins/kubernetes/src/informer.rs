//! One kind's list-and-watch loop, as a client-go informer runs it for CoreDNS: one
//! `resourceVersion=0` list (served whole from the API server's watch cache, never paged), then a
//! watch from the list's version; a dropped watch is resumed and a 410 relisted at once, and only
//! repeated failures back off.
//!
//! Why not kube-rs's `watcher`: its list reads the whole response, then decodes every object
//! before handing out the first, so a relist of a big cluster briefly holds the body and all its
//! objects beside the index; and its backoff applies to every error, 410 included. Here each
//! object is decoded and applied as it arrives (`list.rs`), and the requests are the same ones
//! (kube-rs builds them, and they go through the same client stack and rate limiter).

use std::marker::PhantomData;
use std::time::Duration;

use clusterdns_plugin::clog;
use futures::{AsyncBufReadExt, StreamExt};
use kube::Client;
use kube::api::{ListParams, WatchEvent, WatchParams};
use kube::core::Request;
use rand::RngExt;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::list::ListSplitter;

/// What one kind's informer reports, in order.
#[derive(Debug)]
pub enum Event<K> {
    /// A (re)list begins: the objects that follow are the whole collection.
    Relisting,
    /// One object of the list.
    Listed(K),
    /// The list is complete: objects it did not name are gone.
    Synced,
    /// An object was added or changed.
    Applied(K),
    Deleted(K),
}

/// The server ends each watch after this long (client-go's informers pick 5-10 minutes; kube-rs
/// and this loop 290 s), and a watch silent for 5 s more is taken for dead.
const WATCH_TIMEOUT: u32 = 290;
const WATCH_IDLE: Duration = Duration::from_secs(WATCH_TIMEOUT as u64 + 5);
/// A list whose body stalls this long between two reads is abandoned and retried.
const LIST_IDLE: Duration = Duration::from_secs(60);
/// client-go's reflector backoff: 0.8 s doubling to 30 s, with jitter.
const BACKOFF_START: Duration = Duration::from_millis(800);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// How a watch ended.
enum WatchEnd {
    /// The server closed it (its timeout, a restart, a load balancer): resume from `rv`.
    Closed(String),
    /// 410 Gone: the version is compacted away; list again.
    Expired,
    /// An error: resume from `rv` after the backoff.
    Failed(String, String),
}

/// The list and watch of one kind.
pub struct Informer<K> {
    client: Client,
    /// The collection's URL path, all namespaces (`/api/v1/services`).
    path: String,
    labels: Option<String>,
    fields: Option<String>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Informer<K>
where
    K: kube::Resource<DynamicType = ()> + DeserializeOwned + Clone + Send + 'static,
{
    pub fn new(client: Client, labels: Option<String>, fields: Option<String>) -> Self {
        Self {
            client,
            path: K::url_path(&(), None),
            labels,
            fields,
            kind: PhantomData,
        }
    }

    /// Lists and watches until `events` closes.
    pub async fn run<C>(self, events: mpsc::Sender<C>, wrap: fn(Event<K>) -> C) {
        let mut failures = 0u32;
        let mut version: Option<String> = None;
        loop {
            let rv = match version.take() {
                Some(rv) => rv,
                None => match self.list(&events, wrap).await {
                    Ok(Some(rv)) => {
                        failures = 0;
                        rv
                    }
                    // The receiver is gone: the plugin was stopped.
                    Ok(None) => return,
                    Err(e) => {
                        failures += 1;
                        self.warn(format_args!("list failed: {e}"), failures);
                        backoff(failures).await;
                        continue;
                    }
                },
            };
            match self.watch(rv, &events, wrap, &mut failures).await {
                None => return,
                Some(WatchEnd::Closed(rv)) => version = Some(rv),
                Some(WatchEnd::Expired) => {
                    clog::info(
                        Some("kubernetes"),
                        format_args!("watch of {} expired (410 Gone), listing again", self.path),
                    );
                }
                Some(WatchEnd::Failed(e, rv)) => {
                    failures += 1;
                    self.warn(format_args!("watch failed: {e}"), failures);
                    backoff(failures).await;
                    version = Some(rv);
                }
            }
        }
    }

    fn warn(&self, what: std::fmt::Arguments<'_>, failures: u32) {
        clog::warning(
            Some("kubernetes"),
            format_args!("{}: {what} (attempt {failures})", self.path),
        );
    }

    /// One `resourceVersion=0` list, each object sent on as it is read. Returns the list's
    /// version, or `None` when the receiver is gone.
    async fn list<C>(
        &self,
        events: &mpsc::Sender<C>,
        wrap: fn(Event<K>) -> C,
    ) -> Result<Option<String>, String> {
        let params = ListParams {
            label_selector: self.labels.clone(),
            field_selector: self.fields.clone(),
            // Served from the watch cache, whole; `limit` would be ignored for it anyway.
            resource_version: Some("0".into()),
            ..ListParams::default()
        };
        let request = Request::new(self.path.as_str())
            .list(&params)
            .map_err(|e| e.to_string())?;
        let body = self
            .client
            .request_stream(request)
            .await
            .map_err(|e| e.to_string())?;
        let mut body = Box::pin(body);
        if events.send(wrap(Event::Relisting)).await.is_err() {
            return Ok(None);
        }
        let mut splitter = ListSplitter::default();
        let mut items: Vec<K> = Vec::new();
        loop {
            let chunk = tokio::time::timeout(LIST_IDLE, body.fill_buf())
                .await
                .map_err(|_| format!("no data for {}s", LIST_IDLE.as_secs()))?
                .map_err(|e| e.to_string())?;
            if chunk.is_empty() {
                break;
            }
            let read = chunk.len();
            splitter
                .feed(chunk, |item| match serde_json::from_slice::<K>(item) {
                    Ok(object) => items.push(object),
                    // One object DNS cannot read does not stop the others.
                    Err(e) => clog::warning(
                        Some("kubernetes"),
                        format_args!("{}: skipping an unreadable object: {e}", self.path),
                    ),
                })
                .map_err(|e| e.to_string())?;
            body.consume_unpin(read);
            for object in items.drain(..) {
                if events.send(wrap(Event::Listed(object))).await.is_err() {
                    return Ok(None);
                }
            }
        }
        let metadata = splitter.finish().map_err(|e| e.to_string())?;
        let rv = metadata
            .and_then(|m| serde_json::from_slice::<ListMeta>(&m).ok())
            .and_then(|m| m.resource_version)
            .filter(|rv| !rv.is_empty())
            .ok_or("list without a resourceVersion")?;
        if events.send(wrap(Event::Synced)).await.is_err() {
            return Ok(None);
        }
        Ok(Some(rv))
    }

    /// Watches from `rv` until the watch ends; `None` when the receiver is gone.
    async fn watch<C>(
        &self,
        mut rv: String,
        events: &mpsc::Sender<C>,
        wrap: fn(Event<K>) -> C,
        failures: &mut u32,
    ) -> Option<WatchEnd> {
        let params = WatchParams {
            label_selector: self.labels.clone(),
            field_selector: self.fields.clone(),
            timeout: Some(WATCH_TIMEOUT),
            bookmarks: true,
            send_initial_events: false,
        };
        let request = match Request::new(self.path.as_str()).watch(&params, &rv) {
            Ok(r) => r,
            Err(e) => return Some(WatchEnd::Failed(e.to_string(), rv)),
        };
        let stream = match self.client.request_events::<K>(request).await {
            Ok(s) => s,
            Err(kube::Error::Api(status)) if status.code == 410 => return Some(WatchEnd::Expired),
            Err(e) => return Some(WatchEnd::Failed(e.to_string(), rv)),
        };
        *failures = 0;
        let mut stream = std::pin::pin!(stream);
        loop {
            let next = match tokio::time::timeout(WATCH_IDLE, stream.next()).await {
                Ok(Some(next)) => next,
                Ok(None) | Err(_) => return Some(WatchEnd::Closed(rv)),
            };
            let event = match next {
                Ok(WatchEvent::Added(o) | WatchEvent::Modified(o)) => {
                    rv = o.meta().resource_version.clone().unwrap_or(rv);
                    Event::Applied(o)
                }
                Ok(WatchEvent::Deleted(o)) => {
                    rv = o.meta().resource_version.clone().unwrap_or(rv);
                    Event::Deleted(o)
                }
                Ok(WatchEvent::Bookmark(b)) => {
                    rv = b.metadata.resource_version;
                    continue;
                }
                Ok(WatchEvent::Error(status)) if status.code == 410 => return Some(WatchEnd::Expired),
                Ok(WatchEvent::Error(status)) => {
                    return Some(WatchEnd::Failed(
                        format!("{} ({})", status.message, status.code),
                        rv,
                    ));
                }
                Err(e) => return Some(WatchEnd::Failed(e.to_string(), rv)),
            };
            if events.send(wrap(event)).await.is_err() {
                return None;
            }
        }
    }
}

/// The part of a list's `metadata` the informer reads.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListMeta {
    resource_version: Option<String>,
}

/// Waits before retry `failures` (1 for the first): none for the first, then client-go's
/// exponential backoff with up to 100 % jitter.
async fn backoff(failures: u32) {
    if failures <= 1 {
        return;
    }
    let base = BACKOFF_START
        .saturating_mul(1u32 << (failures - 2).min(16))
        .min(BACKOFF_MAX);
    let jitter = rand::rng().random_range(0.0..1.0);
    tokio::time::sleep(base.mul_f64(1.0 + jitter).min(BACKOFF_MAX)).await;
}
