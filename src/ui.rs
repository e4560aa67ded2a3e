//! Progress reporting: the [`Progress`] trait library code reports through, and the three
//! ways the binary shows it.
//!
//! Library modules (`cloud::image`, later the cluster waits) take a `&dyn Progress` and
//! never print; this module owns drawing. [`progress_for`] picks the implementation:
//! - [`BarProgress`]: indicatif bars and spinners on stderr when stderr is a terminal
//!   (colourless when `NO_COLOR` is set);
//! - [`PlainProgress`]: timestamped lines on stderr (or any writer) when it is not a
//!   terminal, byte progress at most every few seconds, so CI logs stay short;
//! - [`SilentProgress`]: nothing, for `--no-progress`, `-q` and tests;
//! - [`JsonProgress`]: one JSON object per line (`{"ts":..,"event":"phase","title":..}`)
//!   for `--output json` of the lifecycle commands, so scripts can follow a long run.
//!
//! stdout stays for data: every implementation here writes to stderr or a given writer.
//! It does not own the command-line flags (`cli.rs` does; the lead wires `--no-progress`).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where library code reports what it is doing. Implementations use interior mutability,
/// so one `&dyn Progress` can be passed down and shared across `await`s.
///
/// The calls form phases: [`Progress::phase`] (or [`Progress::start_bytes`] for a transfer)
/// starts one, [`Progress::bytes`] advances a transfer, [`Progress::finish`] ends the
/// current phase with a one-line summary. [`Progress::message`] may come at any time.
pub trait Progress: Send + Sync {
    /// A step without a byte count starts (`waiting for image ... to become active`).
    fn phase(&self, title: &str);
    /// A transfer of `total` bytes (if known) starts.
    fn start_bytes(&self, title: &str, total: Option<u64>);
    /// `done` bytes of the current transfer are through (absolute, not a delta).
    fn bytes(&self, done: u64);
    /// A line of information that belongs in the log (adopted image, retry, ...).
    fn message(&self, line: &str);
    /// The current phase ended; `summary` says how.
    fn finish(&self, summary: &str);
    /// Countable progress of the current phase (`machines replaced 2/5`); only changes
    /// are reported by callers.
    fn count(&self, what: &str, done: u64, total: u64) {
        self.message(&format!("{what}: {done}/{total}"));
    }
}

/// How progress is shown; see [`progress_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars on a terminal, plain lines otherwise.
    Auto,
    /// Plain timestamped lines even on a terminal.
    Plain,
    /// Nothing (`--no-progress`, `-q`).
    Off,
}

