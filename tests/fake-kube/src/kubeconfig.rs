//! Kubeconfig files for the fake servers, shaped like the ones CAPI writes
//! (cluster `<name>`, user `<name>-admin`, context `<name>-admin@<name>`), with an
//! `http://` server and a bearer token instead of client certificates (the fake serves
//! plain HTTP; kube-rs and kubectl accept that).

use std::io::Write;
use std::path::Path;

pub fn render(cluster: &str, server: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {cluster}\n  cluster:\n    server: {server}\n\
         contexts:\n- name: {cluster}-admin@{cluster}\n  context:\n    cluster: {cluster}\n    user: {cluster}-admin\n\
         current-context: {cluster}-admin@{cluster}\npreferences: {{}}\nusers:\n- name: {cluster}-admin\n  user:\n    token: {token}\n"
    )
}

/// Writes `text` to `path`, readable by the owner only (it holds a token).
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capi_shaped_names_and_private_file() {
        let k = render("demo", "http://127.0.0.1:1234", "tok");
        assert!(k.contains("current-context: demo-admin@demo"));
        assert!(k.contains("server: http://127.0.0.1:1234"));
        let v: serde_json::Value = serde_saphyr::from_str(&k).unwrap();
        assert_eq!(v["users"][0]["user"]["token"], "tok");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kc");
        write_private(&p, &k).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}
