//! Each guest's emulated 16550 UART at I/O port 0x3F8 (its console).
//!
//! Enough of the 16550 for a real driver to initialise and use it: divisor latches behind
//! LCR.DLAB, the scratch register (presence check), a transmitter that is always empty (LSR
//! THRE|TEMT), and loopback mode (MCR.LOOP) in which transmitted bytes come back through a
//! 16-byte receive FIFO, as drivers' self-tests expect. Transmitted bytes outside loopback are
//! collected into lines; a completed line is handed to the caller for printing. Guest bytes are
//! untrusted: anything but printable ASCII and tabs is shown as `?`, so a guest cannot send
//! escape sequences to the hypervisor's console, and over-long lines are split.
//! Register layout: the 16550 datasheet (PC16550D), also used by the `uart_16550` crate.

/// The UART's base port.
pub const COM1_BASE: u16 = 0x3f8;
/// Number of ports it decodes.
pub const COM1_PORTS: u16 = 8;
/// Longest line kept before it is printed anyway.
pub const MAX_LINE: usize = 512;

const FIFO: usize = 16;
const LSR_DATA_READY: u8 = 1 << 0;
const LSR_THR_EMPTY: u8 = 1 << 5;
const LSR_TX_EMPTY: u8 = 1 << 6;
const MCR_LOOP: u8 = 1 << 4;
const LCR_DLAB: u8 = 1 << 7;

/// One guest's UART.
pub struct Uart {
    ier: u8,
    lcr: u8,
    mcr: u8,
    scratch: u8,
    fcr: u8,
    divisor: u16,
    rx: [u8; FIFO],
    rx_len: usize,
    line: [u8; MAX_LINE],
    line_len: usize,
    /// Bytes the guest wrote outside loopback.
    pub bytes_out: u64,
}

impl Default for Uart {
    fn default() -> Self {
        Self::new()
    }
}

impl Uart {
    /// A UART after reset.
    pub const fn new() -> Self {
        Uart {
            ier: 0,
            lcr: 0,
            mcr: 0,
            scratch: 0,
            fcr: 0,
            divisor: 12,
            rx: [0; FIFO],
            rx_len: 0,
            line: [0; MAX_LINE],
            line_len: 0,
            bytes_out: 0,
        }
    }

    /// A guest read of register `offset` (0–7).
    pub fn read(&mut self, offset: u16) -> u8 {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset {
            0 if dlab => self.divisor as u8,
            0 => self.pop_rx(),
            1 if dlab => (self.divisor >> 8) as u8,
            1 => self.ier,
            // No interrupt pending; FIFO-enabled bits when the FIFO is on.
            2 => {
                if self.fcr & 1 != 0 {
                    0xc1
                } else {
                    0x01
                }
            }
            3 => self.lcr,
            4 => self.mcr,
            5 => LSR_THR_EMPTY | LSR_TX_EMPTY | if self.rx_len > 0 { LSR_DATA_READY } else { 0 },
            6 => {
                if self.mcr & MCR_LOOP != 0 {
                    // Loopback: CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2.
                    let m = self.mcr;
                    ((m & 0b10) << 3) | ((m & 0b01) << 5) | ((m & 0b100) << 4) | ((m & 0b1000) << 4)
                } else {
                    // A connected peer: DCD, DSR, CTS.
                    0xb0
                }
            }
            7 => self.scratch,
            _ => 0xff,
        }
    }

    /// A guest write of `value` to register `offset` (0–7). Returns a completed console line.
    pub fn write(&mut self, offset: u16, value: u8) -> Option<&str> {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset {
            0 if dlab => self.divisor = (self.divisor & 0xff00) | u16::from(value),
            0 if self.mcr & MCR_LOOP != 0 => self.push_rx(value),
            0 => return self.transmit(value),
            1 if dlab => self.divisor = (self.divisor & 0x00ff) | (u16::from(value) << 8),
            1 => self.ier = value & 0x0f,
            2 => {
                self.fcr = value;
                if value & 0b10 != 0 {
                    self.rx_len = 0;
                }
            }
            3 => self.lcr = value,
            4 => self.mcr = value & 0x1f,
            7 => self.scratch = value,
            _ => {}
        }
        None
    }

    /// Takes whatever partial line is left (at the end of a guest's life).
    pub fn flush(&mut self) -> Option<&str> {
        if self.line_len == 0 {
            return None;
        }
        let len = core::mem::take(&mut self.line_len);
        core::str::from_utf8(&self.line[..len]).ok()
    }

    fn transmit(&mut self, byte: u8) -> Option<&str> {
        self.bytes_out += 1;
        match byte {
            b'\n' => {
                let len = core::mem::take(&mut self.line_len);
                return core::str::from_utf8(&self.line[..len]).ok();
            }
            b'\r' => return None,
            b' '..=b'~' | b'\t' => self.line[self.line_len] = byte,
            _ => self.line[self.line_len] = b'?',
        }
        self.line_len += 1;
        if self.line_len == MAX_LINE {
            self.line_len = 0;
            return core::str::from_utf8(&self.line).ok();
        }
        None
    }

    fn push_rx(&mut self, byte: u8) {
        if self.rx_len < FIFO {
            self.rx[self.rx_len] = byte;
            self.rx_len += 1;
        }
    }

    fn pop_rx(&mut self) -> u8 {
        if self.rx_len == 0 {
            return 0;
        }
        let byte = self.rx[0];
        self.rx.copy_within(1..self.rx_len, 0);
        self.rx_len -= 1;
        byte
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(uart: &mut Uart, text: &[u8]) -> Vec<String> {
        text.iter()
            .filter_map(|&b| uart.write(0, b).map(String::from))
            .collect()
    }

    #[test]
    fn collects_lines_and_sanitises_bytes() {
        let mut u = Uart::new();
        assert_eq!(
            send(&mut u, b"hello\r\nworld\x1b[2J\n"),
            ["hello", "world?[2J"]
        );
        assert_eq!(send(&mut u, b"tail"), Vec::<String>::new());
        assert_eq!(u.flush(), Some("tail"));
        assert_eq!(u.flush(), None);
        let long = vec![b'x'; MAX_LINE + 5];
        let lines = send(&mut u, &long);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].len(), MAX_LINE);
    }

    #[test]
    fn passes_a_driver_presence_and_loopback_check() {
        let mut u = Uart::new();
        u.write(7, 0x42);
        assert_eq!(u.read(7), 0x42);
        // Divisor latch behind DLAB.
        u.write(3, LCR_DLAB);
        u.write(0, 3);
        u.write(1, 0);
        u.write(3, 0x03);
        assert_eq!(u.divisor, 3);
        assert_eq!(
            u.read(5) & (LSR_THR_EMPTY | LSR_TX_EMPTY),
            LSR_THR_EMPTY | LSR_TX_EMPTY
        );
        // Loopback: bytes come back, nothing is printed.
        u.write(4, MCR_LOOP | 0b1011);
        assert_eq!(u.read(6) & 0xf0, 0xb0);
        for b in b"hello world!1337" {
            assert!(u.write(0, *b).is_none());
        }
        let mut back = Vec::new();
        while u.read(5) & LSR_DATA_READY != 0 {
            back.push(u.read(0));
        }
        assert_eq!(back, b"hello world!1337");
        assert_eq!(u.bytes_out, 0);
    }
}
