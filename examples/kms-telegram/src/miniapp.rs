//! The authorization Mini App: a small HTTPS server that serves one page and two JSON routes.
//!
//! The page (`GET /app?c=<challenge>`) shows the description of one challenge and its decision
//! buttons. It gets the challenge's *description statement* (the bytes the signer signed, see
//! `kms_client::statement`), verifies the signer's Ed25519 signature over them in the browser
//! (WebCrypto), and shows only what it decoded from the verified bytes, with the signer key's
//! fingerprint that the chat message shows too. A relay that altered the description would have
//! to forge the signer's signature.
//!
//! Every route but the static files needs the Mini App's `initData`, validated by the
//! [`MiniAppBackend`] (HMAC with the bot token, freshness); the user the routes act for is the
//! one in the validated initData, never one named by the page.
//!
//! | route | body | answer |
//! | --- | --- | --- |
//! | `GET /app` | | the page (HTML) |
//! | `GET /app.js`, `GET /app.css` | | its script and style |
//! | `POST /api/challenge` | `{"init_data", "challenge"}` | `{"statement", "signature", "signer_key"}` (base64) |
//! | `POST /api/decide` | `{"init_data", "challenge", "button", "code"?}` | `{"ok", "text"}` |
//!
//! Errors are `{"error": "..."}` with 400 (malformed body), 401 (initData refused), 404 (no such
//! challenge for this user), 409 (the signer refused the decision) or 503. Request bodies are
//! limited to [`MAX_BODY_LEN`] bytes, connections to [`MAX_CONNECTIONS`] at once and 60 s each;
//! the server binds whatever listener it is given (loopback in the reference signer).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use kms_client::proto::SecretText;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{InitDataError, ServerError};

/// The largest request body read (initData is at most a few KiB).
pub const MAX_BODY_LEN: usize = 16 * 1024;

/// How long a connection may take to send its request headers and body.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 256;
/// The longest a connection is kept, whatever it does (a decision waits up to 30 s).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

const PAGE_HTML: &str = include_str!("miniapp/app.html");
const PAGE_JS: &str = include_str!("miniapp/app.js");
const PAGE_CSS: &str = include_str!("miniapp/app.css");

/// The Content-Security-Policy of every answer: only this origin's script, style and API; no
/// inline script, no framing by other sites than Telegram's web client.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'self' https://web.telegram.org";

/// What a challenge looks like to the page: the signed statement and how to check it.
#[derive(Clone, PartialEq, Eq)]
pub struct ChallengeView {
    /// The encoded description statement.
    pub statement: Vec<u8>,
    /// The signer's Ed25519 signature over `statement`.
    pub signature: Vec<u8>,
    /// The signer's description key (Ed25519 public key).
    pub signer_key: Vec<u8>,
}

impl core::fmt::Debug for ChallengeView {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChallengeView")
            .field("statement_len", &self.statement.len())
            .finish_non_exhaustive()
    }
}

/// Why a route refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteError {
    /// No open challenge of this id for this user (404).
    NotFound,
    /// The signer refused the decision; the text says why (409).
    Refused(String),
    /// The signer did not answer in time or the pool is shutting down (503).
    Unavailable(String),
}

/// What the server asks of its owner (the HTTPS pool). Calls may block: they run on a blocking
/// thread, not on the server's event loop.
pub trait MiniAppBackend: Send + Sync + 'static {
    /// Validates initData and returns the Telegram user id it was issued to.
    ///
    /// # Errors
    /// Why the initData is refused.
    fn authenticate(&self, init_data: &str) -> Result<u64, InitDataError>;

    /// The statement of open challenge `challenge` of `user`.
    ///
    /// # Errors
    /// [`RouteError::NotFound`] when there is no such open challenge for this user.
    fn challenge(&self, user: u64, challenge: &str) -> Result<ChallengeView, RouteError>;

    /// Presses button `button` (index in the statement's order) of `challenge` for `user`, with
    /// a TOTP `code` when the user typed one; returns the text of the outcome.
    ///
    /// # Errors
    /// A [`RouteError`] saying why nothing was decided.
    fn decide(
        &self,
        user: u64,
        challenge: &str,
        button: usize,
        code: Option<SecretText>,
    ) -> Result<String, RouteError>;
}

