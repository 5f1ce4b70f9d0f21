//! TLS for the secure client port (ZooKeeper's `secureClientPort`): a rustls server
//! configuration from PEM files, client certificates checked against the configured CA
//! (`ssl.clientAuth` need / want / none), and the `x509` identity a client certificate gives.
//!
//! Two things differ from a plain rustls setup, both for the certificates kazoo's test harness
//! makes (and that Java and OpenSSL accept):
//! * **X.509 version 1 client certificates.** rustls' webpki only accepts version 3. A client
//!   certificate webpki rejects that is version 1 is checked here instead: signed directly by
//!   one of the configured CA certificates, within its validity period (version 1 certificates
//!   have no extensions, so there are no constraints to check). Its handshake signature is then
//!   checked with the certificate's public key, by webpki's own signature code.
//! * **Version 1 server certificates** load: the certificate/key match is checked by comparing
//!   the certificate's public key with the private key's, without webpki's certificate parser.
//!
//! Everything cryptographic is the `ring` provider's, through rustls, webpki and x509-parser.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig};
use x509_parser::prelude::{FromDer, X509Certificate, X509Version};

use crate::config::{ClientAuth, TlsSection};

/// Why the TLS port cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file the configuration needs is not named.
    #[error("tls.{0} must be set when tls.secure_client_port is")]
    Missing(&'static str),
    /// A PEM file could not be read or parsed.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The private key does not belong to the certificate.
    #[error("the private key in {key} does not match the certificate in {cert}")]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
    /// rustls refused the material.
    #[error("{0}")]
    Rustls(String),
}

/// The rustls server configuration of the secure client port.
pub fn server_config(cfg: &TlsSection) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cert_path = cfg
        .cert_file
        .as_deref()
        .ok_or(TlsError::Missing("cert_file"))?;
    let chain = read_certs(cert_path)?;
    let key_path = cfg.key_file.as_deref().unwrap_or(cert_path);
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| pem_error(key_path, e))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Rustls(format!("{}: {e}", key_path.display())))?;
    // rustls' own match check parses the certificate with webpki, which refuses version 1
    // certificates: compare the public keys here instead.
    let leaf = X509Certificate::from_der(&chain[0])
        .map_err(|e| pem_error(cert_path, format!("not a certificate: {e}")))?
        .1;
    if let Some(spki) = signing.public_key() {
        if spki.as_ref() != leaf.public_key().raw {
            return Err(TlsError::KeyMismatch {
                key: key_path.to_path_buf(),
                cert: cert_path.to_path_buf(),
            });
        }
    }
    let certified = Arc::new(CertifiedKey::new(chain, signing));
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match cfg.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        auth => {
            let ca_path = cfg.ca_file.as_deref().ok_or(TlsError::Missing("ca_file"))?;
            let verifier = ClientVerifier::new(read_certs(ca_path)?, provider, auth)
                .map_err(|e| TlsError::Rustls(format!("{}: {e}", ca_path.display())))?;
            builder.with_client_cert_verifier(Arc::new(verifier))
        }
    };
    Ok(Arc::new(builder.with_cert_resolver(Arc::new(
        SingleCertAndKey::from(certified),
    ))))
}

/// The rustls client configuration of a peer link (mutual TLS between ensemble members): shows
/// the certificate in `cert` (key in `key`, default: in `cert`), and accepts a listener whose
/// certificate chains to a CA in `ca` and, if `verify_names`, is valid for the name connected to.
pub fn client_config(
    cert: &Path,
    key: Option<&Path>,
    ca: &Path,
    verify_names: bool,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = read_certs(cert)?;
    let key_path = key.unwrap_or(cert);
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| pem_error(key_path, e))?;
    let mut roots = RootCertStore::empty();
    for c in read_certs(ca)? {
        roots
            .add(c)
            .map_err(|e| TlsError::Rustls(format!("{}: {e}", ca.display())))?;
    }
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| TlsError::Rustls(format!("{}: {e}", ca.display())))?;
    let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = if verify_names {
        webpki
    } else {
        Arc::new(AnyName(webpki))
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(chain, key)
        .map_err(|e| TlsError::Rustls(format!("{}: {e}", key_path.display())))?;
    Ok(Arc::new(config))
}

