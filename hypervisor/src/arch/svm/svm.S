/*
 * The SVM world switch.
 *
 * svm_run(guest_vmcb_pa: rdi, gprs: rsi, host_save_pa: rdx)
 *
 * VMRUN loads and saves only part of the guest state (APM Vol. 2, 15.5.1); FS, GS, TR, LDTR,
 * KernelGsBase, STAR/LSTAR/CSTAR/SFMASK and the SYSENTER MSRs move with VMLOAD/VMSAVE, so
 * the host's copy is saved to its own area first and restored after the guest's is saved.
 * GIF is cleared around the switch; RFLAGS.IF is set before VMRUN so that, with
 * V_INTR_MASKING, physical interrupts end the guest's run (15.21.1) instead of being blocked.
 * Guest RAX lives in the VMCB; the other general-purpose registers are exchanged with
 * `GuestGprs` (rax, rbx, rcx, rdx, rsi, rdi, rbp, r8..r15 at 8-byte steps).
 */
.global svm_run
svm_run:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    push rsi                /* GuestGprs pointer, for after the exit */
    push rdx                /* host save area */
    push rdi                /* guest VMCB */

    clgi
    mov rax, rdx
    vmsave rax              /* host FS/GS/TR/... */
    mov rax, rdi
    vmload rax              /* guest FS/GS/TR/... */

    mov rbx, [rsi + 8]
    mov rcx, [rsi + 16]
    mov rdx, [rsi + 24]
    mov rdi, [rsi + 40]
    mov rbp, [rsi + 48]
    mov r8,  [rsi + 56]
    mov r9,  [rsi + 64]
    mov r10, [rsi + 72]
    mov r11, [rsi + 80]
    mov r12, [rsi + 88]
    mov r13, [rsi + 96]
    mov r14, [rsi + 104]
    mov r15, [rsi + 112]
    mov rsi, [rsi + 32]

    sti
    vmrun rax
    cli

    /* RAX holds the guest VMCB again, RSP is the host's. Store the guest registers. */
    push rsi
    mov rsi, [rsp + 24]     /* GuestGprs pointer */
    mov [rsi + 8],  rbx
    mov [rsi + 16], rcx
    mov [rsi + 24], rdx
    pop rbx
    mov [rsi + 32], rbx
    mov [rsi + 40], rdi
    mov [rsi + 48], rbp
    mov [rsi + 56], r8
    mov [rsi + 64], r9
    mov [rsi + 72], r10
    mov [rsi + 80], r11
    mov [rsi + 88], r12
    mov [rsi + 96], r13
    mov [rsi + 104], r14
    mov [rsi + 112], r15

    pop rax                 /* guest VMCB */
    vmsave rax
    pop rax                 /* host save area */
    vmload rax
    stgi

    pop rsi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret
