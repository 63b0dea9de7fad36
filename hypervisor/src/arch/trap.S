/*
 * Interrupt and exception entry for all 256 IDT vectors.
 *
 * Each stub is 16 bytes long and lives at trap_stubs + 16 * vector, so the IDT is filled by
 * arithmetic instead of a symbol per vector. A stub makes the stack uniform (pushes a zero
 * where the CPU pushes no error code; Intel SDM Vol. 3A, Table 6-1 lists which vectors have
 * one), pushes the vector number and jumps to the common path, which saves the general-purpose
 * registers into a `TrapFrame` and calls `trap_dispatch(&mut TrapFrame)`.
 *
 * Stack alignment: the CPU aligns RSP to 16 bytes before pushing its 5-quadword frame (SDM
 * Vol. 3A, 6.14.2); error code + vector + 15 registers make 17 more, so RSP is 16-byte aligned
 * at the call, as the System V ABI requires.
 */
.section .text.trap, "ax"

.global trap_stubs
.align 16
trap_stubs:
.set vector, 0
.rept 256
    .align 16
    .if (vector == 8) || (vector == 10) || (vector == 11) || (vector == 12) || (vector == 13) || (vector == 14) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
    .else
        push 0
    .endif
    push vector
    jmp trap_common
    .set vector, vector + 1
.endr

trap_common:
    push r15
    push r14
    push r13
    push r12
    push r11
    push r10
    push r9
    push r8
    push rbp
    push rdi
    push rsi
    push rdx
    push rcx
    push rbx
    push rax
    mov rdi, rsp
    cld
    call trap_dispatch
    pop rax
    pop rbx
    pop rcx
    pop rdx
    pop rsi
    pop rdi
    pop rbp
    pop r8
    pop r9
    pop r10
    pop r11
    pop r12
    pop r13
    pop r14
    pop r15
    add rsp, 16
    iretq
