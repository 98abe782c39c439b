// SPDX-License-Identifier: GPL-2.0
//! xipxattr: extended attribute and POSIX ACL system calls for the guest tests
//! (`tests/guest/t-xipfs-xattr.sh`), which busybox lacks. Paths are never followed
//! (`lsetxattr` and friends).
//!
//! ```text
//!   set PATH NAME VALUE [--create|--replace] [--expect E]
//!       VALUE: text, `-` for an empty value, or `@N:C` for N bytes of the character C
//!   get PATH NAME [--len] [--size N] [--expect E]
//!       prints the value (with --len only its length); --size: the buffer size passed
//!       (default: the length a first call with size 0 reports)
//!   remove PATH NAME [--expect E]
//!   list PATH [--size N] [--expect E]     the names, sorted, one per line
//!   acl-set PATH access|default SPEC [--expect E]
//!       SPEC: comma-separated u::P, u:UID:P, g::P, g:GID:P, m::P, o::P (P like rwx, r-x,
//!       or -), in the order POSIX requires; `none` removes the ACL
//!   acl-get PATH access|default           SPEC as stored, or `none`
//!   create PATH MODE UMASK [dir]          creat (mkdir) with MODE under UMASK; prints
//!                                         the new file's mode in octal
//! E: ok, an errno name (EEXIST, ENODATA, ...), or several separated by |.
//! ```

use std::ffi::CString;
use std::io;
use std::process::ExitCode;

extern "C" {
    fn lsetxattr(path: *const i8, name: *const i8, value: *const u8, size: usize, flags: i32) -> i32;
    fn lgetxattr(path: *const i8, name: *const i8, value: *mut u8, size: usize) -> isize;
    fn llistxattr(path: *const i8, list: *mut i8, size: usize) -> isize;
    fn lremovexattr(path: *const i8, name: *const i8) -> i32;
    fn umask(mask: u32) -> u32;
    fn open(path: *const i8, flags: i32, mode: u32) -> i32;
    fn mkdir(path: *const i8, mode: u32) -> i32;
    fn close(fd: i32) -> i32;
}

const XATTR_CREATE: i32 = 1;
const XATTR_REPLACE: i32 = 2;
const O_CREAT: i32 = 0o100;
const O_WRONLY: i32 = 1;
const O_EXCL: i32 = 0o200;

type Res = Result<(), String>;

fn errno_name(e: &io::Error) -> String {
    let s = match e.raw_os_error().unwrap_or(0) {
        1 => "EPERM",
        2 => "ENOENT",
        7 => "E2BIG",
        13 => "EACCES",
        17 => "EEXIST",
        22 => "EINVAL",
        28 => "ENOSPC",
        30 => "EROFS",
        34 => "ERANGE",
        61 => "ENODATA",
        95 => "EOPNOTSUPP",
        117 => "EUCLEAN",
        n => return format!("errno {n}"),
    };
    s.to_string()
}

fn check<T>(r: &io::Result<T>, expect: &str, what: &str) -> Res {
    let got = match r {
        Ok(_) => "ok".to_string(),
        Err(e) => errno_name(e),
    };
    if expect.split('|').any(|e| e == got) {
        Ok(())
    } else {
        Err(format!("{what}: {got}, expected {expect}"))
    }
}

fn cstr(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("NUL in {s:?}"))
}

fn sys(r: isize) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Options after the positional arguments: `--expect E` and flags.
struct Opts {
    expect: String,
    flags: Vec<String>,
    size: Option<usize>,
}

fn split(args: &[String], npos: usize) -> Result<(Vec<String>, Opts), String> {
    let mut pos = Vec::new();
    let mut o = Opts { expect: "ok".into(), flags: Vec::new(), size: None };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--expect" || a == "--size" {
            let v = args.get(i + 1).ok_or(format!("{a} needs a value"))?;
            if a == "--expect" {
                o.expect = v.clone();
            } else {
                o.size = Some(v.parse().map_err(|_| format!("bad size {v}"))?);
            }
            i += 2;
            continue;
        }
        if a.starts_with("--") {
            o.flags.push(a.clone());
        } else {
            pos.push(a.clone());
        }
        i += 1;
    }
    if pos.len() != npos {
        return Err(format!("expected {npos} arguments, got {}", pos.len()));
    }
    Ok((pos, o))
}

fn value_of(s: &str) -> Result<Vec<u8>, String> {
    if s == "-" {
        return Ok(Vec::new());
    }
    if let Some(rest) = s.strip_prefix('@') {
        let (n, c) = rest.split_once(':').ok_or("bad @N:C value")?;
        let n: usize = n.parse().map_err(|_| "bad @N:C length")?;
        let c = *c.as_bytes().first().ok_or("bad @N:C character")?;
        return Ok(vec![c; n]);
    }
    Ok(s.as_bytes().to_vec())
}