/// webpki's server verification without the name check (`ssl.quorum.hostnameVerification=false`):
/// the chain, validity and signatures are still checked.
#[derive(Debug)]
struct AnyName(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn pem_error(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::Pem {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Every certificate in a PEM file (at least one).
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(pem_error(path, "no certificate in the file"));
    }
    Ok(certs)
}

/// The version of a DER certificate, if it parses.
fn version_of(der: &[u8]) -> Option<X509Version> {
    X509Certificate::from_der(der)
        .ok()
        .map(|(_, c)| c.version())
}

/// webpki's client verification, plus version 1 client certificates signed by a configured CA.
#[derive(Debug)]
struct ClientVerifier {
    webpki: Arc<dyn ClientCertVerifier>,
    cas: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientVerifier {
    fn new(
        cas: Vec<CertificateDer<'static>>,
        provider: Arc<CryptoProvider>,
        auth: ClientAuth,
    ) -> Result<ClientVerifier, String> {
        let mut roots = RootCertStore::empty();
        for ca in &cas {
            roots.add(ca.clone()).map_err(|e| e.to_string())?;
        }
        let algorithms = provider.signature_verification_algorithms;
        let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        if auth == ClientAuth::Want {
            builder = builder.allow_unauthenticated();
        }
        let webpki = builder.build().map_err(|e| e.to_string())?;
        Ok(ClientVerifier {
            webpki,
            cas,
            algorithms,
        })
    }

    /// A version 1 client certificate: issued and signed by a configured CA, valid at `now`.
    fn verify_v1(&self, der: &[u8], now: UnixTime) -> Result<(), rustls::Error> {
        let bad = |what: &str| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
                Arc::new(V1Error(what.to_string())),
            )))
        };
        let (rest, cert) = X509Certificate::from_der(der).map_err(|_| bad("unparsable"))?;
        if !rest.is_empty() || cert.version() != X509Version::V1 {
            return Err(bad("not a well-formed version 1 certificate"));
        }
        if cert.tbs_certificate.signature != cert.signature_algorithm {
            return Err(bad("signature algorithms differ"));
        }
        let at = x509_parser::time::ASN1Time::from_timestamp(now.as_secs() as i64)
            .map_err(|_| bad("bad time"))?;
        if !cert.validity().is_valid_at(at) {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Expired,
            ));
        }
        for ca_der in &self.cas {
            let Ok((_, ca)) = X509Certificate::from_der(ca_der) else {
                continue;
            };
            if ca.subject().as_raw() == cert.issuer().as_raw()
                && cert.verify_signature(Some(ca.public_key())).is_ok()
            {
                return Ok(());
            }
        }
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ))
    }

    /// The public key of a version 1 certificate (for its handshake signature).
    fn v1_key(cert: &CertificateDer<'_>) -> Option<SubjectPublicKeyInfoDer<'static>> {
        let (_, c) = X509Certificate::from_der(cert).ok()?;
        (c.version() == X509Version::V1)
            .then(|| SubjectPublicKeyInfoDer::from(c.public_key().raw.to_vec()))
    }
}

#[derive(Debug)]
struct V1Error(String);

impl std::fmt::Display for V1Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "version 1 client certificate: {}", self.0)
    }
}

