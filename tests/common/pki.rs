//! Throw-away TLS material for the tests: a CA and certificates it signs (rcgen), written as the
//! PEM files a node reads.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate authority.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate, PEM.
    pub cert_file: PathBuf,
}

/// A certificate and its key.
pub struct Issued {
    /// The certificate, PEM.
    pub cert_file: PathBuf,
    /// The private key, PEM (PKCS#8).
    pub key_file: PathBuf,
    /// Key then certificate in one file (a ZooKeeper PEM key store).
    pub combined_file: PathBuf,
}

impl Ca {
    /// A new CA named `name`, its certificate written to `dir/<name>.pem`.
    pub fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
        ];
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("CA certificate");
        let cert_file = dir.join(format!("{name}.pem"));
        std::fs::write(&cert_file, cert.pem()).expect("write CA");
        Ca {
            issuer: Issuer::new(params, key),
            cert_file,
        }
    }

    /// A certificate for `name`, valid for `sans` (IP addresses or DNS names), usable by a TLS
    /// server and client, written to `dir/<name>-{cert,key,combined}.pem`.
    pub fn issue(&self, dir: &Path, name: &str, sans: &[&str]) -> Issued {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        let issued = Issued {
            cert_file: dir.join(format!("{name}-cert.pem")),
            key_file: dir.join(format!("{name}-key.pem")),
            combined_file: dir.join(format!("{name}-combined.pem")),
        };
        std::fs::write(&issued.cert_file, cert.pem()).expect("write cert");
        std::fs::write(&issued.key_file, key.serialize_pem()).expect("write key");
        std::fs::write(
            &issued.combined_file,
            format!("{}{}", key.serialize_pem(), cert.pem()),
        )
        .expect("write combined");
        issued
    }
}
