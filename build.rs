//! Generates the gRPC code from `proto/` with protox, a pure-Rust protobuf compiler, so that no
//! system `protoc` is needed; and the encoded descriptors that server reflection serves.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let descriptors = protox::compile(["proto/banking.proto", "proto/journal.proto"], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // tonic-prost-build writes a descriptor set only on the protoc path: done here.
    std::fs::write(
        out.join("banking_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // prost's codec with small buffers (see wire::Codec): tonic's default reserves 8 KiB
        // per message and direction, which thousands of calls in flight turn into megabytes.
        .codec_path("crate::wire::Codec")
        .compile_fds(descriptors)?;
    // compile_fds prints no rerun-if-changed line of its own.
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
