//! Generates the Pub/Sub API's messages, client and server from the
//! vendored proto, compiled by protox (no `protoc` needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const PROTO: &str = "proto/pubsub_api.proto";
    println!("cargo:rerun-if-changed={PROTO}");
    let descriptors = protox::compile([PROTO], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
