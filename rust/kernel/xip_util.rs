// SPDX-License-Identifier: GPL-2.0

//! Small scheduling helpers for long loops whose length input data decides.
//!
//! C headers: [`include/linux/sched.h`](srctree/include/linux/sched.h),
//! [`include/linux/sched/signal.h`](srctree/include/linux/sched/signal.h)
//!
//! A loop whose number of iterations comes from untrusted input (a filesystem image, for
//! instance) must neither hog the CPU nor ignore a task that is being killed: call
//! [`cond_resched`] in it, and stop with `EINTR` when [`fatal_signal_pending`] says so.
//!
//! # Examples
//!
//! ```
//! use kernel::{prelude::*, xip_util};
//!
//! fn sum(items: &[u64]) -> Result<u64> {
//!     let mut total = 0u64;
//!     for &x in items {
//!         if xip_util::fatal_signal_pending() {
//!             return Err(EINTR);
//!         }
//!         total = total.wrapping_add(x);
//!         xip_util::cond_resched();
//!     }
//!     Ok(total)
//! }
//! assert_eq!(sum(&[1, 2, 3]), Ok(6));
//! ```

use crate::bindings;

/// Gives the CPU to another task if one should run (`cond_resched()`); may sleep.
///
/// Call only where sleeping is allowed (no spinlock held, not in atomic context): with
/// `CONFIG_DEBUG_ATOMIC_SLEEP` a call from atomic context is reported.
///
/// # Examples
///
/// ```
/// for _ in 0..1000 {
///     kernel::xip_util::cond_resched();
/// }
/// ```
pub fn cond_resched() {
    // SAFETY: `cond_resched()` has no preconditions beyond a context that may sleep, which the
    // caller provides (and which the kernel checks under `CONFIG_DEBUG_ATOMIC_SLEEP`: a bad
    // call is a reported bug, not undefined behaviour).
    unsafe { bindings::xip_cond_resched() }
}

/// Whether the current task has a fatal signal pending (it is being killed): long work done
/// for it should stop, usually with `EINTR`.
///
/// # Examples
///
/// The KUnit thread running this is not being killed:
///
/// ```
/// assert!(!kernel::xip_util::fatal_signal_pending());
/// ```
pub fn fatal_signal_pending() -> bool {
    // SAFETY: `current` is always a valid task in process context and in interrupts alike;
    // reading its pending signals is what `fatal_signal_pending()` does locklessly.
    unsafe { bindings::xip_fatal_signal_pending() }
}

/// The wall-clock time in seconds since the epoch (`ktime_get_real_seconds()`), as
/// filesystems record it in their superblocks.
///
/// # Examples
///
/// ```
/// assert!(kernel::xip_util::real_seconds() > 0);
/// ```
pub fn real_seconds() -> i64 {
    // SAFETY: Reads the timekeeper; callable from any context.
    unsafe { bindings::ktime_get_real_seconds() }
}

/// The current task's filesystem user id, in the initial user namespace.
pub fn current_fsuid() -> u32 {
    // SAFETY: `current` is valid in process context; reading its credentials is lockless.
    unsafe { bindings::xip_current_fsuid() }
}

/// Whether the current task has `CAP_SYS_RESOURCE` (may use blocks reserved for root), as
/// `capable()` decides (and audits).
pub fn capable_resource() -> bool {
    // SAFETY: `capable()` may be called from process context.
    unsafe { bindings::xip_capable_resource() }
}

/// Whether the current task is in group `gid` (initial user namespace) for file access
/// (`in_group_p()`).
pub fn in_group(gid: u32) -> bool {
    // SAFETY: Reads the current task's credentials; process context.
    unsafe { bindings::xip_in_group(gid) }
}

/// Stops the system with `msg` (`panic()`), as a filesystem mounted with `errors=panic` does
/// when it finds corruption.
pub fn panic(msg: &crate::str::CStr) -> ! {
    // SAFETY: The format is "%s" and `msg` is NUL-terminated.
    unsafe { bindings::panic(crate::c_str!("%s").as_char_ptr(), msg.as_char_ptr()) }
}
