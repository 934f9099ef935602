//! The tonic plumbing the two filesync services share (FileSync, FileSend): one service
//! with one streaming method, `DiffCopy`, whose message type depends on the call (fsutil
//! `Packet`s or raw `BytesMessage`s), so each handler picks its codec per call instead of
//! tonic's generated server fixing the declared one.

use std::convert::Infallible;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::{Body as HttpBody, StdError, http};
use tonic::server::NamedService;

/// A handler of `/<SERVICE>/DiffCopy`.
pub trait DiffCopy: Clone + Send + 'static {
    /// The gRPC service name, e.g. `moby.filesync.v1.FileSend`.
    const SERVICE: &'static str;

    /// Answer one `DiffCopy` call.
    fn diff_copy<B>(self, req: http::Request<B>) -> BoxFuture<'static, http::Response<Body>>
    where
        B: HttpBody + Send + 'static,
        B::Error: Into<StdError> + Send + 'static;
}

/// The handler `T` as a service tonic's router accepts.
#[derive(Clone)]
pub struct DiffCopyServer<T>(pub T);

impl<T: DiffCopy> NamedService for DiffCopyServer<T> {
    const NAME: &'static str = T::SERVICE;
}

impl<T, B> tonic::codegen::Service<http::Request<B>> for DiffCopyServer<T>
where
    T: DiffCopy,
    B: HttpBody + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let handler = self.0.clone();
        Box::pin(async move {
            let method = req
                .uri()
                .path()
                .strip_prefix('/')
                .and_then(|p| p.strip_prefix(T::SERVICE));
            if method != Some("/DiffCopy") {
                return Ok(Status::unimplemented("only DiffCopy is offered").into_http());
            }
            Ok(handler.diff_copy(req).await)
        })
    }
}
