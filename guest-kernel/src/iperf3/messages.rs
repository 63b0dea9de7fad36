//! The two JSON messages of a test: the client's parameters ([`TestParams`]) and each side's
//! results ([`Results`]), written as 3.12 writes them and read as 3.12 reads them.
//!
//! Parameters: no key is mandatory; boolean options count by presence, not value; a server
//! refuses what it cannot run with the iperf3 error number it sends back in SERVER_ERROR
//! ([`ParamError::iperf_errno`]). Results: the reader requires `cpu_util_total`,
//! `cpu_util_user`, `cpu_util_system`, `sender_has_retransmits`, `streams`, and per stream
//! `id`, `bytes`, `retransmits`, `jitter`, `errors` and `packets`; `start_time` and
//! `end_time` are optional.

use alloc::vec::Vec;
use core::fmt;

use super::json::{Number, ObjectWriter, Value};
use super::protocol::{IEBLOCKSIZE, IEDURATION, IENUMSTREAMS, IERECVPARAMS, IEUNIMP};

/// Default test length, seconds.
pub const DEFAULT_TIME: u64 = 10;
/// Default block size (iperf3's `DEFAULT_TCP_BLKSIZE`).
pub const DEFAULT_LEN: u32 = 128 << 10;
/// Most parallel streams (iperf3's `MAX_STREAMS`).
pub const MAX_STREAMS: u32 = 128;
/// Longest test, seconds (iperf3's `MAX_TIME`).
pub const MAX_TIME: u64 = 86_400;
/// Largest block (iperf3's `MAX_BLOCKSIZE`).
pub const MAX_BLOCKSIZE: u32 = 1 << 20;
/// The version a client announces.
pub const CLIENT_VERSION: &str = "3.12";

/// What a test does, as the client announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestParams {
    /// Seconds of test (after `omit`).
    pub time: u64,
    /// Seconds at the start left out of the results.
    pub omit: u64,
    /// Data streams.
    pub parallel: u32,
    /// Bytes per write (block).
    pub len: u32,
    /// The server sends and the client receives.
    pub reverse: bool,
}

impl Default for TestParams {
    fn default() -> Self {
        TestParams {
            time: DEFAULT_TIME,
            omit: 0,
            parallel: 1,
            len: DEFAULT_LEN,
            reverse: false,
        }
    }
}

/// Why a server cannot run the test a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamError {
    /// The message is not a JSON object.
    NotAnObject,
    /// A protocol or mode this iperf3 does not implement (`udp`, `sctp`, `bidirectional`,
    /// a byte or block count as the end condition).
    Unsupported {
        /// The key that asks for it.
        key: &'static str,
    },
    /// A number that is negative, fractional or not a number.
    NotANumber {
        /// The key.
        key: &'static str,
    },
    /// `parallel` outside 1..=[`MAX_STREAMS`].
    Streams {
        /// The value given.
        parallel: u64,
    },
    /// `len` outside 1..=[`MAX_BLOCKSIZE`].
    BlockSize {
        /// The value given.
        len: u64,
    },
    /// `time` + `omit` above [`MAX_TIME`].
    Duration {
        /// The value given.
        seconds: u64,
    },
}

impl ParamError {
    /// The iperf3 error number a 3.12 server would report (in SERVER_ERROR).
    pub fn iperf_errno(&self) -> i32 {
        match self {
            ParamError::NotAnObject | ParamError::NotANumber { .. } => IERECVPARAMS,
            ParamError::Unsupported { .. } => IEUNIMP,
            ParamError::Streams { .. } => IENUMSTREAMS,
            ParamError::BlockSize { .. } => IEBLOCKSIZE,
            ParamError::Duration { .. } => IEDURATION,
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::NotAnObject => f.write_str("the parameters are not a JSON object"),
            ParamError::Unsupported { key } => {
                write!(
                    f,
                    "parameter `{key}` asks for something only TCP tests by time do"
                )
            }
            ParamError::NotANumber { key } => {
                write!(f, "parameter `{key}` is not a non-negative integer")
            }
            ParamError::Streams { parallel } => {
                write!(f, "{parallel} parallel streams (1..={MAX_STREAMS} allowed)")
            }
            ParamError::BlockSize { len } => {
                write!(f, "block size {len} (1..={MAX_BLOCKSIZE} allowed)")
            }
            ParamError::Duration { seconds } => {
                write!(f, "a test of {seconds} s (at most {MAX_TIME} s)")
            }
        }
    }
}

impl core::error::Error for ParamError {}

