//! Does BuildKit reach the relay? Ask BuildKit itself: a solve whose only op is an HTTP
//! source on the relay's probe route. BuildKit's daemon fetches HTTP sources itself, from
//! its own network namespace, so a solve that succeeds proves the address works from
//! exactly where the cache export will connect (docs/relay.md § Reaching the relay).

use std::time::{Duration, Instant};

use bollard::moby::buildkit::v1::SolveRequest;
use bollard::moby::buildkit::v1::control_client::ControlClient;
use bollard_buildkit_proto::pb;
use prost::Message;
use sha2::{Digest, Sha256};
use tonic::transport::Channel;

/// The relay's route that answers 200 to anyone (it holds nothing).
pub const PROBE_PATH: &str = "_layercache/probe";

/// LLB digests are the SHA-256 of the marshaled op.
fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The LLB of "fetch `url`": the source op, then the op with no kind that marks the result.
fn definition(url: &str) -> pb::Definition {
    let source = pb::Op {
        op: Some(pb::op::Op::Source(pb::SourceOp {
            identifier: url.to_owned(),
            attrs: [("http.filename".to_owned(), "probe".to_owned())].into(),
        })),
        ..Default::default()
    }
    .encode_to_vec();
    let result = pb::Op {
        inputs: vec![pb::Input {
            digest: digest(&source),
            index: 0,
        }],
        ..Default::default()
    }
    .encode_to_vec();
    pb::Definition {
        def: vec![source, result],
        ..Default::default()
    }
}

/// The URL of the probe under a relay's base URL (`http://host:port/`); a fresh query each
/// time so BuildKit can answer none of it from its cache.
pub fn probe_url(base: &str) -> String {
    let nonce = hex::encode(rand::random::<[u8; 8]>());
    format!("{}/{PROBE_PATH}?n={nonce}", base.trim_end_matches('/'))
}

/// Have BuildKit fetch `url` within `within`; how long it took, or why it failed.
pub async fn probe(
    control: &ControlClient<Channel>,
    url: &str,
    within: Duration,
) -> Result<Duration, String> {
    let started = Instant::now();
    let req = SolveRequest {
        r#ref: format!(
            "layercache-probe-{}",
            hex::encode(rand::random::<[u8; 8]>())
        ),
        definition: Some(definition(url)),
        // Not a build of the user's: kept out of the build history.
        internal: true,
        ..Default::default()
    };
    let mut control = control.clone();
    // Dropping the call on timeout cancels the solve in BuildKit.
    match tokio::time::timeout(within, control.solve(req)).await {
        Ok(Ok(_)) => Ok(started.elapsed()),
        Ok(Err(status)) => Err(status.message().to_owned()),
        Err(_) => Err(format!("no answer within {} s", within.as_secs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_op_points_at_the_source_op() {
        let d = definition("http://127.0.0.1:1/_layercache/probe");
        assert_eq!(d.def.len(), 2);
        let result = pb::Op::decode(d.def[1].as_slice()).unwrap_or_default();
        assert_eq!(result.inputs[0].digest, digest(&d.def[0]));
        let source = pb::Op::decode(d.def[0].as_slice()).unwrap_or_default();
        match source.op {
            Some(pb::op::Op::Source(s)) => assert!(s.identifier.starts_with("http://")),
            other => panic!("not a source op: {other:?}"),
        }
    }

    #[test]
    fn each_probe_url_is_fresh() {
        let a = probe_url("http://127.0.0.1:5/");
        assert!(
            a.starts_with("http://127.0.0.1:5/_layercache/probe?n="),
            "{a}"
        );
        assert_ne!(a, probe_url("http://127.0.0.1:5/"));
    }
}
