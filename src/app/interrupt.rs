//! Ctrl-C (SIGINT) and SIGTERM during a long command (a sweep, a benchmark): the first stops it
//! cleanly, at the next point where it can print what was finished; a second one ends the
//! program at once, as it would have without this.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// Whether Ctrl-C or SIGTERM has come since [`Interrupt::listen`].
#[derive(Debug, Clone)]
pub struct Interrupt {
    raised: Arc<AtomicBool>,
}

impl Interrupt {
    /// Starts listening for Ctrl-C and SIGTERM. If the handlers cannot be installed, the
    /// signals keep their default effect (the program ends), which is still safe.
    pub fn listen() -> Self {
        let raised = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            // A second signal, once the first has set the flag, ends the program at once.
            let _ = flag::register_conditional_shutdown(signal, 130, raised.clone());
            let _ = flag::register(signal, raised.clone());
        }
        Self { raised }
    }

    /// Whether a signal has come.
    pub fn raised(&self) -> bool {
        self.raised.load(Ordering::Relaxed)
    }

    /// Waits until a signal comes (for a future that races the work).
    pub async fn wait(&self) {
        use tokio::signal::unix::{SignalKind, signal};
        let (interrupt, terminate) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        );
        if self.raised() {
            return;
        }
        match (interrupt, terminate) {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            // Without tokio's handlers, the signals keep the flag's (see `listen`): the work is
            // then stopped at its next step by the flag, not here.
            _ => std::future::pending().await,
        }
    }
}