fn get_value(path: &CString, name: &CString, size: Option<usize>) -> io::Result<Vec<u8>> {
    // SAFETY: Valid strings; a null buffer of size 0 asks for the length.
    let len = match size {
        Some(n) => n,
        None => sys(unsafe { lgetxattr(path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) })?,
    };
    let mut buf = vec![0u8; len];
    // SAFETY: `buf` holds `len` bytes.
    let n = sys(unsafe { lgetxattr(path.as_ptr(), name.as_ptr(), buf.as_mut_ptr(), len) })?;
    buf.truncate(n);
    Ok(buf)
}

fn cmd_set(args: &[String]) -> Res {
    let (p, o) = split(args, 3)?;
    let (path, name, value) = (cstr(&p[0])?, cstr(&p[1])?, value_of(&p[2])?);
    let flags = if o.flags.iter().any(|f| f == "--create") {
        XATTR_CREATE
    } else if o.flags.iter().any(|f| f == "--replace") {
        XATTR_REPLACE
    } else {
        0
    };
    // SAFETY: Valid strings and buffer.
    let r = sys(unsafe {
        lsetxattr(path.as_ptr(), name.as_ptr(), value.as_ptr(), value.len(), flags) as isize
    });
    check(&r, &o.expect, &format!("set {} {}", p[0], p[1]))
}

fn cmd_get(args: &[String]) -> Res {
    let (p, o) = split(args, 2)?;
    let (path, name) = (cstr(&p[0])?, cstr(&p[1])?);
    let r = get_value(&path, &name, o.size);
    check(&r, &o.expect, &format!("get {} {}", p[0], p[1]))?;
    if let Ok(v) = r {
        if o.flags.iter().any(|f| f == "--len") {
            println!("{}", v.len());
        } else {
            println!("{}", String::from_utf8_lossy(&v));
        }
    }
    Ok(())
}

fn cmd_remove(args: &[String]) -> Res {
    let (p, o) = split(args, 2)?;
    let (path, name) = (cstr(&p[0])?, cstr(&p[1])?);
    // SAFETY: Valid strings.
    let r = sys(unsafe { lremovexattr(path.as_ptr(), name.as_ptr()) as isize });
    check(&r, &o.expect, &format!("remove {} {}", p[0], p[1]))
}

fn cmd_list(args: &[String]) -> Res {
    let (p, o) = split(args, 1)?;
    let path = cstr(&p[0])?;
    let r = (|| {
        let len = match o.size {
            Some(n) => n,
            // SAFETY: A null buffer of size 0 asks for the length.
            None => sys(unsafe { llistxattr(path.as_ptr(), std::ptr::null_mut(), 0) })?,
        };
        let mut buf = vec![0u8; len];
        // SAFETY: `buf` holds `len` bytes.
        let n = sys(unsafe { llistxattr(path.as_ptr(), buf.as_mut_ptr().cast(), len) })?;
        buf.truncate(n);
        Ok(buf)
    })();
    check(&r, &o.expect, &format!("list {}", p[0]))?;
    if let Ok(buf) = r {
        if buf.last().is_some_and(|&b| b != 0) {
            return Err("list: names not NUL-terminated".into());
        }
        let mut names: Vec<String> = buf
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        names.sort();
        for n in names {
            println!("{n}");
        }
    }
    Ok(())
}

fn acl_name(kind: &str) -> Result<&'static str, String> {
    match kind {
        "access" => Ok("system.posix_acl_access"),
        "default" => Ok("system.posix_acl_default"),
        _ => Err(format!("bad ACL kind {kind}")),
    }
}

fn perm_of(s: &str) -> Result<u16, String> {
    let mut p = 0;
    for c in s.chars() {
        p |= match c {
            'r' => 4,
            'w' => 2,
            'x' => 1,
            '-' => 0,
            _ => return Err(format!("bad permission {s}")),
        };
    }
    Ok(p)
}

fn perm_str(p: u16) -> String {
    let mut s = String::new();
    s.push(if p & 4 != 0 { 'r' } else { '-' });
    s.push(if p & 2 != 0 { 'w' } else { '-' });
    s.push(if p & 1 != 0 { 'x' } else { '-' });
    s
}

