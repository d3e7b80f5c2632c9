//! Mutual TLS between the processes of a cluster, and who a certificate says its holder is.
//!
//! Every process of a cluster of `serve` processes (and `run --cluster`, `reset`) may hold one
//! certificate, signed by the cluster's CA, with its private key. With TLS a branch accepts a
//! connection only from a client whose certificate the CA signed, and a client accepts a branch
//! only if its certificate, signed by the same CA, names that branch (the client checks the name
//! `branch-N`, not the address it dialled). A branch's certificate is both its server
//! certificate and its client certificate towards its peers.
//!
//! # Names
//!
//! A certificate names its holder in the DNS names of its subjectAltName extension (the subject's
//! common name is not read). Names of other forms are ignored; a certificate may hold several:
//!
//! | name | who may hold it | may |
//! |---|---|---|
//! | `branch-N` | branch N | serve as branch N, and propagate to the others as branch N |
//! | `customer-N` | customer N (or a run acting for it) | call branch N as customer N only |
//! | `customers` | a run of customers (`run --cluster`) | act for every customer |
//!
//! So `run --cluster` takes one certificate: naming `customers`, or each customer it runs.
//! Admin calls (begin, collect, reset), health and reflection take any certificate the CA
//! signed.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity, Server, ServerTlsConfig};
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

use crate::error::Error;
use crate::model::{BranchId, CustomerId};
use crate::net::{self, Caller, Timeouts};

/// How long a client may take over its TLS handshake before a branch drops the connection.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One name a certificate can hold (see the module's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Name {
    /// `branch-N`.
    Branch(BranchId),
    /// `customer-N`.
    Customer(CustomerId),
    /// `customers`: every customer.
    AllCustomers,
}

impl Name {
    /// The name a DNS name of a certificate stands for, if it is one of ours.
    pub fn parse(dns: &str) -> Option<Name> {
        let number = |rest: &str| {
            // Digits only: `+3` or `03` would be a second spelling of one name.
            let canonical = !rest.is_empty()
                && rest.bytes().all(|b| b.is_ascii_digit())
                && !rest.starts_with('0');
            canonical.then(|| rest.parse::<u32>().ok()).flatten()
        };
        if dns == "customers" {
            Some(Name::AllCustomers)
        } else if let Some(rest) = dns.strip_prefix("branch-") {
            number(rest).map(|id| Name::Branch(BranchId(id)))
        } else if let Some(rest) = dns.strip_prefix("customer-") {
            number(rest).map(|id| Name::Customer(CustomerId(id)))
        } else {
            None
        }
    }
}

impl fmt::Display for Name {
    /// The name as the certificate writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Name::Branch(id) => write!(f, "branch-{}", id.0),
            Name::Customer(id) => write!(f, "customer-{}", id.0),
            Name::AllCustomers => f.write_str("customers"),
        }
    }
}

/// The DNS name a client expects in the certificate of branch `id`.
pub fn branch_name(id: BranchId) -> String {
    Name::Branch(id).to_string()
}

/// Who a certificate names: the names of ours among its DNS names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerIdentity {
    names: BTreeSet<Name>,
}

/// Why a certificate's names could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateProblem {
    /// Its DER does not parse as an X.509 certificate.
    #[error("not an X.509 certificate: {0}")]
    Malformed(String),
    /// Its subjectAltName extension does not parse (or appears twice).
    #[error("its subjectAltName does not parse: {0}")]
    BadNames(String),
}

impl PeerIdentity {
    /// The identity of the certificate in `der`.
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateProblem> {
        let (_, certificate) = x509_parser::parse_x509_certificate(der)
            .map_err(|error| CertificateProblem::Malformed(error.to_string()))?;
        let names = match certificate
            .subject_alternative_name()
            .map_err(|error| CertificateProblem::BadNames(error.to_string()))?
        {
            Some(extension) => extension
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Name::parse(dns),
                    _ => None,
                })
                .collect(),
            None => BTreeSet::new(),
        };
        Ok(Self { names })
    }

    /// An identity holding `names` (tests, and what a certificate would say).
    pub fn of(names: impl IntoIterator<Item = Name>) -> Self {
        Self {
            names: names.into_iter().collect(),
        }
    }

    /// Whether the holder may act for `customer`: it is named, or `customers` is.
    pub fn may_act_for(&self, customer: CustomerId) -> bool {
        self.names.contains(&Name::AllCustomers) || self.names.contains(&Name::Customer(customer))
    }

    /// Whether the holder is branch `branch`.
    pub fn is_branch(&self, branch: BranchId) -> bool {
        self.names.contains(&Name::Branch(branch))
    }

    /// Whether the holder is any branch of `branches`.
    pub fn is_any_branch_of<'a>(&self, mut branches: impl Iterator<Item = &'a BranchId>) -> bool {
        branches.any(|branch| self.is_branch(*branch))
    }
}

