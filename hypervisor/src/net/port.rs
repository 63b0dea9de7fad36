//! Each guest's network queue set and the network hypercalls.
//!
//! A [`NetPort`] is what a guest owns on the network: in `cdna` mode one VMDq pool of the
//! 82576 (RX queue n, TX queue n, rings in hypervisor memory), in `sw` mode a place on the
//! hypervisor's software switch. The hypercalls are the same for both:
//!
//! - `NET_RX_POST` / `NET_TX`: the guest's array of [`Buffer`]s is copied into hypervisor
//!   memory once, then each entry goes through [`dma::check_buffer`]; a valid buffer's pages
//!   are pinned before its descriptor is written, a refused one completes at once with its
//!   error. For transmit, the frame's first [`HEADER_COPY`] bytes are copied into a
//!   hypervisor-owned header buffer and checked there (the source MAC must be the guest's);
//!   the NIC sends that copy followed by the rest of the guest's buffer, so a guest rewriting
//!   its buffer after the check cannot change the header that was checked. One doorbell
//!   (tail write) per call.
//! - `NET_REAP`: completed descriptors are collected from the rings, their pages unpinned,
//!   and completions written to the guest's array.
//!
//! The interrupt handler only records which queues have causes; [`fan_out`] maps those bits
//! to their owners and raises each owner's NET virtual interrupt, and nobody else's.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use cdna_abi::Error;
use cdna_abi::net::{Buffer, Completion, KIND_RX, KIND_TX, MAX_BATCH, QUEUE_DEPTH};
use vmm_config::NetMode;
use x86_64::PhysAddr;

use super::dma::{self, Direction, DmaError, PageRefs, ValidBuffer};
use super::igb::{Igb, IgbError, RX_RING_LEN, TX_RING_LEN};
use crate::memory::heap::{allocate_zeroed_contiguous, phys_to_virt};
use crate::vm::guest_memory::GuestMemory;

/// Bytes of each transmitted frame copied into hypervisor memory and checked there: the
/// Ethernet header and then some, so that headers a future filter might check are covered.
pub const HEADER_COPY: u32 = 64;

/// A frame waiting in the software switch.
pub struct SwFrame {
    /// The bytes.
    pub data: [u8; cdna_abi::net::MAX_FRAME as usize],
    /// Length.
    pub len: u16,
}

/// Per-guest network counters, printed in the run summary.
#[derive(Debug, Clone, Default)]
pub struct NetStats {
    /// NET_RX_POST calls.
    pub rx_post_calls: u64,
    /// NET_TX calls.
    pub tx_calls: u64,
    /// NET_REAP calls.
    pub reap_calls: u64,
    /// Receive buffers posted to the NIC or switch.
    pub rx_posted: u64,
    /// Frames received.
    pub rx_frames: u64,
    /// Frames transmitted.
    pub tx_frames: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Header bytes copied into hypervisor buffers (cdna).
    pub header_bytes_copied: u64,
    /// Frames the software switch copied (sw).
    pub switch_frames: u64,
    /// Bytes the software switch copied (sw).
    pub switch_bytes: u64,
    /// Frames dropped for want of a posted receive buffer (sw).
    pub rx_dropped: u64,
    /// Refused buffers, by [`DmaError::index`].
    pub refused: [u64; DmaError::COUNT],
    /// Requests refused as a whole (bad array, bad count).
    pub refused_calls: u64,
}

impl NetStats {
    /// All refused buffers.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().sum()
    }
}

#[derive(Clone, Copy)]
struct TxSlot {
    /// The guest's tag.
    id: u32,
    /// Frame length.
    len: u32,
    /// The pinned payload (after the header copy), if any.
    payload: Option<ValidBuffer>,
    /// Header buffer index.
    header: u16,
}

