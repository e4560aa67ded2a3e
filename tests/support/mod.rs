//! Shared helpers for the integration tests (include with `mod support;`).

pub mod cloud;
#[allow(dead_code)]
pub mod cloud_glue;
pub mod crds;
pub mod keystone;
#[allow(dead_code)]
pub mod lifecycle;
#[allow(dead_code)]
pub mod mirror;
pub mod real_openstack;

/// The text of a `kubeadmConfigSpec.files[]` entry, decoding `gzip+base64`.
#[allow(dead_code)]
pub fn kubeadm_file_content(file: &serde_json::Value) -> String {
    use base64::Engine;
    use std::io::Read;
    let content = file["content"].as_str().expect("file content");
    match file["encoding"].as_str() {
        None => content.to_string(),
        Some("gzip+base64") => {
            let gz = base64::engine::general_purpose::STANDARD
                .decode(content)
                .expect("base64");
            let mut text = String::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_string(&mut text)
                .expect("gzip");
            text
        }
        Some(other) => panic!("unexpected encoding {other}"),
    }
}
