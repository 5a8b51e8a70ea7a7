//! Extended DNS errors (RFC 8914) as the EDNS option replies carry them (acl, template).

use hickory_proto::rr::rdata::opt::EdnsOption;

/// The option code of an extended DNS error.
const EDE: u16 = 15;

/// Info code 15: the query was blocked by policy.
pub const BLOCKED: u16 = 15;
/// Info code 17: the answer was filtered.
pub const FILTERED: u16 = 17;

/// An extended DNS error option: `info` code and optional text.
pub fn extended_error(info: u16, text: &str) -> EdnsOption {
    let mut data = info.to_be_bytes().to_vec();
    data.extend_from_slice(text.as_bytes());
    EdnsOption::Unknown(EDE, data)
}
