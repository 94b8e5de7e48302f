//! The repository carries its own copies of the data model and the agents'
//! documented payloads, so it builds and tests alone. Where the project's
//! shared directory is beside the checkout (a developer's, CI's), these check
//! the copies still match. A user's clone has none, so they are ignored by
//! default and `.ci/run` runs them with `--ignored`, where they fail if the
//! directory is missing.

use std::path::PathBuf;

/// The checkout these tests run in: cargo says so when it runs them. The
/// path compiled in may be another clone's, built into the same target dir.
fn checkout() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

fn shared() -> PathBuf {
    let dir = checkout().join("../shared");
    assert!(dir.join("seed/event.rs").is_file(), "{} is not beside this checkout", dir.display());
    dir
}

#[test]
#[ignore = "needs the project's shared directory beside the checkout; .ci/run runs it"]
fn the_data_model_is_the_seed() {
    let shared = shared();
    let seed = std::fs::read_to_string(shared.join("seed/event.rs")).unwrap();
    let ours = std::fs::read_to_string(checkout().join("src/event.rs")).unwrap();
    assert_eq!(ours.trim_end(), seed.trim_end(), "src/event.rs differs from ../shared/seed/event.rs");
}

#[test]
#[ignore = "needs the project's shared directory beside the checkout; .ci/run runs it"]
fn the_documented_fixtures_are_the_shared_ones() {
    let shared = shared();
    let ours = checkout().join("tests/fixtures");
    let mut compared = 0;
    for agent in std::fs::read_dir(shared.join("fixtures")).unwrap().flatten() {
        for file in std::fs::read_dir(agent.path()).unwrap().flatten() {
            let copy = ours.join(agent.file_name()).join(file.file_name());
            let theirs = std::fs::read(file.path()).unwrap();
            let mine = std::fs::read(&copy).unwrap_or_else(|e| panic!("{}: {e}", copy.display()));
            assert_eq!(mine, theirs, "{} differs from ../shared", copy.display());
            compared += 1;
        }
    }
    assert!(compared > 50, "only {compared} fixtures compared");
}
