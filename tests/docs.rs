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

/// The user-facing documents (release notes, README, docs/, terraform's README).
fn user_docs() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![
        root.join("README.md"),
        root.join("Release-Notes-R4.md"),
        root.join("terraform/README.md"),
    ];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
        .into_iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.display().to_string(), text)
        })
        .collect()
}

/// Backticked words that look like settings keys (`snake_case`) in `text`.
fn backticked_snake_words(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            w.contains('_')
                && w.starts_with(|c: char| c.is_ascii_lowercase())
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn every_setting_the_release_notes_name_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let notes = std::fs::read_to_string(root.join("Release-Notes-R4.md")).unwrap();
    // Settings of the tool, and the terraform variables of the management server.
    let mut known = scs_capi::settings::layers::known_keys().to_vec();
    let tf = std::fs::read_to_string(root.join("terraform/variables.tf")).unwrap();
    known.extend(
        tf.lines()
            .filter_map(|l| l.trim().strip_prefix("variable \""))
            .filter_map(|l| l.split('"').next())
            .map(str::to_string),
    );
    // ... and the tests that hold a claim (`fn NAME` under #[test] in tests/*.rs).
    for entry in std::fs::read_dir(root.join("tests")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let mut lines = text.lines();
            while let Some(l) = lines.next() {
                if l.trim() == "#[test]" {
                    let f = lines.by_ref().find(|l| l.trim_start().starts_with("fn "));
                    if let Some(name) = f.and_then(|l| l.trim_start()[3..].split('(').next()) {
                        known.push(name.to_string());
                    }
                }
            }
        }
    }
    let named = backticked_snake_words(&notes);
    assert!(named.len() >= 15, "the notes name only {named:?}");
    for word in &named {
        assert!(
            known.iter().any(|k| k == word),
            "Release-Notes-R4.md names `{word}`, which is neither a setting, a terraform \
             variable nor a test"
        );
    }
    for required in [
        "cilium_binaries",
        "calico_version",
        "restrict_kubeapi",
        "kubernetes_version",
        "etcd_defrag",
    ] {
        assert!(
            named.iter().any(|w| w == required),
            "the notes must cover `{required}`"
        );
    }
    assert!(notes.contains("March 2023"), "R4's release date");
}

#[test]
fn documented_commands_exist() {
    use clap::CommandFactory;
    let cli = scs_capi::cli::Cli::command();
    let mut checked = 0;
    for (file, text) in user_docs() {
        // Only code counts (fenced blocks and `inline` spans): prose such as "the scs-capi
        // defaults file" is not a command line.
        let mut fenced = false;
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                continue;
            }
            let mut rest = line;
            let mut offset = 0;
            while let Some(at) = rest.find("scs-capi ") {
                let in_code = fenced || line[..offset + at].matches('`').count() % 2 == 1;
                let words: Vec<&str> = rest[at + "scs-capi ".len()..]
                    .split(|c: char| c.is_whitespace() || c == '`')
                    .filter(|w| !w.is_empty())
                    .take(2)
                    .collect();
                offset += at + "scs-capi ".len();
                rest = &rest[at + "scs-capi ".len()..];
                if !in_code {
                    continue;
                }
                let Some(first) = words.first() else { continue };
                if first.starts_with('-')
                    || !first.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                {
                    continue;
                }
                let sub = cli.find_subcommand(first).unwrap_or_else(|| {
                    panic!("{file}:{}: `scs-capi {first}` is not a command", i + 1)
                });
                // Nested commands (`mgmt init`, `settings import`) must exist too.
                if sub.has_subcommands() {
                    let second = words.get(1).copied().unwrap_or_default();
                    if second.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                        && !second.is_empty()
                    {
                        assert!(
                            sub.find_subcommand(second).is_some(),
                            "{file}:{}: `scs-capi {first} {second}` is not a command",
                            i + 1
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 30, "only {checked} command mentions found");
}

/// Every `scs-capi ...` command line in a fenced block of the user docs parses with the
/// CLI as written: flags and arguments exist and required ones are there (a doc that says
/// `create-cluster demo.yaml` where `-f` is needed fails here, not at the user's prompt).
#[test]
fn documented_command_lines_parse() {
    use clap::Parser;
    let mut checked = 0;
    for (file, text) in user_docs() {
        let mut fenced = false;
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                continue;
            }
            let command = line.trim_start().trim_start_matches("$ ");
            if !fenced || !command.starts_with("scs-capi ") {
                continue;
            }
            // The shell's part ends the command: comments, redirections, pipes, lists.
            let end = [" #", "|", ">", "&&", ";"]
                .iter()
                .filter_map(|s| command.find(s))
                .min()
                .unwrap_or(command.len());
            let argv: Vec<&str> = command[..end].split_whitespace().collect();
            if let Err(e) = scs_capi::cli::Cli::try_parse_from(&argv) {
                panic!(
                    "{file}:{}: `{}` does not parse:\n{e}",
                    i + 1,
                    argv.join(" ")
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} command lines found");
}
