#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = kaizen_hook::fuzzing::check_input_path(data) {
        panic!("{e}");
    }
});
