//! The requests of `net-hostile`: thirteen deliberately bad uses of the queue set, each with
//! the error the hypervisor must answer (cdna_abi `hypercall` and `Error`), and the verdict on
//! what it did answer.
//!
//! A buffer lies either in the program's own scratch memory ([`Place::Scratch`]: RAM the
//! guest owns, so that only the length or the contents are wrong) or at an address outside
//! the guest's RAM ([`Place::Foreign`]). Per-buffer errors come back as completions;
//! errors of a whole request (its array, its count) as a negative RAX ([`Request::answer`]).

use core::fmt;

use cdna_abi::Error;
use cdna_abi::net::{MAX_BATCH, MAX_FRAME, RX_BUFFER_SIZE};

use crate::ether::Mac;
use crate::queue::StatusName;

/// Slots of [`RX_BUFFER_SIZE`] bytes of scratch memory the plan uses.
pub const SCRATCH_SLOTS: usize = 6;
/// Number of cases.
pub const CASES: usize = 13;
/// Distance beyond the end of RAM of the "outside RAM" addresses.
pub const BEYOND_RAM: u64 = 0x1000;
/// Hypervisor memory as the guest would name it: guest-physical 4 GiB, beyond every guest's
/// RAM and the identity map.
pub const HYPERVISOR_GPA: u64 = 0x1_0000_0000;
/// An address whose buffer wraps around the address space.
pub const WRAPPING_GPA: u64 = u64::MAX - 100;
/// Tags of the plan's buffers: `TAG_BASE + case index`.
pub const TAG_BASE: u32 = 0xbad0_0000;

/// Where a buffer lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In the program's scratch memory, from this slot on.
    Scratch {
        /// First slot.
        slot: usize,
    },
    /// At this guest-physical address, outside the guest's RAM.
    Foreign {
        /// The address.
        gpa: u64,
    },
}

/// What a transmitted buffer in scratch memory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contents {
    /// Nothing in particular (receive buffers, foreign buffers).
    Nothing,
    /// A broadcast frame from this source MAC, as long as the buffer (at least a header).
    FrameFrom(Mac),
}

/// One buffer of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Where it lies.
    pub place: Place,
    /// Its length.
    pub len: u32,
    /// What it holds.
    pub contents: Contents,
}

impl Spec {
    /// Scratch slots the buffer covers (at least one).
    pub fn slots(&self) -> usize {
        (self.len as usize).div_ceil(RX_BUFFER_SIZE as usize).max(1)
    }
}

/// A hypercall with bad arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// NET_RX_POST of one buffer.
    RxPost(Spec),
    /// NET_TX of one frame.
    Tx(Spec),
    /// NET_TX of one frame whose buffer array lies at `array`, outside RAM.
    TxArrayAt {
        /// Guest-physical address of the array.
        array: u64,
    },
    /// NET_TX of `count` frames, more than [`MAX_BATCH`]; each would be refused on its own
    /// too (outside RAM), should the count pass.
    TxTooMany {
        /// The count.
        count: u64,
        /// The frames' (foreign) address.
        gpa: u64,
    },
    /// NET_REAP into an array at `array`, outside RAM, while a completion is pending.
    ReapArrayAt {
        /// Guest-physical address of the array.
        array: u64,
    },
}

/// How the refusal is to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// As the buffer's completion.
    Completion,
    /// As the hypercall's RAX.
    Rax,
}

impl Request {
    /// How the refusal of this request comes back.
    pub fn answer(&self) -> Answer {
        match self {
            Request::RxPost(_) | Request::Tx(_) => Answer::Completion,
            Request::TxArrayAt { .. } | Request::TxTooMany { .. } | Request::ReapArrayAt { .. } => {
                Answer::Rax
            }
        }
    }
}

/// One case: a name for the console, the request and the error it must meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// Name on the console.
    pub name: &'static str,
    /// What is asked.
    pub request: Request,
    /// The refusal expected.
    pub expected: Error,
}