/// The implementation for `mode` on stderr: bars only when stderr is a terminal, colourless
/// when `NO_COLOR` is set (any value), nothing when `SCS_CAPI_NO_PROGRESS` is set (for tests
/// and scripts, like uv's switch).
pub fn progress_for(mode: ProgressMode) -> Box<dyn Progress> {
    let env_off = std::env::var_os("SCS_CAPI_NO_PROGRESS").is_some_and(|v| !v.is_empty());
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let tty = std::io::stderr().is_terminal();
    match choose(mode, tty, env_off) {
        Chosen::Bars => Box::new(BarProgress::new(!no_color)),
        Chosen::Plain => Box::new(PlainProgress::stderr()),
        Chosen::Silent => Box::new(SilentProgress),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Chosen {
    Bars,
    Plain,
    Silent,
}

fn choose(mode: ProgressMode, tty: bool, env_off: bool) -> Chosen {
    match mode {
        ProgressMode::Off => Chosen::Silent,
        _ if env_off => Chosen::Silent,
        ProgressMode::Plain => Chosen::Plain,
        ProgressMode::Auto if tty => Chosen::Bars,
        ProgressMode::Auto => Chosen::Plain,
    }
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct SilentProgress;

impl Progress for SilentProgress {
    fn phase(&self, _: &str) {}
    fn start_bytes(&self, _: &str, _: Option<u64>) {}
    fn bytes(&self, _: u64) {}
    fn message(&self, _: &str) {}
    fn finish(&self, _: &str) {}
}

/// JSON lines: `{"ts": "...", "event": "phase"|"message"|"finish"|"count", ...}`.
/// Byte progress is reported only at its start and finish (the bytes are in `finish`).
pub struct JsonProgress {
    out: Mutex<Box<dyn Write + Send>>,
}

impl JsonProgress {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        JsonProgress {
            out: Mutex::new(out),
        }
    }

    /// Writes one event (`ts` added) as a line.
    pub fn event(&self, mut v: serde_json::Value) {
        if let Some(m) = v.as_object_mut() {
            m.insert(
                "ts".into(),
                chrono::Utc::now()
                    .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string()
                    .into(),
            );
        }
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // Like the plain lines: a lost progress line does not fail the operation.
        let _ = writeln!(out, "{v}");
        let _ = out.flush();
    }
}

impl Progress for JsonProgress {
    fn phase(&self, title: &str) {
        self.event(serde_json::json!({"event": "phase", "title": title}));
    }
    fn start_bytes(&self, title: &str, total: Option<u64>) {
        self.event(serde_json::json!({"event": "phase", "title": title, "total_bytes": total}));
    }
    fn bytes(&self, _: u64) {}
    fn message(&self, line: &str) {
        self.event(serde_json::json!({"event": "message", "message": line}));
    }
    fn finish(&self, summary: &str) {
        self.event(serde_json::json!({"event": "finish", "summary": summary}));
    }
    fn count(&self, what: &str, done: u64, total: u64) {
        self.event(
            serde_json::json!({"event": "count", "what": what, "done": done, "total": total}),
        );
    }
}

/// indicatif on stderr: a spinner for phases, a byte bar (or a byte spinner when the total
/// is unknown) for transfers. Messages are printed above the bar.
pub struct BarProgress {
    bar: Mutex<Option<ProgressBar>>,
    color: bool,
}

impl BarProgress {
    pub fn new(color: bool) -> Self {
        BarProgress {
            bar: Mutex::new(None),
            color,
        }
    }

    fn replace(&self, new: ProgressBar) {
        let mut slot = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = slot.take() {
            old.finish_and_clear();
        }
        *slot = Some(new);
    }

    fn with_bar(&self, f: impl FnOnce(&ProgressBar)) {
        let slot = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = slot.as_ref() {
            f(b);
        }
    }

    fn style(&self, template: &str, plain: &str) -> ProgressStyle {
        let t = if self.color { template } else { plain };
        ProgressStyle::with_template(t).unwrap_or_else(|_| ProgressStyle::default_bar())
    }
}

impl Progress for BarProgress {
    fn phase(&self, title: &str) {
        let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        b.set_style(self.style(
            "{spinner:.cyan} {msg} ({elapsed})",
            "{spinner} {msg} ({elapsed})",
        ));
        b.set_message(title.to_string());
        b.enable_steady_tick(Duration::from_millis(120));
        self.replace(b);
    }

    fn start_bytes(&self, title: &str, total: Option<u64>) {
        let b = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        let style = if total.is_some() {
            self.style(
                "{msg}\n[{bar:40.cyan/blue}] {binary_bytes}/{binary_total_bytes} \
                 {binary_bytes_per_sec} eta {eta}",
                "{msg}\n[{bar:40}] {binary_bytes}/{binary_total_bytes} \
                 {binary_bytes_per_sec} eta {eta}",
            )
            .progress_chars("=> ")
        } else {
            self.style(
                "{spinner:.cyan} {msg}: {binary_bytes} {binary_bytes_per_sec} ({elapsed})",
                "{spinner} {msg}: {binary_bytes} {binary_bytes_per_sec} ({elapsed})",
            )
        };
        b.set_style(style);
        b.set_message(title.to_string());
        b.enable_steady_tick(Duration::from_millis(200));
        self.replace(b);
    }

    fn bytes(&self, done: u64) {
        self.with_bar(|b| b.set_position(done));
    }

    fn message(&self, line: &str) {
        let slot = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        match slot.as_ref() {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn finish(&self, summary: &str) {
        let mut slot = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = slot.take() {
            b.finish_and_clear();
        }
        eprintln!("{summary}");
    }
}

impl Drop for BarProgress {
    fn drop(&mut self) {
        let slot = self.bar.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = slot.take() {
            b.finish_and_clear();
        }
    }
}

/// Timestamped lines (`2026-01-02T03:04:05Z message`) for logs: every phase, message and
/// finish at once, byte progress at most once per interval (default 5 s) plus the last
/// value at [`Progress::finish`].
pub struct PlainProgress {
    state: Mutex<PlainState>,
    interval: Duration,
}

struct PlainState {
    out: Box<dyn Write + Send>,
    title: String,
    total: Option<u64>,
    started: Instant,
    last_line: Option<Instant>,
    done: u64,
    reported: u64,
}

impl PlainProgress {
    /// Lines on stderr, byte progress every 5 s.
    pub fn stderr() -> Self {
        Self::new(Box::new(std::io::stderr()), Duration::from_secs(5))
    }

    /// Lines on `out`, byte progress at most every `interval`.
    pub fn new(out: Box<dyn Write + Send>, interval: Duration) -> Self {
        PlainProgress {
            state: Mutex::new(PlainState {
                out,
                title: String::new(),
                total: None,
                started: Instant::now(),
                last_line: None,
                done: 0,
                reported: 0,
            }),
            interval,
        }
    }
}

impl PlainState {
    fn line(&mut self, text: &str) {
        let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
        // A log line that cannot be written is not worth failing the operation for.
        let _ = writeln!(self.out, "{ts} {text}");
        let _ = self.out.flush();
    }

    fn bytes_line(&mut self) {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = self.done as f64 / secs / MIB;
        let text = match self.total {
            Some(t) if t > 0 => format!(
                "{}: {} of {} ({:.0}%, {rate:.1} MiB/s)",
                self.title,
                human_bytes(self.done),
                human_bytes(t),
                self.done as f64 * 100.0 / t as f64
            ),
            _ => format!(
                "{}: {} ({rate:.1} MiB/s)",
                self.title,
                human_bytes(self.done)
            ),
        };
        self.line(&text);
        self.reported = self.done;
        self.last_line = Some(Instant::now());
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// `1.5 GiB`, `12.0 MiB`, `512 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

impl Progress for PlainProgress {
    fn phase(&self, title: &str) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.title = title.to_string();
        s.total = None;
        s.started = Instant::now();
        s.line(&format!("{title} ..."));
    }

    fn start_bytes(&self, title: &str, total: Option<u64>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.title = title.to_string();
        s.total = total;
        s.started = Instant::now();
        s.done = 0;
        s.reported = 0;
        s.last_line = Some(Instant::now());
        let size = total
            .map(|t| format!(" ({})", human_bytes(t)))
            .unwrap_or_default();
        s.line(&format!("{title}{size} ..."));
    }

    fn bytes(&self, done: u64) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.done = done;
        let due = s.last_line.is_none_or(|t| t.elapsed() >= self.interval);
        if due && done != s.reported {
            s.bytes_line();
        }
    }

    fn message(&self, line: &str) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.line(line);
    }

    fn finish(&self, summary: &str) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.done != s.reported {
            s.bytes_line();
        }
        s.done = 0;
        s.reported = 0;
        s.line(summary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn choice_honours_mode_tty_and_env() {
        assert_eq!(choose(ProgressMode::Auto, true, false), Chosen::Bars);
        assert_eq!(choose(ProgressMode::Auto, false, false), Chosen::Plain);
        assert_eq!(choose(ProgressMode::Plain, true, false), Chosen::Plain);
        assert_eq!(choose(ProgressMode::Off, true, false), Chosen::Silent);
        assert_eq!(choose(ProgressMode::Auto, true, true), Chosen::Silent);
    }

    #[test]
    fn plain_lines_are_rate_limited_and_timestamped() {
        let buf = Buf::default();
        let p = PlainProgress::new(Box::new(buf.clone()), Duration::from_secs(3600));
        p.start_bytes("uploading `img`", Some(4 * 1024 * 1024));
        for i in 1..=4u64 {
            p.bytes(i * 1024 * 1024);
        }
        p.finish("image `img` is active");
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // start, one final byte line (the interval never elapsed), finish
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].ends_with("uploading `img` (4.0 MiB) ..."),
            "{text}"
        );
        assert!(lines[1].contains("4.0 MiB of 4.0 MiB (100%"), "{text}");
        assert!(lines[2].ends_with("image `img` is active"), "{text}");
        for l in lines {
            assert_eq!(&l[4..5], "-", "timestamp first: {l}");
            assert!(l[..20].ends_with('Z'), "{l}");
        }
    }

    #[test]
    fn human_bytes_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