/// One guest's queue set.
pub struct NetPort {
    /// `cdna` or `sw`.
    pub mode: NetMode,
    /// The guest's MAC address.
    pub mac: [u8; 6],
    /// The VMDq pool (cdna).
    pub pool: u8,
    /// DMA reference counts of the guest's pages.
    pub refs: PageRefs,
    /// Counters.
    pub stats: NetStats,
    /// Completions ready for NET_REAP.
    done: VecDeque<Completion>,
    /// cdna: the buffer in each RX descriptor slot.
    rx_slots: Vec<Option<ValidBuffer>>,
    /// cdna: the frame whose last descriptor is in each TX slot.
    tx_slots: Vec<Option<TxSlot>>,
    /// cdna: header buffers, [`HEADER_COPY`] bytes each, one per outstanding frame.
    headers: PhysAddr,
    free_headers: Vec<u16>,
    /// sw: posted receive buffers, in order.
    sw_rx: VecDeque<ValidBuffer>,
    /// sw: frames sent, waiting for the switch.
    pub outbox: VecDeque<SwFrame>,
    rx_outstanding: u32,
    tx_outstanding: u32,
}

/// Whether a hypercall left completions that deserve a NET interrupt.
pub struct Posted {
    /// The hypercall's return value (RAX).
    pub result: Result<u64, Error>,
    /// Completions are waiting.
    pub notify: bool,
}

impl NetPort {
    /// A port for a guest with `ram_size` bytes of RAM.
    pub fn new(mode: NetMode, mac: [u8; 6], pool: u8, ram_size: u64) -> Option<Self> {
        let header_count = u64::from(QUEUE_DEPTH);
        let headers = if mode == NetMode::Cdna {
            allocate_zeroed_contiguous(header_count * u64::from(HEADER_COPY), 4096)?
        } else {
            PhysAddr::new(0)
        };
        Some(NetPort {
            mode,
            mac,
            pool,
            refs: PageRefs::new(ram_size),
            stats: NetStats::default(),
            done: VecDeque::new(),
            rx_slots: vec![None; usize::from(RX_RING_LEN)],
            tx_slots: vec![None; usize::from(TX_RING_LEN)],
            headers,
            free_headers: (0..QUEUE_DEPTH as u16).rev().collect(),
            sw_rx: VecDeque::new(),
            outbox: VecDeque::new(),
            rx_outstanding: 0,
            tx_outstanding: 0,
        })
    }

    /// Completions waiting to be reaped.
    pub fn pending_completions(&self) -> usize {
        self.done.len()
    }

    fn refuse(&mut self, id: u32, kind: u32, error: DmaError) {
        self.stats.refused[error.index()] += 1;
        self.done.push_back(Completion {
            id,
            len: 0,
            status: error.abi() as i64 as i32,
            kind,
        });
    }

    /// Copies the guest's array of `count` buffers at `array` into hypervisor memory.
    fn read_array(
        &mut self,
        memory: &GuestMemory,
        array: u64,
        count: u64,
    ) -> Result<Vec<Buffer>, Error> {
        if count > MAX_BATCH {
            self.stats.refused_calls += 1;
            return Err(Error::InvalidArgument);
        }
        let mut raw = vec![0u8; count as usize * 16];
        if memory.read(array, &mut raw).is_err() {
            self.stats.refused_calls += 1;
            return Err(Error::BadAddress);
        }
        Ok(raw
            .as_chunks::<16>()
            .0
            .iter()
            .map(|c| Buffer {
                gpa: u64::from_le_bytes(c[0..8].try_into().unwrap_or_default()),
                len: u32::from_le_bytes(c[8..12].try_into().unwrap_or_default()),
                id: u32::from_le_bytes(c[12..16].try_into().unwrap_or_default()),
            })
            .collect())
    }

    /// Reads a request's array and validates each buffer: refused ones complete at once with
    /// their error; the valid ones come back, no more than the guest may still have
    /// outstanding in `direction`.
    fn request(
        &mut self,
        memory: &GuestMemory,
        array: u64,
        count: u64,
        direction: Direction,
    ) -> Result<Vec<ValidBuffer>, Error> {
        let buffers = self.read_array(memory, array, count)?;
        let (kind, outstanding) = match direction {
            Direction::Receive => (KIND_RX, self.rx_outstanding),
            Direction::Transmit => (KIND_TX, self.tx_outstanding),
        };
        let mut room = QUEUE_DEPTH.saturating_sub(outstanding);
        let mut valid = Vec::with_capacity(buffers.len());
        for buffer in buffers {
            match dma::check_buffer(buffer, direction, memory.size(), |gpa, len| {
                memory.is_released(gpa, len)
            }) {
                Ok(_) if room == 0 => self.refuse(buffer.id, kind, DmaError::QueueFull),
                Ok(v) => {
                    room -= 1;
                    valid.push(v);
                }
                Err(e) => self.refuse(buffer.id, kind, e),
            }
        }
        Ok(valid)
    }