impl fmt::Display for PeerIdentity {
    /// `customer-1, customers`, or `no name of ours`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.names.is_empty() {
            return f.write_str("no name of ours");
        }
        let names: Vec<String> = self.names.iter().map(ToString::to_string).collect();
        f.write_str(&names.join(", "))
    }
}

/// Who called: the identity in the client certificate of the connection `request` came on.
/// `Ok(None)` on a connection without TLS; an error if TLS brought no certificate, or one that
/// does not parse.
pub fn caller<T>(request: &tonic::Request<T>) -> Result<Option<PeerIdentity>, CertificateProblem> {
    let Some(certificates) = request.peer_certs() else {
        return Ok(None);
    };
    let Some(first) = certificates.first() else {
        return Err(CertificateProblem::Malformed(
            "the connection brought no certificate".to_string(),
        ));
    };
    PeerIdentity::from_der(first.as_ref()).map(Some)
}

/// Who called branch `branch` with `request`, when the branch `requires` TLS: the identity of
/// its certificate. `Ok(None)` when the branch does not (everyone is trusted). Refused
/// (UNAUTHENTICATED) when TLS is required and the call brought no readable certificate.
pub fn authenticate<T>(
    branch: BranchId,
    requires: bool,
    request: &tonic::Request<T>,
) -> Result<Option<PeerIdentity>, Error> {
    if !requires {
        return Ok(None);
    }
    match caller(request) {
        Ok(Some(identity)) => Ok(Some(identity)),
        Ok(None) => Err(Error::Unauthenticated {
            branch,
            problem: "none: the call came without TLS".to_string(),
        }),
        Err(problem) => Err(Error::Unauthenticated {
            branch,
            problem: problem.to_string(),
        }),
    }
}

/// Refuses (PERMISSION_DENIED) a caller whose certificate does not let it act for `customer`.
/// Without TLS (`caller` is `None`) everyone may.
pub fn may_act_for(
    branch: BranchId,
    caller: Option<&PeerIdentity>,
    customer: CustomerId,
) -> Result<(), Error> {
    match caller {
        Some(identity) if !identity.may_act_for(customer) => Err(Error::Forbidden {
            branch,
            names: identity.to_string(),
            act: format!("act for {customer}"),
        }),
        _ => Ok(()),
    }
}

/// Refuses a propagation stream whose caller's certificate names none of `peers` (the other
/// branches of the cluster). Without TLS everyone may.
pub fn may_propagate(
    branch: BranchId,
    caller: Option<&PeerIdentity>,
    peers: &BTreeSet<BranchId>,
) -> Result<(), Error> {
    match caller {
        Some(identity) if !identity.is_any_branch_of(peers.iter()) => Err(Error::Forbidden {
            branch,
            names: identity.to_string(),
            act: "propagate: it names no other branch of the cluster".to_string(),
        }),
        _ => Ok(()),
    }
}

/// Refuses a propagation that claims to come from `origin` when the caller's certificate does
/// not name that branch. Without TLS everyone may.
pub fn may_propagate_as(
    branch: BranchId,
    caller: Option<&PeerIdentity>,
    origin: BranchId,
) -> Result<(), Error> {
    match caller {
        Some(identity) if !identity.is_branch(origin) => Err(Error::Forbidden {
            branch,
            names: identity.to_string(),
            act: format!("propagate as {origin}"),
        }),
        _ => Ok(()),
    }
}

/// One process's TLS: its certificate and key, the CA it trusts, and who its certificate names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    cert: Vec<u8>,
    key: Vec<u8>,
    ca: Vec<u8>,
    identity: PeerIdentity,
}

/// A TLS file refused, as one line: `--tls-cert a.pem: no certificate in it`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag} {path}: {problem}")]
pub struct TlsError {
    /// The flag that named the file.
    pub flag: &'static str,
    /// The file, as named.
    pub path: String,
    /// What is wrong with it.
    pub problem: String,
}

/// The PEM blocks of `bytes` with their labels, or why they do not parse.
fn pem_blocks(bytes: &[u8]) -> Result<Vec<Pem>, String> {
    Pem::iter_from_buffer(bytes)
        .map(|block| block.map_err(|error| format!("not PEM: {error}")))
        .collect()
}

