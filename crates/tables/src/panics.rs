//! polars panics on some damaged files instead of returning an error (`scripts/fuzz` found it in
//! the Parquet, JSON and CSV readers), so every read of a user's table runs under [`guarded`],
//! which turns the panic into an error naming the file. A binary that reads tables calls
//! [`quiet_polars_panics`] once, so that a panic caught here does not print a backtrace before
//! its error.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Guarded reads in progress, whose panics [`quiet_polars_panics`] keeps quiet. A count, not a
/// thread-local flag: polars decodes on its own threads.
static READS_IN_PROGRESS: AtomicUsize = AtomicUsize::new(0);

/// Installs a panic hook that stays silent while a guarded read is in progress (its panic is
/// caught and reported as an error naming the file) and hands every other panic to the hook that
/// was there before.
pub fn quiet_polars_panics() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if READS_IN_PROGRESS.load(Ordering::SeqCst) > 0 {
            return;
        }
        previous(info);
    }));
}

/// Runs `work`, a panic in it (on any thread it spawns) returned as its message.
pub(crate) fn guarded<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    struct Reading;
    impl Drop for Reading {
        fn drop(&mut self) {
            READS_IN_PROGRESS.fetch_sub(1, Ordering::SeqCst);
        }
    }
    READS_IN_PROGRESS.fetch_add(1, Ordering::SeqCst);
    let _reading = Reading;
    panic::catch_unwind(AssertUnwindSafe(work)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic in polars".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_the_reader_becomes_its_message() {
        quiet_polars_panics();
        assert_eq!(guarded(|| 7), Ok(7));
        let caught = guarded(|| -> i32 { panic!("thrift bool field") });
        assert_eq!(caught, Err("thrift bool field".to_string()));
    }
}
