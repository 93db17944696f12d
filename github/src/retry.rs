//! When and how long to wait before retrying a GitHub API call.

use std::time::Duration;

use http::{HeaderMap, StatusCode};

/// Bounded exponential backoff for 5xx answers and rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total tries per call, including the first (at least 1).
    pub max_attempts: u32,
    /// Wait before the 2nd try; doubled for each further try.
    pub base_delay: Duration,
    /// Longest wait; a rate limit asking for longer fails at once instead.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Backoff before try `attempt + 1`, after `attempt` (≥ 1) failed tries.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// What to do about a non-2xx answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not retryable (4xx other than rate limits).
    Fatal,
    /// Server error: retry after the delay.
    ServerError(Duration),
    /// Rate limited (429, or 403 with `Retry-After` / `x-ratelimit-remaining: 0` /
    /// a "secondary rate limit" message): retry after the delay.
    RateLimited(Duration),
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Classifies an answer; `now` is the current Unix time in seconds (for `x-ratelimit-reset`).
pub(crate) fn verdict(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    attempt: u32,
    policy: &RetryPolicy,
    now: u64,
) -> Verdict {
    let retry_after = header_u64(headers, "retry-after");
    let exhausted = header_u64(headers, "x-ratelimit-remaining") == Some(0);
    let secondary = body.to_ascii_lowercase().contains("secondary rate limit");
    let rate_limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN && (retry_after.is_some() || exhausted || secondary));
    if !rate_limited && !status.is_server_error() {
        return Verdict::Fatal;
    }
    let wait = match (
        retry_after,
        exhausted,
        header_u64(headers, "x-ratelimit-reset"),
    ) {
        (Some(secs), _, _) => Duration::from_secs(secs),
        (None, true, Some(reset)) => Duration::from_secs(reset.saturating_sub(now)),
        _ => policy.backoff(attempt),
    };
    if rate_limited {
        Verdict::RateLimited(wait)
    } else {
        Verdict::ServerError(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(60),
    };

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(POLICY.backoff(1), Duration::from_millis(100));
        assert_eq!(POLICY.backoff(3), Duration::from_millis(400));
        assert_eq!(POLICY.backoff(40), Duration::from_secs(60));
    }

    #[test]
    fn classifies_answers() {
        let none = HeaderMap::new();
        let s = |c| StatusCode::from_u16(c).unwrap();
        assert_eq!(verdict(s(404), &none, "", 1, &POLICY, 0), Verdict::Fatal);
        assert_eq!(
            verdict(s(403), &none, "Resource not accessible", 1, &POLICY, 0),
            Verdict::Fatal
        );
        assert_eq!(
            verdict(s(502), &none, "", 2, &POLICY, 0),
            Verdict::ServerError(Duration::from_millis(200))
        );
        assert_eq!(
            verdict(s(403), &headers(&[("retry-after", "7")]), "", 1, &POLICY, 0),
            Verdict::RateLimited(Duration::from_secs(7))
        );
        assert_eq!(
            verdict(s(503), &headers(&[("retry-after", "3")]), "", 1, &POLICY, 0),
            Verdict::ServerError(Duration::from_secs(3))
        );
        assert_eq!(
            verdict(
                s(403),
                &headers(&[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1030")
                ]),
                "",
                1,
                &POLICY,
                1000
            ),
            Verdict::RateLimited(Duration::from_secs(30))
        );
        assert_eq!(
            verdict(
                s(403),
                &none,
                "You have exceeded a secondary rate limit",
                1,
                &POLICY,
                0
            ),
            Verdict::RateLimited(Duration::from_millis(100))
        );
        assert_eq!(
            verdict(s(429), &none, "", 1, &POLICY, 0),
            Verdict::RateLimited(Duration::from_millis(100))
        );
    }
}
