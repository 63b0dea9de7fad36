//! The software switch of the `sw` baseline: the hypervisor forwards each frame a guest sends
//! by copying it into a receive buffer of the destination guest, like a bridge in a driver
//! domain. A frame is copied twice (sender's buffer → hypervisor, hypervisor → receiver's
//! buffer). Unicast goes to the guest whose MAC matches; broadcast and multicast to every
//! other `sw` guest; frames for unknown MACs are dropped (there is no wire in this mode).

use cdna_abi::vector;
use vmm_config::NetMode;

use crate::vcpu::Backend;
use crate::vm::Vm;

/// Forwards every frame waiting in `vms[from]`'s outbox.
pub fn forward<B: Backend>(vms: &mut [Vm<B>], from: usize) {
    loop {
        let Some(frame) = vms[from].net.as_mut().and_then(|p| p.outbox.pop_front()) else {
            return;
        };
        let bytes = &frame.data[..usize::from(frame.len)];
        let destination = &bytes[0..6];
        let broadcast = destination[0] & 1 != 0;
        for (index, vm) in vms.iter_mut().enumerate() {
            if index == from || !vm.state.is_live() {
                continue;
            }
            let Vm { net, memory, .. } = vm;
            let Some(port) = net.as_mut().filter(|p| p.mode == NetMode::Sw) else {
                continue;
            };
            if (broadcast || port.mac == destination) && port.deliver(memory, bytes) {
                vm.raise(vector::NET);
            }
        }
    }
}
