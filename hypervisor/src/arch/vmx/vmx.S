/*
 * The VMX world switch (Intel syntax).
 *
 * u64 vmx_world_switch(GuestGprs *gprs, u64 launched)
 *
 * Saves the host's callee-saved registers and the `gprs` pointer on the stack, writes the
 * stack pointer to the VMCS's HOST_RSP field (so the next VM exit lands on this very frame),
 * loads the guest's general-purpose registers from `gprs` and enters the guest with
 * VMLAUNCH (launch state clear) or VMRESUME (launched). Returns:
 *   0  after a VM exit (the guest registers are stored back into `gprs`);
 *   1  VMfailInvalid (CF = 1): no current VMCS (Intel SDM Vol. 3C, 31.2);
 *   2  VMfailValid (ZF = 1): the VM-instruction error field says why (SDM Vol. 3C, 31.4).
 *
 * A VM exit loads RSP from HOST_RSP and RIP from HOST_RIP = vmx_exit_stub, clears RFLAGS but
 * for bit 1 (SDM Vol. 3C, 28.5.3), and loads CR0/CR3/CR4, the segment registers, GDTR/IDTR
 * bases, EFER and PAT from the host-state area (28.5.1-28.5.2). Everything else is as the
 * guest left it, so the stub stores the guest's registers before restoring the host's.
 *
 * GuestGprs offsets (crate::vcpu::GuestGprs, #[repr(C)]; checked at compile time in vcpu.rs):
 *   rax 0x00  rbx 0x08  rcx 0x10  rdx 0x18  rsi 0x20  rdi 0x28  rbp 0x30  r8 0x38
 *   r9 0x40   r10 0x48  r11 0x50  r12 0x58  r13 0x60  r14 0x68  r15 0x70
 */

.section .text.vmx, "ax"

.global vmx_world_switch
.global vmx_exit_stub

vmx_world_switch:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    /* The GuestGprs pointer: at [rsp] when the VM exit lands. */
    push rdi

    /* HOST_RSP (field encoding 0x6c14, SDM Vol. 3D, Appendix B.4.4) = this frame. */
    mov eax, 0x6c14
    vmwrite rax, rsp
    jbe .Lvmfail

    /* ZF records the launch state; the MOVs below leave the flags alone. */
    test rsi, rsi
    mov rax, [rdi + 0x00]
    mov rbx, [rdi + 0x08]
    mov rcx, [rdi + 0x10]
    mov rdx, [rdi + 0x18]
    mov rsi, [rdi + 0x20]
    mov rbp, [rdi + 0x30]
    mov r8,  [rdi + 0x38]
    mov r9,  [rdi + 0x40]
    mov r10, [rdi + 0x48]
    mov r11, [rdi + 0x50]
    mov r12, [rdi + 0x58]
    mov r13, [rdi + 0x60]
    mov r14, [rdi + 0x68]
    mov r15, [rdi + 0x70]
    mov rdi, [rdi + 0x28]
    /*
     * Enter with RFLAGS.IF set. External-interrupt exiting makes every physical interrupt
     * end the guest's run whatever the guest's IF (SDM Vol. 3C, 26.2), and STI's one-
     * instruction shadow keeps the host from taking one before the entry. Some emulators
     * (Bochs) keep physical interrupts masked for a guest entered with IF clear while the
     * host's IF was clear too; a VM exit clears IF again (28.5.3). STI and JNZ leave ZF alone.
     */
    jnz .Lresume
    sti
    vmlaunch
    /* Only reached when VMLAUNCH failed: the flags tell how. */
    jmp .Lvmfail
.Lresume:
    sti
    vmresume
    /* Only reached when VMRESUME failed. */

.Lvmfail:
    cli
    /* CF = 1: VMfailInvalid; otherwise ZF = 1: VMfailValid. MOV keeps the flags. */
    mov eax, 1
    jc .Lreturn
    mov eax, 2
    jmp .Lreturn

vmx_exit_stub:
    /* RSP = HOST_RSP: [rsp] is the GuestGprs pointer. Free RDI to hold it. */
    push rdi
    mov rdi, [rsp + 8]
    mov [rdi + 0x00], rax
    mov [rdi + 0x08], rbx
    mov [rdi + 0x10], rcx
    mov [rdi + 0x18], rdx
    mov [rdi + 0x20], rsi
    mov [rdi + 0x30], rbp
    mov [rdi + 0x38], r8
    mov [rdi + 0x40], r9
    mov [rdi + 0x48], r10
    mov [rdi + 0x50], r11
    mov [rdi + 0x58], r12
    mov [rdi + 0x60], r13
    mov [rdi + 0x68], r14
    mov [rdi + 0x70], r15
    pop rax
    mov [rdi + 0x28], rax
    xor eax, eax

.Lreturn:
    /* Drop the GuestGprs pointer, restore the host's callee-saved registers. */
    add rsp, 8
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret
