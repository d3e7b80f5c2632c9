//! Mutual TLS between `serve` processes and their callers: certificates made here (a CA, one
//! certificate per branch, the customers'), three branches on 127.0.0.1/.2/.3 over TLS, a whole
//! run that equals the run without TLS, and the refusals: a customer acting for another, a
//! propagation from something that is not a branch, a certificate of another CA, a branch that
//! is not the one dialled, a plaintext client, and bad flags. Every process is killed at the end
//! of its test.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::time::Duration;

use common::{examples_dir, expected};
use lamport_bank::model::ClockModel;
use lamport_bank::wire::pb::{
    self, ChangeRequest, PropagateRequest, QueryRequest, branch_client::BranchClient,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType,
};
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const HOSTS: [&str; 3] = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];

/// How long a test call may take: every wait is bounded.
const CALL: Duration = Duration::from_secs(20);

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A free port on `host`, found by binding port 0 and letting it go.
fn free_address(host: &str) -> SocketAddr {
    let listener = TcpListener::bind((host, 0)).expect("a free port");
    listener.local_addr().expect("bound")
}

/// A certificate authority that signs certificates into a folder.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// The CA's certificate, PEM.
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("a key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).expect("self-signed").pem();
        Self {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// A certificate naming `names` (DNS names) and `ips`, for both client and server use.
    fn sign(&self, names: &[&str], ips: &[IpAddr]) -> (String, String) {
        let key = KeyPair::generate().expect("a key");
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.issuer).expect("signed");
        (cert.pem(), key.serialize_pem())
    }
}

/// Files of one certificate: `NAME.pem`, `NAME.key` in the folder, beside `ca.pem`.
struct Files {
    cert: String,
    key: String,
    ca: String,
}

impl Files {
    fn write(dir: &Path, name: &str, (cert, key): (String, String), ca: &Ca) -> Self {
        let path = |file: String| {
            let path = dir.join(file);
            path.display().to_string()
        };
        let files = Files {
            cert: path(format!("{name}.pem")),
            key: path(format!("{name}.key")),
            ca: path(format!("{name}-ca.pem")),
        };
        std::fs::write(&files.cert, cert).expect("written");
        std::fs::write(&files.key, key).expect("written");
        std::fs::write(&files.ca, &ca.pem).expect("written");
        files
    }

    fn flags(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert.clone(),
            "--tls-key".into(),
            self.key.clone(),
            "--tls-ca".into(),
            self.ca.clone(),
        ]
    }

    /// A client configuration with this certificate towards branch `id`.
    fn client(&self, id: u32) -> ClientTlsConfig {
        let read = |path: &str| std::fs::read(path).expect("readable");
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&self.ca)))
            .identity(Identity::from_pem(read(&self.cert), read(&self.key)))
            .domain_name(format!("branch-{id}"))
    }
}

/// One `serve` process and what it has said so far; killed when dropped.
struct Server {
    child: Child,
    stderr: BufReader<ChildStderr>,
    said: String,
}

