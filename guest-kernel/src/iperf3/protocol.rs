//! The iperf3 3.12 control protocol (see `docs/IPERF3.md` of the shared docs): the state
//! bytes ([`State`]), the cookie that ties data connections to a test ([`Cookie`]), the
//! length-prefixed JSON messages ([`frame`], [`take_message`]), SERVER_ERROR's payload
//! ([`ServerError`]) and the stream ids ([`stream_id`]).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Bytes in a cookie on the wire: 36 characters and a NUL.
pub const COOKIE_SIZE: usize = 37;
/// The characters a cookie is made of (iperf3's `make_cookie`).
pub const COOKIE_CHARS: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// The largest JSON message accepted: far above the few hundred bytes of a parameter or
/// results message, low enough that a hostile length cannot exhaust the heap.
pub const MAX_MESSAGE: usize = 64 << 10;

/// The state bytes of the control connection (iperf_api.h), one signed byte each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// The data connections are up; the test is about to start.
    TestStart,
    /// The test runs.
    TestRunning,
    /// The client ends the test.
    TestEnd,
    /// The server asks for the parameters.
    ParamExchange,
    /// The server accepts data connections.
    CreateStreams,
    /// The server stopped the test.
    ServerTerminate,
    /// The client stopped the test.
    ClientTerminate,
    /// The server asks for the client's results.
    ExchangeResults,
    /// The results are exchanged; the client may show them.
    DisplayResults,
    /// The client is done.
    IperfDone,
    /// The server refuses the connection (busy, or an unknown cookie).
    AccessDenied,
    /// The server failed; two big-endian `i32` follow (iperf error number, errno).
    ServerError,
}

impl State {
    /// Every state, for lookups.
    pub const ALL: [State; 12] = [
        State::TestStart,
        State::TestRunning,
        State::TestEnd,
        State::ParamExchange,
        State::CreateStreams,
        State::ServerTerminate,
        State::ClientTerminate,
        State::ExchangeResults,
        State::DisplayResults,
        State::IperfDone,
        State::AccessDenied,
        State::ServerError,
    ];

    /// The byte on the wire.
    pub const fn byte(self) -> u8 {
        let value: i8 = match self {
            State::TestStart => 1,
            State::TestRunning => 2,
            State::TestEnd => 4,
            State::ParamExchange => 9,
            State::CreateStreams => 10,
            State::ServerTerminate => 11,
            State::ClientTerminate => 12,
            State::ExchangeResults => 13,
            State::DisplayResults => 14,
            State::IperfDone => 16,
            State::AccessDenied => -1,
            State::ServerError => -2,
        };
        value as u8
    }

    /// The state a byte names, if any.
    pub fn from_byte(byte: u8) -> Option<State> {
        State::ALL.into_iter().find(|s| s.byte() == byte)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::TestStart => "TEST_START",
            State::TestRunning => "TEST_RUNNING",
            State::TestEnd => "TEST_END",
            State::ParamExchange => "PARAM_EXCHANGE",
            State::CreateStreams => "CREATE_STREAMS",
            State::ServerTerminate => "SERVER_TERMINATE",
            State::ClientTerminate => "CLIENT_TERMINATE",
            State::ExchangeResults => "EXCHANGE_RESULTS",
            State::DisplayResults => "DISPLAY_RESULTS",
            State::IperfDone => "IPERF_DONE",
            State::AccessDenied => "ACCESS_DENIED",
            State::ServerError => "SERVER_ERROR",
        })
    }
}

/// A test's cookie as it travels: 37 bytes. The client makes one ([`Cookie::generate`]); the
/// server keeps whatever 37 bytes the control connection starts with ([`Cookie::from_wire`])
/// and compares data connections' against it byte for byte, as 3.12 does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Cookie([u8; COOKIE_SIZE]);

impl Cookie {
    /// A cookie of 36 characters of [`COOKIE_CHARS`] drawn from `seed` (splitmix64), and the NUL.
    pub fn generate(seed: u64) -> Cookie {
        let mut state = seed;
        let mut bytes = [0; COOKIE_SIZE];
        for byte in &mut bytes[..COOKIE_SIZE - 1] {
            *byte = COOKIE_CHARS[(splitmix64(&mut state) % COOKIE_CHARS.len() as u64) as usize];
        }
        Cookie(bytes)
    }

    /// The cookie in the first [`COOKIE_SIZE`] bytes of `bytes`; `None` if there are fewer.
    pub fn from_wire(bytes: &[u8]) -> Option<Cookie> {
        Some(Cookie(bytes.get(..COOKIE_SIZE)?.try_into().ok()?))
    }

    /// The bytes to send.
    pub fn as_bytes(&self) -> &[u8; COOKIE_SIZE] {
        &self.0
    }

    /// Whether it is what `make_cookie` makes: 36 cookie characters and a NUL.
    pub fn is_well_formed(&self) -> bool {
        self.0[COOKIE_SIZE - 1] == 0
            && self.0[..COOKIE_SIZE - 1]
                .iter()
                .all(|b| COOKIE_CHARS.contains(b))
    }
}

