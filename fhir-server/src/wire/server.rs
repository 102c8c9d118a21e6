//! The listening server: what `actix_web::HttpServer` does for `serve`,
//! with [`WireIo`] between each accepted connection (after the TLS
//! handshake, when there is one) and actix-http. `HttpServer` offers no
//! way to wrap a connection, so this builds the same stack from its parts
//! (actix-server, actix-http's `HttpService`, actix-tls's openssl acceptor)
//! with `HttpServer`'s defaults.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::time::Duration;

use actix_http::body::{BoxBody, MessageBody};
use actix_http::error::DispatchError;
use actix_http::{Extensions, HttpServiceBuilder, KeepAlive, Protocol, Request, Response};
use actix_rt::net::TcpStream;
use actix_server::GracefulShutdownSignal;
use actix_service::boxed::{self, BoxServiceFactory};
use actix_service::ServiceFactoryExt as _;
use actix_service::{fn_service, map_config, IntoServiceFactory, Service, ServiceFactory};
use actix_tls::accept::openssl::reexports::{AlpnError, SslAcceptor, SslAcceptorBuilder};
use actix_tls::accept::openssl::{Acceptor, TlsStream};
use actix_tls::accept::TlsError;
use actix_web::dev::AppConfig;

use super::head::codec_config;
use super::io::WireIo;

/// How long a closing connection may take (actix-http's disconnect
/// timeout): also bounds the lingering close after a refusal.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A server ready to run, and the addresses it listens on (port 0 is
/// resolved).
pub struct Bound {
    pub server: actix_server::Server,
    pub addrs: Vec<SocketAddr>,
}

/// Binds every address `listen` resolves to and serves the app `factory`
/// builds (one per worker) over HTTP/1.1, or over TLS with HTTP/1.1 and
/// HTTP/2 by ALPN when `tls` is given. Must run inside the actix system.
pub fn bind<F, I, S, B>(
    factory: F,
    listen: &str,
    tls: Option<SslAcceptorBuilder>,
) -> io::Result<Bound>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    // Each worker's app, boxed: one type for both kinds of listener.
    let make_app = move |addr: SocketAddr, secure: bool| -> BoxedApp {
        let host = addr.to_string();
        let app = factory()
            .into_factory()
            .map_err(|err| Response::from(err.into().error_response()))
            .map(|res| {
                let res: Response<B> = res.into();
                res.map_into_boxed_body()
            })
            .map_init_err(|e| log::error!("cannot start the app of a worker: {e:?}"));
        // `AppConfig` has no public constructor; this is the one
        // actix-test (actix's own crate) uses. It carries whether the
        // connection is TLS, which `forwarded.rs` reads for the scheme.
        boxed::factory(map_config(app, move |()| {
            AppConfig::__priv_test_new(secure, host.clone(), addr)
        }))
    };
    let acceptor = tls.map(with_alpn).transpose()?;
    let mut builder = actix_server::Server::build().shutdown_timeout(30);
    // Tells idle keep-alive connections to close when the server stops,
    // as HttpServer does, so stopping does not wait for them.
    let shutdown = builder.graceful_shutdown_signal();
    let mut addrs = Vec::new();
    for requested in listen.to_socket_addrs()? {
        let listener = listen_on(requested)?;
        let addr = listener.local_addr()?;
        addrs.push(addr);
        let name = format!("fhir-server-{addr}");
        let make_app = make_app.clone();
        let shutdown = shutdown.clone();
        builder = match acceptor.clone() {
            None => builder.listen(name, listener, move || {
                let config = codec_config();
                fn_service(move |io: TcpStream| {
                    let peer = io.peer_addr().ok();
                    let io = WireIo::http1(io, config.clone());
                    async move { Ok::<_, DispatchError>((io, Protocol::Http1, peer)) }
                })
                .and_then(http_service(make_app(addr, false), addr, &shutdown))
            })?,
            Some(acceptor) => builder.listen(name, listener, move || {
                let config = codec_config();
                Acceptor::new(acceptor.clone())
                    .map_err(TlsError::into_service_error)
                    .map(move |io: TlsStream<TcpStream>| {
                        let peer = io.get_ref().peer_addr().ok();
                        let h2 = io.ssl().selected_alpn_protocol() == Some(&b"h2"[..]);
                        if h2 {
                            (WireIo::passthrough(io), Protocol::Http2, peer)
                        } else {
                            (WireIo::http1(io, config.clone()), Protocol::Http1, peer)
                        }
                    })
                    .and_then(
                        http_service(make_app(addr, true), addr, &shutdown)
                            .map_err(TlsError::Service),
                    )
            })?,
        };
    }
    Ok(Bound {
        server: builder.run(),
        addrs,
    })
}

/// A listening socket with HttpServer's backlog (std's default of 128
/// drops connections under bursts of clients).
fn listen_on(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)?.into_std()
}

/// A worker's app as actix-http serves it.
type BoxedApp = BoxServiceFactory<(), Request, Response<BoxBody>, Response<BoxBody>, ()>;

/// actix-http over one worker's app, with `HttpServer`'s timeouts, and
/// the connection's refusal handle in every request's connection data.
fn http_service<T>(
    app: BoxedApp,
    addr: SocketAddr,
    shutdown: &GracefulShutdownSignal,
) -> impl ServiceFactory<
    (WireIo<T>, Protocol, Option<SocketAddr>),
    Config = (),
    Response = (),
    Error = DispatchError,
    InitError = (),
>
where
    T: actix_codec::AsyncRead + actix_codec::AsyncWrite + Unpin + 'static,
{
    let shutdown = shutdown.clone();
    HttpServiceBuilder::<WireIo<T>, _>::default()
        .graceful_shutdown_signal(move || {
            let signal = shutdown.clone();
            async move { signal.notified().await }
        })
        .keep_alive(KeepAlive::default())
        .client_request_timeout(Duration::from_secs(5))
        .client_disconnect_timeout(DISCONNECT_TIMEOUT)
        .local_addr(addr)
        .on_connect_ext(|io: &WireIo<T>, ext: &mut Extensions| {
            ext.insert(io.refusal());
        })
        .finish(app)
}

/// ALPN as `HttpServer::bind_openssl` sets it: HTTP/2 when the client
/// offers it, else HTTP/1.1.
fn with_alpn(mut builder: SslAcceptorBuilder) -> io::Result<SslAcceptor> {
    builder.set_alpn_select_callback(|_, offered| {
        if offered.windows(3).any(|w| w == b"\x02h2") {
            Ok(b"h2")
        } else if offered.windows(9).any(|w| w == b"\x08http/1.1") {
            Ok(b"http/1.1")
        } else {
            Err(AlpnError::NOACK)
        }
    });
    builder.set_alpn_protos(b"\x08http/1.1\x02h2")?;
    Ok(builder.build())
}
