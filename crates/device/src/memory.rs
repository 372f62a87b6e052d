//! A device running out of memory as an error instead of a crash.
//!
//! burn reports an allocation that does not fit by panicking: `into_data` on a result whose
//! buffer could not be allocated (cubecl's `BufferTooBig` or `OutOfMemory`), or wgpu's error
//! handler on a failed `create_buffer`. [`within_memory`] runs a piece of work, recognises those
//! panics by their message and turns them into [`OutOfMemory`], which says what to lower; any
//! other panic goes on unwinding. [`quiet_memory_panics`] keeps the panic hook from printing the
//! ones that are turned into errors, so the user sees one clear message.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use burn::prelude::Device;

/// Work that did not fit in the device's memory.
#[derive(Debug, thiserror::Error)]
#[error(
    "{what} does not fit in the memory of the device ({detail}); lower the batch size (`--batch-size` \
     when scoring or embedding, `[data] batch_prompts` when training) or use a larger device"
)]
pub struct OutOfMemory {
    /// What was being run, such as "training" or "scoring a batch of 32 images".
    pub what: String,
    /// burn's own words, first line.
    pub detail: String,
}

/// The messages burn and wgpu panic with when an allocation fails, lower-cased.
const MARKERS: [&str; 5] = [
    "out of device memory",
    "outofmemory",
    "out of memory",
    "buffertoobig",
    "can't allocate buffer",
];

/// Whether a panic message is a failed allocation.
pub fn is_out_of_memory(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    MARKERS.iter().any(|m| lower.contains(m))
}

fn message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
}

/// Runs `work`; a failed allocation inside it becomes [`OutOfMemory`] naming `what`, and the
/// device's memory pool is emptied so that a smaller retry can start clean.
///
/// The device stays usable afterwards as far as burn allows: its locks are not poisoned by a
/// panic (cubecl uses spin locks), but work queued with the failed batch is lost.
pub fn within_memory<T>(
    device: &Device,
    what: impl Into<String>,
    work: impl FnOnce() -> T,
) -> Result<T, OutOfMemory> {
    match panic::catch_unwind(AssertUnwindSafe(work)) {
        Ok(value) => Ok(value),
        Err(payload) => match message(payload.as_ref()) {
            Some(text) if is_out_of_memory(text) => {
                let detail = text
                    .lines()
                    .find(|l| is_out_of_memory(l))
                    .unwrap_or(text)
                    .trim()
                    .to_string();
                device.memory_cleanup();
                Err(OutOfMemory {
                    what: what.into(),
                    detail,
                })
            }
            _ => panic::resume_unwind(payload),
        },
    }
}

/// Installs a panic hook that stays silent for failed allocations (which [`within_memory`]
/// reports) and hands every other panic to the hook that was there before.
pub fn quiet_memory_panics() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if message(info.payload()).is_some_and(is_out_of_memory) {
            return;
        }
        previous(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_allocation_becomes_an_error_naming_what_to_lower() {
        let device = Device::flex();
        // The message cubecl's IoError::OutOfMemory carries, as `into_data`'s expect shows it.
        let err = within_memory(&device, "scoring a batch of 32 images", || {
            panic!(
                "Error while reading data: use `try_into_data` instead to catch the error at \
                 runtime: WithContext {{ reason: \"out of device memory allocating 4294967296 \
                 bytes\\nbacktrace\" }}"
            )
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("scoring a batch of 32 images does not fit"),
            "{text}"
        );
        assert!(
            text.contains("out of device memory allocating 4294967296 bytes"),
            "{text}"
        );
        assert!(text.contains("--batch-size"), "{text}");
        assert_eq!(within_memory(&device, "nothing", || 7).unwrap(), 7);
    }

    #[test]
    fn other_panics_go_on_unwinding() {
        let device = Device::flex();
        let caught = panic::catch_unwind(|| {
            let _ = within_memory(&device, "work", || panic!("index out of bounds"));
        });
        let payload = caught.unwrap_err();
        assert_eq!(message(payload.as_ref()), Some("index out of bounds"));
        for text in ["wgpu error: Out of Memory", "BufferTooBig { size: 9 }"] {
            assert!(is_out_of_memory(text), "{text}");
        }
        assert!(!is_out_of_memory("shape mismatch"));
    }
}
