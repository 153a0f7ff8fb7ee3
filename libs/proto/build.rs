//! Compiles every contract under `proto/` with protox (no system protoc) and writes the encoded
//! descriptor set next to the generated code, for gRPC reflection and the REST gateway.
use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let third_party = proto_root.join("third_party");

    let mut files = Vec::new();
    collect_protos(&proto_root.join("salescompass"), &mut files)?;
    files.sort();
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let mut compiler = protox::Compiler::new([&proto_root, &third_party])?;
    compiler
        .include_source_info(true)
        .include_imports(true)
        .open_files(&files)?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // protox's compile_fds ignores file_descriptor_set_path, so the set is written here. Only the
    // compiler's own encoding keeps extension options (google.api.http, field_behavior): a
    // prost_types round trip drops them, and the gateway routes from them.
    fs::write(
        out_dir.join("descriptor_set.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    let fds = compiler.file_descriptor_set();

    // Type names let event payloads be packed as google.protobuf.Any.
    let mut config = prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds_with_config(fds, config)?;
    Ok(())
}

fn collect_protos(dir: &PathBuf, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            out.push(path);
        }
    }
    Ok(())
}
