//! Pages render to their end even when the browser goes away first.
//!
//! Leptos renders a page's suspended parts in tasks of their own, under the page's reactive
//! owner, which lives as long as the response. A request dropped mid-render (the client
//! closed the connection) disposed that owner under those tasks, and they panicked on its
//! disposed values: about one in 1,500 abandoned page loads. With `RUST_BACKTRACE` set, the
//! first such panic's backtrace kept some 40 MB of debug symbols in memory for good. So a
//! page's response is made in a task of its own and its body read to the end, whatever the
//! client does; only the forwarding stops when the client is gone.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

/// Chunks a page may run ahead of a slow client.
const CHUNKS_AHEAD: usize = 8;

/// Renders pages (GET and HEAD) whole; other requests pass through as they are.
pub async fn render_whole(request: Request, next: Next) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    let (head_tx, head_rx) = oneshot::channel();
    tokio::spawn(async move {
        let (head, body) = next.run(request).await.into_parts();
        let (chunks_tx, chunks_rx) = mpsc::channel::<Result<Bytes, axum::Error>>(CHUNKS_AHEAD);
        let mut to_client = head_tx.send((head, chunks_rx)).is_ok().then_some(chunks_tx);
        let mut body = body.into_data_stream();
        while let Some(chunk) = body.next().await {
            if let Some(client) = &to_client {
                if client.send(chunk).await.is_err() {
                    to_client = None; // gone: the rest is rendered, not sent
                }
            }
        }
    });
    match head_rx.await {
        // A receiver's stream may be polled again after its end (compression does).
        Ok((head, chunks)) => Response::from_parts(head, Body::from_stream(ReceiverStream::new(chunks))),
        // The render panicked before it had an answer.
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "the page failed to render").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::{get, post};
    use axum::Router;
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use tower::ServiceExt;

    /// A route whose body is ten chunks, counting those its server produced.
    fn counted(produced: Arc<AtomicUsize>) -> Router {
        let body = move || {
            let produced = produced.clone();
            async move {
                let chunks = futures::stream::iter(0..10).then(move |n| {
                    let produced = produced.clone();
                    async move {
                        tokio::task::yield_now().await;
                        produced.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, std::io::Error>(Bytes::from(format!("chunk {n};")))
                    }
                });
                Body::from_stream(chunks)
            }
        };
        Router::new().route("/page", get(body.clone())).route("/action", post(body)).layer(axum::middleware::from_fn(render_whole))
    }

    async fn until_produced(produced: &AtomicUsize, count: usize) -> bool {
        for _ in 0..200 {
            if produced.load(Ordering::SeqCst) == count {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }

    #[tokio::test]
    async fn a_page_whose_client_leaves_before_the_answer_is_rendered_to_its_end() {
        let produced = Arc::new(AtomicUsize::new(0));
        let app = counted(produced.clone());
        let request = Request::get("/page").body(Body::empty()).unwrap();
        // The client goes away at once: its request future is polled once, then dropped.
        let mut answer = Box::pin(app.oneshot(request));
        assert!(futures::poll!(answer.as_mut()).is_pending());
        drop(answer);
        assert!(until_produced(&produced, 10).await, "rendered {} of 10 chunks", produced.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_page_whose_client_leaves_after_the_first_chunk_is_rendered_to_its_end() {
        let produced = Arc::new(AtomicUsize::new(0));
        let response = counted(produced.clone()).oneshot(Request::get("/page").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let mut body = response.into_body().into_data_stream();
        assert_eq!(body.next().await.unwrap().unwrap(), Bytes::from("chunk 0;"));
        drop(body);
        assert!(until_produced(&produced, 10).await, "rendered {} of 10 chunks", produced.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_client_that_stays_gets_the_whole_page_in_order() {
        let produced = Arc::new(AtomicUsize::new(0));
        let response = counted(produced).oneshot(Request::get("/page").body(Body::empty()).unwrap()).await.unwrap();
        let mut body = response.into_body();
        let mut received = Vec::new();
        while let Some(frame) = body.frame().await {
            received.extend_from_slice(&frame.unwrap().into_data().unwrap());
        }
        let expected: String = (0..10).map(|n| format!("chunk {n};")).collect();
        assert_eq!(received, expected.as_bytes());
        // Compression polls a body once more after its end: it stays ended.
        assert!(body.frame().await.is_none());
        assert!(body.frame().await.is_none());
    }

    #[tokio::test]
    async fn other_methods_are_not_detached_from_their_client() {
        let produced = Arc::new(AtomicUsize::new(0));
        let response = counted(produced.clone()).oneshot(Request::post("/action").body(Body::empty()).unwrap()).await.unwrap();
        drop(response);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(produced.load(Ordering::SeqCst), 0, "a dropped answer to a POST is not read on");
    }
}