/// The TLS identity the server presents.
pub struct TlsIdentity {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl core::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("certificates", &self.certs.len())
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// From a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, SEC1 or PKCS#1).
    ///
    /// # Errors
    /// [`ServerError::Tls`] when either is not usable PEM.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<Self, ServerError> {
        let certs = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ServerError::Tls("the certificate chain is not PEM".into()))?;
        if certs.is_empty() {
            return Err(ServerError::Tls("no certificate in the chain".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|_| ServerError::Tls("the private key is not PEM".into()))?;
        Ok(Self { certs, key })
    }

    /// A self-signed certificate for `names` (DNS names or IP addresses), generated now; also
    /// returns the certificate as PEM (to hand to whoever must trust it).
    ///
    /// # Errors
    /// [`ServerError::Tls`] when generation fails.
    pub fn self_signed(names: &[&str]) -> Result<(Self, String), ServerError> {
        let (pem, key) = Self::self_signed_pem(names)?;
        let id = Self::from_pem(pem.as_bytes(), key.as_bytes())?;
        Ok((id, pem))
    }

    /// A self-signed certificate for `names` (ECDSA P-256, generated now from the OS RNG) as
    /// PEM: (certificate, private key).
    ///
    /// # Errors
    /// [`ServerError::Tls`] when generation fails.
    pub fn self_signed_pem(names: &[&str]) -> Result<(String, Zeroizing<String>), ServerError> {
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let cert = rcgen::generate_simple_self_signed(names)
            .map_err(|e| ServerError::Tls(format!("self-signed certificate: {e}")))?;
        Ok((
            cert.cert.pem(),
            Zeroizing::new(cert.signing_key.serialize_pem()),
        ))
    }

    /// Base64 of the SHA-256 of the leaf certificate's SubjectPublicKeyInfo (the pin a browser
    /// takes with `--ignore-certificate-errors-spki-list`).
    ///
    /// # Errors
    /// [`ServerError::Tls`] when the leaf certificate cannot be parsed.
    pub fn leaf_spki_sha256(&self) -> Result<String, ServerError> {
        use sha2::Digest as _;
        let leaf = self
            .certs
            .first()
            .ok_or_else(|| ServerError::Tls("no certificate".into()))?;
        let spki = spki_of(leaf.as_ref())
            .ok_or_else(|| ServerError::Tls("the leaf certificate is not DER X.509".into()))?;
        Ok(B64.encode(sha2::Sha256::digest(spki)))
    }
}

/// The SubjectPublicKeyInfo of a DER certificate: Certificate → tbsCertificate → its 7th element
/// (after the optional `[0]` version, serial, signature, issuer, validity, subject).
fn spki_of(der: &[u8]) -> Option<&[u8]> {
    let (cert, _) = der_element(der)?;
    let (tbs, _) = der_element(der_content(cert)?)?;
    let mut rest = der_content(tbs)?;
    if rest.first() == Some(&0xa0) {
        rest = der_element(rest)?.1;
    }
    for _ in 0..5 {
        rest = der_element(rest)?.1;
    }
    der_element(rest).map(|(spki, _)| spki)
}

/// One DER element at the start of `b`: (the whole element, what follows).
fn der_element(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let first = *b.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*b.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    (end <= b.len()).then(|| b.split_at(end))
}

/// The content octets of one DER element.
fn der_content(element: &[u8]) -> Option<&[u8]> {
    let first = *element.get(1)?;
    let header = if first < 0x80 {
        2
    } else {
        2 + usize::from(first & 0x7f)
    };
    element.get(header..)
}

