/* The guest kernel's entry point, jumped to by the hypervisor (cdna_abi "Entry state"):
 * 64-bit long mode, identity-mapped paging, RSP = 0x100000 (16-byte aligned),
 * RDI = guest-physical address of the boot-information page, interrupts disabled.
 *
 * `_start` keeps the stack it was given, zeroes .bss (a loader that already did so loses
 * nothing) and calls `guest_kernel_entry(boot_info)`, which never returns.
 * AT&T syntax (included with `options(att_syntax)`). */

    .section .text._start, "ax", @progbits
    .global _start
    .type _start, @function
_start:
    cld
    movq %rdi, %r12                 /* the boot-information pointer survives the zeroing */
    leaq __bss_start(%rip), %rdi
    leaq __bss_end(%rip), %rcx
    subq %rdi, %rcx
    xorl %eax, %eax
    rep stosb
    movq %r12, %rdi
    xorl %ebp, %ebp                 /* terminates frame-pointer walks */
    call guest_kernel_entry         /* RSP is 16-byte aligned here, as the SysV ABI wants */
1:  cli
    hlt
    jmp 1b
    .size _start, . - _start