impl Tls {
    /// Reads the certificate, key and CA files, and checks that each holds what it should and
    /// that the key is the certificate's.
    pub fn load(cert_path: &str, key_path: &str, ca_path: &str) -> Result<Self, TlsError> {
        let refuse = |flag: &'static str, path: &str| {
            let path = path.to_string();
            move |problem: String| TlsError {
                flag,
                path,
                problem,
            }
        };
        let read = |flag: &'static str, path: &str| {
            std::fs::read(path).map_err(|error| refuse(flag, path)(error.to_string()))
        };
        let cert = read("--tls-cert", cert_path)?;
        let key = read("--tls-key", key_path)?;
        let ca = read("--tls-ca", ca_path)?;
        let identity = Self::first_certificate(&cert)
            .map_err(refuse("--tls-cert", cert_path))?
            .ok_or_else(|| refuse("--tls-cert", cert_path)("no certificate in it".to_string()))?;
        Self::first_certificate(&ca)
            .map_err(refuse("--tls-ca", ca_path))?
            .ok_or_else(|| refuse("--tls-ca", ca_path)("no certificate in it".to_string()))?;
        let blocks = pem_blocks(&key).map_err(refuse("--tls-key", key_path))?;
        if !blocks
            .iter()
            .any(|block| block.label.ends_with("PRIVATE KEY"))
        {
            return Err(refuse("--tls-key", key_path)(
                "no private key in it".to_string(),
            ));
        }
        let tls = Self {
            cert,
            key,
            ca,
            identity,
        };
        // rustls checks the key against the certificate, and that the CA parses, as it builds
        // a server's configuration: done once here, so that a bad pair is refused at start.
        Server::builder()
            .tls_config(tls.server())
            .map_err(|error| {
                refuse("--tls-key", key_path)(format!(
                    "not usable with --tls-cert {cert_path} and --tls-ca {ca_path}: {}",
                    one_line(&error)
                ))
            })?;
        Ok(tls)
    }

    /// The identity of the first certificate in the PEM `bytes`, if there is one.
    fn first_certificate(bytes: &[u8]) -> Result<Option<PeerIdentity>, String> {
        let blocks = pem_blocks(bytes)?;
        let Some(block) = blocks.iter().find(|block| block.label == "CERTIFICATE") else {
            return Ok(None);
        };
        PeerIdentity::from_der(&block.contents)
            .map(Some)
            .map_err(|problem| problem.to_string())
    }

    /// Who this process's certificate names.
    pub fn identity(&self) -> &PeerIdentity {
        &self.identity
    }

    /// A branch's server configuration: its certificate, and a client certificate signed by
    /// the CA required of every caller.
    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert, &self.key))
            .client_ca_root(Certificate::from_pem(&self.ca))
            .timeout(HANDSHAKE_TIMEOUT)
    }

    /// A client's configuration towards branch `branch`: this process's certificate, and a
    /// server certificate signed by the CA that names `branch-N`.
    pub fn client(&self, branch: BranchId) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .identity(Identity::from_pem(&self.cert, &self.key))
            .domain_name(branch_name(branch))
    }
}

/// A lazily connected channel to branch `branch` at `addr`: over mutual TLS with `tls`, or in
/// plain text without.
pub fn channel(
    tls: Option<&Tls>,
    branch: BranchId,
    addr: SocketAddr,
    caller: Caller,
    timeouts: &Timeouts,
) -> Result<Channel, Error> {
    let Some(tls) = tls else {
        return net::tcp_channel(addr, caller, timeouts);
    };
    let uri = format!("https://{addr}");
    let endpoint = net::endpoint(uri.clone(), caller, timeouts)?
        .tls_config(tls.client(branch))
        .map_err(|source| Error::Endpoint { uri, source })?;
    Ok(endpoint.connect_lazy())
}

/// An error and its sources on one line.
fn one_line(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_one_spelling_only() {
        assert_eq!(Name::parse("branch-2"), Some(Name::Branch(BranchId(2))));
        assert_eq!(
            Name::parse("customer-13"),
            Some(Name::Customer(CustomerId(13)))
        );
        assert_eq!(Name::parse("customers"), Some(Name::AllCustomers));
        for other in [
            "branch-",
            "branch-02",
            "branch-+2",
            "branch-x",
            "customer",
            "localhost",
            "branch-0",
        ] {
            assert_eq!(Name::parse(other), None, "{other}");
        }
        assert_eq!(Name::Customer(CustomerId(3)).to_string(), "customer-3");
    }

    #[test]
    fn who_may_do_what() {
        let one = PeerIdentity::of([Name::Customer(CustomerId(1))]);
        assert!(one.may_act_for(CustomerId(1)));
        assert!(!one.may_act_for(CustomerId(2)));
        assert!(!one.is_branch(BranchId(1)));
        let all = PeerIdentity::of([Name::AllCustomers]);
        assert!(all.may_act_for(CustomerId(7)));
        let branch = PeerIdentity::of([Name::Branch(BranchId(2))]);
        assert!(branch.is_branch(BranchId(2)));
        assert!(!branch.may_act_for(CustomerId(2)));
        assert!(branch.is_any_branch_of([BranchId(1), BranchId(2)].iter()));
        assert!(!branch.is_any_branch_of([BranchId(1), BranchId(3)].iter()));
        assert_eq!(PeerIdentity::default().to_string(), "no name of ours");
        assert_eq!(
            PeerIdentity::of([Name::AllCustomers, Name::Customer(CustomerId(1))]).to_string(),
            "customer-1, customers"
        );
    }
}
