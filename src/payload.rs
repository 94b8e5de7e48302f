//! A hook's payload: the JSON object an agent sent. A leaf, so the layers
//! that read payloads (`agents`, `recognize`, `transcript`) share the word
//! without importing each other.

use serde_json::{Map, Value};

pub type Payload = Map<String, Value>;
