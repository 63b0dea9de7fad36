/* Interrupt and exception entry stubs, one per vector 0..255, and the common path that saves
 * the general-purpose registers and calls `guest_kernel_trap(&TrapFrame)` (idt.rs).
 *
 * Each stub pushes a zero error code where the CPU pushes none, then its vector number, so
 * every frame has the same layout (Intel SDM Vol. 3A §6.13 "Error Code"; the vectors with an
 * error code are 8, 10-14, 17, 21, 29 and 30). In 64-bit mode the CPU aligns RSP to 16 bytes
 * before pushing SS, RSP, RFLAGS, CS, RIP (SDM Vol. 3A §6.14.2), so after error code, vector
 * and the 15 registers below (22 quadwords) the stack is again 16-byte aligned for the call.
 *
 * The table `guest_kernel_trap_stubs` holds the 256 stub addresses, in vector order.
 * AT&T syntax (included with `options(att_syntax)`). */

    .pushsection .rodata.guest_kernel_trap_stubs, "a", @progbits
    .balign 8
    .global guest_kernel_trap_stubs
guest_kernel_trap_stubs:
    .popsection

    .section .text.guest_kernel_traps, "ax", @progbits
    .irp high, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    .irp low, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    .balign 16
1:
    .set v, \high * 16 + \low          /* only read by .if, which evaluates it at once */
    .if v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30
    .else
    pushq $0
    .endif
    pushq $(\high * 16 + \low)
    jmp guest_kernel_trap_common
    .pushsection .rodata.guest_kernel_trap_stubs, "a", @progbits
    .quad 1b
    .popsection
    .endr
    .endr

guest_kernel_trap_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi                 /* &TrapFrame */
    cld                             /* the SysV ABI wants DF clear on calls */
    call guest_kernel_trap
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp                  /* vector and error code */
    iretq
