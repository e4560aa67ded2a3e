//! One way to run external programs (`clusterctl`, `cilium`, `helm`, ...): the [`Runner`]
//! trait, the real [`ProcessRunner`], and [`ScriptedRunner`] for tests of code that calls
//! programs.
//!
//! Rules every invocation follows, enforced here rather than by each caller:
//! - secrets travel only in the environment ([`EnvValue::Secret`]); an invocation whose
//!   arguments contain a secret's value is refused before anything starts (argv is visible
//!   to every user of the machine in `/proc`);
//! - what is logged ([`Invocation::display`]) and what errors quote (the output tail) has
//!   every secret value replaced by `<redacted>`;
//! - every run has a timeout; the process (and, through `kill_on_drop`, nothing of it) is
//!   left behind when it expires;
//! - the exit code is returned as data ([`Output::code`]); [`Output::check`] turns a
//!   failure into an error carrying the code and the last lines of stderr/stdout.
//!
//! It does not decide which programs to run or with which arguments (see
//! [`super::clusterctl`]), nor install them (see [`super::install`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio::io::AsyncReadExt;

use super::MgmtError;
use crate::cloud::Secret;
use crate::ui::Progress;

/// At most this much of each output stream is kept (the end of it).
const KEEP_BYTES: usize = 1024 * 1024;
/// Lines of output quoted in an error.
const TAIL_LINES: usize = 20;

/// An environment value: plain (logged as is) or secret (logged as `<redacted>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Plain(String),
    Secret(Secret),
}

impl EnvValue {
    fn expose(&self) -> &str {
        match self {
            EnvValue::Plain(v) => v,
            EnvValue::Secret(s) => s.expose(),
        }
    }
}

/// One run of a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// A name looked up in the runner's bin directory, then on `PATH`; or a path.
    pub program: String,
    pub args: Vec<String>,
    /// Set on top of the inherited environment.
    pub env: Vec<(String, EnvValue)>,
    pub timeout: Duration,
}

impl Invocation {
    pub fn new(program: impl Into<String>) -> Self {
        Invocation {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            timeout: Duration::from_secs(300),
        }
    }

    #[must_use]
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), EnvValue::Plain(value.into())));
        self
    }

    #[must_use]
    pub fn secret_env(mut self, key: impl Into<String>, value: Secret) -> Self {
        self.env.push((key.into(), EnvValue::Secret(value)));
        self
    }

    #[must_use]
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The secret values of this invocation (for redaction).
    pub fn secrets(&self) -> Vec<&str> {
        self.env
            .iter()
            .filter_map(|(_, v)| match v {
                EnvValue::Secret(s) if !s.expose().is_empty() => Some(s.expose()),
                _ => None,
            })
            .collect()
    }

    /// `KEY=value KEY2=<redacted> program 'arg with space'`: what is logged and printed by
    /// `--dry-run`. Secrets never appear.
    pub fn display(&self) -> String {
        let mut parts: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| match v {
                EnvValue::Plain(v) => format!("{k}={}", shell_quote(v)),
                EnvValue::Secret(_) => format!("{k}=<redacted>"),
            })
            .collect();
        parts.push(shell_quote(&self.program));
        parts.extend(self.args.iter().map(|a| shell_quote(a)));
        redact(&parts.join(" "), &self.secrets())
    }

    /// The command line without the environment (`clusterctl init --core ...`).
    pub fn command_line(&self) -> String {
        let mut parts = vec![shell_quote(&self.program)];
        parts.extend(self.args.iter().map(|a| shell_quote(a)));
        redact(&parts.join(" "), &self.secrets())
    }

    /// Refuses an invocation that would put a secret on the command line.
    ///
    /// # Errors
    /// When any argument contains the value of a secret environment entry.
    pub fn check_no_secret_in_argv(&self) -> Result<(), MgmtError> {
        for (key, v) in &self.env {
            if let EnvValue::Secret(s) = v {
                let s = s.expose();
                if !s.is_empty() && self.args.iter().any(|a| a.contains(s)) {
                    return Err(MgmtError::new(format!(
                        "refusing to run `{}`: the value of secret `{key}` would be on its \
                         command line, where every user of this machine can read it",
                        self.program
                    ))
                    .hint("pass the secret only through the environment (this is a bug in scs-capi; please report it)"));
                }
            }
        }
        Ok(())
    }
}