impl Server {
    /// Reads the server's log until a line contains `wanted` (the server's own start-up
    /// bounds this: it says it, or it ends).
    fn wait_for(&mut self, wanted: &str) {
        loop {
            let mut line = String::new();
            let read = self.stderr.read_line(&mut line).expect("readable");
            assert!(
                read > 0,
                "the server ended before saying {wanted:?}: {}",
                self.said
            );
            self.said.push_str(&line);
            if line.contains(wanted) {
                return;
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(file: &Path, id: usize, extra: &[String]) -> Server {
    let mut child = binary()
        .env("RUST_LOG", "lamport_bank=info")
        .arg("serve")
        .arg("--cluster")
        .arg(file)
        .args(["--id", &id.to_string()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let stderr = BufReader::new(child.stderr.take().expect("piped"));
    let mut server = Server {
        child,
        stderr,
        said: String::new(),
    };
    server.wait_for("listening");
    server
}

/// Three branches over mutual TLS, with the certificates of everyone a test may need.
struct TlsCluster {
    file: PathBuf,
    addresses: Vec<SocketAddr>,
    branches: Vec<Files>,
    /// Names `customers`: may act for every customer.
    customers: Files,
    /// Names `customer-1` only.
    customer_one: Files,
    /// Names `customers` and `branch-2`, but signed by another CA.
    stranger: Files,
    servers: Vec<Server>,
    dir: tempfile::TempDir,
}

impl TlsCluster {
    fn start(balance: i64, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let addresses: Vec<SocketAddr> = HOSTS.iter().map(|host| free_address(host)).collect();
        let mut text = String::from("clocks = \"original\"\n");
        for (index, address) in addresses.iter().enumerate() {
            text.push_str(&format!(
                "[[branch]]\nid = {}\naddress = \"{address}\"\nbalance = {balance}\n",
                index + 1
            ));
        }
        let file = dir.path().join("cluster.toml");
        std::fs::write(&file, text).expect("written");
        let ca = Ca::new("lamport-bank test CA");
        let branches: Vec<Files> = addresses
            .iter()
            .enumerate()
            .map(|(index, address)| {
                let name = format!("branch-{}", index + 1);
                let signed = ca.sign(&[&name], &[address.ip()]);
                Files::write(dir.path(), &name, signed, &ca)
            })
            .collect();
        let customers = Files::write(dir.path(), "customers", ca.sign(&["customers"], &[]), &ca);
        let customer_one =
            Files::write(dir.path(), "customer-1", ca.sign(&["customer-1"], &[]), &ca);
        let other = Ca::new("another CA");
        let stranger = Files::write(
            dir.path(),
            "stranger",
            other.sign(&["customers", "branch-2"], &[]),
            &other,
        );
        let servers = branches
            .iter()
            .enumerate()
            .map(|(index, files)| {
                let mut flags = files.flags();
                flags.extend(extra.iter().map(|flag| flag.to_string()));
                start(&file, index + 1, &flags)
            })
            .collect();
        Self {
            file,
            addresses,
            branches,
            customers,
            customer_one,
            stranger,
            servers,
            dir,
        }
    }

    /// `lamport-bank ARGS --cluster FILE` with `files`'s certificate.
    fn command(&self, args: &[&str], files: &Files) -> Output {
        binary()
            .args(args)
            .arg("--cluster")
            .arg(&self.file)
            .args(files.flags())
            .output()
            .expect("the binary runs")
    }

    /// A gRPC client of branch `id` holding `files`'s certificate.
    async fn client(&self, id: u32, files: &Files) -> BranchClient<Channel> {
        let address = self.addresses[id as usize - 1];
        let channel = Endpoint::from_shared(format!("https://{address}"))
            .expect("a URI")
            .connect_timeout(CALL)
            .tls_config(files.client(id))
            .expect("a TLS config")
            .connect_lazy();
        BranchClient::new(channel)
    }
}

fn stamp(message: u64) -> Option<pb::Stamp> {
    Some(pb::Stamp {
        clock: 0,
        vector: Vec::new(),
        message,
    })
}

fn deposit(customer: u32) -> ChangeRequest {
    ChangeRequest {
        customer_id: customer,
        event_id: 900 + u64::from(customer),
        money: 5,
        stamp: stamp(900),
        ..Default::default()
    }
}

/// A call with a deadline: its status, or the reply.
async fn bounded<T>(
    call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, tonic::Status> {
    tokio::time::timeout(CALL, call)
        .await
        .expect("answered within the deadline")
        .map(tonic::Response::into_inner)
}

/// A whole run over mutual TLS, with one certificate naming `customers`, gives exactly the
/// expected output (the run without TLS); `reset` over TLS works; the concurrent run's trace
/// passes `check`.
#[test]
fn a_run_over_mutual_tls_equals_the_expected_output() {
    let mut cluster = TlsCluster::start(400, &["--allow-reset"]);
    for server in &mut cluster.servers {
        server.wait_for("mutual TLS: each caller is who its certificate names");
        assert!(!server.said.contains("no TLS"), "{}", server.said);
    }
    let input = examples_dir().join("sample.json").display().to_string();
    let output = cluster.command(&["run", &input], &cluster.customers);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let got: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(got, expected("sample", ClockModel::Original));

    let reset = cluster.command(&["reset"], &cluster.customers);
    assert_eq!(reset.status.code(), Some(0), "{}", text(&reset.stderr));
    let trace = cluster.dir.path().join("trace.jsonl").display().to_string();
    let concurrent = cluster.command(
        &["run", &input, "--concurrent", "--trace", &trace],
        &cluster.customers,
    );
    assert_eq!(
        concurrent.status.code(),
        Some(0),
        "{}",
        text(&concurrent.stderr)
    );
    let check = binary().args(["check", &trace]).output().expect("runs");
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));

    // A certificate that names only customer 1 is refused before the run, in one line.
    let reset = cluster.command(&["reset"], &cluster.customers);
    assert_eq!(reset.status.code(), Some(0), "{}", text(&reset.stderr));
    let refused = cluster.command(&["run", &input], &cluster.customer_one);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(
        text(&refused.stderr),
        format!(
            "--tls-cert {}: it names customer-1, so it may not act for C2 of {input} (it needs \
             customer-2 or customers)\n",
            cluster.customer_one.cert
        )
    );
    // A run with a certificate of another CA cannot reach the branches.
    let stranger = cluster.command(&["run", &input], &cluster.stranger);
    assert_eq!(
        stranger.status.code(),
        Some(4),
        "{}",
        text(&stranger.stderr)
    );
}

/// Each refusal of a TLS branch, called by a small gRPC client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_are_who_their_certificates_name() {
    let cluster = TlsCluster::start(400, &[]);

    // A customer's certificate acting for another customer, at that customer's branch.
    let mut one_at_two = cluster.client(2, &cluster.customer_one).await;
    let refused = bounded(one_at_two.deposit(deposit(2)))
        .await
        .expect_err("refused");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert_eq!(
        refused.message(),
        "B2: a certificate naming customer-1 may not act for C2"
    );
    let query = QueryRequest {
        customer_id: 2,
        event_id: 1,
        stamp: stamp(1),
        ..Default::default()
    };
    let refused = bounded(one_at_two.query(query)).await.expect_err("refused");
    assert_eq!(refused.code(), Code::PermissionDenied);
    // At its own branch it gets past the certificate: refused only because no run has begun.
    let mut one_at_one = cluster.client(1, &cluster.customer_one).await;
    let not_begun = bounded(one_at_one.deposit(deposit(1)))
        .await
        .expect_err("no run");
    assert_eq!(not_begun.code(), Code::FailedPrecondition, "{not_begun:?}");
    // A certificate for every customer still cannot make a customer act at another's branch.
    let mut all_at_one = cluster.client(1, &cluster.customers).await;
    let elsewhere = bounded(all_at_one.deposit(deposit(2)))
        .await
        .expect_err("not C2's branch");
    assert_eq!(elsewhere.code(), Code::PermissionDenied);
    assert_eq!(elsewhere.message(), "B1 serves only C1, not C2");

    // A propagation from a customer's certificate.
    let propagation = |origin: u32| PropagateRequest {
        origin_id: origin,
        event_id: 1,
        operation: pb::Operation::Deposit.into(),
        money: 10,
        stamp: stamp(1),
        sequence: 1,
        acknowledged_through: 0,
        customer_id: 1,
        writes: vec![pb::WriteCount {
            branch_id: origin,
            count: 1,
        }],
    };
    let refused = bounded(all_at_one.propagate(tokio_stream::iter([propagation(2)])))
        .await
        .expect_err("refused");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert_eq!(
        refused.message(),
        "B1: a certificate naming customers may not propagate: it names no other branch of the \
         cluster"
    );
    // A branch's certificate propagating as another branch: its stream ends with the refusal.
    let mut three_at_one = cluster.client(1, &cluster.branches[2]).await;
    let mut acks = bounded(three_at_one.propagate(tokio_stream::iter([propagation(2)])))
        .await
        .expect("a stream from a branch");
    let refused = tokio::time::timeout(CALL, acks.message())
        .await
        .expect("bounded")
        .expect_err("refused");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert_eq!(
        refused.message(),
        "B1: a certificate naming branch-3 may not propagate as B2"
    );

    // A client whose certificate another CA signed cannot get through the handshake.
    let mut stranger = cluster.client(2, &cluster.stranger).await;
    let refused = bounded(stranger.deposit(deposit(2)))
        .await
        .expect_err("no handshake");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");

    // A branch that is not the one dialled: branch 1's certificate where branch 2 is expected.
    let address = cluster.addresses[0];
    let channel = Endpoint::from_shared(format!("https://{address}"))
        .expect("a URI")
        .tls_config(cluster.customers.client(2))
        .expect("a TLS config")
        .connect_lazy();
    let refused = bounded(BranchClient::new(channel).deposit(deposit(1)))
        .await
        .expect_err("not branch-2");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");

    // A branch whose certificate another CA signed (though it names branch-2): a client of
    // the cluster's CA does not get through the handshake.
    let rogue_address = free_address("127.0.0.2");
    let rogue_file = cluster.dir.path().join("rogue.toml");
    std::fs::write(
        &rogue_file,
        format!("[[branch]]\nid = 2\naddress = \"{rogue_address}\"\nbalance = 400\n"),
    )
    .expect("written");
    let _rogue = start(&rogue_file, 2, &cluster.stranger.flags());
    let channel = Endpoint::from_shared(format!("https://{rogue_address}"))
        .expect("a URI")
        .tls_config(cluster.customers.client(2))
        .expect("a TLS config")
        .connect_lazy();
    let refused = bounded(BranchClient::new(channel).deposit(deposit(2)))
        .await
        .expect_err("not our CA");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");

    // A plaintext client.
    let channel = Endpoint::from_shared(format!("http://{}", cluster.addresses[0]))
        .expect("a URI")
        .connect_lazy();
    let refused = bounded(BranchClient::new(channel).deposit(deposit(1)))
        .await
        .expect_err("no TLS");
    assert!(
        matches!(
            refused.code(),
            Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled
        ),
        "{refused:?}"
    );
}

/// Without TLS, `serve` says at start that it trusts everyone; bad TLS flags and files are
/// refused in one line with exit status 2.
#[test]
fn tls_flags_are_checked_and_plain_text_is_announced() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let address = free_address("127.0.0.1");
    let file = dir.path().join("cluster.toml");
    std::fs::write(
        &file,
        format!("[[branch]]\nid = 1\naddress = \"{address}\"\nbalance = 4\n"),
    )
    .expect("written");
    let mut plain = start(&file, 1, &[]);
    plain.wait_for(&format!(
        "no TLS: anyone who can reach {address} can act as any customer or branch"
    ));
    drop(plain);

    let ca = Ca::new("CA");
    let branch = Files::write(dir.path(), "branch-1", ca.sign(&["branch-1"], &[]), &ca);
    let customer = Files::write(dir.path(), "customer-1", ca.sign(&["customer-1"], &[]), &ca);
    let empty = dir.path().join("empty.pem").display().to_string();
    std::fs::write(&empty, "").expect("written");
    let missing = dir.path().join("missing.pem").display().to_string();
    let file = file.display().to_string();
    let serve = |flags: &[&str]| {
        let output = binary()
            .args(["serve", "--cluster", &file, "--id", "1"])
            .args(flags)
            .output()
            .expect("runs");
        (output.status.code(), text(&output.stderr))
    };
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["--tls-cert", &branch.cert],
            "--tls-cert: mutual TLS takes all three of --tls-cert, --tls-key and --tls-ca"
                .to_string(),
        ),
        (
            vec!["--tls-cert", &branch.cert, "--tls-key", &branch.key],
            "--tls-cert and --tls-key: mutual TLS takes all three of --tls-cert, --tls-key and \
             --tls-ca"
                .to_string(),
        ),
        (
            vec![
                "--tls-cert",
                &empty,
                "--tls-key",
                &branch.key,
                "--tls-ca",
                &branch.ca,
            ],
            format!("--tls-cert {empty}: no certificate in it"),
        ),
        (
            vec![
                "--tls-cert",
                &branch.cert,
                "--tls-key",
                &branch.cert,
                "--tls-ca",
                &branch.ca,
            ],
            format!("--tls-key {}: no private key in it", branch.cert),
        ),
        (
            vec![
                "--tls-cert",
                &branch.cert,
                "--tls-key",
                &branch.key,
                "--tls-ca",
                &missing,
            ],
            format!("--tls-ca {missing}: No such file or directory (os error 2)"),
        ),
        (
            vec![
                "--tls-cert",
                &customer.cert,
                "--tls-key",
                &customer.key,
                "--tls-ca",
                &customer.ca,
            ],
            format!(
                "--tls-cert {}: it names customer-1, not branch-1 (branch 1)",
                customer.cert
            ),
        ),
    ];
    for (flags, line) in cases {
        assert_eq!(serve(&flags), (Some(2), format!("{line}\n")), "{flags:?}");
    }
    // A key that is not the certificate's.
    let (code, said) = serve(&[
        "--tls-cert",
        &branch.cert,
        "--tls-key",
        &customer.key,
        "--tls-ca",
        &branch.ca,
    ]);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.starts_with(&format!("--tls-key {}: not usable with", customer.key)),
        "{said}"
    );
    assert_eq!(said.lines().count(), 1, "{said}");
}