impl TestParams {
    /// The parameters message, keys in 3.12's order; with the defaults it is exactly what a
    /// 3.12 client sends.
    pub fn to_json(&self) -> alloc::string::String {
        let mut object = ObjectWriter::new()
            .bool("tcp", true)
            .unsigned("omit", self.omit)
            .unsigned("time", self.time)
            .unsigned("num", 0)
            .unsigned("blockcount", 0)
            .unsigned("parallel", u64::from(self.parallel));
        if self.reverse {
            object = object.bool("reverse", true);
        }
        object
            .unsigned("len", u64::from(self.len))
            .unsigned("pacing_timer", 1000)
            .string("client_version", CLIENT_VERSION)
            .finish()
    }

    /// The parameters a client sent, defaults for what it left out.
    pub fn from_json(value: &Value) -> Result<TestParams, ParamError> {
        if !value.is_object() {
            return Err(ParamError::NotAnObject);
        }
        for key in ["udp", "sctp", "bidirectional"] {
            if value.get(key).is_some() {
                return Err(ParamError::Unsupported { key });
            }
        }
        for key in ["num", "blockcount"] {
            if unsigned(value, key)?.unwrap_or(0) != 0 {
                return Err(ParamError::Unsupported { key });
            }
        }
        let defaults = TestParams::default();
        let time = unsigned(value, "time")?.unwrap_or(defaults.time);
        let omit = unsigned(value, "omit")?.unwrap_or(0);
        let seconds = time.saturating_add(omit);
        if seconds > MAX_TIME {
            return Err(ParamError::Duration { seconds });
        }
        let parallel = unsigned(value, "parallel")?.unwrap_or(1);
        if !(1..=u64::from(MAX_STREAMS)).contains(&parallel) {
            return Err(ParamError::Streams { parallel });
        }
        let len = unsigned(value, "len")?.unwrap_or(u64::from(defaults.len));
        if !(1..=u64::from(MAX_BLOCKSIZE)).contains(&len) {
            return Err(ParamError::BlockSize { len });
        }
        Ok(TestParams {
            time,
            omit,
            parallel: parallel as u32,
            len: len as u32,
            reverse: value.get("reverse").is_some(),
        })
    }
}

/// The member `key` as a `u64`, if present.
fn unsigned(value: &Value, key: &'static str) -> Result<Option<u64>, ParamError> {
    value
        .get(key)
        .map(|v| {
            v.as_number()
                .and_then(|n| n.as_u64())
                .ok_or(ParamError::NotANumber { key })
        })
        .transpose()
}

/// One stream's line of the results.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamResult {
    /// The stream id (1, 3, 4, ...).
    pub id: u32,
    /// Bytes this side sent (as the sender) or received (as the receiver).
    pub bytes: u64,
    /// Retransmissions; `None` if the side cannot count them (sent as -1).
    pub retransmits: Option<u64>,
    /// UDP jitter (0 for TCP).
    pub jitter: f64,
    /// UDP errors (0 for TCP).
    pub errors: u64,
    /// UDP packets (0 for TCP).
    pub packets: u64,
    /// Seconds from the stream's start to its start (0), if given.
    pub start_time: Option<f64>,
    /// Seconds from the stream's start to its end, if given.
    pub end_time: Option<f64>,
}

impl StreamResult {
    /// A TCP stream's result: `bytes` over `seconds`, retransmissions unknown.
    pub fn tcp(id: u32, bytes: u64, seconds: f64) -> Self {
        StreamResult {
            id,
            bytes,
            retransmits: None,
            jitter: 0.0,
            errors: 0,
            packets: 0,
            start_time: Some(0.0),
            end_time: Some(seconds),
        }
    }

    /// `end_time - start_time`, if both are given.
    pub fn seconds(&self) -> Option<f64> {
        Some(self.end_time? - self.start_time?)
    }
}

/// One side's results.
#[derive(Debug, Clone, PartialEq)]
pub struct Results {
    /// CPU use over the test, percent: total, user, system.
    pub cpu_util: [f64; 3],
    /// 1 if the sender counted retransmissions, 0 if it cannot, -1 from a receiver.
    pub sender_has_retransmits: i64,
    /// Per stream.
    pub streams: Vec<StreamResult>,
}

/// Why a results message cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultsError {
    /// The message is not a JSON object.
    NotAnObject,
    /// A required key is missing or of the wrong type.
    Missing {
        /// The key.
        key: &'static str,
    },
    /// A stream lacks a required key, or has one of the wrong type.
    StreamMissing {
        /// The stream's position in `streams` (from 0).
        index: usize,
        /// The key.
        key: &'static str,
    },
}