/// What a finished program left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
    /// The invocation's [`Invocation::command_line`], for messages.
    pub command: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// `Ok(self)` on exit code 0; otherwise an error naming the command, the exit code and
    /// the last lines of its output (already redacted by the runner).
    ///
    /// # Errors
    /// When the program did not exit with 0.
    pub fn check(self) -> Result<Output, MgmtError> {
        if self.success() {
            return Ok(self);
        }
        let how = match self.code {
            Some(c) => format!("exited with code {c}"),
            None => "was ended by a signal".to_string(),
        };
        let tail = tail_of(&self.stderr, &self.stdout);
        let mut msg = format!("`{}` {how}", self.command);
        if !tail.is_empty() {
            msg.push_str(":\n");
            msg.push_str(&tail);
        }
        Err(MgmtError::new(msg).hint(
            "the program's own message is above; fix its cause and run again (every step is \
             safe to repeat)",
        ))
    }
}

/// The last [`TAIL_LINES`] lines of stderr, or of stdout when stderr is empty, indented.
fn tail_of(stderr: &str, stdout: &str) -> String {
    let text = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(TAIL_LINES);
    lines[start..]
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs programs. Implementations never put secrets in logs or errors.
pub trait Runner: Send + Sync {
    /// Runs `inv` to its end or its timeout and returns its output whatever the exit code.
    /// `progress` gets one line with the redacted command before it starts.
    ///
    /// # Errors
    /// The program cannot be found or started, a secret would be in argv, or the timeout
    /// expired (the process is killed).
    fn run<'a>(
        &'a self,
        inv: &'a Invocation,
        progress: &'a dyn Progress,
    ) -> BoxFuture<'a, Result<Output, MgmtError>>;
}

/// Runs real processes; programs are looked up in `bin_dir` first, then on `PATH`.
#[derive(Debug, Clone, Default)]
pub struct ProcessRunner {
    pub bin_dir: Option<PathBuf>,
}

impl ProcessRunner {
    pub fn new(bin_dir: Option<PathBuf>) -> Self {
        ProcessRunner { bin_dir }
    }

    /// The file that would run for `program`.
    ///
    /// # Errors
    /// When it is neither in the bin directory nor on `PATH`.
    pub fn resolve(&self, program: &str) -> Result<PathBuf, MgmtError> {
        if program.contains('/') {
            return Ok(PathBuf::from(program));
        }
        let in_bin = self.bin_dir.as_ref().map(|d| d.join(program));
        if let Some(p) = in_bin.as_ref().filter(|p| is_executable(p)) {
            return Ok(p.clone());
        }
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                let p = dir.join(program);
                if is_executable(&p) {
                    return Ok(p);
                }
            }
        }
        let where_ = match &self.bin_dir {
            Some(d) => format!("in `{}` or on `PATH`", d.display()),
            None => "on `PATH`".to_string(),
        };
        Err(
            MgmtError::new(format!("`{program}` was not found {where_}")).hint(
                "run `scs-capi mgmt init` to install the pinned tools, or install it yourself",
            ),
        )
    }

    async fn run_inner(
        &self,
        inv: &Invocation,
        progress: &dyn Progress,
    ) -> Result<Output, MgmtError> {
        inv.check_no_secret_in_argv()?;
        let path = self.resolve(&inv.program)?;
        let secrets = inv.secrets();
        progress.message(&format!("running {}", inv.display()));
        let mut cmd = tokio::process::Command::new(&path);
        cmd.args(&inv.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for k in cloud_env_names() {
            cmd.env_remove(k);
        }
        for (k, v) in &inv.env {
            cmd.env(k, v.expose());
        }
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|e| {
            MgmtError::new(format!(
                "cannot start `{}` ({}): {e}",
                inv.program,
                path.display()
            ))
            .hint("check that the file is an executable for this machine")
            .source(e)
        })?;
        let out = child.stdout.take().map(read_tail);
        let err = child.stderr.take().map(read_tail);
        let waited = tokio::time::timeout(inv.timeout, async {
            let status = child.wait().await;
            let stdout = match out {
                Some(f) => f.await,
                None => Vec::new(),
            };
            let stderr = match err {
                Some(f) => f.await,
                None => Vec::new(),
            };
            (status, stdout, stderr)
        })
        .await;
        let command = inv.command_line();
        let Ok((status, stdout, stderr)) = waited else {
            // Dropping the child kills it (kill_on_drop); do it now and reap it.
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(MgmtError::new(format!(
                "`{command}` did not finish within {}s and was stopped",
                inv.timeout.as_secs()
            ))
            .hint("check what it waits for (network, the management cluster), then run again"));
        };
        let status = status
            .map_err(|e| MgmtError::new(format!("cannot wait for `{command}`: {e}")).source(e))?;
        let text = |b: Vec<u8>| redact(&String::from_utf8_lossy(&b), &secrets);
        Ok(Output {
            code: status.code(),
            stdout: text(stdout),
            stderr: text(stderr),
            duration: started.elapsed(),
            command,
        })
    }
}