    /// NET_RX_POST.
    pub fn rx_post(
        &mut self,
        memory: &GuestMemory,
        nic: Option<&mut Igb>,
        array: u64,
        count: u64,
    ) -> Posted {
        self.stats.rx_post_calls += 1;
        let before = self.done.len();
        let buffers = match self.request(memory, array, count, Direction::Receive) {
            Ok(b) => b,
            Err(e) => {
                return Posted {
                    result: Err(e),
                    notify: false,
                };
            }
        };
        let mut nic = nic;
        let mut posted = 0;
        for valid in buffers {
            match (self.mode, nic.as_deref_mut()) {
                (NetMode::Cdna, Some(nic)) => {
                    let Some(hpa) = memory.translate(valid.gpa) else {
                        self.refuse(
                            valid.id,
                            KIND_RX,
                            DmaError::OutsideRam {
                                gpa: valid.gpa,
                                len: valid.len,
                            },
                        );
                        continue;
                    };
                    // Pin before the descriptor exists.
                    self.refs.pin(&valid);
                    match nic.rx_post(self.pool, hpa.as_u64()) {
                        Ok(slot) => {
                            let n = self.rx_slots.len();
                            self.rx_slots[usize::from(slot) % n] = Some(valid);
                        }
                        Err(_) => {
                            self.refs.unpin(&valid);
                            self.refuse(valid.id, KIND_RX, DmaError::QueueFull);
                            continue;
                        }
                    }
                }
                (NetMode::Sw, _) => {
                    self.refs.pin(&valid);
                    self.sw_rx.push_back(valid);
                }
                _ => {
                    self.refuse(valid.id, KIND_RX, DmaError::NoNetwork);
                    continue;
                }
            }
            self.rx_outstanding += 1;
            self.stats.rx_posted += 1;
            posted += 1;
        }
        if posted > 0
            && let Some(nic) = nic
        {
            nic.rx_doorbell(self.pool);
        }
        Posted {
            result: Ok(posted),
            notify: self.done.len() > before,
        }
    }

    /// NET_TX.
    pub fn transmit(
        &mut self,
        memory: &GuestMemory,
        nic: Option<&mut Igb>,
        array: u64,
        count: u64,
    ) -> Posted {
        self.stats.tx_calls += 1;
        let before = self.done.len();
        let buffers = match self.request(memory, array, count, Direction::Transmit) {
            Ok(b) => b,
            Err(e) => {
                return Posted {
                    result: Err(e),
                    notify: false,
                };
            }
        };
        let mut nic = nic;
        let mut queued = 0;
        for valid in buffers {
            // The checked copy of the header: the guest cannot change it afterwards.
            let header_len = valid.len.min(HEADER_COPY);
            let mut header = [0u8; HEADER_COPY as usize];
            if memory
                .read(valid.gpa, &mut header[..header_len as usize])
                .is_err()
            {
                self.refuse(
                    valid.id,
                    KIND_TX,
                    DmaError::OutsideRam {
                        gpa: valid.gpa,
                        len: valid.len,
                    },
                );
                continue;
            }
            if header[6..12] != self.mac {
                self.refuse(valid.id, KIND_TX, DmaError::SpoofedSource);
                continue;
            }
            let sent = match (self.mode, nic.as_deref_mut()) {
                (NetMode::Cdna, Some(nic)) => {
                    self.transmit_cdna(memory, nic, valid, &header[..header_len as usize])
                }
                (NetMode::Sw, _) => self.transmit_sw(memory, valid, &header[..header_len as usize]),
                _ => Err(DmaError::NoNetwork),
            };
            match sent {
                Ok(()) => {
                    queued += 1;
                    self.stats.tx_frames += 1;
                    self.stats.tx_bytes += u64::from(valid.len);
                }
                Err(e) => self.refuse(valid.id, KIND_TX, e),
            }
        }
        if queued > 0
            && self.mode == NetMode::Cdna
            && let Some(nic) = nic
        {
            nic.tx_doorbell(self.pool);
        }
        Posted {
            result: Ok(queued),
            notify: self.done.len() > before,
        }
    }

