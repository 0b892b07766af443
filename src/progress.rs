//! Progress of long commands on stderr (CONTRACT.md: progress goes to stderr,
//! results to stdout). On a terminal: an indicatif bar, redrawn in place.
//! Elsewhere (cron, CI, `2> file`) the bar is hidden and a plain line is
//! printed at most every `CALLFOLD_PROGRESS_SECS` seconds (default 10).

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::cell::Cell;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Seconds between plain progress lines when stderr is not a terminal.
pub const PLAIN_EVERY_SECS: u64 = 10;

pub struct Progress {
    bar: ProgressBar,
    /// Set when stderr is not a terminal: how often, and when the last line went.
    plain: Option<(Duration, Cell<Instant>)>,
}

impl Progress {
    /// A bar of `len` steps drawn with `template` (on a terminal).
    pub fn new(len: u64, template: &str) -> Result<Progress> {
        let plain = if std::io::stderr().is_terminal() {
            None
        } else {
            Some((plain_every()?, Cell::new(Instant::now())))
        };
        let bar = match plain {
            None => ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr()),
            // Hidden, but it still counts (position, length, rate).
            Some(_) => ProgressBar::hidden(),
        };
        bar.set_length(len);
        bar.set_style(style(template));
        Ok(Progress { bar, plain })
    }

    pub fn bar(&self) -> &ProgressBar {
        &self.bar
    }

    /// Call after an update: off a terminal, prints `line()` when a line is due.
    pub fn tick(&self, line: impl FnOnce(&ProgressBar) -> String) {
        if let Some((every, last)) = &self.plain {
            if last.get().elapsed() >= *every {
                last.set(Instant::now());
                eprintln!("{}", line(&self.bar));
            }
        }
    }

    /// Prints `text` on its own line (above the bar on a terminal).
    pub fn println(&self, text: &str) {
        self.bar.suspend(|| eprintln!("{text}"));
    }
}

/// A style from a template written in the code.
pub fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("static progress template")
}

/// `done` of `total` as a whole percentage (100 for an empty total).
pub fn percent(done: u64, total: u64) -> u64 {
    match total {
        0 => 100,
        _ => (u128::from(done) * 100 / u128::from(total)) as u64,
    }
}

/// `CALLFOLD_PROGRESS_SECS`: whole seconds between plain lines (0: at every
/// update, for tests and debugging), default [`PLAIN_EVERY_SECS`].
fn plain_every() -> Result<Duration> {
    match std::env::var("CALLFOLD_PROGRESS_SECS") {
        Ok(text) if !text.trim().is_empty() => match text.trim().parse::<u64>() {
            Ok(secs) if secs <= 86_400 => Ok(Duration::from_secs(secs)),
            _ => bail!(
                "CALLFOLD_PROGRESS_SECS={text:?} must be a whole number of seconds up to 86400"
            ),
        },
        _ => Ok(Duration::from_secs(PLAIN_EVERY_SECS)),
    }
}

#[cfg(test)]
mod tests {
    use super::percent;

    #[test]
    fn percentages_are_whole_and_bounded() {
        assert_eq!(percent(0, 10), 0);
        assert_eq!(percent(5, 10), 50);
        assert_eq!(percent(10, 10), 100);
        assert_eq!(percent(0, 0), 100);
        assert_eq!(percent(u64::MAX, u64::MAX), 100);
    }
}
