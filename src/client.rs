//! The start of every outgoing HTTP client (tenants, forges, notification receivers, the
//! `status` command): one TLS configuration per process.
//!
//! Building a TLS configuration loads the system's certificates, about a millisecond per
//! client. A run talks to every tenant, its forge and its receivers, each through its own
//! client; they now share one configuration, so the certificates are loaded once per
//! process, not once per client.

use std::sync::{Arc, OnceLock};

/// A `reqwest` client builder with ferry's TLS configuration: rustls with the platform's
/// certificate verifier, TLS 1.2 and 1.3, HTTP/1.1. When that configuration cannot be
/// built, the builder is reqwest's own, which then reports why at `build()`.
pub(crate) fn builder() -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    match tls() {
        Some(config) => builder.tls_backend_preconfigured(config.clone()),
        None => builder.tls_backend_rustls(),
    }
}

/// The process's TLS configuration, built on first use. Clones share its verifier and
/// certificates.
fn tls() -> Option<&'static rustls::ClientConfig> {
    static CONFIG: OnceLock<Option<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).ok()?;
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .ok()?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(config)
        })
        .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_share_one_tls_configuration() {
        let first = tls().expect("the platform verifier loads");
        let second = tls().expect("the platform verifier loads");
        assert!(std::ptr::eq(first, second));
        assert_eq!(first.alpn_protocols, [b"http/1.1".to_vec()]);
        builder()
            .build()
            .expect("a client builds on the shared configuration");
    }
}
