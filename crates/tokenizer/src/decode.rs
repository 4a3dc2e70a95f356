//! Decoding: what generated tokens mean as timed events.

/// An event decoded from tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedEvent {
    /// Its time (µs).
    pub time: i64,
    /// Its code (the token's name).
    pub code: String,
    /// Its value, if a bin followed: the bin's typical value ([`Tokenizer::decode`](crate::Tokenizer::decode)) or
    /// a draw from the bin's train values ([`Tokenizer::decode_sampled`](crate::Tokenizer::decode_sampled)).
    pub numeric_value: Option<f32>,
}

/// The result of [`Tokenizer::decode`](crate::Tokenizer::decode).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    /// The events.
    pub events: Vec<DecodedEvent>,
    /// Tokens that could not be decoded where they stood.
    pub skipped: u64,
}