impl Runner for ProcessRunner {
    fn run<'a>(
        &'a self,
        inv: &'a Invocation,
        progress: &'a dyn Progress,
    ) -> BoxFuture<'a, Result<Output, MgmtError>> {
        Box::pin(self.run_inner(inv, progress))
    }
}

/// Reads a stream to its end, keeping the last [`KEEP_BYTES`].
fn read_tail<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    mut r: R,
) -> BoxFuture<'static, Vec<u8>> {
    Box::pin(async move {
        let mut kept = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    kept.extend_from_slice(&buf[..n]);
                    if kept.len() > 2 * KEEP_BYTES {
                        kept.drain(..kept.len() - KEEP_BYTES);
                    }
                }
            }
        }
        if kept.len() > KEEP_BYTES {
            kept.drain(..kept.len() - KEEP_BYTES);
        }
        kept
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `text` with every secret value replaced by `<redacted>` (empty secrets are ignored).
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s, "<redacted>");
    }
    out
}

/// POSIX shell quoting for display: bare when only safe characters, else single quotes.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@+%".contains(&b));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The names of this process's `OS_*` variables (`OS_PASSWORD`,
/// `OS_APPLICATION_CREDENTIAL_SECRET`, `OS_TOKEN`...), which no program this tool runs
/// needs: every spawn removes them, so a cloud password never reaches clusterctl, cilium,
/// qemu-img or whatever they start in turn.
pub fn cloud_env_names() -> Vec<std::ffi::OsString> {
    std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| k.as_encoded_bytes().starts_with(b"OS_"))
        .collect()
}

/// A [`Runner`] for tests of code that runs programs: records every invocation and answers
/// with the next scripted [`Output`] (or exit 0 with empty output when the script is used
/// up). It starts nothing.
#[derive(Default)]
pub struct ScriptedRunner {
    pub calls: Mutex<Vec<Invocation>>,
    answers: Mutex<std::collections::VecDeque<(Option<i32>, String, String)>>,
}

