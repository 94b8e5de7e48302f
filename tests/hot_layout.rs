//! The functions every hook run executes are linked together at the start
//! of the code (build.rs, `link/hot-functions.ld`): a run then takes a few
//! page faults for its code instead of one per 64 KiB of a 4 MB binary.

mod common;

#[test]
#[cfg_attr(kaizen_hot_layout_off, ignore = "built without the hot-code layout (KAIZEN_HOT_LAYOUT=off)")]
fn the_hot_functions_come_first_in_the_binary_under_test() {
    let elf = std::fs::read(common::BIN).unwrap();
    let sections = sections(&elf);
    let find = |wanted: &str| sections.iter().find(|(name, ..)| name == wanted).cloned();
    let (_, hot_addr, hot_size) =
        find(".text.kaizen_hot").expect("no .text.kaizen_hot section: build.rs did not pass the script");
    let (_, text_addr, _) = find(".text").expect("no .text section");
    assert!(hot_addr < text_addr, "the hot functions are not before the rest of the code");
    // Hundreds of KiB when the list matches the code; a list gone stale matches little.
    assert!(hot_size > 64 * 1024, "only {hot_size} bytes of the hot list matched this build");
}

/// (name, address, size) of each section of an ELF64 little-endian file.
fn sections(elf: &[u8]) -> Vec<(String, u64, u64)> {
    assert_eq!(&elf[..6], b"\x7fELF\x02\x01", "not a 64-bit little-endian ELF file");
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap());
    let (table, entry, count, names) = (u64_at(0x28) as usize, u16_at(0x3a), u16_at(0x3c), u16_at(0x3e));
    let header = |i: usize| table + i * entry;
    let strings = u64_at(header(names) + 24) as usize;
    (0..count)
        .map(|i| {
            let name_at = strings + u32_at(header(i));
            let len = elf[name_at..].iter().position(|&b| b == 0).unwrap();
            let name = String::from_utf8_lossy(&elf[name_at..name_at + len]).into_owned();
            (name, u64_at(header(i) + 16), u64_at(header(i) + 32))
        })
        .collect()
}
