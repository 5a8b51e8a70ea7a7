//! The tower layer under kube's client that does what client-go does for CoreDNS: a token-bucket
//! rate limit, an in-flight cap, and the `coredns_kubernetes_rest_client_*` metrics.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use http::{Request, Response};
use kube::client::Body;
use tokio::sync::Semaphore;
use tower::{BoxError, Layer, Service, ServiceExt};

use crate::metrics;

/// client-go's `DefaultQPS` and `DefaultBurst`, which apply when `apiserver_qps` or
/// `apiserver_burst` is unset or 0 (CoreDNS passes them straight to `rest.Config`).
const DEFAULT_QPS: f64 = 5.0;
const DEFAULT_BURST: u32 = 10;

/// The limits of one client, from the `apiserver_*` options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub qps: Option<f64>,
    pub burst: Option<u32>,
    pub max_inflight: Option<u32>,
}

/// Wraps a kube client stack in the limits and metrics of `host` (the API server's `host:port`).
#[derive(Clone)]
pub struct RestClientLayer {
    shared: Arc<Shared>,
}

struct Shared {
    host: String,
    bucket: Mutex<TokenBucket>,
    /// client-go's `apiserver_max_inflight` semaphore; a permit is held until the response
    /// head arrives, so a long watch's streaming body does not hold one.
    inflight: Option<Arc<Semaphore>>,
}

impl RestClientLayer {
    /// The layer for `limits`, labelling metrics with `host`.
    pub fn new(host: String, limits: Limits) -> Self {
        let qps = limits.qps.filter(|q| *q > 0.0).unwrap_or(DEFAULT_QPS);
        let burst = limits.burst.filter(|b| *b > 0).unwrap_or(DEFAULT_BURST);
        let inflight = limits
            .max_inflight
            .filter(|n| *n > 0)
            .map(|n| Arc::new(Semaphore::new(n as usize)));
        Self {
            shared: Arc::new(Shared {
                host,
                bucket: Mutex::new(TokenBucket::new(qps, burst, Instant::now())),
                inflight,
            }),
        }
    }
}

impl<S> Layer<S> for RestClientLayer {
    type Service = RestClient<S>;

    fn layer(&self, inner: S) -> RestClient<S> {
        RestClient {
            inner: Arc::new(tokio::sync::Mutex::new(inner)),
            shared: self.shared.clone(),
        }
    }
}

/// The service [`RestClientLayer`] makes.
pub struct RestClient<S> {
    /// Behind a lock so the waits happen inside the returned future: the lock is held only to
    /// ready the inner service and start the call, never across the response.
    inner: Arc<tokio::sync::Mutex<S>>,
    shared: Arc<Shared>,
}

impl<S, B> Service<Request<Body>> for RestClient<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: 'static,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<B>, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let (inner, shared) = (self.inner.clone(), self.shared.clone());
        Box::pin(async move {
            let method = request.method().as_str().to_owned();
            let wait = shared
                .bucket
                .lock()
                .map(|mut b| b.reserve(Instant::now()))
                .unwrap_or_default();
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            metrics::observe_rate_limiter(&method, &shared.host, wait);
            let _permit = match &shared.inflight {
                Some(semaphore) => Some(semaphore.clone().acquire_owned().await?),
                None => None,
            };
            let started = Instant::now();
            let response = {
                let mut service = inner.lock().await;
                service.ready().await.map_err(Into::into)?;
                service.call(request)
            }
            .await
            .map_err(Into::into);
            metrics::observe_request(&method, &shared.host, started.elapsed());
            // client-go counts a transport failure under the code "<error>".
            let code = match &response {
                Ok(r) => r.status().as_str().to_owned(),
                Err(_) => "<error>".to_owned(),
            };
            metrics::count_request(&code, &method, &shared.host);
            response
        })
    }
}

/// golang.org/x/time/rate's `Limiter.Wait` as client-go uses it: each request reserves a token,
/// and waits until the bucket (refilled at `qps`, holding at most `burst`) covers it.
#[derive(Debug)]
struct TokenBucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    fn new(qps: f64, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst);
        Self {
            qps,
            burst,
            tokens: burst,
            at: now,
        }
    }

    /// Takes one token at `now`; how long the caller must wait before using it.
    fn reserve(&mut self, now: Instant) -> Duration {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * self.qps;
        self.tokens = (self.tokens + refill).min(self.burst) - 1.0;
        self.at = now;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(-self.tokens / self.qps).unwrap_or(Duration::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_paces_at_qps() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(5.0, 3, t0);
        let waits: Vec<Duration> = (0..5).map(|_| bucket.reserve(t0)).collect();
        assert_eq!(&waits[..3], &[Duration::ZERO; 3]);
        assert_eq!(waits[3], Duration::from_millis(200));
        assert_eq!(waits[4], Duration::from_millis(400));
        // Ten seconds on the bucket is full again: refills are capped at the burst.
        let later = t0 + Duration::from_secs(10);
        let waits: Vec<Duration> = (0..4).map(|_| bucket.reserve(later)).collect();
        assert_eq!(&waits[..3], &[Duration::ZERO; 3]);
        assert_eq!(waits[3], Duration::from_millis(200));
    }

    #[test]
    fn unset_or_zero_limits_take_client_go_defaults() {
        let layer = RestClientLayer::new(
            "h".into(),
            Limits {
                qps: Some(0.0),
                burst: None,
                max_inflight: Some(0),
            },
        );
        let bucket = layer.shared.bucket.lock().map(|b| (b.qps, b.burst)).ok();
        assert_eq!(bucket, Some((DEFAULT_QPS, f64::from(DEFAULT_BURST))));
        assert!(layer.shared.inflight.is_none());
    }
}
