//! Networking: [`dma`] validates guest buffers and counts DMA references, `port` is each
//! guest's queue set and the network hypercalls, `switch` the software baseline, and [`igb`]
//! the NIC device layer (the Intel 82576's VMDq pools, one per guest, with their descriptor
//! rings in hypervisor memory and one MSI for the whole NIC).

pub mod dma;
pub mod igb;
#[cfg(target_os = "none")]
pub mod port;
#[cfg(target_os = "none")]
pub mod switch;
