//! Link flags for the `kaizen-hook` binary (only it: the bench's floor keeps a
//! default build). Every hook run is a fresh process, so start-up is most of
//! its cost.
//!
//! The functions every hook run executes are placed together at the start of
//! the text (`link/hot-functions.ld`, made by `scripts/hot-functions.sh`): a
//! run touches about 150 pages of code, and each page fault maps 64 KiB, so
//! packed they cost a fifth of the faults they cost spread over 4 MB.
//!
//! With a dynamic C runtime: non-PIE (few relocations for the loader), lazy
//! binding, libgcc linked in. With a static one (musl, or glibc with
//! `+crt-static`) none of these apply, and `-no-pie` would even be harmful:
//! gcc then drops rustc's `-static-pie` and emits a static executable that
//! still names a dynamic loader, which crashes before `main`. A static build
//! is made non-PIE with `-C relocation-model=static` instead (see install.sh).
//!
//! The flags are GNU ld's (LLD takes them too): they are passed on Linux
//! only, the one platform built and tested.

use std::env::var;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/hot-functions.ld");
    test_cfgs();
    if var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    // A linker that takes no scripts (mold) can be told to skip it.
    println!("cargo:rerun-if-env-changed=KAIZEN_HOT_LAYOUT");
    if var("KAIZEN_HOT_LAYOUT").as_deref() != Ok("off") {
        let hot = Path::new(&var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("link/hot-functions.ld");
        println!("cargo:rustc-link-arg-bin=kaizen-hook=-Wl,-T,{}", hot.display());
    }
    if static_crt() {
        return;
    }
    println!("cargo:rustc-link-arg-bin=kaizen-hook=-no-pie");
    println!("cargo:rustc-link-arg-bin=kaizen-hook=-static-libgcc");
    println!("cargo:rustc-link-arg-bin=kaizen-hook=-Wl,-z,lazy");
}

/// Whether the C runtime is linked statically. On musl, crt-static is the
/// target's default and `CARGO_CFG_TARGET_FEATURE` does not list it: there it
/// is static unless the flags turn it off.
fn static_crt() -> bool {
    let features = var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    if features.split(',').any(|f| f == "crt-static") {
        return true;
    }
    let flags = var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("musl") && !flags.contains("-crt-static")
}

/// What the tests need to know about the binary they run, as cfgs, so a test
/// that cannot run against it is `#[ignore]`d visibly instead of passing
/// without checking: `kaizen_test_bin` when the tests run against an
/// installed (release) binary, which has no test-only switches;
/// `kaizen_hot_layout_off` when the hot-code layout was skipped on purpose.
fn test_cfgs() {
    println!("cargo::rustc-check-cfg=cfg(kaizen_test_bin, kaizen_hot_layout_off)");
    println!("cargo:rerun-if-env-changed=KAIZEN_TEST_BIN");
    if var("KAIZEN_TEST_BIN").is_ok_and(|bin| !bin.is_empty()) {
        println!("cargo:rustc-cfg=kaizen_test_bin");
    }
    if var("KAIZEN_HOT_LAYOUT").as_deref() == Ok("off") {
        println!("cargo:rustc-cfg=kaizen_hot_layout_off");
    }
}
