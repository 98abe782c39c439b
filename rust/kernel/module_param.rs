// SPDX-License-Identifier: GPL-2.0

//! Module parameters.
//!
//! C header: [`include/linux/moduleparam.h`](srctree/include/linux/moduleparam.h)
//!
//! Linux 6.12's `module!` macro has no parameters. [`module_param!`](crate::module_param)
//! declares one the way C's `module_param()` and `MODULE_PARM_DESC()` do: a `struct
//! kernel_param` in the `__param` section, parsed by the kernel from the `modprobe` or kernel
//! command line before the module's `init` runs, shown read-only in
//! `/sys/module/<module>/parameters/<name>`, and `parm`/`parmtype` strings in `.modinfo` so that
//! `modinfo` lists it with its description.
//!
//! The value is set only while the module loads, so reading it ([`Param::get`]) needs no lock.
//!
//! # Examples
//!
//! ```ignore
//! kernel::module_param!(module: "xipram", NR_DEVICES: nr_devices: u32 = 1,
//!                       "Number of devices to create (default 1)");
//!
//! fn count() -> u32 {
//!     NR_DEVICES.get()
//! }
//! ```

use core::cell::UnsafeCell;

/// The storage of a module parameter of type `T`.
///
/// The kernel writes it (through the pointer in its `struct kernel_param`) only while parsing
/// the module's arguments, before `init` runs; parameters are declared read-only in sysfs.
#[repr(transparent)]
pub struct Param<T: Copy>(UnsafeCell<T>);

// SAFETY: The value is written only during module load, before any Rust code of the module can
// read it; afterwards it is only read.
unsafe impl<T: Copy> Sync for Param<T> {}

impl<T: Copy> Param<T> {
    /// A parameter whose value is `default` unless given at load time.
    pub const fn new(default: T) -> Self {
        Self(UnsafeCell::new(default))
    }

    /// The value given at load time, or the default.
    pub fn get(&self) -> T {
        // SAFETY: See the `Sync` impl: no writes happen once module code runs. The volatile
        // read keeps the compiler from assuming the default.
        unsafe { core::ptr::read_volatile(self.0.get()) }
    }

    /// Pointer to the storage, for the `struct kernel_param`.
    pub const fn as_ptr(&self) -> *mut T {
        self.0.get()
    }
}

/// The value of a string (`charp`) parameter: a pointer to a NUL-terminated string, the default
/// (a literal) or the kernel's copy of the one given at load time, freed when the module is.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct CharP(*mut crate::ffi::c_char);

impl CharP {
    /// A default value.
    pub const fn new(default: &'static crate::str::CStr) -> Self {
        Self(default.as_char_ptr().cast_mut())
    }
}

impl Param<CharP> {
    /// The string given at load time, or the default.
    pub fn get_str(&self) -> &crate::str::CStr {
        let p = self.get().0;
        if p.is_null() {
            return crate::c_str!("");
        }
        // SAFETY: The pointer is the default literal or the kernel's NUL-terminated copy of the
        // argument (`param_set_charp`), which is freed only when the module is unloaded, after
        // every reference into the module's statics is gone; no writes happen once module code
        // runs (see `Param`).
        unsafe { crate::str::CStr::from_char_ptr(p) }
    }
}

/// A `struct kernel_param`, made `Sync` so that it can be a static.
#[doc(hidden)]
#[repr(transparent)]
pub struct KernelParam(pub crate::bindings::kernel_param);

// SAFETY: The kernel only reads the descriptor; its pointers are to statics.
unsafe impl Sync for KernelParam {}

/// Copies a string into a NUL-terminated byte array of length `N` (`s.len() + 1`).
#[doc(hidden)]
pub const fn modinfo<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && i < N - 1 {
        out[i] = b[i];
        i += 1;
    }
    out
}

