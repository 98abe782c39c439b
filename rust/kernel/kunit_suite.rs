// SPDX-License-Identifier: GPL-2.0

//! KUnit test suites written in Rust, in modules or built in.
//!
//! C header: [`include/kunit/test.h`](srctree/include/kunit/test.h)
//!
//! Linux 6.12 runs Rust doctests as KUnit but has no way for a module to declare its own KUnit
//! suite. [`kunit_test_suite!`](crate::kunit_test_suite) fills that gap: it builds the
//! `struct kunit_case` array and the `struct kunit_suite` at compile time and places the suite in
//! the `.kunit_test_suites` section, exactly as C's `kunit_test_suite()` does. KUnit then runs
//! the suite when the module is loaded (or at boot when built in), prints its results in KTAP and
//! keeps them in `/sys/kernel/debug/kunit/<suite>/results`.
//!
//! A test case is a plain `fn(&mut Test)`. [`kunit_expect!`](crate::kunit_expect) and
//! [`kunit_expect_eq!`](crate::kunit_expect_eq) record a failure with its file and line and let
//! the test go on, like C's `KUNIT_EXPECT_*`.
//!
//! # Examples
//!
//! ```ignore
//! use kernel::{kunit_expect, kunit_expect_eq, kunit_suite::Test};
//!
//! fn adds(t: &mut Test) {
//!     kunit_expect_eq!(t, 1 + 1, 2);
//! }
//!
//! fn compares(t: &mut Test) {
//!     kunit_expect!(t, 1 < 2);
//! }
//!
//! kernel::kunit_test_suite!(example, [adds, compares]);
//! ```

use crate::{bindings, str::CStr};
use core::fmt;

/// The test being run, handed to each test case.
pub struct Test {
    failures: u32,
}

impl Test {
    /// Records a failure of the running test at `file:line` with a message; the test goes on.
    ///
    /// Use [`kunit_expect!`](crate::kunit_expect) rather than calling this directly.
    pub fn fail(&mut self, file: &CStr, line: u32, args: fmt::Arguments<'_>) {
        self.failures += 1;
        // SAFETY: The file name is NUL-terminated and `args` is a `fmt::Arguments` that outlives
        // the call, as the helper's `%pA` expects. Outside a KUnit test the helper does nothing.
        unsafe {
            bindings::kunit_fail_current_test(
                file.as_char_ptr(),
                line as _,
                &args as *const _ as *const core::ffi::c_void,
            )
        };
    }

    /// How many failures this test has recorded so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// Runs one test case. Used by [`kunit_test_suite!`](crate::kunit_test_suite).
#[doc(hidden)]
pub fn run_case(case: fn(&mut Test)) {
    case(&mut Test { failures: 0 });
}

/// A `struct kunit_case` for `run`, named `name`. Used by
/// [`kunit_test_suite!`](crate::kunit_test_suite).
#[doc(hidden)]
pub const fn case(
    name: &'static CStr,
    run: unsafe extern "C" fn(*mut bindings::kunit),
) -> bindings::kunit_case {
    // SAFETY: All zeroes is KUnit's "not set" for every field (as in C's `KUNIT_CASE`).
    let mut c: bindings::kunit_case = unsafe { core::mem::zeroed() };
    c.run_case = Some(run);
    c.name = name.as_char_ptr();
    c
}

/// The all-zeroes `struct kunit_case` that ends the array of cases.
#[doc(hidden)]
pub const fn end_case() -> bindings::kunit_case {
    // SAFETY: All zeroes is a valid `kunit_case`, and the terminator KUnit expects.
    unsafe { core::mem::zeroed() }
}

/// A `struct kunit_suite` named `name` with the cases at `cases`. Used by
/// [`kunit_test_suite!`](crate::kunit_test_suite).
#[doc(hidden)]
pub const fn suite(name: &'static [u8], cases: *mut bindings::kunit_case) -> bindings::kunit_suite {
    // SAFETY: All zeroes is KUnit's "not set" for every field (no init/exit hooks).
    let mut s: bindings::kunit_suite = unsafe { core::mem::zeroed() };
    let bytes = name;
    // Leave room for the terminating NUL, which the zeroed array already holds.
    let mut i = 0;
    while i < bytes.len() && i < s.name.len() - 1 {
        s.name[i] = bytes[i] as _;
        i += 1;
    }
    s.test_cases = cases;
    s
}

/// Declares a KUnit suite named `$suite` made of the test cases `$case`, each a
/// `fn(&mut kernel::kunit_suite::Test)`.
///
/// See the [module documentation](crate::kunit_suite).
#[macro_export]
macro_rules! kunit_test_suite {
    ($suite:ident, [$($case:ident),+ $(,)?]) => {
        const _: () = {
            const N: usize = [$(stringify!($case)),+].len();

            static mut CASES: [$crate::bindings::kunit_case; N + 1] = [
                $($crate::kunit_suite::case($crate::c_str!(stringify!($case)), {
                    unsafe extern "C" fn run(_test: *mut $crate::bindings::kunit) {
                        $crate::kunit_suite::run_case($case);
                    }
                    run
                }),)+
                $crate::kunit_suite::end_case(),
            ];

            static mut SUITE: $crate::bindings::kunit_suite = $crate::kunit_suite::suite(
                stringify!($suite).as_bytes(),
                ::core::ptr::addr_of_mut!(CASES) as *mut $crate::bindings::kunit_case,
            );

            #[used(compiler)]
            #[link_section = ".kunit_test_suites"]
            static mut ENTRY: *mut $crate::bindings::kunit_suite =
                ::core::ptr::addr_of_mut!(SUITE);
        };
    };
}

/// Records a failure of the running test unless `$cond` holds; the test goes on.
///
/// An optional format string and arguments describe the failure.
#[macro_export]
macro_rules! kunit_expect {
    ($test:expr, $cond:expr $(,)?) => {
        if !$cond {
            $test.fail(
                $crate::c_str!(::core::file!()),
                ::core::line!(),
                ::core::format_args!("expected {}", ::core::stringify!($cond)),
            );
        }
    };
    ($test:expr, $cond:expr, $($arg:tt)+) => {
        if !$cond {
            $test.fail(
                $crate::c_str!(::core::file!()),
                ::core::line!(),
                ::core::format_args!("expected {}: {}", ::core::stringify!($cond),
                                     ::core::format_args!($($arg)+)),
            );
        }
    };
}

/// Records a failure of the running test unless `$left == $right`, showing both values
/// (`Debug`); the test goes on.
#[macro_export]
macro_rules! kunit_expect_eq {
    ($test:expr, $left:expr, $right:expr $(,)?) => {
        match (&$left, &$right) {
            (left, right) => {
                if !(*left == *right) {
                    $test.fail(
                        $crate::c_str!(::core::file!()),
                        ::core::line!(),
                        ::core::format_args!(
                            "expected {} == {}: {:?} != {:?}",
                            ::core::stringify!($left),
                            ::core::stringify!($right),
                            left,
                            right
                        ),
                    );
                }
            }
        }
    };
}
