//! The process's allocator: mimalloc, told to keep the pages it frees.
//!
//! This is the one module of the binary with `unsafe`: mimalloc's options are set through its C
//! interface.
#![allow(unsafe_code)]

/// mimalloc rather than the system allocator: it keeps the large buffers a training or inference
/// step frees for the next step, where glibc handed them back to the kernel and faulted fresh,
/// zeroed pages in again (a quarter of a training step of `small`; see the workspace manifest).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay`: its place in `mi_option_e` of the mimalloc v3 sources that the pinned
/// `libmimalloc-sys` builds (`c_src/mimalloc/v3/include/mimalloc.h`), which exports no constant for
/// it. The test below checks the slot still holds that option's documented default.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The environment variable with which an operator sets the purge delay themselves.
const PURGE_DELAY_VAR: &str = "MIMALLOC_PURGE_DELAY";

/// Keeps freed pages in the process rather than handing them back to the kernel a second later.
///
/// mimalloc's default purges memory that stayed free for 1,000 ms. A training step of `small` on
/// two cores takes about that long, so the buffers one step freed were returned and the next step
/// faulted them back in, zeroed by the kernel: 10-15% of the step (docs/benchmarks/model.md). Peak
/// memory is unchanged — the process already reached that high-water mark — only the churn goes.
/// An operator who wants idle memory returned sets `MIMALLOC_PURGE_DELAY` (milliseconds), which
/// mimalloc reads at start-up and this then leaves alone.
pub fn keep_freed_pages() {
    if std::env::var_os(PURGE_DELAY_VAR).is_some() {
        return;
    }
    // SAFETY: `mi_option_set` stores an integer in mimalloc's option table and takes any option
    // below `_mi_option_last`; it is called before the program starts its worker threads.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards the hard-coded option index: if a new `libmimalloc-sys` renumbers the options, the
    /// slot no longer reads mimalloc v3's purge-delay default of 1,000 ms.
    #[test]
    fn the_purge_delay_slot_holds_mimallocs_purge_delay() {
        if std::env::var_os(PURGE_DELAY_VAR).is_some() {
            return; // the operator's value, not the default, is in the slot
        }
        // SAFETY: reads an integer from mimalloc's option table; no other test sets options.
        let default = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert_eq!(default, 1000, "option {PURGE_DELAY} is not mimalloc's purge delay");
    }
}