/// Declares a read-only module parameter.
///
/// `module_param!(module: "NAME", STATIC: param_name: TYPE = DEFAULT, "description")` defines
/// `static STATIC: Param<TYPE>`; `TYPE` is one of `u32`, `i32`, `u64`, `bool` or `charp` (a
/// string, with a `c_str!` literal as the default; read it with [`Param::get_str`]).
#[macro_export]
macro_rules! module_param {
    (module: $module:literal, $static:ident : $name:ident : u32 = $default:expr, $desc:literal) => {
        $crate::module_param!(@impl $module, $static, $name, u32, $default, $desc,
                              param_ops_uint, "uint");
    };
    (module: $module:literal, $static:ident : $name:ident : i32 = $default:expr, $desc:literal) => {
        $crate::module_param!(@impl $module, $static, $name, i32, $default, $desc,
                              param_ops_int, "int");
    };
    (module: $module:literal, $static:ident : $name:ident : u64 = $default:expr, $desc:literal) => {
        $crate::module_param!(@impl $module, $static, $name, u64, $default, $desc,
                              param_ops_ullong, "ullong");
    };
    (module: $module:literal, $static:ident : $name:ident : charp = $default:expr, $desc:literal) => {
        $crate::module_param!(@impl $module, $static, $name, $crate::module_param::CharP,
                              $crate::module_param::CharP::new($default), $desc,
                              param_ops_charp, "charp");
    };
    (module: $module:literal, $static:ident : $name:ident : bool = $default:expr, $desc:literal) => {
        $crate::module_param!(@impl $module, $static, $name, bool, $default, $desc,
                              param_ops_bool, "bool");
    };
    (@impl $module:literal, $static:ident, $name:ident, $ty:ty, $default:expr, $desc:literal,
     $ops:ident, $tyname:literal) => {
        static $static: $crate::module_param::Param<$ty> =
            $crate::module_param::Param::new($default);

        const _: () = {
            // Loadable modules name their parameters plainly; built-in ones are prefixed by the
            // module name, as C's `MODULE_PARAM_PREFIX` does.
            #[cfg(MODULE)]
            const NAME: &str = concat!(stringify!($name), "\0");
            #[cfg(not(MODULE))]
            const NAME: &str = concat!($module, ".", stringify!($name), "\0");

            #[cfg(MODULE)]
            extern "C" {
                static __this_module: $crate::types::Opaque<$crate::bindings::module>;
            }

            #[used(compiler)]
            #[link_section = "__param"]
            static PARAM: $crate::module_param::KernelParam =
                $crate::module_param::KernelParam($crate::bindings::kernel_param {
                    name: NAME.as_ptr().cast(),
                    #[cfg(MODULE)]
                    // SAFETY: Only the address of the module's own `struct module` is taken.
                    mod_: unsafe { ::core::ptr::addr_of!(__this_module) as *mut _ },
                    #[cfg(not(MODULE))]
                    mod_: ::core::ptr::null_mut(),
                    // SAFETY: Only the address of the C parameter operations is taken.
                    ops: unsafe { ::core::ptr::addr_of!($crate::bindings::$ops) },
                    perm: 0o444,
                    level: -1,
                    flags: 0,
                    __bindgen_anon_1: $crate::bindings::kernel_param__bindgen_ty_1 {
                        arg: $static.as_ptr().cast(),
                    },
                });

            #[cfg(MODULE)]
            const PARM: &str = concat!("parm=", stringify!($name), ":", $desc);
            #[cfg(not(MODULE))]
            const PARM: &str = concat!($module, ".parm=", stringify!($name), ":", $desc);
            #[used(compiler)]
            #[link_section = ".modinfo"]
            static PARM_INFO: [u8; PARM.len() + 1] = $crate::module_param::modinfo(PARM);

            #[cfg(MODULE)]
            const TYPE: &str = concat!("parmtype=", stringify!($name), ":", $tyname);
            #[cfg(not(MODULE))]
            const TYPE: &str = concat!($module, ".parmtype=", stringify!($name), ":", $tyname);
            #[used(compiler)]
            #[link_section = ".modinfo"]
            static TYPE_INFO: [u8; TYPE.len() + 1] = $crate::module_param::modinfo(TYPE);
        };
    };
}
