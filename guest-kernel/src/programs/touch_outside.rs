//! `touch-outside`: writes to guest-physical `memory_size + 2 MiB`, which lies outside the
//! guest's RAM; the hypervisor must end the guest there.
//!
//! Prints `touch-outside: writing to guest-physical <addr:#x> (RAM ends at <memory_size:#x>)`
//! before the write; if the write returns, `touch-outside: write was not stopped` and status
//! 1.

use guest_kernel::args::Args;

use crate::arch::memory::write_outside_ram;

/// How far beyond the end of RAM the write goes.
const DISTANCE: u64 = 0x20_0000;
/// What is written.
const PATTERN: u64 = 0x5a5a_5a5a_5a5a_5a5a;

/// Runs the program.
pub(crate) fn run(args: &Args<'_>) -> i32 {
    if let Err(error) = args.at_most(0) {
        return super::usage_error(args, &error);
    }
    let memory_size = crate::boot_info().memory_size;
    // RAM sizes are multiples of 2 MiB, so the mask changes nothing in practice; it keeps
    // the 8-byte write aligned regardless.
    let Some(address) = memory_size.checked_add(DISTANCE).map(|a| a & !7) else {
        println!("touch-outside: RAM size {memory_size:#x} leaves no address beyond it");
        return 1;
    };
    println!(
        "touch-outside: writing to guest-physical {address:#x} (RAM ends at {memory_size:#x})"
    );
    write_outside_ram(address, memory_size, PATTERN);
    println!("touch-outside: write was not stopped");
    1
}
