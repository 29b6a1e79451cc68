//! The demo target's gRPC service, `loadtide.demo.Greeter` (`config/examples/greeter.proto`),
//! served by tonic over cleartext HTTP/2 on the demo port: `SayHello` (unary), `SayHellos`
//! (server streaming), `CountHellos` (client streaming) and `Chat` (bidirectional). A name of
//! the form `status:N` answers with gRPC status N instead (in a stream, where it arrives) and
//! one of `stall:MS` makes `Chat` wait before replying, so tests and examples can see every
//! outcome. The messages are declared with prost's derive,
//! not generated from the .proto, so loadtide's dynamic client is checked against an
//! independent encoding of the same schema.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{self, Stream};
use http::{Request, Response};
use hyper::body::Incoming;
use tonic::codegen::Service;
use tonic::server::Grpc;
use tonic::{Code, Status, Streaming};
use tonic_prost::ProstCodec;

#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    #[prost(string, tag = "1")]
    pub name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HellosRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint32, tag = "2")]
    pub count: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    #[prost(string, tag = "1")]
    pub message: String,
}

/// The longest stream `SayHellos` sends, whatever `count` asks for.
const MAX_STREAM: u32 = 1_000;

/// Whether `req` is a gRPC call (the rest of the demo API is plain HTTP).
pub fn is_grpc(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// Answers one gRPC call.
pub async fn call(req: Request<Incoming>) -> Response<tonic::body::Body> {
    match req.uri().path() {
        "/loadtide.demo.Greeter/SayHello" => {
            Grpc::new(ProstCodec::default())
                .unary(Handler(say_hello), req)
                .await
        }
        "/loadtide.demo.Greeter/SayHellos" => {
            Grpc::new(ProstCodec::default())
                .server_streaming(Handler(say_hellos), req)
                .await
        }
        "/loadtide.demo.Greeter/CountHellos" => {
            Grpc::new(ProstCodec::default())
                .client_streaming(Handler(count_hellos), req)
                .await
        }
        "/loadtide.demo.Greeter/Chat" => {
            Grpc::new(ProstCodec::default())
                .streaming(Handler(chat), req)
                .await
        }
        _ => Status::unimplemented("no such method on the demo target").into_http(),
    }
}

/// The status a `status:N` name asks for.
fn asked(name: &str) -> Option<Status> {
    let code: i32 = name.strip_prefix("status:")?.parse().ok()?;
    Some(Status::new(Code::from(code), "asked for by the request"))
}

async fn say_hello(
    req: tonic::Request<HelloRequest>,
) -> Result<tonic::Response<HelloReply>, Status> {
    let name = req.into_inner().name;
    if let Some(status) = asked(&name) {
        return Err(status);
    }
    tokio::time::sleep(super::service_time(1, 15)).await;
    Ok(tonic::Response::new(HelloReply {
        message: format!("Hello, {name}!"),
    }))
}

type Replies = Pin<Box<dyn Stream<Item = Result<HelloReply, Status>> + Send>>;

async fn say_hellos(
    req: tonic::Request<HellosRequest>,
) -> Result<tonic::Response<Replies>, Status> {
    let HellosRequest { name, count } = req.into_inner();
    if let Some(status) = asked(&name) {
        return Err(status);
    }
    let replies = (1..=count.min(MAX_STREAM)).map(move |i| {
        Ok(HelloReply {
            message: format!("Hello #{i}, {name}!"),
        })
    });
    Ok(tonic::Response::new(Box::pin(stream::iter(replies))))
}

async fn count_hellos(
    req: tonic::Request<Streaming<HelloRequest>>,
) -> Result<tonic::Response<HelloReply>, Status> {
    let mut requests = req.into_inner();
    let (mut count, mut last) = (0u64, String::new());
    while let Some(HelloRequest { name }) = requests.message().await? {
        if let Some(status) = asked(&name) {
            return Err(status);
        }
        count += 1;
        last = name;
    }
    Ok(tonic::Response::new(HelloReply {
        message: format!("Counted {count} hellos, last {last}"),
    }))
}

/// The longest `stall:MS` of `Chat`: a stalled demo call still ends on its own.
const MAX_STALL_MS: u64 = 60_000;

async fn chat(
    req: tonic::Request<Streaming<HelloRequest>>,
) -> Result<tonic::Response<Replies>, Status> {
    // The state: the requests, replies so far, and whether a status ended the call.
    let replies = stream::unfold(
        (req.into_inner(), 0u64, false),
        |(mut rx, i, over)| async move {
            if over {
                return None;
            }
            let name = match rx.message().await {
                Ok(Some(m)) => m.name,
                Ok(None) => return None,
                Err(status) => return Some((Err(status), (rx, i, true))),
            };
            if let Some(status) = asked(&name) {
                return Some((Err(status), (rx, i, true)));
            }
            if let Some(ms) = name
                .strip_prefix("stall:")
                .and_then(|ms| ms.parse::<u64>().ok())
            {
                tokio::time::sleep(Duration::from_millis(ms.min(MAX_STALL_MS))).await;
            }
            let reply = HelloReply {
                message: format!("Hello #{}, {name}!", i + 1),
            };
            Some((Ok(reply), (rx, i + 1, false)))
        },
    );
    Ok(tonic::Response::new(Box::pin(replies)))
}

/// A tower service of one async fn: what tonic's generated code would write per method.
#[derive(Clone, Copy)]
struct Handler<F>(F);

impl<F, Fut, Req, Resp> Service<tonic::Request<Req>> for Handler<F>
where
    F: Fn(tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Resp>, Status>> + Send + 'static,
{
    type Response = tonic::Response<Resp>;
    type Error = Status;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Status>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: tonic::Request<Req>) -> Self::Future {
        Box::pin((self.0)(req))
    }
}

/// A plain demo response as the body type the gRPC calls answer with.
pub fn boxed(r: crate::httpserve::HttpResponse) -> Response<tonic::body::Body> {
    r.map(tonic::body::Body::new)
}