/// The cases for a guest with `memory_size` bytes of RAM and MAC `own`, probing another
/// guest's RAM at host-physical `other_host_phys` (which must lie outside `0..memory_size`).
pub fn plan(memory_size: u64, other_host_phys: u64, own: Mac) -> [Case; CASES] {
    let beyond = memory_size.saturating_add(BEYOND_RAM);
    let foreign = |gpa: u64, len: u32| Spec {
        place: Place::Foreign { gpa },
        len,
        contents: Contents::Nothing,
    };
    let scratch = |slot: usize, len: u32, contents: Contents| Spec {
        place: Place::Scratch { slot },
        len,
        contents,
    };
    let frame = Contents::FrameFrom(own);
    let case = |name, request, expected| Case {
        name,
        request,
        expected,
    };
    [
        case(
            "rx-outside-ram",
            Request::RxPost(foreign(beyond, RX_BUFFER_SIZE)),
            Error::BadAddress,
        ),
        case(
            "rx-other-guest-ram",
            Request::RxPost(foreign(other_host_phys, RX_BUFFER_SIZE)),
            Error::BadAddress,
        ),
        case(
            "rx-hypervisor-memory",
            Request::RxPost(foreign(HYPERVISOR_GPA, RX_BUFFER_SIZE)),
            Error::BadAddress,
        ),
        case(
            "rx-empty",
            Request::RxPost(scratch(0, 0, Contents::Nothing)),
            Error::EmptyBuffer,
        ),
        case(
            "rx-too-long",
            Request::RxPost(scratch(1, 2 * RX_BUFFER_SIZE, Contents::Nothing)),
            Error::BufferTooLong,
        ),
        case(
            "rx-wraps",
            Request::RxPost(foreign(WRAPPING_GPA, RX_BUFFER_SIZE)),
            Error::AddressWraps,
        ),
        case(
            "tx-spoofed-source",
            Request::Tx(scratch(3, 60, Contents::FrameFrom(Mac::another_guest(own)))),
            Error::SpoofedSource,
        ),
        case(
            "tx-empty",
            Request::Tx(scratch(4, 0, frame)),
            Error::EmptyBuffer,
        ),
        case(
            "tx-too-long",
            Request::Tx(scratch(5, MAX_FRAME + 1, frame)),
            Error::BufferTooLong,
        ),
        case(
            "tx-outside-ram",
            Request::Tx(foreign(beyond, 60)),
            Error::BadAddress,
        ),
        case(
            "tx-array-outside-ram",
            Request::TxArrayAt { array: beyond },
            Error::BadAddress,
        ),
        case(
            "tx-too-many",
            Request::TxTooMany {
                count: MAX_BATCH + 1,
                gpa: beyond,
            },
            Error::InvalidArgument,
        ),
        case(
            "reap-array-outside-ram",
            Request::ReapArrayAt { array: beyond },
            Error::BadAddress,
        ),
    ]
}

/// What became of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Refused with the expected error.
    Refused(Error),
    /// Refused, with another status than expected.
    WrongError {
        /// The status seen.
        got: i64,
        /// The error expected.
        expected: Error,
    },
    /// Not refused.
    NotRefused,
}

impl Verdict {
    /// The verdict on a case expecting `expected` that came back with `status` (`None`: it
    /// was accepted).
    pub fn of(expected: Error, status: Option<i64>) -> Self {
        match status {
            None | Some(0..) => Verdict::NotRefused,
            Some(got) if got == expected as i64 => Verdict::Refused(expected),
            Some(got) => Verdict::WrongError { got, expected },
        }
    }

    /// Whether the hypervisor did what the ABI asks.
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Refused(_))
    }
}

/// `net-hostile: <case>: refused with <Error>`, with ` (expected <Error>)` after an
/// unexpected error, or `net-hostile: <case>: NOT REFUSED`.
#[derive(Debug, Clone, Copy)]
pub struct CaseLine<'a> {
    /// The case's name.
    pub name: &'a str,
    /// What became of it.
    pub verdict: Verdict,
}

