//! Documentation that must not drift from the code.

use std::path::Path;

#[test]
fn configuration_reference_is_generated_from_the_schema() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
    let on_disk = std::fs::read_to_string(&path).expect("docs/configuration.md");
    let generated = scs_capi::settings::reference_markdown();
    assert!(
        on_disk == generated,
        "docs/configuration.md is stale: run `cargo run -- schema --format markdown > docs/configuration.md`"
    );
    for key in scs_capi::settings::layers::known_keys() {
        assert!(
            on_disk.contains(&format!("| `{key}` |")),
            "`{key}` is not documented"
        );
    }
    // Every documented key exists.
    for line in on_disk.lines().filter(|l| l.starts_with("| `")) {
        let key = line.trim_start_matches("| `").split('`').next().unwrap();
        assert!(
            scs_capi::settings::layers::known_keys()
                .iter()
                .any(|k| k == key),
            "documented key `{key}` does not exist"
        );
    }
}

#[test]
fn readme_opens_with_the_two_commands_and_ci_runs_the_second() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let commands: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("```sh"))
        .skip(1)
        .take(2)
        .map(|l| l.split('#').next().unwrap().trim())
        .collect();
    assert_eq!(
        commands,
        ["cargo run --release -- render --example", "scripts/test.sh"]
    );
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == "exec scripts/test.sh"),
        "{ci}"
    );
}