/// A running Mini App server. Dropping it stops it.
pub struct MiniAppServer {
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl core::fmt::Debug for MiniAppServer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MiniAppServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MiniAppServer {
    /// Serves on `listener` (already bound, so a sandboxed process can bind before it confines
    /// itself) with `tls`, on a runtime of `threads` worker threads.
    ///
    /// # Errors
    /// [`ServerError`] when the runtime, the listener or the TLS configuration fails.
    pub fn start(
        listener: std::net::TcpListener,
        tls: TlsIdentity,
        backend: Arc<dyn MiniAppBackend>,
        threads: usize,
    ) -> Result<Self, ServerError> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ServerError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(tls.certs, tls.key)
            .map_err(|e| ServerError::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .max_blocking_threads(16)
            .thread_name("kms-miniapp")
            .enable_all()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        runtime.spawn(accept_loop(listener, acceptor, backend));
        Ok(Self {
            addr,
            runtime: Some(runtime),
        })
    }

    /// The address it listens on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MiniAppServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    backend: Arc<dyn MiniAppBackend>,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let acceptor = acceptor.clone();
        let backend = Arc::clone(&backend);
        tokio::spawn(async move {
            let _permit = permit;
            let Ok(Ok(tls)) = tokio::time::timeout(REQUEST_TIMEOUT, acceptor.accept(tcp)).await
            else {
                return;
            };
            let service = hyper::service::service_fn(move |req| {
                let backend = Arc::clone(&backend);
                async move { Ok::<_, std::convert::Infallible>(route(req, backend).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .header_read_timeout(REQUEST_TIMEOUT)
                .timer(hyper_util::rt::TokioTimer::new())
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
        });
    }
}

#[derive(Deserialize)]
struct ChallengeBody {
    init_data: SecretText,
    challenge: String,
}

#[derive(Deserialize)]
struct DecideBody {
    init_data: SecretText,
    challenge: String,
    button: usize,
    #[serde(default)]
    code: Option<SecretText>,
}

#[derive(Serialize)]
struct ChallengeAnswer {
    statement: String,
    signature: String,
    signer_key: String,
}

#[derive(Serialize)]
struct DecideAnswer {
    ok: bool,
    text: String,
}

#[derive(Serialize)]
struct ErrorAnswer<'a> {
    error: &'a str,
}

async fn route(req: Request<Incoming>, backend: Arc<dyn MiniAppBackend>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/app" | "/app/") => page(PAGE_HTML, "text/html; charset=utf-8"),
        (&Method::GET, "/app.js") => page(PAGE_JS, "text/javascript; charset=utf-8"),
        (&Method::GET, "/app.css") => page(PAGE_CSS, "text/css; charset=utf-8"),
        (&Method::POST, "/api/challenge") => {
            let body = match read_json::<ChallengeBody>(req).await {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            blocking(move || {
                let user = backend.authenticate(body.init_data.expose_secret())?;
                let view = backend
                    .challenge(user, &body.challenge)
                    .map_err(Refusal::Route)?;
                Ok(json(
                    StatusCode::OK,
                    &ChallengeAnswer {
                        statement: B64.encode(&view.statement),
                        signature: B64.encode(&view.signature),
                        signer_key: B64.encode(&view.signer_key),
                    },
                ))
            })
            .await
        }
        (&Method::POST, "/api/decide") => {
            let body = match read_json::<DecideBody>(req).await {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            blocking(move || {
                let user = backend.authenticate(body.init_data.expose_secret())?;
                let code = body.code.filter(|c| !c.expose_secret().trim().is_empty());
                let text = backend
                    .decide(user, &body.challenge, body.button, code)
                    .map_err(Refusal::Route)?;
                Ok(json(StatusCode::OK, &DecideAnswer { ok: true, text }))
            })
            .await
        }
        (_, "/app" | "/app/" | "/app.js" | "/app.css" | "/api/challenge" | "/api/decide") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => error(StatusCode::NOT_FOUND, "not found"),
    }
}

/// Why a route refused, before it is turned into an answer.
enum Refusal {
    InitData(InitDataError),
    Route(RouteError),
}

impl From<InitDataError> for Refusal {
    fn from(e: InitDataError) -> Self {
        Self::InitData(e)
    }
}

/// Runs a backend call on a blocking thread and turns its refusal into an answer.
async fn blocking<F>(f: F) -> Response<Full<Bytes>>
where
    F: FnOnce() -> Result<Response<Full<Bytes>>, Refusal> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(resp)) => resp,
        Ok(Err(Refusal::InitData(e))) => {
            error(StatusCode::UNAUTHORIZED, &format!("initData refused: {e}"))
        }
        Ok(Err(Refusal::Route(RouteError::NotFound))) => error(
            StatusCode::NOT_FOUND,
            "no open request of this id for this user",
        ),
        Ok(Err(Refusal::Route(RouteError::Refused(text)))) => {
            json(StatusCode::CONFLICT, &DecideAnswer { ok: false, text })
        }
        Ok(Err(Refusal::Route(RouteError::Unavailable(text)))) => {
            error(StatusCode::SERVICE_UNAVAILABLE, &text)
        }
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
) -> Result<T, Response<Full<Bytes>>> {
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_LEN) {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
        ));
    }
    let collected = tokio::time::timeout(
        REQUEST_TIMEOUT,
        Limited::new(req.into_body(), MAX_BODY_LEN).collect(),
    )
    .await;
    let bytes = match collected {
        Ok(Ok(c)) => Zeroizing::new(c.to_bytes().to_vec()),
        Ok(Err(_)) => {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
            ));
        }
        Err(_) => return Err(error(StatusCode::REQUEST_TIMEOUT, "request body too slow")),
    };
    serde_json::from_slice(&bytes).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "the request body is not the expected JSON",
        )
    })
}

fn page(body: &'static str, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    set_headers(&mut resp, content_type);
    resp
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    set_headers(&mut resp, "application/json");
    resp
}

fn error(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    json(status, &ErrorAnswer { error: text })
}

fn set_headers(resp: &mut Response<Full<Bytes>>, content_type: &'static str) {
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn spki_of_a_generated_certificate() {
        let (id, pem) = TlsIdentity::self_signed(&["127.0.0.1", "localhost"]).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let leaf = id.certs[0].as_ref();
        let spki = spki_of(leaf).unwrap();
        // An ECDSA P-256 SubjectPublicKeyInfo is 91 bytes: SEQUENCE { algorithm, BIT STRING }.
        assert_eq!(spki[0], 0x30);
        assert_eq!(spki.len(), 91);
        assert_eq!(id.leaf_spki_sha256().unwrap().len(), 44);
        assert!(spki_of(&leaf[..leaf.len() / 2]).is_none());
        assert!(spki_of(&[]).is_none());
    }

    #[test]
    fn refuses_garbage_pem() {
        assert!(matches!(
            TlsIdentity::from_pem(b"nope", b"nope"),
            Err(ServerError::Tls(_))
        ));
        let d = format!("{:?}", TlsIdentity::self_signed(&["localhost"]).unwrap().0);
        assert!(!d.contains("PRIVATE"), "{d}");
    }
}