/// The VFS's ACL xattr format: version 2, then (tag u16, perm u16, id u32) entries.
fn acl_encode(spec: &str) -> Result<Vec<u8>, String> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for e in spec.split(',') {
        let parts: Vec<&str> = e.split(':').collect();
        if parts.len() != 3 {
            return Err(format!("bad ACL entry {e}"));
        }
        let named = !parts[1].is_empty();
        let tag: u16 = match (parts[0], named) {
            ("u", false) => 1,
            ("u", true) => 2,
            ("g", false) => 4,
            ("g", true) => 8,
            ("m", false) => 0x10,
            ("o", false) => 0x20,
            _ => return Err(format!("bad ACL entry {e}")),
        };
        let id: u32 = if named { parts[1].parse().map_err(|_| format!("bad id in {e}"))? } else { u32::MAX };
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm_of(parts[2])?.to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    Ok(v)
}

fn acl_decode(v: &[u8]) -> Result<String, String> {
    if v.len() < 4 || (v.len() - 4) % 8 != 0 || v[..4] != 2u32.to_le_bytes() {
        return Err(format!("bad ACL value of {} bytes", v.len()));
    }
    let mut out = Vec::new();
    for e in v[4..].chunks(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let perm = u16::from_le_bytes([e[2], e[3]]);
        let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
        let (t, named) = match tag {
            1 => ("u", false),
            2 => ("u", true),
            4 => ("g", false),
            8 => ("g", true),
            0x10 => ("m", false),
            0x20 => ("o", false),
            _ => return Err(format!("bad ACL tag {tag}")),
        };
        let id = if named { id.to_string() } else { String::new() };
        out.push(format!("{t}:{id}:{}", perm_str(perm)));
    }
    Ok(out.join(","))
}

fn cmd_acl_set(args: &[String]) -> Res {
    let (p, o) = split(args, 3)?;
    let (path, name) = (cstr(&p[0])?, cstr(acl_name(&p[1])?)?);
    let r = if p[2] == "none" {
        // SAFETY: Valid strings.
        sys(unsafe { lremovexattr(path.as_ptr(), name.as_ptr()) as isize })
    } else {
        let v = acl_encode(&p[2])?;
        // SAFETY: Valid strings and buffer.
        sys(unsafe { lsetxattr(path.as_ptr(), name.as_ptr(), v.as_ptr(), v.len(), 0) as isize })
    };
    check(&r, &o.expect, &format!("acl-set {} {}", p[0], p[1]))
}

fn cmd_acl_get(args: &[String]) -> Res {
    let (p, o) = split(args, 2)?;
    let (path, name) = (cstr(&p[0])?, cstr(acl_name(&p[1])?)?);
    match get_value(&path, &name, None) {
        Ok(v) => println!("{}", acl_decode(&v)?),
        Err(e) if e.raw_os_error() == Some(61) => println!("none"),
        Err(e) => check(&Err::<(), _>(e), &o.expect, &format!("acl-get {}", p[0]))?,
    }
    Ok(())
}

fn cmd_create(args: &[String]) -> Res {
    let (p, _o) = split(args, if args.iter().filter(|a| !a.starts_with("--")).count() == 4 { 4 } else { 3 })?;
    let path = cstr(&p[0])?;
    let mode = u32::from_str_radix(&p[1], 8).map_err(|_| "bad mode")?;
    let mask = u32::from_str_radix(&p[2], 8).map_err(|_| "bad umask")?;
    let dir = p.get(3).is_some_and(|s| s == "dir");
    // SAFETY: Plain system calls on valid strings.
    unsafe {
        umask(mask);
        if dir {
            sys(mkdir(path.as_ptr(), mode) as isize).map_err(|e| format!("mkdir {}: {e}", p[0]))?;
        } else {
            let fd = sys(open(path.as_ptr(), O_CREAT | O_EXCL | O_WRONLY, mode) as isize)
                .map_err(|e| format!("create {}: {e}", p[0]))?;
            close(fd as i32);
        }
    }
    let m = std::fs::symlink_metadata(&p[0]).map_err(|e| format!("stat {}: {e}", p[0]))?;
    use std::os::unix::fs::PermissionsExt;
    println!("{:o}", m.permissions().mode() & 0o7777);
    Ok(())
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let Some(cmd) = argv.get(1) else {
        eprintln!("usage: xipxattr set|get|remove|list|acl-set|acl-get|create ...");
        return ExitCode::from(2);
    };
    let args = &argv[2..];
    let r = match cmd.as_str() {
        "set" => cmd_set(args),
        "get" => cmd_get(args),
        "remove" => cmd_remove(args),
        "list" => cmd_list(args),
        "acl-set" => cmd_acl_set(args),
        "acl-get" => cmd_acl_get(args),
        "create" => cmd_create(args),
        _ => Err(format!("unknown command {cmd}")),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xipxattr: {e}");
            ExitCode::FAILURE
        }
    }
}