    fn transmit_cdna(
        &mut self,
        memory: &GuestMemory,
        nic: &mut Igb,
        frame: ValidBuffer,
        header: &[u8],
    ) -> Result<(), DmaError> {
        let Some(header_index) = self.free_headers.pop() else {
            return Err(DmaError::QueueFull);
        };
        let header_hpa = self.headers + u64::from(header_index) * u64::from(HEADER_COPY);
        write_hypervisor_bytes(header_hpa, header);
        self.stats.header_bytes_copied += header.len() as u64;
        let payload_len = frame.len - header.len() as u32;
        let payload = (payload_len > 0).then(|| ValidBuffer {
            gpa: frame.gpa + header.len() as u64,
            len: payload_len,
            id: frame.id,
        });
        let mut segments = [(header_hpa.as_u64(), header.len() as u16), (0, 0)];
        let mut count = 1;
        if let Some(p) = payload {
            let Some(hpa) = memory.translate(p.gpa) else {
                self.free_headers.push(header_index);
                return Err(DmaError::OutsideRam {
                    gpa: frame.gpa,
                    len: frame.len,
                });
            };
            segments[1] = (hpa.as_u64(), p.len as u16);
            count = 2;
            self.refs.pin(&p);
        }
        match nic.tx_post(self.pool, &segments[..count]) {
            Ok(slot) => {
                let n = self.tx_slots.len();
                self.tx_slots[usize::from(slot) % n] = Some(TxSlot {
                    id: frame.id,
                    len: frame.len,
                    payload,
                    header: header_index,
                });
                self.tx_outstanding += 1;
                Ok(())
            }
            Err(_) => {
                if let Some(p) = payload {
                    self.refs.unpin(&p);
                }
                self.free_headers.push(header_index);
                Err(DmaError::QueueFull)
            }
        }
    }

    fn transmit_sw(
        &mut self,
        memory: &GuestMemory,
        frame: ValidBuffer,
        header: &[u8],
    ) -> Result<(), DmaError> {
        let mut out = SwFrame {
            data: [0; cdna_abi::net::MAX_FRAME as usize],
            len: frame.len as u16,
        };
        out.data[..header.len()].copy_from_slice(header);
        let rest = &mut out.data[header.len()..frame.len as usize];
        if memory.read(frame.gpa + header.len() as u64, rest).is_err() {
            return Err(DmaError::OutsideRam {
                gpa: frame.gpa,
                len: frame.len,
            });
        }
        self.stats.switch_frames += 1;
        self.stats.switch_bytes += u64::from(frame.len);
        self.outbox.push_back(out);
        // The frame is in the switch: the guest's buffer is free again.
        self.done.push_back(Completion {
            id: frame.id,
            len: frame.len,
            status: 0,
            kind: KIND_TX,
        });
        Ok(())
    }

    /// sw: delivers `frame` into the next posted receive buffer. Returns whether it was taken.
    pub fn deliver(&mut self, memory: &GuestMemory, frame: &[u8]) -> bool {
        let Some(buffer) = self.sw_rx.pop_front() else {
            self.stats.rx_dropped += 1;
            return false;
        };
        self.refs.unpin(&buffer);
        self.rx_outstanding -= 1;
        let status = match memory.write(buffer.gpa, frame) {
            Ok(()) => 0,
            Err(_) => Error::BadAddress as i64 as i32,
        };
        self.stats.rx_frames += 1;
        self.done.push_back(Completion {
            id: buffer.id,
            len: frame.len() as u32,
            status,
            kind: KIND_RX,
        });
        true
    }

