//! The store URL and TLS (rustls, ring provider).
//!
//! `postgres://user:password@host:port/dbname?sslmode=...&sslrootcert=...`
//! (any other parameter tokio-postgres knows: `options`, `connect_timeout`,
//! `application_name`, ...). What `sslmode` means here:
//!
//! - `disable`: no TLS.
//! - `prefer` (the default): TLS when the server offers it, plain otherwise,
//!   the certificate not checked — libpq's `prefer`: it defeats a passive
//!   listener, not an active one (SCRAM channel binding still ties a
//!   password login to the TLS session).
//! - `require`, `verify-ca`, `verify-full`: TLS or no connection, and the
//!   certificate must chain to a trusted root and name the host — libpq's
//!   `verify-full` in all three (libpq's `require` checks nothing, which
//!   an interceptor can exploit). The roots are the Mozilla set
//!   (`webpki-root-certs`), or only the PEM file `sslrootcert` names: a
//!   managed database with a private CA (RDS, Cloud SQL) needs its CA
//!   bundle there.
//!
//! `allow`, client certificates (`sslcert`/`sslkey`) and `sslrootcert`
//! in a `key=value` connection string are not supported.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;

/// How long connecting may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TlsMode {
    Disable,
    Prefer,
    Verify,
}

/// The client configuration and TLS connector for `url`.
pub(super) fn target(
    url: &str,
) -> Result<(tokio_postgres::Config, MakeRustlsConnect, TlsMode), StoreError> {
    let (rest, sslmode, rootcert) = split_tls_params(url)?;
    let mut config: tokio_postgres::Config = rest
        .parse()
        .map_err(|e| StoreError::Config(format!("{e}")))?;
    let mode = match sslmode.as_deref() {
        None | Some("prefer") => TlsMode::Prefer,
        Some("disable") => TlsMode::Disable,
        Some("require" | "verify-ca" | "verify-full") => TlsMode::Verify,
        Some(other) => {
            return Err(StoreError::Config(format!(
                "sslmode `{other}`: feedwire knows disable, prefer, require, verify-ca, verify-full"
            )));
        }
    };
    if rootcert.is_some() && mode != TlsMode::Verify {
        return Err(StoreError::Config(
            "sslrootcert is used only with sslmode=require (or verify-ca, verify-full)".into(),
        ));
    }
    config.ssl_mode(match mode {
        TlsMode::Disable => SslMode::Disable,
        TlsMode::Prefer => SslMode::Prefer,
        TlsMode::Verify => SslMode::Require,
    });
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("feedwire");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Config(format!("TLS: {e}")))?;
    let tls = if mode == TlsMode::Verify {
        builder
            .with_root_certificates(roots(rootcert.as_deref())?)
            .with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth()
    };
    Ok((config, MakeRustlsConnect::new(tls), mode))
}

/// Takes `sslmode` and `sslrootcert` out of a URL's query (tokio-postgres
/// knows neither `verify-*` nor `sslrootcert`); the rest is left as written.
fn split_tls_params(url: &str) -> Result<(String, Option<String>, Option<String>), StoreError> {
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let Some((base, query)) = url.split_once('?').filter(|_| is_url) else {
        return Ok((url.to_string(), None, None));
    };
    let (mut sslmode, mut rootcert) = (None, None);
    let mut kept = Vec::new();
    for segment in query.split('&').filter(|s| !s.is_empty()) {
        // Percent-decoded as tokio-postgres does: a `+` stays a `+`.
        let literal_plus = segment.replace('+', "%2B");
        let (key, value) = url::form_urlencoded::parse(literal_plus.as_bytes())
            .next()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .unwrap_or_default();
        match key.as_str() {
            "sslmode" => sslmode = Some(value),
            "sslrootcert" => rootcert = Some(value),
            _ => kept.push(segment),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, sslmode, rootcert))
}

fn roots(rootcert: Option<&str>) -> Result<RootCertStore, StoreError> {
    let mut roots = RootCertStore::empty();
    match rootcert {
        None => {
            roots.add_parsable_certificates(
                webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned(),
            );
        }
        Some(path) => {
            let unreadable =
                |e: &dyn std::fmt::Display| StoreError::Config(format!("sslrootcert {path}: {e}"));
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
                roots
                    .add(cert.map_err(|e| unreadable(&e))?)
                    .map_err(|e| unreadable(&e))?;
            }
            if roots.is_empty() {
                return Err(unreadable(&"no certificate in the file"));
            }
        }
    }
    Ok(roots)
}

/// `sslmode=prefer`: the handshake's signatures are checked, the
/// certificate is not (as libpq does in that mode).
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_and_the_rest_kept_as_written() {
        let (rest, mode, root) = split_tls_params(
            "postgres://u:p%2Bq@db.example:5433/feedwire?options=-c%20search_path%3Dfw&sslmode=verify-full&sslrootcert=/etc/ca+1.pem",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgres://u:p%2Bq@db.example:5433/feedwire?options=-c%20search_path%3Dfw"
        );
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root.as_deref(), Some("/etc/ca+1.pem"));
        let (rest, mode, _) = split_tls_params("host=db user=u sslmode=require").unwrap();
        assert_eq!(
            (rest.as_str(), mode),
            ("host=db user=u sslmode=require", None)
        );
    }

    #[test]
    fn sslmode_picks_the_mode_and_unknown_modes_are_refused() {
        let mode = |url: &str| target(url).map(|(config, _, mode)| (config.get_ssl_mode(), mode));
        let base = "postgres://u@db.example/feedwire";
        assert!(matches!(
            mode(base).unwrap(),
            (SslMode::Prefer, TlsMode::Prefer)
        ));
        assert!(matches!(
            mode(&format!("{base}?sslmode=disable")).unwrap(),
            (SslMode::Disable, TlsMode::Disable)
        ));
        for verified in ["require", "verify-ca", "verify-full"] {
            assert!(matches!(
                mode(&format!("{base}?sslmode={verified}")).unwrap(),
                (SslMode::Require, TlsMode::Verify)
            ));
        }
        assert!(matches!(
            mode(&format!("{base}?sslmode=allow")),
            Err(StoreError::Config(_))
        ));
        assert!(matches!(
            mode(&format!("{base}?sslmode=require&sslrootcert=/nonexistent.pem")),
            Err(StoreError::Config(m)) if m.contains("/nonexistent.pem")
        ));
        assert!(matches!(
            mode(&format!(
                "{base}?sslrootcert=/etc/ssl/certs/ca-certificates.crt"
            )),
            Err(StoreError::Config(_))
        ));
    }
}