impl fmt::Display for CaseLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "net-hostile: {}: ", self.name)?;
        match self.verdict {
            Verdict::Refused(error) => write!(f, "refused with {error:?}"),
            Verdict::WrongError { got, expected } => {
                write!(
                    f,
                    "refused with {} (expected {expected:?})",
                    StatusName(got)
                )
            }
            Verdict::NotRefused => f.write_str("NOT REFUSED"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAM: u64 = 16 << 20;
    const OTHER: u64 = 0x4200_0000;

    #[test]
    fn the_plan_covers_every_rule() {
        let cases = plan(RAM, OTHER, Mac::FIRST_GUEST);
        let names: Vec<_> = cases.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "rx-outside-ram",
                "rx-other-guest-ram",
                "rx-hypervisor-memory",
                "rx-empty",
                "rx-too-long",
                "rx-wraps",
                "tx-spoofed-source",
                "tx-empty",
                "tx-too-long",
                "tx-outside-ram",
                "tx-array-outside-ram",
                "tx-too-many",
                "reap-array-outside-ram",
            ]
        );
        let answers = cases.iter().filter(|c| c.request.answer() == Answer::Rax);
        assert_eq!(answers.count(), 3);
        assert_eq!(
            cases[0].request,
            Request::RxPost(Spec {
                place: Place::Foreign { gpa: RAM + 0x1000 },
                len: 2048,
                contents: Contents::Nothing
            })
        );
        assert_eq!(
            cases[1].request,
            Request::RxPost(Spec {
                place: Place::Foreign { gpa: OTHER },
                len: 2048,
                contents: Contents::Nothing
            })
        );
        assert_eq!(cases[11].expected, Error::InvalidArgument);
    }

    #[test]
    fn spoofed_frames_name_another_guest() {
        for own in [Mac::FIRST_GUEST, Mac::SECOND_GUEST] {
            let cases = plan(RAM, OTHER, own);
            let Request::Tx(spec) = cases[6].request else {
                panic!("case 6 transmits")
            };
            assert_eq!(spec.contents, Contents::FrameFrom(Mac::another_guest(own)));
            assert_ne!(spec.contents, Contents::FrameFrom(own));
        }
    }

    #[test]
    fn foreign_buffers_are_outside_ram_and_scratch_slots_do_not_overlap() {
        let mut used = [false; SCRATCH_SLOTS];
        for case in plan(RAM, OTHER, Mac::SECOND_GUEST) {
            let spec = match case.request {
                Request::RxPost(spec) | Request::Tx(spec) => spec,
                Request::TxArrayAt { array } | Request::ReapArrayAt { array } => {
                    assert!(array >= RAM);
                    continue;
                }
                Request::TxTooMany { count, gpa } => {
                    assert!(count > MAX_BATCH && gpa >= RAM);
                    continue;
                }
            };
            match spec.place {
                Place::Foreign { gpa } => assert!(gpa >= RAM, "{}", case.name),
                Place::Scratch { slot } => {
                    for (s, used) in used.iter_mut().enumerate().skip(slot).take(spec.slots()) {
                        assert!(!*used, "{} reuses slot {s}", case.name);
                        *used = true;
                    }
                }
            }
        }
        assert_eq!(
            Spec {
                place: Place::Scratch { slot: 0 },
                len: 0,
                contents: Contents::Nothing
            }
            .slots(),
            1
        );
    }

    #[test]
    fn verdicts_and_lines() {
        let line = |verdict| {
            CaseLine {
                name: "rx-wraps",
                verdict,
            }
            .to_string()
        };
        let ok = Verdict::of(Error::AddressWraps, Some(-9));
        assert!(ok.passed());
        assert_eq!(line(ok), "net-hostile: rx-wraps: refused with AddressWraps");
        let wrong = Verdict::of(Error::AddressWraps, Some(-3));
        assert!(!wrong.passed());
        assert_eq!(
            line(wrong),
            "net-hostile: rx-wraps: refused with BadAddress (expected AddressWraps)"
        );
        assert_eq!(
            line(Verdict::of(Error::AddressWraps, Some(-99))),
            "net-hostile: rx-wraps: refused with error -99 (expected AddressWraps)"
        );
        for accepted in [None, Some(0), Some(1)] {
            let verdict = Verdict::of(Error::AddressWraps, accepted);
            assert_eq!(verdict, Verdict::NotRefused);
            assert_eq!(line(verdict), "net-hostile: rx-wraps: NOT REFUSED");
        }
    }
}
