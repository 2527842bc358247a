//! Progress on standard error: a bar redrawn in place on a terminal (records, rate, time left,
//! time spent waiting out throttling), plain lines otherwise, so logs stay readable.

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

/// How often a plain line is written when standard error is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);
/// How often the bar is redrawn on a terminal.
const DRAW_EVERY: Duration = Duration::from_millis(100);
const WIDTH: usize = 30;

pub(crate) struct Progress<'a> {
    what: &'static str,
    /// Records expected, when known (an export does not know).
    total: Option<u64>,
    done: u64,
    started: Instant,
    last: Option<Instant>,
    terminal: bool,
    /// Time spent waiting out throttling so far.
    throttled: Box<dyn Fn() -> Duration + 'a>,
}

impl<'a> Progress<'a> {
    /// Progress of `total` records (when known); `throttled` tells the time spent waiting out
    /// throttling so far.
    pub fn new(
        what: &'static str,
        total: impl Into<Option<u64>>,
        throttled: impl Fn() -> Duration + 'a,
    ) -> Self {
        Progress {
            what,
            total: total.into(),
            done: 0,
            started: Instant::now(),
            last: None,
            terminal: std::io::stderr().is_terminal(),
            throttled: Box::new(throttled),
        }
    }

    pub fn advance(&mut self, records: u64) {
        self.done += records;
        let every = if self.terminal {
            DRAW_EVERY
        } else {
            LINE_EVERY
        };
        if self.last.is_none_or(|at| at.elapsed() >= every) {
            self.show(false);
        }
    }

    pub fn finish(&mut self) {
        self.show(true);
    }

    fn show(&mut self, last: bool) {
        self.last = Some(Instant::now());
        let status = status(
            self.done,
            self.total,
            self.started.elapsed(),
            (self.throttled)(),
        );
        let mut err = std::io::stderr().lock();
        // A failing terminal must not fail the import: progress is best effort.
        let _ = if self.terminal {
            let bar = self
                .total
                .map(bar)
                .map(|b| b(self.done))
                .unwrap_or_default();
            write!(err, "\r\x1b[2K{}: {bar}{status}", self.what)
                .and_then(|()| if last { writeln!(err) } else { err.flush() })
        } else {
            writeln!(err, "{}: {status}", self.what)
        };
    }
}

/// `[#####.....] ` for `done` of `total`.
fn bar(total: u64) -> impl Fn(u64) -> String {
    move |done| {
        let filled = if total == 0 {
            WIDTH
        } else {
            ((done.min(total) as f64 / total as f64) * WIDTH as f64) as usize
        };
        format!("[{}{}] ", "#".repeat(filled), ".".repeat(WIDTH - filled))
    }
}

/// `4000/10000 records, 1234/s, ETA 5s, throttled 0s`.
fn status(done: u64, total: Option<u64>, elapsed: Duration, throttled: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        done as f64 / seconds
    } else {
        0.0
    };
    let mut text = match total {
        Some(total) => format!("{done}/{total} records"),
        None => format!("{done} records"),
    };
    text.push_str(&format!(", {rate:.0}/s"));
    if let Some(total) = total
        && rate > 0.0
        && done < total
    {
        text.push_str(&format!(", ETA {:.0}s", (total - done) as f64 / rate));
    }
    text.push_str(&format!(", throttled {:.0}s", throttled.as_secs_f64()));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line() {
        assert_eq!(
            status(
                4000,
                Some(10_000),
                Duration::from_secs(2),
                Duration::from_secs(3)
            ),
            "4000/10000 records, 2000/s, ETA 3s, throttled 3s"
        );
        assert_eq!(
            status(10, None, Duration::from_secs(1), Duration::ZERO),
            "10 records, 10/s, throttled 0s"
        );
        assert_eq!(
            bar(10)(5),
            format!("[{}{}] ", "#".repeat(15), ".".repeat(15))
        );
        assert_eq!(bar(0)(0), format!("[{}] ", "#".repeat(30)));
    }
}
