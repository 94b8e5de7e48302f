//! The floor: what no hook can avoid. Drain stdin, append one line to a file
//! under an exclusive lock, exit.

use std::io::{Read, Write};

fn main() {
    let mut input = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut input);
    let path = std::env::args_os().nth(1).expect("usage: kaizen-floor FILE");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open");
    file.lock().expect("lock");
    let line = format!("{{\"bytes\":{}}}\n", input.len());
    file.write_all(line.as_bytes()).expect("write");
}