impl fmt::Debug for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cookie({self})")
    }
}

impl fmt::Display for Cookie {
    /// The characters before the NUL, non-printable bytes escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(COOKIE_SIZE);
        for &b in &self.0[..end] {
            if b.is_ascii_graphic() {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// splitmix64: a small, well-mixed generator for cookies and local ports.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The id of the `index`th data stream (from 0): 1, 3, 4, 5, ... (3.12 skips 2).
pub fn stream_id(index: usize) -> u32 {
    if index == 0 { 1 } else { index as u32 + 2 }
}

/// A JSON message as sent: its length as a big-endian `u32`, then the text.
pub fn frame(json: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(4 + json.len());
    bytes.extend_from_slice(&(json.len() as u32).to_be_bytes());
    bytes.extend_from_slice(json.as_bytes());
    bytes
}

/// Why a JSON message cannot be taken from the control connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageError {
    /// The length prefix exceeds [`MAX_MESSAGE`].
    TooLong {
        /// The length announced.
        len: u32,
    },
    /// The text is not UTF-8.
    NotUtf8 {
        /// Offset of the first invalid byte.
        at: usize,
    },
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::TooLong { len } => write!(
                f,
                "a JSON message of {len} bytes exceeds the {MAX_MESSAGE}-byte limit"
            ),
            MessageError::NotUtf8 { at } => {
                write!(f, "a JSON message is not UTF-8 (byte {at})")
            }
        }
    }
}

impl core::error::Error for MessageError {}

/// Takes one length-prefixed message from the front of `inbox` once it is complete:
/// `Ok(None)` while bytes are missing. The length is checked as soon as its four bytes are
/// there.
pub fn take_message(inbox: &mut Vec<u8>) -> Result<Option<String>, MessageError> {
    let Some(prefix) = inbox.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(prefix.try_into().expect("four bytes"));
    if len as usize > MAX_MESSAGE {
        return Err(MessageError::TooLong { len });
    }
    let end = 4 + len as usize;
    if inbox.len() < end {
        return Ok(None);
    }
    let text = String::from_utf8(inbox[4..end].to_vec()).map_err(|e| MessageError::NotUtf8 {
        at: e.utf8_error().valid_up_to(),
    })?;
    inbox.drain(..end);
    Ok(Some(text))
}

/// SERVER_ERROR's payload: iperf3's error number (`i_errno`) and the system's errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerError {
    /// iperf3's error number (iperf_api.h).
    pub iperf_errno: i32,
    /// The errno that came with it (0: none).
    pub errno: i32,
}

/// iperf_api.h: the test duration is too long.
pub const IEDURATION: i32 = 5;
/// iperf_api.h: too many parallel streams.
pub const IENUMSTREAMS: i32 = 6;
/// iperf_api.h: the block size is too large.
pub const IEBLOCKSIZE: i32 = 7;
/// iperf_api.h: not implemented.
pub const IEUNIMP: i32 = 13;
/// iperf_api.h: the parameters could not be received.
pub const IERECVPARAMS: i32 = 114;

impl ServerError {
    /// Bytes after the SERVER_ERROR state byte.
    pub const PAYLOAD: usize = 8;

    /// The state byte and payload, as sent.
    pub fn to_wire(self) -> [u8; 1 + Self::PAYLOAD] {
        let mut bytes = [0; 1 + Self::PAYLOAD];
        bytes[0] = State::ServerError.byte();
        bytes[1..5].copy_from_slice(&self.iperf_errno.to_be_bytes());
        bytes[5..9].copy_from_slice(&self.errno.to_be_bytes());
        bytes
    }

