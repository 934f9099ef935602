//! BuildKit's gateway bridge (`moby.buildkit.v1.frontend.LLBBridge`), used the way buildx
//! uses it for `call: check|outline|targets`: a `Control.Solve` without a frontend makes
//! BuildKit wait for a client-side build of that ref; the bridge's `Solve` asks the
//! Dockerfile frontend (with `requestid=frontend.<method>`) and answers with the result's
//! metadata (`result.txt`, `result.json`, `result.statuscode`), which a plain
//! `Control.Solve` drops; `Return` ends the build. Calls carry the build ref in
//! `buildkit-controlapi-buildid`. bollard ships no gateway protos, so the few messages used
//! are declared here with their field numbers (docs/buildkit.md, "Asking the frontend");
//! fields left out are never sent.

use std::collections::HashMap;

use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Request, Status};
use tonic_prost::ProstCodec;

const BUILD_ID: &str = "buildkit-controlapi-buildid";

#[derive(Clone, PartialEq, prost::Message)]
struct GatewaySolveRequest {
    #[prost(string, tag = "2")]
    frontend: String,
    #[prost(map = "string, string", tag = "3")]
    frontend_opt: HashMap<String, String>,
    #[prost(bool, tag = "5")]
    allow_result_return: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
struct GatewayResult {
    #[prost(map = "string, bytes", tag = "10")]
    metadata: HashMap<String, Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct GatewaySolveResponse {
    #[prost(message, optional, tag = "3")]
    result: Option<GatewayResult>,
}

/// `google.rpc.Status`, as `Return` takes an error.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ReturnRequest {
    #[prost(message, optional, tag = "1")]
    result: Option<GatewayResult>,
    #[prost(message, optional, tag = "2")]
    error: Option<RpcStatus>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ReturnResponse {}

/// `call` other than build: a gateway build of `solve_req.ref` in which the frontend is
/// asked `requestid=frontend.<method>` (buildx calls the `check` method `lint`). Returns
/// the solve's result, its time and the frontend's answer (metadata as text).
pub async fn call_frontend(
    control: &bollard::moby::buildkit::v1::control_client::ControlClient<Channel>,
    channel: &Channel,
    call: &str,
    solve_req: bollard::moby::buildkit::v1::SolveRequest,
    tracker: &mut crate::engine::records::progress::Tracker,
    sink: &mut dyn crate::engine::records::progress::EventSink,
) -> (
    Result<bollard::moby::buildkit::v1::SolveResponse, String>,
    std::time::Duration,
    Option<std::collections::BTreeMap<String, String>>,
) {
    let method = if call == "check" { "lint" } else { call };
    let mut attrs = solve_req.frontend_attrs.clone();
    attrs.insert("requestid".to_owned(), format!("frontend.{method}"));
    let build_ref = solve_req.r#ref.clone();
    // No frontend and no definition: BuildKit waits for the bridge's Return.
    let gateway_build = bollard::moby::buildkit::v1::SolveRequest {
        r#ref: build_ref.clone(),
        session: solve_req.session,
        ..Default::default()
    };
    let ((result, time), answer) = tokio::join!(
        super::control::solve_streaming(control, gateway_build, &build_ref, tracker, sink),
        ask_frontend(channel, &build_ref, attrs),
    );
    match answer {
        Ok(metadata) => (result, time, Some(metadata.into_iter().collect())),
        Err(message) => (Err(message), time, None),
    }
}

/// Ask the Dockerfile frontend `attrs` (with `requestid`) within the gateway build
/// `build_ref`, then end that build. Returns the result's metadata as text.
pub async fn ask_frontend(
    channel: &Channel,
    build_ref: &str,
    attrs: HashMap<String, String>,
) -> Result<HashMap<String, String>, String> {
    let solve = GatewaySolveRequest {
        frontend: "dockerfile.v0".to_owned(),
        frontend_opt: attrs,
        allow_result_return: true,
    };
    let answer: Result<GatewaySolveResponse, Status> = unary(
        channel,
        "/moby.buildkit.v1.frontend.LLBBridge/Solve",
        build_ref,
        solve,
    )
    .await;
    let ret = match &answer {
        Ok(_) => ReturnRequest {
            result: Some(GatewayResult::default()),
            error: None,
        },
        Err(status) => ReturnRequest {
            result: None,
            error: Some(RpcStatus {
                code: status.code() as i32,
                message: status.message().to_owned(),
            }),
        },
    };
    let returned: Result<ReturnResponse, Status> = unary(
        channel,
        "/moby.buildkit.v1.frontend.LLBBridge/Return",
        build_ref,
        ret,
    )
    .await;
    let answer = answer.map_err(|s| s.message().to_owned())?;
    returned.map_err(|s| format!("failed to end the gateway build: {}", s.message()))?;
    let metadata = answer.result.unwrap_or_default().metadata;
    Ok(metadata
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect())
}

async fn unary<Req, Resp>(
    channel: &Channel,
    method: &'static str,
    build_ref: &str,
    message: Req,
) -> Result<Resp, Status>
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel.clone())
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut request = Request::new(message);
    let id = build_ref
        .parse()
        .map_err(|_| Status::invalid_argument("build ref is not ASCII"))?;
    request.metadata_mut().insert(BUILD_ID, id);
    let codec = ProstCodec::<Req, Resp>::default();
    grpc.unary(request, PathAndQuery::from_static(method), codec)
        .await
        .map(tonic::Response::into_inner)
}
