//! W3C Trace Context for the requests loadtide sends: a fresh `traceparent` per request
//! (version 00, a random trace id and parent id, the sampled flag on for `sample_ratio` of
//! them), so a slow synthetic request can be found in the target's traces, and its latency
//! sample carries the trace id as an exemplar. A request whose configured headers already
//! hold a `traceparent` keeps it (and `tracestate` always passes through as configured).

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::outcome::TraceId;

pub static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// `traceparent: ` + 55 characters + CRLF, as HTTP/1.1 puts it on the wire.
pub const WIRE_SIZE: u64 = 13 + 55 + 2;

#[derive(Debug, Clone, Copy)]
pub struct Tracer {
    sample_ratio: f64,
}

impl Tracer {
    pub fn new(sample_ratio: f64) -> Self {
        Tracer { sample_ratio }
    }

    /// Adds a new `traceparent` to `headers` unless they have one; the trace id when the
    /// request is marked sampled.
    pub fn inject(&self, headers: &mut HeaderMap) -> Option<TraceId> {
        if headers.contains_key(&TRACEPARENT) {
            return None;
        }
        let (value, id) = self.next();
        headers.insert(TRACEPARENT.clone(), value);
        id
    }

    /// A new `traceparent` value, and its trace id when it is sampled.
    pub fn next(&self) -> (HeaderValue, Option<TraceId>) {
        // All-zero ids are invalid: the ranges leave zero out.
        let trace = fastrand::u128(1..);
        let parent = fastrand::u64(1..);
        let sampled = self.sample_ratio >= 1.0 || fastrand::f64() < self.sample_ratio;
        (
            header(trace, parent, sampled),
            sampled.then_some(TraceId(trace)),
        )
    }
}

/// `00-<trace>-<parent>-<flags>`, written into a stack buffer: no formatting machinery on
/// the request path, one copy into the header value.
fn header(trace: u128, parent: u64, sampled: bool) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b = *b"00-00000000000000000000000000000000-0000000000000000-00";
    for i in 0..32 {
        b[3 + i] = HEX[((trace >> (4 * (31 - i))) & 0xf) as usize];
    }
    for i in 0..16 {
        b[36 + i] = HEX[((parent >> (4 * (15 - i))) & 0xf) as usize];
    }
    b[54] = if sampled { b'1' } else { b'0' };
    HeaderValue::from_bytes(&b).expect("hex digits and dashes")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(v: &HeaderValue) -> (String, String, String) {
        let parts: Vec<&str> = v.to_str().unwrap().split('-').collect();
        assert_eq!(parts.len(), 4, "{v:?}");
        assert_eq!(parts[0], "00");
        (parts[1].into(), parts[2].into(), parts[3].into())
    }

    #[test]
    fn the_header_is_written_as_formatting_would() {
        let (t, p) = (
            0x0af7651916cd43dd8448eb211c80319c_u128,
            0xb7ad6b7169203331_u64,
        );
        assert_eq!(header(t, p, true), format!("00-{t:032x}-{p:016x}-01"));
        assert_eq!(header(1, 1, false), format!("00-{:032x}-{:016x}-00", 1, 1));
    }

    #[test]
    fn headers_follow_the_w3c_grammar_and_ids_differ() {
        let t = Tracer::new(1.0);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            let mut h = HeaderMap::new();
            let id = t.inject(&mut h).unwrap();
            let v = &h[&TRACEPARENT];
            assert_eq!(v.len() as u64, WIRE_SIZE - 15);
            let (trace, parent, flags) = parse(v);
            assert_eq!((trace.len(), parent.len(), flags.as_str()), (32, 16, "01"));
            assert!(trace
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
            assert_eq!(
                trace,
                id.to_string(),
                "the exemplar is the header's trace id"
            );
            assert!(seen.insert(trace));
        }
    }

    #[test]
    fn the_sample_ratio_sets_the_flag_and_a_configured_header_wins() {
        let mut h = HeaderMap::new();
        assert_eq!(Tracer::new(0.0).inject(&mut h), None);
        assert_eq!(parse(&h[&TRACEPARENT]).2, "00", "not sampled");
        let sampled = (0..2000)
            .filter(|_| Tracer::new(0.25).inject(&mut HeaderMap::new()).is_some())
            .count();
        assert!((350..650).contains(&sampled), "{sampled} of 2000 at 0.25");
        let mine =
            HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        let mut h = HeaderMap::new();
        h.insert(TRACEPARENT.clone(), mine.clone());
        assert_eq!(Tracer::new(1.0).inject(&mut h), None);
        assert_eq!(h[&TRACEPARENT], mine);
    }
}