    /// The payload in the first [`Self::PAYLOAD`] bytes of `bytes`.
    pub fn from_payload(bytes: &[u8]) -> Option<ServerError> {
        let payload = bytes.get(..Self::PAYLOAD)?;
        Some(ServerError {
            iperf_errno: i32::from_be_bytes(payload[..4].try_into().ok()?),
            errno: i32::from_be_bytes(payload[4..].try_into().ok()?),
        })
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.iperf_errno {
            IEDURATION => "test duration too long (maximum = 86400 seconds)",
            IENUMSTREAMS => "number of parallel streams too large (maximum = 128)",
            IEBLOCKSIZE => "block size too large (maximum = 1048576 bytes)",
            IEUNIMP => "an option in use is not implemented yet",
            IERECVPARAMS => "unable to receive parameters from client",
            _ => "",
        };
        if what.is_empty() {
            write!(f, "server error {}", self.iperf_errno)?;
        } else {
            write!(f, "{what} (server error {})", self.iperf_errno)?;
        }
        if self.errno != 0 {
            write!(f, ", errno {}", self.errno)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn state_bytes_are_3_12s() {
        let bytes: Vec<u8> = State::ALL.iter().map(|s| s.byte()).collect();
        assert_eq!(
            bytes,
            [1, 2, 4, 9, 10, 11, 12, 13, 14, 16, 0xff, 0xfe],
            "TEST_START .. IPERF_DONE, ACCESS_DENIED, SERVER_ERROR"
        );
        for state in State::ALL {
            assert_eq!(State::from_byte(state.byte()), Some(state));
        }
        for unused in [0, 3, 5, 6, 7, 8, 15, 17, 0x80, 0xfd] {
            assert_eq!(State::from_byte(unused), None);
        }
        assert_eq!(State::AccessDenied.to_string(), "ACCESS_DENIED");
    }

    #[test]
    fn cookies_look_like_make_cookie_s() {
        let cookie = Cookie::generate(42);
        let bytes = cookie.as_bytes();
        assert_eq!(bytes.len(), 37);
        assert_eq!(bytes[36], 0);
        assert!(cookie.is_well_formed());
        assert_eq!(cookie.to_string().len(), 36);
        assert_ne!(Cookie::generate(43), cookie);
        assert_eq!(Cookie::generate(42), cookie);
        // Every character of the alphabet turns up over a few cookies.
        let mut seen = [false; 32];
        for seed in 0..8 {
            for &b in &Cookie::generate(seed).as_bytes()[..36] {
                seen[COOKIE_CHARS.iter().position(|&c| c == b).unwrap()] = true;
            }
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn cookies_from_the_wire() {
        // A cookie a 3.12 client sent (from a packet capture's shape: 36 chars + NUL).
        let wire = b"hk4pfv6ldcbf4ysbgyrvcc3hd3xqz6lqmxzi\0";
        let cookie = Cookie::from_wire(wire).unwrap();
        assert!(cookie.is_well_formed());
        assert_eq!(cookie.as_bytes(), wire);
        assert_eq!(cookie.to_string(), "hk4pfv6ldcbf4ysbgyrvcc3hd3xqz6lqmxzi");
        assert_eq!(Cookie::from_wire(&wire[..36]), None);
        let odd = Cookie::from_wire(&[0x01; 40]).unwrap();
        assert!(!odd.is_well_formed());
        assert!(odd.to_string().starts_with("\\x01\\x01"));
        let no_nul = Cookie::from_wire(b"hk4pfv6ldcbf4ysbgyrvcc3hd3xqz6lqmxzia").unwrap();
        assert!(!no_nul.is_well_formed());
    }

    #[test]
    fn stream_ids_skip_two() {
        let ids: Vec<u32> = (0..5).map(stream_id).collect();
        assert_eq!(ids, [1, 3, 4, 5, 6]);
    }

    #[test]
    fn messages_are_length_prefixed() {
        let json = r#"{"tcp":true}"#;
        let framed = frame(json);
        assert_eq!(&framed[..4], &[0, 0, 0, 12]);
        assert_eq!(&framed[4..], json.as_bytes());

        // Arriving in pieces, followed by a state byte.
        let mut inbox = framed[..3].to_vec();
        assert_eq!(take_message(&mut inbox), Ok(None));
        inbox.extend_from_slice(&framed[3..10]);
        assert_eq!(take_message(&mut inbox), Ok(None));
        inbox.extend_from_slice(&framed[10..]);
        inbox.push(State::DisplayResults.byte());
        assert_eq!(take_message(&mut inbox), Ok(Some(json.to_string())));
        assert_eq!(inbox, [14]);

        let mut empty = vec![0, 0, 0, 0];
        assert_eq!(take_message(&mut empty), Ok(Some(String::new())));
        assert!(empty.is_empty());
    }

    #[test]
    fn hostile_messages_are_refused() {
        let mut huge = vec![0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            take_message(&mut huge),
            Err(MessageError::TooLong { len: u32::MAX })
        );
        let mut just_over = ((MAX_MESSAGE + 1) as u32).to_be_bytes().to_vec();
        assert!(matches!(
            take_message(&mut just_over),
            Err(MessageError::TooLong { .. })
        ));
        let mut bad = vec![0, 0, 0, 3, b'{', 0xc3, b'}'];
        assert_eq!(take_message(&mut bad), Err(MessageError::NotUtf8 { at: 1 }));
    }

    #[test]
    fn server_errors() {
        let error = ServerError {
            iperf_errno: IEUNIMP,
            errno: 0,
        };
        assert_eq!(error.to_wire(), [0xfe, 0, 0, 0, 13, 0, 0, 0, 0]);
        assert_eq!(
            ServerError::from_payload(&error.to_wire()[1..]),
            Some(error)
        );
        assert_eq!(ServerError::from_payload(&[0; 7]), None);
        assert_eq!(
            error.to_string(),
            "an option in use is not implemented yet (server error 13)"
        );
        let other = ServerError {
            iperf_errno: 999,
            errno: 104,
        };
        assert_eq!(other.to_string(), "server error 999, errno 104");
    }
}
