//! One file per subcommand.

pub mod hook;
