//! `triple-fault`: prints `triple-fault: loading an empty IDT and raising #UD`, loads an IDT
//! with limit 0 and executes `ud2`; the vCPU shuts down and the hypervisor must end the guest.
//! Never returns.

use guest_kernel::args::Args;

/// Runs the program.
pub(crate) fn run(args: &Args<'_>) -> i32 {
    if let Err(error) = args.at_most(0) {
        return super::usage_error(args, &error);
    }
    println!("triple-fault: loading an empty IDT and raising #UD");
    crate::arch::idt::load_empty_and_raise_ud()
}