impl fmt::Display for ResultsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResultsError::NotAnObject => f.write_str("the results are not a JSON object"),
            ResultsError::Missing { key } => {
                write!(f, "the results lack `{key}` (or it has the wrong type)")
            }
            ResultsError::StreamMissing { index, key } => write!(
                f,
                "stream {index} of the results lacks `{key}` (or it has the wrong type)"
            ),
        }
    }
}

impl core::error::Error for ResultsError {}

impl Results {
    /// The results message.
    pub fn to_json(&self) -> alloc::string::String {
        ObjectWriter::new()
            .float("cpu_util_total", self.cpu_util[0])
            .float("cpu_util_user", self.cpu_util[1])
            .float("cpu_util_system", self.cpu_util[2])
            .signed("sender_has_retransmits", self.sender_has_retransmits)
            .objects(
                "streams",
                self.streams.iter().map(|s| {
                    let mut o = ObjectWriter::new()
                        .unsigned("id", u64::from(s.id))
                        .unsigned("bytes", s.bytes);
                    o = match s.retransmits {
                        Some(n) => o.unsigned("retransmits", n),
                        None => o.signed("retransmits", -1),
                    };
                    o = o
                        .float("jitter", s.jitter)
                        .unsigned("errors", s.errors)
                        .unsigned("packets", s.packets);
                    if let Some(t) = s.start_time {
                        o = o.float("start_time", t);
                    }
                    if let Some(t) = s.end_time {
                        o = o.float("end_time", t);
                    }
                    o
                }),
            )
            .finish()
    }

    /// The results a peer sent.
    pub fn from_json(value: &Value) -> Result<Results, ResultsError> {
        if !value.is_object() {
            return Err(ResultsError::NotAnObject);
        }
        let number = |key: &'static str| {
            value
                .get(key)
                .and_then(Value::as_number)
                .ok_or(ResultsError::Missing { key })
        };
        let cpu_util = [
            number("cpu_util_total")?.as_f64(),
            number("cpu_util_user")?.as_f64(),
            number("cpu_util_system")?.as_f64(),
        ];
        let sender_has_retransmits = number("sender_has_retransmits")?
            .as_i64_wrapping()
            .unwrap_or(0);
        let streams = value
            .get("streams")
            .and_then(Value::as_array)
            .ok_or(ResultsError::Missing { key: "streams" })?
            .iter()
            .enumerate()
            .map(|(index, stream)| stream_result(index, stream))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Results {
            cpu_util,
            sender_has_retransmits,
            streams,
        })
    }

    /// Bytes over all streams.
    pub fn total_bytes(&self) -> u64 {
        self.streams.iter().map(|s| s.bytes).sum()
    }

    /// The stream with `id`.
    pub fn stream(&self, id: u32) -> Option<&StreamResult> {
        self.streams.iter().find(|s| s.id == id)
    }
}

fn stream_result(index: usize, stream: &Value) -> Result<StreamResult, ResultsError> {
    let number = |key: &'static str| -> Result<Number, ResultsError> {
        stream
            .get(key)
            .and_then(Value::as_number)
            .ok_or(ResultsError::StreamMissing { index, key })
    };
    let exact = |key: &'static str| -> Result<u64, ResultsError> {
        number(key)?
            .as_u64()
            .ok_or(ResultsError::StreamMissing { index, key })
    };
    let id = exact("id")?;
    let retransmits = number("retransmits")?.as_i64_wrapping();
    let optional = |key| {
        stream
            .get(key)
            .and_then(Value::as_number)
            .map(|n| n.as_f64())
    };
    Ok(StreamResult {
        id: u32::try_from(id).map_err(|_| ResultsError::StreamMissing { index, key: "id" })?,
        bytes: exact("bytes")?,
        retransmits: retransmits.and_then(|n| u64::try_from(n).ok()),
        jitter: number("jitter")?.as_f64(),
        errors: number("errors")?.as_u64().unwrap_or(0),
        packets: number("packets")?.as_u64().unwrap_or(0),
        start_time: optional("start_time"),
        end_time: optional("end_time"),
    })
}

#[cfg(test)]
mod tests {
    use super::super::json::parse;
    use super::*;
    use alloc::vec;

