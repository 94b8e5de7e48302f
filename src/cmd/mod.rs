//! One file per subcommand.

pub mod doctor;
pub mod export;
pub mod hook;
pub mod install;
pub mod report;
pub mod sessions;
pub mod show;
pub mod uninstall;