    /// Moves finished descriptors from the NIC's rings to the completion queue, unpinning
    /// their pages. Returns how many.
    pub fn collect(&mut self, nic: &mut Igb) -> usize {
        let mut n = 0;
        while let Some(done) = nic.rx_reap(self.pool) {
            let slots = self.rx_slots.len();
            let Some(buffer) = self.rx_slots[usize::from(done.slot) % slots].take() else {
                continue;
            };
            self.refs.unpin(&buffer);
            self.rx_outstanding -= 1;
            self.stats.rx_frames += 1;
            let status = if done.error {
                Error::InvalidArgument as i64 as i32
            } else {
                0
            };
            self.done.push_back(Completion {
                id: buffer.id,
                len: u32::from(done.len),
                status,
                kind: KIND_RX,
            });
            n += 1;
        }
        while let Some(slot) = nic.tx_reap(self.pool) {
            let slots = self.tx_slots.len();
            let Some(tx) = self.tx_slots[usize::from(slot) % slots].take() else {
                continue;
            };
            if let Some(p) = tx.payload {
                self.refs.unpin(&p);
            }
            self.free_headers.push(tx.header);
            self.tx_outstanding -= 1;
            self.done.push_back(Completion {
                id: tx.id,
                len: tx.len,
                status: 0,
                kind: KIND_TX,
            });
            n += 1;
        }
        n
    }

    /// NET_REAP.
    pub fn reap(
        &mut self,
        memory: &GuestMemory,
        nic: Option<&mut Igb>,
        array: u64,
        capacity: u64,
    ) -> Result<u64, Error> {
        self.stats.reap_calls += 1;
        if let Some(nic) = nic {
            self.collect(nic);
        }
        // The whole array the guest offered must be its memory, whether or not anything is
        // waiting to be written into it.
        let capacity = capacity.min(MAX_BATCH);
        if capacity > 0 && !memory.contains(array, capacity * 16) {
            self.stats.refused_calls += 1;
            return Err(Error::BadAddress);
        }
        let n = (capacity as usize).min(self.done.len());
        if n == 0 {
            return Ok(0);
        }
        let mut raw = vec![0u8; n * 16];
        for (chunk, c) in raw
            .as_chunks_mut::<16>()
            .0
            .iter_mut()
            .zip(self.done.drain(..n))
        {
            chunk[0..4].copy_from_slice(&c.id.to_le_bytes());
            chunk[4..8].copy_from_slice(&c.len.to_le_bytes());
            chunk[8..12].copy_from_slice(&c.status.to_le_bytes());
            chunk[12..16].copy_from_slice(&c.kind.to_le_bytes());
        }
        memory.write(array, &raw).map_err(|_| Error::BadAddress)?;
        Ok(n as u64)
    }

    /// Teardown: with the pool disabled, no descriptor will complete any more; drop every
    /// reference the rings held. Returns the number of buffers reclaimed, or the error that
    /// kept the pool from stopping (then every reference stays: the pages must not be reused).
    pub fn quiesce(&mut self, nic: Option<&mut Igb>) -> Result<usize, IgbError> {
        if let Some(nic) = nic {
            nic.disable_pool(self.pool)?;
            self.collect(nic);
        }
        let mut reclaimed = 0;
        for slot in self.rx_slots.iter_mut() {
            if let Some(buffer) = slot.take() {
                self.refs.unpin(&buffer);
                reclaimed += 1;
            }
        }
        for slot in self.tx_slots.iter_mut() {
            if let Some(tx) = slot.take() {
                if let Some(p) = tx.payload {
                    self.refs.unpin(&p);
                }
                reclaimed += 1;
            }
        }
        while let Some(buffer) = self.sw_rx.pop_front() {
            self.refs.unpin(&buffer);
            reclaimed += 1;
        }
        self.rx_outstanding = 0;
        self.tx_outstanding = 0;
        self.done.clear();
        self.outbox.clear();
        Ok(reclaimed)
    }
}

fn write_hypervisor_bytes(at: PhysAddr, bytes: &[u8]) {
    let ptr = phys_to_virt(at).as_mut_ptr::<u8>();
    // SAFETY: `at` lies in a header buffer this port allocated (hypervisor memory no guest
    // maps), reached through the physical-memory map; the slot is not in a descriptor yet.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len()) };
}

/// Maps the EICR cause bits collected by the interrupt handler to the guests that own those
/// queues: `owner[pool]` is the VM index of each pool. Calls `raise` once per owning VM.
pub fn fan_out(causes: u32, owner: &[Option<usize>; 8], mut raise: impl FnMut(usize)) {
    let pools = (causes & 0xff) | ((causes >> 8) & 0xff);
    let mut raised = [false; 8];
    for pool in 0..8 {
        if pools & (1 << pool) != 0
            && let Some(vm) = owner[pool]
            && !raised[pool]
        {
            raised[pool] = true;
            raise(vm);
        }
    }
}