    /// IPERF3.md: what a 3.12 client sends by default.
    const DEFAULT_PARAMS: &str = r#"{"tcp":true,"omit":0,"time":10,"num":0,"blockcount":0,"parallel":1,"len":131072,"pacing_timer":1000,"client_version":"3.12"}"#;

    #[test]
    fn default_parameters_are_byte_for_byte_3_12s() {
        assert_eq!(TestParams::default().to_json(), DEFAULT_PARAMS);
        let parsed = TestParams::from_json(&parse(DEFAULT_PARAMS).unwrap()).unwrap();
        assert_eq!(parsed, TestParams::default());
    }

    #[test]
    fn reverse_parallel_parameters() {
        let params = TestParams {
            time: 3,
            parallel: 2,
            reverse: true,
            len: 1000,
            ..TestParams::default()
        };
        let text = params.to_json();
        assert_eq!(
            text,
            r#"{"tcp":true,"omit":0,"time":3,"num":0,"blockcount":0,"parallel":2,"reverse":true,"len":1000,"pacing_timer":1000,"client_version":"3.12"}"#
        );
        assert_eq!(TestParams::from_json(&parse(&text).unwrap()), Ok(params));
    }

    #[test]
    fn what_3_12_parses_from_a_client() {
        // The tab-indented form `iperf3 -d` prints, with -R -P 2 -t 2.
        let text = "{\n\t\"tcp\":\ttrue,\n\t\"omit\":\t0,\n\t\"time\":\t2,\n\t\"num\":\t0,\n\t\
            \"blockcount\":\t0,\n\t\"parallel\":\t2,\n\t\"reverse\":\ttrue,\n\t\"len\":\t131072,\n\t\
            \"pacing_timer\":\t1000,\n\t\"client_version\":\t\"3.12\"\n}";
        let params = TestParams::from_json(&parse(text).unwrap()).unwrap();
        assert_eq!(
            params,
            TestParams {
                time: 2,
                parallel: 2,
                reverse: true,
                ..TestParams::default()
            }
        );
        // No key is mandatory; booleans count by presence; keys are case-insensitive.
        let bare = TestParams::from_json(&parse("{}").unwrap()).unwrap();
        assert_eq!(bare, TestParams::default());
        let odd = TestParams::from_json(&parse(r#"{"REVERSE":false,"Time":7}"#).unwrap());
        assert_eq!(
            odd,
            Ok(TestParams {
                time: 7,
                reverse: true,
                ..TestParams::default()
            })
        );
    }

    #[test]
    fn refused_parameters_name_iperf3_errors() {
        let refuse = |text: &str| TestParams::from_json(&parse(text).unwrap()).unwrap_err();
        let udp = refuse(r#"{"udp":true}"#);
        assert_eq!(udp, ParamError::Unsupported { key: "udp" });
        assert_eq!(udp.iperf_errno(), 13);
        assert_eq!(
            refuse(r#"{"bidirectional":true}"#),
            ParamError::Unsupported {
                key: "bidirectional"
            }
        );
        assert_eq!(
            refuse(r#"{"num":1000}"#),
            ParamError::Unsupported { key: "num" }
        );
        let streams = refuse(r#"{"parallel":129}"#);
        assert_eq!(streams, ParamError::Streams { parallel: 129 });
        assert_eq!(streams.iperf_errno(), 6);
        assert_eq!(
            refuse(r#"{"parallel":0}"#),
            ParamError::Streams { parallel: 0 }
        );
        assert_eq!(refuse(r#"{"len":0}"#).iperf_errno(), 7);
        assert_eq!(refuse(r#"{"len":1048577}"#).iperf_errno(), 7);
        assert_eq!(refuse(r#"{"time":86400,"omit":1}"#).iperf_errno(), 5);
        assert_eq!(
            refuse(r#"{"time":-1}"#),
            ParamError::NotANumber { key: "time" }
        );
        assert_eq!(refuse("[]"), ParamError::NotAnObject);
        assert_eq!(refuse("[]").iperf_errno(), 114);
    }

    #[test]
    fn results_round_trip() {
        let results = Results {
            cpu_util: [12.5, 12.5, 0.0],
            sender_has_retransmits: 0,
            streams: vec![
                StreamResult::tcp(1, 1_000_000, 3.0),
                StreamResult::tcp(3, 2_000_000, 3.0016),
            ],
        };
        let text = results.to_json();
        assert_eq!(
            text,
            r#"{"cpu_util_total":12.5,"cpu_util_user":12.5,"cpu_util_system":0,"sender_has_retransmits":0,"streams":[{"id":1,"bytes":1000000,"retransmits":-1,"jitter":0,"errors":0,"packets":0,"start_time":0,"end_time":3},{"id":3,"bytes":2000000,"retransmits":-1,"jitter":0,"errors":0,"packets":0,"start_time":0,"end_time":3.0016}]}"#
        );
        let back = Results::from_json(&parse(&text).unwrap()).unwrap();
        assert_eq!(back, results);
        assert_eq!(back.total_bytes(), 3_000_000);
        assert_eq!(back.stream(3).unwrap().seconds(), Some(3.0016));
        assert_eq!(back.stream(2), None);
    }

    #[test]
    fn results_from_a_3_12_peer() {
        // `iperf3 -d` (3.12, sender side) as it printed its own results.
        let text = "{\n\t\"cpu_util_total\":\t42.753210268875584,\n\t\
            \"cpu_util_user\":\t1.506410575706558,\n\t\"cpu_util_system\":\t41.246799693169031,\n\t\
            \"sender_has_retransmits\":\t1,\n\t\"congestion_used\":\t\"bbr\",\n\t\"streams\":\t[{\n\t\t\t\
            \"id\":\t1,\n\t\t\t\"bytes\":\t1251737600,\n\t\t\t\"retransmits\":\t9,\n\t\t\t\"jitter\":\t0,\n\t\t\t\
            \"errors\":\t0,\n\t\t\t\"packets\":\t0,\n\t\t\t\"start_time\":\t0,\n\t\t\t\"end_time\":\t2.001639\n\t\t}, {\n\t\t\t\
            \"id\":\t3,\n\t\t\t\"bytes\":\t1216348160,\n\t\t\t\"retransmits\":\t1,\n\t\t\t\"jitter\":\t0,\n\t\t\t\
            \"errors\":\t0,\n\t\t\t\"packets\":\t0,\n\t\t\t\"start_time\":\t0,\n\t\t\t\"end_time\":\t2.001648\n\t\t}]\n}";
        let results = Results::from_json(&parse(text).unwrap()).unwrap();
        assert_eq!(results.sender_has_retransmits, 1);
        assert_eq!(results.streams.len(), 2);
        assert_eq!(results.streams[0].retransmits, Some(9));
        assert_eq!(results.total_bytes(), 1251737600 + 1216348160);
        assert_eq!(results.stream(3).unwrap().end_time, Some(2.001648));

        // From the receiving side: -1 spelled as an unsigned float.
        let receiver = r#"{"cpu_util_total":1,"cpu_util_user":1,"cpu_util_system":0,
            "sender_has_retransmits":1.8446744073709552e+19,"streams":[{"id":1,"bytes":5,
            "retransmits":18446744073709551615,"jitter":0,"errors":0,"packets":0}]}"#;
        let results = Results::from_json(&parse(receiver).unwrap()).unwrap();
        assert_eq!(results.sender_has_retransmits, -1);
        assert_eq!(results.streams[0].retransmits, None);
        assert_eq!(results.streams[0].seconds(), None);
    }

    #[test]
    fn incomplete_results_are_refused() {
        let refuse = |text: &str| Results::from_json(&parse(text).unwrap()).unwrap_err();
        assert_eq!(
            refuse(r#"{"cpu_util_total":1,"cpu_util_user":1,"cpu_util_system":0,"streams":[]}"#),
            ResultsError::Missing {
                key: "sender_has_retransmits"
            }
        );
        assert_eq!(
            refuse(
                r#"{"cpu_util_total":1,"cpu_util_user":1,"cpu_util_system":0,"sender_has_retransmits":0}"#
            ),
            ResultsError::Missing { key: "streams" }
        );
        assert_eq!(
            refuse(
                r#"{"cpu_util_total":1,"cpu_util_user":1,"cpu_util_system":0,"sender_has_retransmits":0,
                "streams":[{"id":1,"bytes":5,"retransmits":-1,"jitter":0,"errors":0}]}"#
            ),
            ResultsError::StreamMissing {
                index: 0,
                key: "packets"
            }
        );
        assert_eq!(
            refuse(
                r#"{"cpu_util_total":1,"cpu_util_user":1,"cpu_util_system":0,"sender_has_retransmits":0,
                "streams":[{"id":1,"bytes":-5,"retransmits":-1,"jitter":0,"errors":0,"packets":0}]}"#
            ),
            ResultsError::StreamMissing {
                index: 0,
                key: "bytes"
            }
        );
        assert_eq!(refuse("3"), ResultsError::NotAnObject);
    }
}
