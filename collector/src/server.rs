//! The listener: accepts TCP connections, optionally completes a TLS
//! handshake (bounded in time), and serves HTTP/1.1 with hyper. A client that
//! does not send its request headers within the header timeout is
//! disconnected; bodies are bounded by `api::read_body`.

use crate::api::App;
use anyhow::{Context, Result};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

/// Serve `app` on `listener` until SIGINT/SIGTERM.
pub async fn run(
    listener: TcpListener,
    app: App,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> Result<()> {
    let header_timeout = Duration::from_secs(app.limits.header_timeout_secs.max(1));
    let router = crate::api::router(app);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install SIGTERM handler")?;
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    log::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_conn(stream, router, header_timeout, peer).await,
                Some(acceptor) => {
                    match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => serve_conn(s, router, header_timeout, peer).await,
                        Ok(Err(e)) => log::debug!("{peer}: TLS handshake failed: {e}"),
                        Err(_) => log::debug!("{peer}: TLS handshake timed out"),
                    }
                }
            }
        });
    }
    log::info!("shutting down");
    Ok(())
}

async fn serve_conn<I>(io: I, router: axum::Router, header_timeout: Duration, peer: SocketAddr)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Handlers see the client's address (audit log, login rate limits).
    let router = tower::ServiceExt::map_request(
        router,
        move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            req
        },
    );
    let svc = hyper_util::service::TowerToHyperService::new(router);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc);
    if let Err(e) = conn.await {
        log::debug!("{peer}: {e}");
    }
}
