//! What BuildKit's vertex names and timestamps say: whether a vertex is a Dockerfile
//! step or its `FROM`, and when it ran. A leaf that the progress records and the cache
//! traffic both read.

use std::time::Duration;

/// A BuildKit timestamp as time since the Unix epoch (`None` before it).
pub fn since_epoch(seconds: i64, nanos: i32) -> Option<Duration> {
    let secs = u64::try_from(seconds).ok()?;
    let nanos = u32::try_from(nanos).ok()?;
    Some(Duration::new(secs, 0) + Duration::from_nanos(u64::from(nanos)))
}

/// `[build 1/4] FROM alpine`: a Dockerfile `FROM` step, whose layers are the base image.
pub fn is_from_step(name: &str) -> bool {
    name.contains("] FROM ")
}

/// `[2/3] RUN make`, `[build 1/4] FROM ...`: a Dockerfile instruction. `[internal] ...`
/// and exporter steps are not.
pub fn is_dockerfile_step(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('[') else {
        return false;
    };
    let Some(end) = rest.find(']') else {
        return false;
    };
    let tag = &rest[..end];
    let counter = tag.rsplit(' ').next().unwrap_or("");
    let mut parts = counter.split('/');
    matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None)
        if !a.is_empty() && a.chars().all(|c| c.is_ascii_digit()) && b.chars().all(|c| c.is_ascii_digit()))
}
