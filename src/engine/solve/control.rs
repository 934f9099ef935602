//! One `Control.Solve` followed by `Control.Status` for the same build ref, both on the
//! same h2 connection: progress streams while BuildKit works, and the solve's own time is
//! measured at BuildKit's answer, apart from trailing status messages.

use std::time::{Duration, Instant};

use bollard::moby::buildkit::v1::control_client::ControlClient;
use bollard::moby::buildkit::v1::{SolveRequest, SolveResponse, StatusRequest};
use tonic::transport::Channel;

use crate::engine::records::progress::{EventSink, Tracker};

/// Run `Control.Solve` and follow `Control.Status` for the same ref until both end; also
/// returns how long BuildKit took to answer the solve.
pub async fn solve_streaming(
    control: &ControlClient<Channel>,
    solve_req: SolveRequest,
    build_ref: &str,
    tracker: &mut Tracker,
    sink: &mut dyn EventSink,
) -> (Result<SolveResponse, String>, Duration) {
    let started = Instant::now();
    let mut solver = control.clone();
    let mut solve = tokio::spawn(async move { solver.solve(solve_req).await });
    let mut status_client = control.clone();
    let status_req = StatusRequest {
        r#ref: build_ref.to_owned(),
    };
    let mut status = tokio::spawn(async move { status_client.status(status_req).await });
    // `None` while the status call has not answered; `Some(None)` once it is over.
    let mut stream: Option<Option<StatusStream>> = None;
    let result = loop {
        tokio::select! {
            r = &mut solve => break r.map_err(|e| e.to_string()).and_then(|r| r.map(|r| r.into_inner()).map_err(|s| s.message().to_owned())),
            s = &mut status, if stream.is_none() => stream = Some(s.ok().and_then(Result::ok).map(|r| r.into_inner())),
            msg = next_status(&mut stream), if matches!(stream, Some(Some(_))) => match msg {
                Some(m) => tracker.apply(&m, sink),
                None => stream = Some(None),
            },
        }
    };
    // BuildKit's own time ends with its answer; trailing status messages are ours.
    let solve_time = started.elapsed();
    if stream.is_none() {
        // The status call may still wait for its first message; give it a moment so a fast
        // (fully cached) build still reports its steps.
        if let Ok(Ok(Ok(resp))) = tokio::time::timeout(Duration::from_secs(2), &mut status).await {
            stream = Some(Some(resp.into_inner()));
        }
    }
    status.abort();
    drain(&mut stream, tracker, sink).await;
    (result, solve_time)
}

type StatusStream = tonic::Streaming<bollard::moby::buildkit::v1::StatusResponse>;

async fn next_status(
    stream: &mut Option<Option<StatusStream>>,
) -> Option<bollard::moby::buildkit::v1::StatusResponse> {
    match stream {
        Some(Some(s)) => s.message().await.ok().flatten(),
        _ => None,
    }
}

/// Status messages can trail the solve result; take what arrives within a moment.
async fn drain(
    stream: &mut Option<Option<StatusStream>>,
    tracker: &mut Tracker,
    sink: &mut dyn EventSink,
) {
    while matches!(stream, Some(Some(_))) {
        match tokio::time::timeout(Duration::from_secs(2), next_status(stream)).await {
            Ok(Some(m)) => tracker.apply(&m, sink),
            _ => break,
        }
    }
}