impl ScriptedRunner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues the answer to the next call: exit code, stdout, stderr.
    pub fn answer(&self, code: i32, stdout: &str, stderr: &str) {
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back((Some(code), stdout.into(), stderr.into()));
    }

    /// The invocations so far.
    pub fn recorded(&self) -> Vec<Invocation> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Runner for ScriptedRunner {
    fn run<'a>(
        &'a self,
        inv: &'a Invocation,
        progress: &'a dyn Progress,
    ) -> BoxFuture<'a, Result<Output, MgmtError>> {
        Box::pin(async move {
            inv.check_no_secret_in_argv()?;
            progress.message(&format!("running {}", inv.display()));
            self.calls
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(inv.clone());
            let (code, stdout, stderr) = self
                .answers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front()
                .unwrap_or((Some(0), String::new(), String::new()));
            let secrets = inv.secrets();
            Ok(Output {
                code,
                stdout: redact(&stdout, &secrets),
                stderr: redact(&stderr, &secrets),
                duration: Duration::ZERO,
                command: inv.command_line(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::SilentProgress;

    fn token() -> Secret {
        Secret::new("ghp_supersecret123")
    }

    #[test]
    fn display_redacts_secrets_and_quotes() {
        let inv = Invocation::new("clusterctl")
            .args(["init", "--core", "cluster-api:v1.14.0", "a b"])
            .env("CLUSTER_TOPOLOGY", "true")
            .secret_env("GITHUB_TOKEN", token());
        let d = inv.display();
        assert_eq!(
            d,
            "CLUSTER_TOPOLOGY=true GITHUB_TOKEN=<redacted> clusterctl init --core \
             cluster-api:v1.14.0 'a b'"
        );
        assert!(!d.contains("supersecret"));
    }

    #[test]
    fn secret_in_argv_is_refused() {
        let inv = Invocation::new("clusterctl")
            .arg("--token=ghp_supersecret123")
            .secret_env("GITHUB_TOKEN", token());
        let e = inv.check_no_secret_in_argv().unwrap_err();
        assert!(e.message.contains("`GITHUB_TOKEN`"), "{e}");
        assert!(!e.message.contains("supersecret"), "{e}");
    }

    #[test]
    fn failure_carries_code_and_tail() {
        let out = Output {
            code: Some(3),
            stdout: String::new(),
            stderr: (1..=30).map(|i| format!("line {i}\n")).collect(),
            duration: Duration::ZERO,
            command: "clusterctl init".into(),
        };
        let e = out.check().unwrap_err();
        assert!(
            e.message
                .starts_with("`clusterctl init` exited with code 3:"),
            "{e}"
        );
        assert!(
            e.message.contains("line 30") && e.message.contains("line 11"),
            "{e}"
        );
        assert!(!e.message.contains("line 10\n"), "{e}");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("v1.2.3"), "v1.2.3");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn process_runner_captures_exit_code_env_and_redacts_output() {
        let dir = tempfile::tempdir().unwrap();
        script(
            dir.path(),
            "tool",
            r#"echo "args: $*"; echo "token is $GITHUB_TOKEN" >&2; exit 4"#,
        );
        let runner = ProcessRunner::new(Some(dir.path().to_path_buf()));
        let inv = Invocation::new("tool")
            .args(["a", "b"])
            .secret_env("GITHUB_TOKEN", token());
        let out = rt().block_on(runner.run(&inv, &SilentProgress)).unwrap();
        assert_eq!(out.code, Some(4));
        assert_eq!(out.stdout.trim(), "args: a b");
        // The program got the secret, and nothing we keep shows it.
        assert_eq!(out.stderr.trim(), "token is <redacted>");
        let e = out.check().unwrap_err();
        assert!(e.message.contains("exited with code 4"), "{e}");
        assert!(e.message.contains("token is <redacted>"), "{e}");
    }

    #[test]
    fn process_runner_times_out_and_kills() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "slow", "exec sleep 5");
        let runner = ProcessRunner::new(Some(dir.path().to_path_buf()));
        let inv = Invocation::new("slow").timeout(Duration::from_millis(200));
        let started = Instant::now();
        let e = rt()
            .block_on(runner.run(&inv, &SilentProgress))
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(4));
        assert!(e.message.contains("did not finish within 0s"), "{e}");
    }

    #[test]
    fn missing_program_has_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let runner = ProcessRunner::new(Some(dir.path().to_path_buf()));
        let e = runner.resolve("no-such-tool-scs-capi").unwrap_err();
        assert!(
            e.message.contains("`no-such-tool-scs-capi` was not found"),
            "{e}"
        );
        assert!(e.hint.unwrap().contains("mgmt init"));
    }
}
