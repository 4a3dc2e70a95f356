//! Per-tenant quotas: a token bucket per tenant, refilled at its `requests_per_minute`, holding
//! at most a minute's requests. A refused request learns when to retry (`Retry-After`) and every
//! answer carries the tenant's standing (`RateLimit-Limit`, `RateLimit-Remaining`,
//! `RateLimit-Reset`, as the IETF's RateLimit header fields draft names them).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue};

/// A tenant's standing after a request was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Requests a minute.
    pub limit: u32,
    /// Requests left now.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset: u64,
    /// Seconds until the next request would be allowed, when this one was refused.
    pub retry_after: Option<u64>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Every tenant's bucket.
#[derive(Debug, Default)]
pub struct Quotas {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Quotas {
    /// Counts one request of `tenant`, whose quota is `per_minute`.
    pub fn take(&self, tenant: &str, per_minute: u32) -> Standing {
        self.take_at(tenant, per_minute, Instant::now())
    }

    fn take_at(&self, tenant: &str, per_minute: u32, now: Instant) -> Standing {
        let capacity = f64::from(per_minute.max(1));
        let rate = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(tenant.to_string()).or_insert(Bucket { tokens: capacity, at: now });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.at = now;
        let retry_after = if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            None
        } else {
            Some(((1.0 - bucket.tokens) / rate).ceil().max(1.0) as u64)
        };
        Standing {
            limit: per_minute,
            remaining: bucket.tokens.floor() as u32,
            reset: ((capacity - bucket.tokens) / rate).ceil() as u64,
            retry_after,
        }
    }
}

/// Adds the tenant's standing to a response's headers.
pub fn rate_limit_headers(headers: &mut HeaderMap, standing: &Standing) {
    headers.insert("ratelimit-limit", HeaderValue::from(standing.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(standing.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(standing.reset));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_empties_refuses_with_a_wait_and_refills() {
        let q = Quotas::default();
        let t0 = Instant::now();
        for i in 0..3 {
            let s = q.take_at("a", 3, t0);
            assert_eq!((s.remaining, s.retry_after), (2 - i, None));
        }
        let refused = q.take_at("a", 3, t0);
        assert_eq!(refused.retry_after, Some(20), "one request every 20 s at 3 a minute");
        assert_eq!(refused.reset, 60);
        assert_eq!(q.take_at("b", 3, t0).retry_after, None, "tenants do not share a bucket");
        assert_eq!(q.take_at("a", 3, t0 + Duration::from_secs(20)).retry_after, None);
    }
}