impl std::error::Error for V1Error {}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.webpki.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.webpki.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self
            .webpki
            .verify_client_cert(end_entity, intermediates, now)
        {
            Ok(v) => Ok(v),
            Err(e) if version_of(end_entity) == Some(X509Version::V1) => {
                self.verify_v1(end_entity, now).map_err(|v1| {
                    tracing::debug!(webpki = %e, error = %v1, "client certificate refused");
                    v1
                })?;
                Ok(ClientCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let Some(spki) = ClientVerifier::v1_key(cert) else {
            return self.webpki.verify_tls12_signature(message, cert, dss);
        };
        // As rustls' verify_tls12_signature: every algorithm of the scheme may be the one.
        let key = webpki::RawPublicKeyEntity::try_from(&spki).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        let candidates = self
            .algorithms
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == dss.scheme)
            .map(|(_, algs)| *algs)
            .unwrap_or_default();
        for alg in candidates {
            if key.verify_signature(*alg, message, dss.signature()).is_ok() {
                return Ok(HandshakeSignatureValid::assertion());
            }
        }
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::BadSignature,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match ClientVerifier::v1_key(cert) {
            Some(spki) => rustls::crypto::verify_tls13_signature_with_raw_key(
                message,
                &spki,
                dss,
                &self.algorithms,
            ),
            None => self.webpki.verify_tls13_signature(message, cert, dss),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The `x509` identity of a client certificate: its subject as Java's
/// `X500Principal.getName()` writes it (RFC 2253), which is what ZooKeeper's
/// `X509AuthenticationProvider` uses, e.g. `CN=client,O=Acme\, Inc.,C=US`.
pub fn x509_identity(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, c) = X509Certificate::from_der(cert).ok()?;
    Some(rfc2253(c.subject()))
}

/// RFC 2253 as the JDK writes it: RDNs last first, `+` inside a multi-valued RDN, the keywords
/// CN C L ST O OU STREET DC UID, any other attribute (or a value that is not a string) as
/// `OID=#hex-of-DER`.
fn rfc2253(name: &x509_parser::x509::X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|ava| {
                    let oid = ava.attr_type().to_id_string();
                    let keyword = match oid.as_str() {
                        "2.5.4.3" => Some("CN"),
                        "2.5.4.6" => Some("C"),
                        "2.5.4.7" => Some("L"),
                        "2.5.4.8" => Some("ST"),
                        "2.5.4.10" => Some("O"),
                        "2.5.4.11" => Some("OU"),
                        "2.5.4.9" => Some("STREET"),
                        "0.9.2342.19200300.100.1.25" => Some("DC"),
                        "0.9.2342.19200300.100.1.1" => Some("UID"),
                        _ => None,
                    };
                    let value = ava.attr_value();
                    match (keyword, der_string(value.tag().0, value.data)) {
                        (Some(k), Some(text)) => format!("{k}={}", escape_rfc2253(&text)),
                        _ => {
                            let mut der = Vec::with_capacity(value.data.len() + 4);
                            der.push(value.tag().0 as u8);
                            der_length(&mut der, value.data.len());
                            der.extend_from_slice(value.data);
                            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
                            format!("{}=#{hex}", keyword.unwrap_or(&oid))
                        }
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn der_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
}

/// The text of a DER string value the JDK prints as text (UTF8String, PrintableString,
/// IA5String, T61String, BMPString, UniversalString, GeneralString).
fn der_string(tag: u32, data: &[u8]) -> Option<String> {
    match tag {
        12 => std::str::from_utf8(data).ok().map(str::to_string),
        19 | 22 | 27 => std::str::from_utf8(data)
            .ok()
            .filter(|s| s.is_ascii())
            .map(str::to_string),
        20 => Some(data.iter().map(|&b| b as char).collect()),
        30 => {
            let units: Vec<u16> = data
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16(&units).ok()
        }
        28 => data
            .chunks(4)
            .map(|c| {
                let mut b = [0u8; 4];
                b[..c.len()].copy_from_slice(c);
                char::from_u32(u32::from_be_bytes(b))
            })
            .collect(),
        _ => None,
    }
}

/// The JDK's escaping (`AVA.toRFC2253String`): `,=+<>#;"\` get a backslash, NUL is `\00`, and
/// leading and trailing spaces (and CRs) are escaped.
fn escape_rfc2253(value: &str) -> String {
    let mut chars: Vec<String> = Vec::with_capacity(value.len());
    for c in value.chars() {
        chars.push(match c {
            ',' | '=' | '+' | '<' | '>' | '#' | ';' | '"' | '\\' => format!("\\{c}"),
            '\0' => "\\00".to_string(),
            c => c.to_string(),
        });
    }
    let blank = |s: &String| s == " " || s == "\r";
    let lead = chars.iter().take_while(|s| blank(s)).count();
    let trail = chars.iter().rev().take_while(|s| blank(s)).count();
    let n = chars.len();
    chars
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            if i < lead || i >= n - trail {
                format!("\\{s}")
            } else {
                s
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/connection/testdata")
            .join(name)
    }

    fn section(auth: ClientAuth) -> TlsSection {
        TlsSection {
            secure_client_port: Some(0),
            cert_file: Some(testdata("server-cert.pem")),
            key_file: Some(testdata("server-key.pem")),
            ca_file: Some(testdata("ca.pem")),
            client_auth: auth,
            ..TlsSection::default()
        }
    }

    fn cert(name: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(testdata(name)).unwrap()
    }

    /// A rustls client trusting the test CA, presenting `client` (cert, key) if given.
    fn client_config(
        client: Option<(&str, &str)>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(cert("ca.pem")).unwrap();
        let b = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
        Arc::new(match client {
            // Not with_client_auth_cert: it checks the key with webpki, which refuses v1.
            Some((c, k)) => {
                let key = rustls::crypto::ring::default_provider()
                    .key_provider
                    .load_private_key(PrivateKeyDer::from_pem_file(testdata(k)).unwrap())
                    .unwrap();
                b.with_client_cert_resolver(Arc::new(FixedClientCert(Arc::new(CertifiedKey::new(
                    vec![cert(c)],
                    key,
                )))))
            }
            None => b.with_no_client_auth(),
        })
    }

    #[derive(Debug)]
    struct FixedClientCert(Arc<CertifiedKey>);

    impl rustls::client::ResolvesClientCert for FixedClientCert {
        fn resolve(
            &self,
            _hints: &[&[u8]],
            _schemes: &[rustls::SignatureScheme],
        ) -> Option<Arc<CertifiedKey>> {
            Some(self.0.clone())
        }

        fn has_certs(&self) -> bool {
            true
        }
    }

    /// A TLS handshake in memory, then one echo; the identity the server saw.
    async fn handshake(
        server: Arc<ServerConfig>,
        client: Arc<rustls::ClientConfig>,
    ) -> io::Result<Option<String>> {
        let (c, s) = tokio::io::duplex(64 * 1024);
        let acceptor = tokio_rustls::TlsAcceptor::from(server);
        let connector = tokio_rustls::TlsConnector::from(client);
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let server_side = async move {
            let mut tls = acceptor.accept(s).await?;
            let id = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(x509_identity);
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await?;
            tls.write_all(&buf).await?;
            tls.flush().await?;
            Ok::<_, io::Error>(id)
        };
        let client_side = async move {
            let mut tls = connector.connect(name, c).await?;
            tls.write_all(b"ruok").await?;
            tls.flush().await?;
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await?;
            assert_eq!(&buf, b"ruok");
            Ok::<_, io::Error>(())
        };
        let (id, done) = tokio::join!(server_side, client_side);
        done?;
        id
    }

    const TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    const TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];

    #[tokio::test]
    async fn version_1_client_certificates_are_accepted_over_tls12_and_tls13() {
        let server = server_config(&section(ClientAuth::Need)).unwrap();
        for versions in [TLS13, TLS12] {
            for (c, k, id) in [
                (
                    "client-v1-cert.pem",
                    "client-v1-key.pem",
                    "CN=client,O=Acme\\, Inc.,C=US",
                ),
                (
                    "client-v1-ec-cert.pem",
                    "client-v1-ec-key.pem",
                    "CN=ec-client",
                ),
                ("client-v3-cert.pem", "client-v3-key.pem", "CN=v3-client"),
            ] {
                let got = handshake(server.clone(), client_config(Some((c, k)), versions))
                    .await
                    .unwrap_or_else(|e| panic!("{c} over {versions:?}: {e}"));
                assert_eq!(got.as_deref(), Some(id));
            }
        }
    }

    #[tokio::test]
    async fn bad_or_missing_client_certificates_are_refused_when_needed() {
        let server = server_config(&section(ClientAuth::Need)).unwrap();
        for versions in [TLS13, TLS12] {
            for (c, k) in [
                ("client-expired-cert.pem", "client-expired-key.pem"),
                ("client-other-ca-cert.pem", "client-other-ca-key.pem"),
                ("client-forged-cert.pem", "client-forged-key.pem"),
            ] {
                let r = handshake(server.clone(), client_config(Some((c, k)), versions)).await;
                assert!(r.is_err(), "{c} accepted over {versions:?}");
            }
            // A certificate the key does not match: the handshake signature fails.
            let r = handshake(
                server.clone(),
                client_config(Some(("client-v1-cert.pem", "client-v3-key.pem")), versions),
            )
            .await;
            assert!(r.is_err(), "mismatched key accepted over {versions:?}");
            let r = handshake(server.clone(), client_config(None, versions)).await;
            assert!(r.is_err(), "no certificate accepted over {versions:?}");
        }
    }

    #[tokio::test]
    async fn want_and_none_let_clients_without_certificates_in() {
        let want = server_config(&section(ClientAuth::Want)).unwrap();
        assert_eq!(
            handshake(want.clone(), client_config(None, TLS13))
                .await
                .unwrap(),
            None
        );
        let got = handshake(
            want.clone(),
            client_config(Some(("client-v1-cert.pem", "client-v1-key.pem")), TLS13),
        )
        .await
        .unwrap();
        assert_eq!(got.as_deref(), Some("CN=client,O=Acme\\, Inc.,C=US"));
        // A certificate that is offered must still be good.
        let r = handshake(
            want,
            client_config(
                Some(("client-other-ca-cert.pem", "client-other-ca-key.pem")),
                TLS13,
            ),
        )
        .await;
        assert!(r.is_err());
        let mut none = section(ClientAuth::None);
        none.ca_file = None;
        let none = server_config(&none).unwrap();
        assert_eq!(
            handshake(none, client_config(None, TLS12)).await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn a_version_1_server_certificate_loads_and_serves() {
        let mut s = section(ClientAuth::None);
        s.cert_file = Some(testdata("server-v1-cert.pem"));
        s.key_file = Some(testdata("server-v1-key.pem"));
        let config = server_config(&s).unwrap();
        // The rustls client refuses a v1 server certificate (webpki), so only check that the
        // server got as far as sending it: the client fails on the certificate, not earlier.
        let err = handshake(config, client_config(None, TLS13))
            .await
            .unwrap_err();
        assert!(err.to_string().to_lowercase().contains("cert"), "{err}");
    }

    #[test]
    fn configuration_errors_are_reported() {
        let mut s = section(ClientAuth::Need);
        s.key_file = Some(testdata("client-v1-key.pem"));
        assert!(matches!(
            server_config(&s),
            Err(TlsError::KeyMismatch { .. })
        ));
        let mut s = section(ClientAuth::Need);
        s.ca_file = None;
        assert!(matches!(
            server_config(&s),
            Err(TlsError::Missing("ca_file"))
        ));
        let mut s = section(ClientAuth::Need);
        s.cert_file = None;
        assert!(matches!(
            server_config(&s),
            Err(TlsError::Missing("cert_file"))
        ));
        let mut s = section(ClientAuth::Need);
        s.cert_file = Some(testdata("nonexistent.pem"));
        assert!(matches!(server_config(&s), Err(TlsError::Pem { .. })));
        // A key file with no certificate in it.
        let mut s = section(ClientAuth::Need);
        s.ca_file = Some(testdata("server-key.pem"));
        assert!(matches!(server_config(&s), Err(TlsError::Pem { .. })));
    }

    #[test]
    fn rfc2253_escaping_follows_the_jdk() {
        assert_eq!(escape_rfc2253("a,b"), "a\\,b");
        assert_eq!(escape_rfc2253("#x=y+z"), "\\#x\\=y\\+z");
        assert_eq!(escape_rfc2253(" pad "), "\\ pad\\ ");
        assert_eq!(escape_rfc2253("q\"<>;\\"), "q\\\"\\<\\>\\;\\\\");
        assert_eq!(escape_rfc2253("nul\0"), "nul\\00");
        assert_eq!(escape_rfc2253("   "), "\\ \\ \\ ");
        assert_eq!(der_string(30, &[0, b'h', 0, b'i']).as_deref(), Some("hi"));
        assert_eq!(der_string(20, &[0xe9]).as_deref(), Some("é"));
        assert_eq!(der_string(2, &[1]), None);
        let mut v = Vec::new();
        der_length(&mut v, 300);
        assert_eq!(v, vec![0x82, 0x01, 0x2c]);
    }

    #[test]
    fn identities_of_the_test_certificates() {
        assert_eq!(
            x509_identity(&cert("client-v1-cert.pem")).as_deref(),
            Some("CN=client,O=Acme\\, Inc.,C=US")
        );
        assert_eq!(
            x509_identity(&cert("ca.pem")).as_deref(),
            Some("CN=zkr test CA")
        );
        assert_eq!(x509_identity(&CertificateDer::from(vec![1, 2, 3])), None);
    }
}
