//! The repository carries its own copies of the data model and the agents'
//! documented payloads, so it builds and tests alone. Where the project's
//! `../shared` is beside it (a developer's checkout, CI), this checks the
//! copies still match; a user's clone has no `../shared` and skips it.

use std::path::{Path, PathBuf};

fn shared() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if dir.join("seed/event.rs").is_file() {
        Some(dir)
    } else {
        eprintln!("../shared is not beside this checkout: nothing to compare the copies with");
        None
    }
}

#[test]
fn the_data_model_is_the_seed() {
    let Some(shared) = shared() else { return };
    let seed = std::fs::read_to_string(shared.join("seed/event.rs")).unwrap();
    let ours = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/event.rs")).unwrap();
    assert_eq!(ours.trim_end(), seed.trim_end(), "src/event.rs differs from ../shared/seed/event.rs");
}

#[test]
fn the_documented_fixtures_are_the_shared_ones() {
    let Some(shared) = shared() else { return };
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
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
