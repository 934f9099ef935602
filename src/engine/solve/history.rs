//! The provenance BuildKit recorded for a build, for `buildx.build.provenance` in the
//! `metadata` output (as buildx reads it): the build's history record
//! (`Control.ListenBuildHistory` for its ref) names the provenance attestation among its
//! result's attestations, and BuildKit serves that blob through containerd's content
//! service on the control connection (docs/buildkit.md, "Provenance").

use std::time::Duration;

use bollard::moby::buildkit::v1::control_client::ControlClient;
use bollard::moby::buildkit::v1::{BuildHistoryRequest, Descriptor, UpdateBuildHistoryRequest};
use futures::StreamExt;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic_prost::ProstCodec;

use crate::engine::session::content_store::{ReadContentRequest, ReadContentResponse};

/// The SLSA predicate of the build `build_ref`, when BuildKit recorded one. Best effort:
/// `None` on any trouble, after at most a few seconds.
pub async fn provenance(channel: &Channel, build_ref: &str) -> Option<serde_json::Value> {
    let work = async {
        let desc = attestation(channel, build_ref).await?;
        let blob = read_blob(channel, &desc.digest).await?;
        // The history keeps the predicate itself; an in-toto statement wraps it.
        let json: serde_json::Value = serde_json::from_slice(&blob).ok()?;
        match json.get("predicate") {
            Some(p) => Some(p.clone()),
            None => Some(json).filter(serde_json::Value::is_object),
        }
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .ok()
        .flatten()
}

async fn attestation(channel: &Channel, build_ref: &str) -> Option<Descriptor> {
    let mut control = ControlClient::new(channel.clone());
    // BuildKit writes the record's provenance when the record is finalized (buildx asks
    // for that too); until then it may lack it.
    let finalize = UpdateBuildHistoryRequest {
        r#ref: build_ref.to_owned(),
        finalize: true,
        ..Default::default()
    };
    control.update_build_history(finalize).await.ok()?;
    let req = BuildHistoryRequest {
        r#ref: build_ref.to_owned(),
        early_exit: true,
        ..Default::default()
    };
    let mut events = control.listen_build_history(req).await.ok()?.into_inner();
    while let Ok(Some(event)) = events.message().await {
        let Some(record) = event.record.filter(|r| r.r#ref == build_ref) else {
            continue;
        };
        let results = record
            .result
            .into_iter()
            .chain(record.results.into_values());
        let found = results.flat_map(|r| r.attestations).find(|d| {
            d.annotations
                .get("in-toto.io/predicate-type")
                .is_some_and(|t| t.contains("slsa.dev/provenance"))
        });
        if found.is_some() {
            return found;
        }
    }
    None
}

async fn read_blob(channel: &Channel, digest: &str) -> Option<Vec<u8>> {
    let mut grpc = tonic::client::Grpc::new(channel.clone()).max_decoding_message_size(64 << 20);
    grpc.ready().await.ok()?;
    let req = tonic::Request::new(ReadContentRequest {
        digest: digest.to_owned(),
        offset: 0,
        size: 0,
    });
    let path = PathAndQuery::from_static("/containerd.services.content.v1.Content/Read");
    let codec = ProstCodec::<ReadContentRequest, ReadContentResponse>::default();
    let mut stream = grpc
        .server_streaming(req, path, codec)
        .await
        .ok()?
        .into_inner();
    let mut data = Vec::new();
    while let Some(chunk) = stream.next().await {
        data.extend(chunk.ok()?.data);
    }
    Some(data)
}
